"""IAM's own TAIJI_* settings, declared here and read by the kernel at start (``Module(settings=...)``).

Sign-in reads LOGIN_RATE_LIMIT (signin.py); upstream directories the IAM_LDAP_* values
(directory/connect.py, directory/accounts.py) and domain verification DNS_NAMESERVERS
(directory/domains.py); the OpenID Connect provider the OAUTH_* ones (oauth/settings.py,
oauth/endpoints.py). Each from ``current_app.config``.
"""

from __future__ import annotations

from taiji.platform.config import Setting, csv, integer

# The default of TAIJI_OAUTH_KEY_ACTIVATION_DELAY: one access-token lifetime (kept as "" in the config).
FOLLOWS_ACCESS_TOKEN_TTL = "<TAIJI_OAUTH_ACCESS_TOKEN_TTL>"  # noqa: S105 (a placeholder, no secret)


def _activation_delay(name: str, value: str) -> int | str:
    if value in ("", FOLLOWS_ACCESS_TOKEN_TTL):
        return ""
    return integer()(name, value)


SETTINGS = [
    Setting("TAIJI_PASSWORD_RESET_TTL", "3600",
            "Seconds a mailed link to set a new password stays valid (it works once).", parse=integer()),
    Setting("TAIJI_LOGIN_RATE_LIMIT", "10 per minute",
            "Sign-in attempts allowed per account and per address."),
    Setting("TAIJI_IAM_LDAP_ALLOWED_HOSTS", "",
            "Comma-separated hosts or CIDR ranges a tenant's LDAP directory may be at although they are "
            "loopback, link-local or otherwise reserved (refused by default; public and private ranges "
            "are allowed).", parse=csv),
    Setting("TAIJI_IAM_LDAP_BIND_RATE_LIMIT", "10 per minute",
            "Password checks sent to an upstream directory per account."),
    Setting("TAIJI_IAM_LDAP_DIRECTORY_RATE_LIMIT", "600 per minute",
            "Password checks sent to one tenant's upstream directory, all accounts together."),
    Setting("TAIJI_DNS_NAMESERVERS", "",
            "Comma-separated DNS servers (address or address:port) that check domain verification "
            "records; the system's resolvers when empty.", parse=csv),
    Setting("TAIJI_OAUTH_ACCESS_TOKEN_TTL", "600", "Lifetime of OAuth access tokens (JWTs), seconds.",
            parse=integer()),
    Setting("TAIJI_OAUTH_ID_TOKEN_TTL", "600", "Lifetime of OpenID Connect id_tokens, seconds.",
            parse=integer()),
    Setting("TAIJI_OAUTH_REFRESH_TOKEN_TTL", "2592000", "Lifetime of refresh tokens, seconds (30 days).",
            parse=integer()),
    Setting("TAIJI_OAUTH_CODE_TTL", "60", "Lifetime of authorization codes, seconds.", parse=integer()),
    Setting("TAIJI_OAUTH_KEY_ACTIVATION_DELAY", FOLLOWS_ACCESS_TOKEN_TTL,
            "Seconds a rotated-in signing key is published in JWKS before it signs.",
            parse=_activation_delay),
    Setting("TAIJI_OAUTH_INSECURE_TRANSPORT", "false",
            "Allow a plain-HTTP issuer other than loopback (development only)."),
    Setting("TAIJI_OAUTH_TOKEN_RATE_LIMIT", "600 per minute",
            "Requests to /oauth/token allowed per client and, separately, per address."),
    Setting("TAIJI_OAUTH_INTROSPECT_RATE_LIMIT", "6000 per minute",
            "Requests to /oauth/introspect allowed per client and per address."),
]
