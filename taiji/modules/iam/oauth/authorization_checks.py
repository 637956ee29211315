"""What an authorization request must carry (PKCE S256) and what Taiji refuses in it rather than
ignore (request objects, unknown resource indicators). Registered on the code grant in server.py."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError

from . import resources


class S256CodeChallenge(CodeChallenge):
    """PKCE for every client, confidential ones too, and only the S256 method."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "PKCE is required: send code_challenge with code_challenge_method=S256."
            )
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is accepted.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class AuthorizationRequestChecks:
    """Authorization-request parameters Taiji refuses out loud rather than ignore (the error goes
    back to the client's verified redirect URI, with its state).

    - ``request`` / ``request_uri`` (request objects, OIDC Core §6, RFC 9101) are not supported:
      ignoring them would sign the user in with parameters other than the ones the client signed.
    - ``resource`` (RFC 8707) must name registered resource servers; the grant is limited to them.
    """

    def __call__(self, grant):
        grant.register_hook("before_validate_authorization_request_payload", self.check)

    @staticmethod
    def check(grant, redirect_uri):
        data = grant.request.payload.datalist
        if data.get("request"):
            raise RequestNotSupportedError("Request objects (the 'request' parameter) are not supported; "
                                           "send the parameters themselves.")
        if data.get("request_uri"):
            raise RequestURINotSupportedError("The 'request_uri' parameter is not supported; send the "
                                              "parameters themselves.")
        resources.check(resources.requested(grant.request.payload))
