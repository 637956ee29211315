"""IAM's public face: users, passwords, personal access tokens, role bindings, access.

Other modules call only this file. Services flush; the request or task commits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from taiji.platform import audit, authcache
from taiji.platform.auth import Access, PlatformRole, Principal, TenantRole, catalog
from taiji.platform.db import Page, after_commit, db, paginate, utcnow
from taiji.platform.errors import Conflict, Forbidden, Invalid, NotFound, field_error, msg

from . import sessions as console_sessions
from . import verification
from .models import PersonalAccessToken, RoleBinding, User, UserStatus
from .permissions import Perm
from .roles import access as role_access
from .sessions import devices, lockout
from .sessions import passwords as password_rules

# Other modules guard account-changing routes with it (they reach IAM only through this file).
ACCOUNT_WRITE = Perm.ACCOUNT_WRITE
TOKEN_PREFIX = "tj_pat_"  # noqa: S105 - a marker that tells a token from other strings, no secret
MIN_PASSWORD_LENGTH = password_rules.MIN_LENGTH
_STRONG = PasswordHasher()
# Under TESTING only: argon2's defaults cost most of a second per hash on a small machine, which
# would make the test suite spend its time hashing. Production always uses the defaults.
_FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_dummy_hashes: dict[int, str] = {}


def _hasher() -> PasswordHasher:
    from flask import current_app, has_app_context

    return _FAST if has_app_context() and current_app.config.get("TESTING") else _STRONG


def _dummy_hash() -> str:
    """Verified against when the account does not exist, so timing does not reveal which emails exist."""
    hasher = _hasher()
    if id(hasher) not in _dummy_hashes:
        _dummy_hashes[id(hasher)] = hasher.hash("taiji-no-such-user")
    return _dummy_hashes[id(hasher)]


# -- users -------------------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    # Imported here: email_validator (and the DNS library it loads) costs every process's start-up.
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise field_error("email", msg("'%(email)s' is not a valid email address: %(exc)s",
                                       email=email, exc=exc)) from exc


def check_password_policy(password: str, email: str | None = None) -> None:
    """Refuse short passwords, common ones, and ones built from the email or a repeated pattern."""
    why = password_rules.problem(password, email)
    if why == "length":
        raise field_error("password", msg("Use at least %(min_password_length)s characters.",
                                          min_password_length=MIN_PASSWORD_LENGTH))
    if why is not None:
        raise field_error("password", msg("This password is too easy to guess (%(why)s); choose another.",
                                          why=why))


def create_user(email: str, name: str | None = None, password: str | None = None, *,
                admin: bool = False, email_verified: bool = False) -> User:
    """Create an active user; ``admin`` binds the platform administrator role.

    ``email_verified``: the platform vouches for the address (a platform administrator made the
    account); OpenID Connect passes it on to relying parties as ``email_verified``.
    """
    email = normalize_email(email)
    if get_user_by_email(email) is not None:
        raise Conflict(msg("A user with the email %(email)s already exists.", email=email),
                       errors={"json": {"email": [msg("Already registered.")]}})
    if name and "\x00" in name:
        raise field_error("name", msg("Must not contain the NUL character."))
    if password is not None:
        check_password_policy(password, email)
    user = User(email=email, name=(name or email.split("@")[0]).strip()[:255],
                password_hash=_hasher().hash(password) if password else None,
                email_verified_at=utcnow() if email_verified else None)
    db.session.add(user)
    db.session.flush()
    if admin:
        bind_platform_role(user, PlatformRole.ADMIN)
    audit.record("iam.user.created", "user", email, details={"admin": admin})
    return user


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def get_user_by_email(email: str) -> User | None:
    return db.session.execute(sa.select(User).where(User.email == email.strip().lower())).scalar_one_or_none()


def users_by_ids(ids: Iterable[int]) -> dict[int, User]:
    ids = list(set(ids))
    if not ids:
        return {}
    return {u.id: u for u in db.session.execute(sa.select(User).where(User.id.in_(ids))).scalars()}


@dataclass(frozen=True)
class Profile:
    email: str
    name: str
    role: str | None


def member_profiles(tenant, user_ids: Iterable[int]) -> dict[int, Profile]:
    """user id -> email, name and built-in role in ``tenant``, in one query (member lists)."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = db.session.execute(_PROFILES, {"tid": tenant.id, "ids": ids})
    return {uid: Profile(email, name, role) for uid, email, name, role in rows}


_PROFILES = (sa.select(User.id, User.email, User.name, RoleBinding.role)
             .outerjoin(RoleBinding, sa.and_(RoleBinding.user_id == User.id,
                                             RoleBinding.tenant_id == sa.bindparam("tid")))
             .where(User.id.in_(sa.bindparam("ids", expanding=True))))


def list_users(*, search: str | None = None, page: int = 1, page_size: int = 20) -> Page[User]:
    stmt = sa.select(User).order_by(User.email)
    search = (search or "").replace("\x00", "").strip()
    if search:
        pattern = f"%{search.lower()}%"
        stmt = stmt.where(sa.or_(sa.func.lower(User.email).like(pattern),
                                 sa.func.lower(User.name).like(pattern)))
    return paginate(stmt, page, page_size)


def count_users() -> int:
    return db.session.execute(sa.select(sa.func.count(User.id))).scalar_one()


def set_password(user: User, password: str) -> None:
    check_password_policy(password, user.email)
    user.password_hash = _hasher().hash(password)
    user.session_epoch += 1
    audit.record("iam.user.password_changed", "user", user.email)
    db.session.flush()


def authenticate(email: str, password: str, *, organisation: str | None = None,
                 client: lockout.Client | None = None, code: str | None = None) -> User | None:
    """The active user with this email and password, or None.

    The password is checked by Taiji when the account has a Taiji password, otherwise by at most
    one upstream directory, chosen before any connection (``directory/accounts.py``);
    ``organisation`` is the tenant named on the sign-in form, if any.

    Failures are throttled per client (``sessions/lockout.py``): ``lockout.Locked`` is raised
    while this client is throttled for the email. While failures from elsewhere throttle the
    account for clients it does not trust, only a valid ``code`` of the user's authenticator app
    together with the password gets through; the code is checked first, so without it the
    password is not checked at all (nor sent to a directory). A ``code`` given otherwise is
    checked too when the user has a second factor.
    """
    try:
        key = normalize_email(email)
    except Invalid:
        key = (email or "").strip().lower()[:255]
    client = client or devices.client_for(key)
    account_until = lockout.check(key, client)
    if account_until is not None:
        holder = get_user_by_email(key)
        if not code or holder is None or not _second_factor(holder, code):
            lockout.register_failure(key, client)
            raise lockout.Locked(account_until, account=True)
        user = _check_password(key, password, organisation, client)
        if user is None or user.id != holder.id:
            lockout.register_failure(key, client)
            raise lockout.Locked(account_until, account=True)
    else:
        user = _check_password(key, password, organisation, client)
        if user is not None and code and user.mfa_enabled and not _second_factor(user, code):
            user = None
    if user is None:
        until = lockout.register_failure(key, client)
        if until is not None:
            raise lockout.Locked(until)
        return None
    lockout.clear(key, client)
    user.last_login_at = utcnow()
    return user


def _second_factor(user: User, code: str) -> bool:
    from . import mfa  # mfa's views import this module

    return user.is_active and user.mfa_enabled and mfa.verify(user, code)


def _check_password(key: str, password: str, organisation: str | None, client) -> User | None:
    user = get_user_by_email(key)
    if user is not None and user.password_hash:
        try:
            _hasher().verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if not user.is_active:
            return None
        if _hasher().check_needs_rehash(user.password_hash):
            user.password_hash = _hasher().hash(password)
        return user
    # No Taiji password: the same work as a check, so timing does not tell which emails exist.
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _hasher().verify(_dummy_hash(), password)
    upstream = _upstream(key, password, organisation, client.trusted)
    return upstream if upstream is not None and upstream.is_active else None


def _upstream(email: str, password: str, organisation: str | None, trusted: bool) -> User | None:
    """At most one tenant's upstream directory may know an account without a Taiji password."""
    from .directory import accounts  # those modules import this one
    from .directory import services as directory

    if not directory.has_directories():
        return None
    return accounts.authenticate_ldap(email, password, organisation=organisation, trusted=trusted)


def set_user_status(user: User, status: UserStatus) -> None:
    """Disabling cuts every session and token of the user at once."""
    if user.status == status:
        return
    user.status = status
    if status == UserStatus.DISABLED:
        user.session_epoch += 1
        console_sessions.revoke_all(user)
    audit.record(f"iam.user.{'disabled' if status == UserStatus.DISABLED else 'enabled'}", "user", user.email)
    db.session.flush()


def set_locale(user_id: int, locale: str) -> None:
    user = get_user(user_id)
    if user is not None:
        user.locale = locale
        db.session.flush()


# -- whether the email is the owner's (verification.py) -----------------------------------------


def is_email_verified(user: User | None) -> bool:
    return user is not None and user.email_verified_at is not None


def mark_email_verified(user: User, method: str, *, actor=None) -> bool:
    """Vouch for the user's address (``method``: admin, mail, invitation, directory); audited."""
    return verification.mark_verified(user, method, actor=actor)


def send_email_verification(user: User) -> None:
    """Mail the user a link that verifies their address (409 when verified or no mail server)."""
    verification.send_link(user)


def update_profile(user: User, name: str) -> None:
    name = name.strip()
    if "\x00" in name:
        raise field_error("name", msg("Must not contain the NUL character."))
    if not name:
        raise field_error("name", msg("A name is required."))
    user.name = name[:255]
    audit.record("iam.user.updated", "user", user.email)
    db.session.flush()


# -- personal access tokens --------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, name: str, *, scopes: list[str] | None = None,
                 expires_at: dt.datetime | None = None,
                 caller: Principal | None = None) -> tuple[PersonalAccessToken, str]:
    """Create a token; the plaintext is returned once and never stored.

    ``caller`` is who asks over HTTP: a token can only make tokens weaker than itself (see
    ``check_token_within_caller``). Server administration (the CLI) passes no caller.
    """
    name = (name or "").strip()
    if "\x00" in name:
        raise field_error("name", msg("Must not contain the NUL character."))
    if not name:
        raise field_error("name", msg("Give the token a name that says where it is used."))
    if expires_at is not None and expires_at <= utcnow():
        raise field_error("expires_at", msg("The expiry must be in the future."))
    if scopes is not None:
        scopes = list(dict.fromkeys(scopes))
        unknown = sorted(set(scopes) - set(catalog.permissions))
        if unknown:
            raise field_error("scopes", msg("Unknown scopes: %(unknown)s.", unknown=', '.join(unknown)))
    if caller is not None:
        check_token_within_caller(caller, scopes, expires_at)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = PersonalAccessToken(user_id=user.id, name=name[:100], token_hash=_hash_token(plaintext),
                              prefix=plaintext[:12], scopes=scopes, expires_at=expires_at)
    db.session.add(row)
    db.session.flush()
    audit.record("iam.token.created", "token", f"{user.email}/{name}",
                 actor=user if not _in_request() else None,
                 details={"scopes": scopes, "expires_at": expires_at.isoformat() if expires_at else None})
    return row, plaintext


def check_token_management(caller: Principal) -> None:
    """Personal access tokens are managed from the console, or with a personal access token.

    An OAuth access token was handed to a third-party application for what its scopes say; letting
    it mint a personal token would turn a 10-minute, revocable grant into a permanent credential.
    """
    if caller.client_id is not None:
        raise Forbidden(msg("An OAuth access token cannot manage personal access tokens; use the console "
                            "or a personal access token."))


def check_token_within_caller(caller: Principal, scopes: list[str] | None,
                              expires_at: dt.datetime | None) -> None:
    """A token may only create a token with no more scopes and no longer life than its own."""
    check_token_management(caller)
    if caller.scopes is not None:
        wider = sorted(set(catalog.permissions) - caller.scopes) if scopes is None \
            else sorted(set(scopes) - caller.scopes)
        if wider:
            if scopes is None:
                detail = msg("The token you are using cannot create a token with more scopes than its own: "
                             "list the scopes (a subset of yours).")
            elif len(wider) == 1:
                detail = msg("The token you are using cannot create a token with more scopes than its own: "
                             "%(scopes)s is not among them.", scopes=wider[0])
            else:
                detail = msg("The token you are using cannot create a token with more scopes than its own: "
                             "%(scopes)s are not among them.", scopes=", ".join(wider))
            raise Forbidden(
                detail,
                errors={"json": {"scopes": [msg("Choose among: %(caller_scopes)s.",
                                                caller_scopes=', '.join(sorted(caller.scopes)))]}})
    if caller.token_id is None:
        return
    own = db.session.get(PersonalAccessToken, caller.token_id)
    limit = own.expires_at if own is not None else None
    if limit is not None and (expires_at is None or expires_at > limit):
        raise field_error("expires_at", msg("The token you are using expires at %(limit)s; a token it "
                                            "creates must expire no later.", limit=limit.isoformat()))


def _in_request() -> bool:
    from flask import has_request_context

    return has_request_context()


def list_tokens(user: User) -> list[PersonalAccessToken]:
    stmt = (sa.select(PersonalAccessToken)
            .where(PersonalAccessToken.user_id == user.id, PersonalAccessToken.revoked_at.is_(None))
            .order_by(PersonalAccessToken.created_at.desc()))
    return list(db.session.execute(stmt).scalars())


def revoke_token(user: User, token_id: int) -> None:
    row = db.session.execute(
        sa.select(PersonalAccessToken).where(PersonalAccessToken.id == token_id,
                                             PersonalAccessToken.user_id == user.id,
                                             PersonalAccessToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(msg("No token %(token_id)s.", token_id=token_id))
    row.revoked_at = utcnow()
    audit.record("iam.token.revoked", "token", f"{user.email}/{row.name}")
    db.session.flush()


# -- role bindings -----------------------------------------------------------------------------


def bind_platform_role(user: User, role: str) -> None:
    exists = db.session.execute(
        sa.select(RoleBinding.id).where(RoleBinding.user_id == user.id, RoleBinding.tenant_id.is_(None),
                                        RoleBinding.role == str(role))
    ).first()
    if exists is None:
        db.session.add(RoleBinding(user_id=user.id, tenant_id=None, role=str(role)))
        audit.record("iam.role.bound", "user", user.email, details={"role": str(role), "scope": "platform"})
        db.session.flush()


def set_tenant_role(user_id: int, tenant, role: str) -> None:
    """Give the user exactly one built-in role in the tenant (replacing any other)."""
    if role not in {r.value for r in TenantRole}:
        raise field_error("role", msg("Unknown role '%(role)s'; choose one of owner, admin, member, "
                                      "viewer.", role=role))
    rows = list(db.session.execute(
        sa.select(RoleBinding).where(RoleBinding.user_id == user_id, RoleBinding.tenant_id == tenant.id)
    ).scalars())
    if len(rows) == 1 and rows[0].role == role:
        return
    for row in rows:
        db.session.delete(row)
    db.session.add(RoleBinding(user_id=user_id, tenant_id=tenant.id, role=role))
    db.session.flush()


def remove_tenant_roles(user_id: int, tenant) -> None:
    """The user leaves the tenant: every binding there goes, built-in, custom and through groups."""
    db.session.execute(sa.delete(RoleBinding).where(RoleBinding.user_id == user_id,
                                                    RoleBinding.tenant_id == tenant.id))
    role_access.forget_member(user_id, tenant)


def tenant_roles(tenant, user_ids: Iterable[int] | None = None) -> dict[int, str]:
    """user id -> role in the tenant."""
    stmt = sa.select(RoleBinding.user_id, RoleBinding.role).where(RoleBinding.tenant_id == tenant.id)
    if user_ids is not None:
        stmt = stmt.where(RoleBinding.user_id.in_(list(user_ids)))
    return dict(db.session.execute(stmt).all())


def count_with_role(tenant, role: str) -> int:
    return db.session.execute(
        sa.select(sa.func.count(RoleBinding.id))
        .where(RoleBinding.tenant_id == tenant.id, RoleBinding.role == role)
    ).scalar_one()


def tenant_ids_of(user_id: int) -> dict[int, str]:
    """tenant id -> role, for the tenants the user belongs to."""
    return dict(db.session.execute(
        sa.select(RoleBinding.tenant_id, RoleBinding.role)
        .where(RoleBinding.user_id == user_id, RoleBinding.tenant_id.is_not(None))
    ).all())


def is_platform_admin(user_id: int) -> bool:
    return db.session.execute(
        sa.select(RoleBinding.id).where(RoleBinding.user_id == user_id, RoleBinding.tenant_id.is_(None),
                                        RoleBinding.role == PlatformRole.ADMIN.value)
    ).first() is not None


# -- principals and access (registered into the kernel) ------------------------------------------


def _principal(user: User, via: str, scopes=None, token_id=None, admin: bool | None = None) -> Principal:
    return Principal(user_id=user.id, email=user.email, name=user.name,
                     is_admin=is_platform_admin(user.id) if admin is None else admin,
                     via=via, locale=user.locale, scopes=frozenset(scopes) if scopes is not None else None,
                     token_id=token_id)


def _token_statement() -> sa.Select:
    t = PersonalAccessToken
    admin = (sa.exists().where(RoleBinding.user_id == t.user_id, RoleBinding.tenant_id.is_(None),
                               RoleBinding.role == PlatformRole.ADMIN.value)
             .label("is_admin"))
    return (sa.select(t.id, t.scopes, t.expires_at, t.revoked_at, t.last_used_at, User.id, User.email,
                      User.name, User.locale, User.status, admin)
            .join(User, User.id == t.user_id)
            .where(t.token_hash == sa.bindparam("token_hash")))


# This runs on every API call: one round trip for token, user and platform role, reading only the
# columns a principal needs, with a statement built once (building it and loading ORM objects cost
# more CPU than the query itself).
_TOKEN_STATEMENT = _token_statement()


def principal_from_token(token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    found = db.session.execute(_TOKEN_STATEMENT, {"token_hash": _hash_token(token)}).first()
    if found is None:
        return None
    token_id, scopes, expires_at, revoked_at, last_used, user_id, email, name, locale, status, admin = found
    now = utcnow()
    expired = expires_at is not None and expires_at <= now
    if revoked_at is not None or expired or status != UserStatus.ACTIVE:
        return None
    # Write last use at most once a minute: a hot token must not turn every read into a write.
    # It is written once the request's own work has committed, in a transaction of its own: the
    # token's row is never held locked while a request runs (two long uploads made with one
    # token would otherwise wait for each other, or fail on SQLite).
    if last_used is None or now - last_used > dt.timedelta(minutes=1):
        after_commit(functools.partial(_record_token_use, token_id, now))
    return Principal(user_id=user_id, email=email, name=name, is_admin=bool(admin), via="token",
                     locale=locale,
                     scopes=frozenset(scopes) if scopes is not None else None, token_id=token_id,
                     expires_at=expires_at)


def _record_token_use(token_id: int, now: dt.datetime) -> None:
    t = PersonalAccessToken
    with Session(db.engine) as session, session.begin():
        # Conditional: of two requests recording a use at once, the later time stays.
        stale = sa.or_(t.last_used_at.is_(None), t.last_used_at < now)
        session.execute(sa.update(t).where(t.id == token_id, stale).values(last_used_at=now),
                        execution_options=authcache.UNCHANGED)


def principal_from_session(session) -> Principal | None:
    user_id, epoch = session.get("uid"), session.get("epoch")
    if user_id is None:
        return None
    user = get_user(user_id)
    if (user is None or not user.is_active or user.session_epoch != epoch
            or not console_sessions.is_live(session.get(console_sessions.SESSION_KEY), user.id)):
        for key in console_sessions.CONSOLE_KEYS:
            session.pop(key, None)
        return None
    return _principal(user, "session")


def start_session(user: User, *, id_token: str | None = None, idp: bool = True) -> None:
    """Sign ``user`` in to the console: fresh records and ids, so nothing planted before survives.

    ``idp=True`` (a user who just proved themselves on a console page: an accepted invitation, a
    changed password) opens the identity provider's session too; the console's code exchange
    passes ``idp=False`` and the id_token it validated.
    """
    from flask import session

    from taiji.platform import auth

    locale = session.get("locale")
    if idp:
        console_sessions.start_idp_session(user)
    console_sessions.start_console_session(user, id_token)
    if locale and not user.locale:
        user.locale = locale
    auth.set_principal(principal_from_session(session))


def resolve_access(principal: Principal, tenant) -> Access:
    if principal.is_admin:
        return Access(member=True, permissions=frozenset(catalog.permissions), roles=("platform:admin",))
    if tenant is None:
        perms = catalog.platform_role_permissions(PlatformRole.USER)
        return Access(member=True, permissions=frozenset(perms), roles=("platform:user",))
    # One round trip: the built-in (membership) role plus custom roles bound to the user or their groups.
    rows = role_access.bindings_at(principal.user_id, tenant.id)
    if not any(direct for _, direct, _ in rows):
        return Access(member=False, permissions=frozenset())
    roles: list[str] = []
    perms: set[str] = set()
    for role, _, custom in rows:
        if role not in roles:
            roles.append(role)
        perms |= catalog.tenant_role_permissions(role) if custom is None else set(custom)
    return Access(member=True, permissions=frozenset(perms), roles=tuple(roles))
