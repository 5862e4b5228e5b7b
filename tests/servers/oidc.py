"""An OpenID Connect provider on 127.0.0.1 for Streamlit's own sign-in (`st.login`), built on Authlib.

What a real provider does for the authorization code flow, and nothing more: a discovery document, an
authorize endpoint that shows an account chooser (one button per configured test user, as `prompt=
select_account` asks for), a token endpoint that checks the client's secret, the code, its redirect URI and
PKCE, then issues an RS256-signed ID token (issuer, audience, nonce, e-mail, name, a `roles` claim), the JWKS
that verifies it, userinfo, and an end-session endpoint that sends the browser back. Every request it
refused is kept in `refusals`, so a test can tell a wrong client from a wrong page. By hand:
`python -m tests.servers.oidc --port 5056 --redirect-uri http://localhost:8501/oauth2callback`.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlparse

import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.servers.http import LocalServer, TrackedHandler

CODE_SECONDS = 60
TOKEN_SECONDS = 3600


@dataclass(frozen=True)
class TestUser:
    """An account of the provider; `roles` goes into the ID token's `roles` claim."""

    __test__ = False
    email: str
    name: str
    roles: tuple[str, ...] = ()

    @property
    def sub(self) -> str:
        return "user-" + self.email.split("@")[0]

    def claims(self) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "email": self.email,
            "email_verified": True,
            "name": self.name,
            "roles": list(self.roles),
        }


@dataclass
class _Grant:
    user: TestUser
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str | None
    expires: float


@dataclass
class OIDCProvider(LocalServer):
    """One registered client (`client_id`, `client_secret`, `redirect_uris`) and the accounts in `users`."""

    users: list[TestUser]
    redirect_uris: list[str] = field(default_factory=list)
    client_id: str = "reference-studio"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    host: str = "127.0.0.1"
    port: int = 0

    thread_name = "oidc-provider"

    def __post_init__(self) -> None:
        self._listen(self.host, self.port, _Handler)
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
        self.codes: dict[str, _Grant] = {}
        self.tokens: dict[str, TestUser] = {}
        self.refusals: list[str] = []
        self.sign_ins: list[str] = []
        self.sign_outs: list[str] = []

    @property
    def issuer(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/logout",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "email", "email_verified", "name", "roles", "nonce"],
        }

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet([self.key]).as_dict(private=False))

    def user(self, email: str) -> TestUser | None:
        return next((user for user in self.users if user.email == email), None)

    def refuse(self, why: str) -> str:
        with self._lock:
            self.refusals.append(why)
        return why

    # the flow -------------------------------------------------------------------------------------
    def check_authorization(self, query: dict[str, str]) -> str | None:
        """What is wrong with an authorization request, or None."""
        if query.get("response_type") != "code":
            return "unsupported_response_type"
        if query.get("client_id") != self.client_id:
            return "unauthorized_client"
        if query.get("redirect_uri") not in self.redirect_uris:
            return "invalid_redirect_uri"
        if "openid" not in query.get("scope", "").split():
            return "invalid_scope"
        if query.get("code_challenge") and query.get("code_challenge_method") != "S256":
            return "invalid_request"
        return None

    def grant(self, user: TestUser, query: dict[str, str]) -> str:
        code: str = generate_token(32)
        with self._lock:
            self.codes[code] = _Grant(
                user=user,
                client_id=query["client_id"],
                redirect_uri=query["redirect_uri"],
                nonce=query.get("nonce"),
                challenge=query.get("code_challenge"),
                expires=time.monotonic() + CODE_SECONDS,
            )
            self.sign_ins.append(user.email)
        return code

    def exchange(self, form: dict[str, str], client: tuple[str, str] | None) -> dict[str, Any] | str:
        """The token response for a code, or the OAuth error name."""
        client_id, client_secret = client or (form.get("client_id", ""), form.get("client_secret", ""))
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return "invalid_client"
        if form.get("grant_type") != "authorization_code":
            return "unsupported_grant_type"
        with self._lock:
            grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant.expires < time.monotonic() or grant.client_id != client_id:
            return "invalid_grant"
        if form.get("redirect_uri") != grant.redirect_uri:
            return "invalid_grant"
        if grant.challenge and create_s256_code_challenge(form.get("code_verifier", "")) != grant.challenge:
            return "invalid_grant"
        now = int(time.time())
        claims = {
            **grant.user.claims(),
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + TOKEN_SECONDS,
            "auth_time": now,
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        id_token: str = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
        access_token = generate_token(40)
        with self._lock:
            self.tokens[access_token] = grant.user
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "id_token": id_token,
            "scope": "openid email profile",
        }


def _chooser(provider: OIDCProvider, query: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in query.items()
    )
    buttons = "".join(
        f'<button name="email" value="{html.escape(u.email)}">Continue as {html.escape(u.email)}</button>'
        for u in provider.users
    )
    return (
        "<!doctype html><html><head><title>Test identity provider</title></head><body>"
        f"<h1>Test identity provider</h1><p>Choose an account</p>"
        f'<form method="post" action="/authorize">{hidden}{buttons}</form></body></html>'
    )


class _Handler(TrackedHandler):
    owner: OIDCProvider

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, document: Any) -> None:
        self._send(status, json.dumps(document).encode(), "application/json")

    def _redirect(self, location: str) -> None:
        self._send(302, b"", "text/plain", {"Location": location})

    def _query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlparse(self.path).query).items()}

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        return {k: v[-1] for k, v in parse_qs(body).items()}

    def _basic_client(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return unquote_plus(user), unquote_plus(password)

    def do_GET(self) -> None:
        provider = self.owner
        path = urlparse(self.path).path
        if path == "/.well-known/openid-configuration":
            self._json(200, provider.metadata())
        elif path == "/jwks":
            self._json(200, provider.jwks())
        elif path == "/authorize":
            query = self._query()
            problem = provider.check_authorization(query)
            if problem:
                self._send(400, provider.refuse(problem).encode(), "text/plain")
            else:
                self._send(200, _chooser(provider, query).encode(), "text/html; charset=utf-8")
        elif path == "/userinfo":
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            user = provider.tokens.get(token)
            if user is None:
                self._json(401, {"error": provider.refuse("invalid_token")})
            else:
                self._json(200, user.claims())
        elif path == "/logout":
            query = self._query()
            target = query.get("post_logout_redirect_uri", "")
            if target not in provider.redirect_uris:
                self._send(400, provider.refuse("invalid_post_logout_redirect_uri").encode(), "text/plain")
                return
            with provider._lock:
                provider.sign_outs.append(query.get("client_id", ""))
            self._redirect(target)
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        provider = self.owner
        path = urlparse(self.path).path
        form = self._form()
        if path == "/authorize":
            user = provider.user(form.pop("email", ""))
            problem = provider.check_authorization(form)
            if problem or user is None:
                self._send(400, provider.refuse(problem or "unknown_user").encode(), "text/plain")
                return
            code = provider.grant(user, form)
            answer = {"code": code, **({"state": form["state"]} if "state" in form else {})}
            self._redirect(f"{form['redirect_uri']}?{urlencode(answer)}")
        elif path == "/token":
            issued = provider.exchange(form, self._basic_client())
            if isinstance(issued, str):
                self._json(400, {"error": provider.refuse(issued)})
            else:
                self._json(200, issued)
        else:
            self._send(404, b"not found", "text/plain")


CREATOR = TestUser("cora.creator@example.com", "Cora Creator", ("creator",))
REVIEWER = TestUser("rex.reviewer@example.com", "Rex Reviewer", ("reviewer",))
ADMIN = TestUser("ada.admin@example.com", "Ada Admin", ("admin",))
NOBODY = TestUser("nick.norole@example.com", "Nick Norole")
TEST_USERS = [CREATOR, REVIEWER, ADMIN, NOBODY]


@pytest.fixture
def oidc_provider() -> Iterator[OIDCProvider]:
    """A running provider with the four test users; register the app's redirect URI in `redirect_uris`."""
    with OIDCProvider(users=list(TEST_USERS)) as provider:
        yield provider


def main() -> None:
    parser = argparse.ArgumentParser(description="OpenID Connect provider for trying team sign-in by hand.")
    parser.add_argument("--port", type=int, default=5056)
    parser.add_argument("--redirect-uri", default="http://localhost:8501/oauth2callback")
    args = parser.parse_args()
    provider = OIDCProvider(users=list(TEST_USERS), redirect_uris=[args.redirect_uri], port=args.port)
    provider.serve_until_interrupted(
        "[auth] in .streamlit/secrets.toml:\n"
        f'redirect_uri = "{args.redirect_uri}"\n'
        f'client_id = "{provider.client_id}"\n'
        f'client_secret = "{provider.client_secret}"\n'
        f'server_metadata_url = "{provider.metadata_url}"\n'
        'cookie_secret = "<a long random string>"\n'
        'and [studio.roles] claim = "roles"'
    )


if __name__ == "__main__":
    main()
