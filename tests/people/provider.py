"""A small OpenID provider on loopback for the sign-in tests: discovery, keys, authorization and token endpoints.

It speaks the protocol over real HTTP (the service's Authlib client fetches its documents and redeems codes as it
would with Okta or Keycloak), approves every sign-in at once, checks PKCE and the client's secret, and can be told
to answer with an ID token that is wrong in one way (forged, expired, for another audience or from another issuer),
so the service's refusals are tested against tokens a real library signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "feature-flags"
CLIENT_SECRET = "test-client-secret-0123456789abcdef"


@dataclass
class Provider:
    """What the provider signs in as, and how its next ID tokens go wrong (mode), for a test to set."""

    issuer: str = ""
    claims: dict[str, Any] = field(default_factory=lambda: {"sub": "user-1", "name": "Ada", "email": "ada@example.com"})
    # "good", "forged", "expired", "audience", "issuer", "nonce"
    mode: str = "good"
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    redeemed: int = 0

    def id_token(self, nonce: str | None) -> str:
        """Sign the ID token the mode asks for."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            **({"nonce": nonce} if nonce else {}),
            **self.claims,
        }
        key = self.key
        if self.mode == "forged":
            # The same key id, another key: what an attacker without the provider's key can make.
            key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        elif self.mode == "expired":
            claims.update(iat=now - 3600, exp=now - 600)
        elif self.mode == "audience":
            claims["aud"] = "another-application"
        elif self.mode == "issuer":
            claims["iss"] = "https://attacker.example"
        elif self.mode == "nonce":
            claims["nonce"] = "not-the-one-sent"
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": provider.issuer,
                        "authorization_endpoint": f"{provider.issuer}/authorize",
                        "token_endpoint": f"{provider.issuer}/token",
                        "jwks_uri": f"{provider.issuer}/jwks",
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "code_challenge_methods_supported": ["S256"],
                    },
                )
            elif url.path == "/jwks":
                self._json(200, {"keys": [provider.key.as_dict(private=False)]})
            elif url.path == "/authorize":
                query = {name: values[0] for name, values in parse_qs(url.query).items()}
                code = secrets.token_urlsafe(16)
                provider.codes[code] = query
                target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
            basic = self.headers.get("Authorization", "")
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            client_ok = basic == expected or (
                form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET
            )
            asked = provider.codes.pop(form.get("code", ""), None)
            if not client_ok or asked is None:
                self._json(400, {"error": "invalid_grant"})
                return
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if asked.get("code_challenge_method") != "S256" or asked.get("code_challenge") != challenge:
                self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
                return
            provider.redeemed += 1
            self._json(
                200,
                {
                    "access_token": secrets.token_urlsafe(16),
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": provider.id_token(asked.get("nonce")),
                },
            )

    return Handler


@contextmanager
def running_provider() -> Iterator[Provider]:
    """Start the provider on a loopback port; yield it (its issuer set) and stop it afterwards."""
    provider = Provider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(5)
