"""Console sessions: who signed in (an access key of the credentials file), and CSRF.

A session is a cookie signed with itsdangerous (a key made at server start: a restart
signs everyone out). It holds the access key id, never its secret, and a random CSRF
token; the key's account is looked up on every request, so a key removed from the
credentials file (on restart) signs its sessions out. Every visitor gets a session, signed
in or not, so the sign-in form itself carries a CSRF token too. The cookie is HttpOnly,
SameSite=Strict, limited to /console/, and Secure when the request came over TLS (or
through a proxy that says `X-Forwarded-Proto: https`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from policygen.server.settings import AccessKey

COOKIE = "policygen_console"
COOKIE_PATH = "/console"
#: How long a session lasts, signed in or not (AWS's console: 12 hours).
MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
#: Compared against when the key id is unknown, so a wrong id takes as long as a wrong secret.
_DECOY = secrets.token_urlsafe(30)


@dataclass(frozen=True, slots=True)
class Session:
    """A visitor: signed in with `access_key_id` (None: not, or authentication is off)."""

    csrf: str
    access_key_id: str | None = None

    @classmethod
    def fresh(cls, access_key_id: str | None = None) -> Session:
        """A new session (new CSRF token): at first visit, sign-in and sign-out."""
        return cls(secrets.token_urlsafe(32), access_key_id)

    def csrf_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(self.csrf.encode(), given.encode())


class Sessions:
    """Reads and writes session cookies; knows the access keys sessions sign in with."""

    def __init__(self, keys: Mapping[str, AccessKey], auth: bool) -> None:
        self.keys = keys
        self.auth = auth
        self._serializer = URLSafeTimedSerializer(
            secrets.token_bytes(32), salt="policygen-console-session"
        )

    def read(self, request: Request) -> Session | None:
        """The request's valid session, if it has one."""
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=MAX_AGE_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        key = data.get("k")
        return Session(data["c"], key if isinstance(key, str) and key in self.keys else None)

    def write(self, request: Request, response: Response, session: Session) -> None:
        """Set the session cookie on `response`."""
        value = self._serializer.dumps({"c": session.csrf, "k": session.access_key_id})
        response.set_cookie(
            COOKIE,
            value,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=behind_tls(request),
        )

    def account(self, session: Session | None) -> str | None:
        """The account a session sees (None: every account, with authentication off)."""
        if session is None or session.access_key_id is None:
            return None
        return self.keys[session.access_key_id].account

    def signed_in(self, session: Session | None) -> bool:
        """Whether the session may see jobs: signed in, or authentication is off."""
        return not self.auth or (session is not None and session.access_key_id is not None)

    def check_secret(self, access_key_id: str, secret: str) -> AccessKey | None:
        """The access key, when `secret` is its secret: compared in constant time, as the
        API compares signatures made with it."""
        key = self.keys.get(access_key_id)
        expected = key.secret_access_key if key is not None else _DECOY
        matches = hmac.compare_digest(expected.encode(), secret.encode())
        return key if key is not None and matches else None


def behind_tls(request: Request) -> bool:
    """Whether the browser reached the server over HTTPS (directly or through a proxy)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"
