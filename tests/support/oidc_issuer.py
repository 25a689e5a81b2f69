"""A real OpenID Connect issuer for tests, on 127.0.0.1.

It serves a discovery document (``/.well-known/openid-configuration``) and a key set
(``/jwks.json``) over HTTP from a thread, made with joserfc from real RSA and EC keys, and signs
tokens with them. Tests rotate keys (``add_key``, ``retire_key``, ``signing_kid``), take the
issuer down (``down = True``: every request gets a 503) and count what it served
(``fetches["/jwks.json"]``)::

    with OidcIssuer() as issuer:
        token = issuer.token(sub="user-1", now=clock())
        providers = [{"domain": issuer.url, "application_id": issuer.application_id}]
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from joserfc import jwk, jwt

KeyType = Literal["RSA", "EC"]
_ALGORITHM: dict[str, str] = {"RSA": "RS256", "EC": "ES256"}


class OidcIssuer:
    """One issuer: ``url`` is both its ``iss`` and its OIDC domain."""

    def __init__(self, application_id: str = "livebase-test", *, path: str = "") -> None:
        self.application_id = application_id
        self._path = path.rstrip("/")
        self.keys: dict[str, jwk.RSAKey | jwk.ECKey] = {}
        """Published keys by kid (private halves included: the issuer signs with them)."""
        self.signing_kid = ""
        self.fetches: Counter[str] = Counter()
        self.down = False
        self.discovery_issuer: str | None = None
        """When set, the discovery document names this issuer instead of the real one."""
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._counter = 0
        self.signing_kid = self.add_key("RSA")

    # -- keys ----------------------------------------------------------------------------------

    def add_key(self, kty: KeyType = "RSA", kid: str | None = None) -> str:
        """Publish a new key; returns its kid. The signing key stays as it was."""
        with self._lock:
            self._counter += 1
            kid = kid or f"{kty.lower()}-{self._counter}"
            if kty == "RSA":
                self.keys[kid] = jwk.RSAKey.generate_key(2048, {"kid": kid})
            else:
                self.keys[kid] = jwk.ECKey.generate_key("P-256", {"kid": kid})
            return kid

    def rotate(self, kty: KeyType = "RSA") -> str:
        """Publish a new key and sign with it from now on (the old one stays published)."""
        self.signing_kid = self.add_key(kty)
        return self.signing_kid

    def retire_key(self, kid: str) -> None:
        with self._lock:
            del self.keys[kid]

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [dict(key.as_dict(private=False)) for key in self.keys.values()]}

    # -- tokens --------------------------------------------------------------------------------

    def token(
        self,
        *,
        now: float,
        sub: str = "user-1",
        kid: str | None = None,
        ttl: float = 3600,
        header: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A token signed by this issuer: ``iss``, ``aud``, ``iat``, ``exp`` set from ``now``
        unless given in ``claims`` (a claim given as None is left out)."""
        body: dict[str, Any] = {
            "iss": self.url,
            "sub": sub,
            "aud": self.application_id,
            "iat": int(now),
            "exp": int(now + ttl),
            **claims,
        }
        return self.sign({k: v for k, v in body.items() if v is not None}, kid=kid, header=header)

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        kid: str | None = None,
        header: Mapping[str, Any] | None = None,
    ) -> str:
        key = self.keys[kid or self.signing_kid]
        fields = {"alg": _ALGORITHM[key.key_type], "kid": key.kid, **(header or {})}
        return jwt.encode(fields, dict(claims), key)

    # -- serving -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self._path}"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks.json"

    def start(self) -> OidcIssuer:
        # A short poll: stop() waits for it, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> OidcIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _document(self, path: str) -> dict[str, Any] | None:
        if path == f"{self._path}/.well-known/openid-configuration":
            return {
                "issuer": self.discovery_issuer or self.url,
                "jwks_uri": self.jwks_url,
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
            }
        if path == f"{self._path}/jwks.json":
            return self.jwks()
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches[self.path] += 1
                document = None if issuer.down else issuer._document(self.path)
                status = 503 if issuer.down else 200 if document is not None else 404
                body = json.dumps(document if document is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test output is not the place for an access log

        return Handler
