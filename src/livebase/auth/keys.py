"""The public keys of token issuers: fetched, cached, refreshed when a token names a new one.

An OIDC issuer's keys are found through its discovery document
(``{domain}/.well-known/openid-configuration``, whose ``issuer`` must be ``domain`` and whose
``jwks_uri`` names the key set); a custom JWT issuer names its key set directly. A ``KeySet``
holds one issuer's keys. It fetches them on first use and again when a token names a key it does
not have (the issuer rotated its keys), but at most once per ``min_refresh_seconds``, so a flood
of tokens with made-up ``kid`` values cannot turn Livebase into a client hammering the issuer.
A failed refresh keeps the keys it had: tokens signed with them still verify while the issuer is
down.

The network and the clock are parameters (``fetch``, ``clock``); the default fetch is
``urllib`` in a thread, 5 s per request, documents of at most 512 KiB.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc import jwk
from joserfc.errors import JoseError

from livebase.errors import InvalidTokenError

log = logging.getLogger("livebase.auth")

Fetch = Callable[[str], Awaitable[bytes]]
"""GET a URL, return its body; raise on any failure (an unreachable host, a non-2xx status)."""
Clock = Callable[[], float]
"""Unix seconds."""
PublicKey = jwk.RSAKey | jwk.ECKey

FETCH_TIMEOUT_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 512 * 1024
DEFAULT_MIN_REFRESH_SECONDS = 30.0


class _HttpRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """urllib follows a redirect to ``ftp:`` too; an issuer's documents stay on HTTP(S)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise ValueError(f"{req.full_url} redirects to {newurl[:200]!r}, which is not HTTP(S)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch_blocking(url: str) -> bytes:
    if urlsplit(url).scheme not in ("http", "https", "data"):
        raise ValueError(f"{url[:200]!r} is not an http(s) URL or a data: URI")
    opener = urllib.request.build_opener(_HttpRedirectsOnly)
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": "livebase"}
    )
    try:
        with opener.open(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            body: bytes = response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection open otherwise
        raise OSError(f"HTTP {exc.code} {exc.reason}") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{url[:200]} sent more than {MAX_DOCUMENT_BYTES} bytes")
    return body


async def fetch_url(url: str) -> bytes:
    """The default ``Fetch``: ``urllib`` in a worker thread, so the event loop never waits on
    the network; HTTP(S) or a ``data:`` URI (Convex accepts one for ``jwks``)."""
    return await asyncio.to_thread(_fetch_blocking, url)


@dataclass(frozen=True)
class PublishedKeys:
    """The signing keys of one key set (JWKS), as imported by joserfc."""

    keys: tuple[tuple[str | None, PublicKey], ...]
    """``(kid, key)`` in the order the set lists them; ``kid`` is None when it names none."""

    @classmethod
    def from_jwks(cls, data: Any, where: str) -> PublishedKeys:
        """The RSA and EC signing keys of a JWKS document (bytes or a parsed dict); others
        (``use: enc``, unknown key types, keys that do not import) are skipped, as RFC 7517
        asks. ``ValueError`` naming ``where`` when none is left."""
        if isinstance(data, bytes):
            try:
                data = json.loads(data)
            except ValueError:
                raise ValueError(f"the key set at {where} is not JSON") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
            raise ValueError(f'the key set at {where} is not a JWKS ({{"keys": [...]}})')
        keys: list[tuple[str | None, PublicKey]] = []
        for entry in data["keys"]:
            if not isinstance(entry, Mapping) or entry.get("kty") not in ("RSA", "EC"):
                continue
            if entry.get("use", "sig") != "sig":
                continue
            kid = entry.get("kid")
            public = {k: v for k, v in entry.items() if k not in _PRIVATE_MEMBERS}
            try:
                key = jwk.import_key(public)
            except (JoseError, ValueError, TypeError) as exc:
                log.info("skipping a key of the key set at %s (kid %r): %s", where, kid, exc)
                continue
            if isinstance(key, jwk.RSAKey | jwk.ECKey):
                keys.append((kid if isinstance(kid, str) else None, key))
        if not keys:
            raise ValueError(f"the key set at {where} has no RSA or EC signing key")
        return cls(tuple(keys))

    @property
    def kids(self) -> list[str]:
        return [kid for kid, _ in self.keys if kid is not None]

    def find(self, kid: str | None, key_type: str) -> PublicKey | None:
        """The key ``kid`` names (one of ``key_type`` first, if the set has several under that
        kid); with no kid, the set's only key of ``key_type``, if it has exactly one."""
        if kid is None:
            of_type = [key for _, key in self.keys if key.key_type == key_type]
            return of_type[0] if len(of_type) == 1 else None
        named = [key for k, key in self.keys if k == kid]
        for key in named:
            if key.key_type == key_type:
                return key
        return named[0] if named else None


# Private members a careless issuer might publish: never imported, so never used or re-served.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class KeySet:
    """The public keys of one issuer, fetched lazily and refreshed on an unknown ``kid``."""

    def __init__(
        self,
        issuer: str,
        *,
        jwks_url: str | None = None,
        discovery_domain: str | None = None,
        fetch: Fetch = fetch_url,
        clock: Clock = time.time,
        min_refresh_seconds: float = DEFAULT_MIN_REFRESH_SECONDS,
    ) -> None:
        if (jwks_url is None) == (discovery_domain is None):
            raise ValueError("a KeySet takes a jwks_url or a discovery_domain")
        self.issuer = issuer
        self._jwks_url = jwks_url
        self._domain = discovery_domain
        self._fetch = fetch
        self._clock = clock
        self.min_refresh_seconds = min_refresh_seconds
        self._discovered: str | None = None
        """The ``jwks_uri`` of the OIDC discovery document, once fetched."""
        self._keys: PublishedKeys | None = None
        self._last_attempt: float | None = None
        self._last_error: str | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0
        """Fetches of the key set attempted so far (successful or not)."""

    @classmethod
    def for_oidc(
        cls,
        domain: str,
        *,
        fetch: Fetch = fetch_url,
        clock: Clock = time.time,
        min_refresh_seconds: float = DEFAULT_MIN_REFRESH_SECONDS,
    ) -> KeySet:
        return cls(
            domain,
            discovery_domain=domain,
            fetch=fetch,
            clock=clock,
            min_refresh_seconds=min_refresh_seconds,
        )

    async def key_for(self, kid: str | None, key_type: str) -> PublicKey:
        """The key a token names. ``InvalidTokenError``: ``unknown_kid`` when the issuer does
        not publish it (after one refresh, if one is allowed now), ``issuer_unreachable`` when
        the keys could not be fetched."""
        key = self._find(kid, key_type)
        if key is not None:
            return key
        refreshed = False
        async with self._lock:
            # Another token may have refreshed the set while this one waited.
            key = self._find(kid, key_type)
            if key is not None:
                return key
            if kid is not None or self._keys is None:
                if self._may_refresh():
                    await self._refresh()
                    refreshed = True
                key = self._find(kid, key_type)
                if key is not None:
                    return key
        raise self._refusal(kid, refreshed)

    def _find(self, kid: str | None, key_type: str) -> PublicKey | None:
        return self._keys.find(kid, key_type) if self._keys is not None else None

    def _may_refresh(self) -> bool:
        if self._last_attempt is None:
            return True
        return self._clock() - self._last_attempt >= self.min_refresh_seconds

    async def _refresh(self) -> None:
        self._last_attempt = self._clock()
        self.refreshes += 1
        try:
            if self._domain is not None and self._discovered is None:
                self._discovered = await self._discover()
            url = self._jwks_url or self._discovered
            assert url is not None
            self._keys = PublishedKeys.from_jwks(await self._get(url), _where(url))
        except Exception as exc:
            # The issuer may have moved its key set: look it up again next time.
            self._discovered = None
            # Keep whatever keys we had: tokens signed with them still verify.
            self._last_error = _describe(exc)
            log.warning(
                "could not fetch the keys of issuer %s: %s%s",
                self.issuer,
                self._last_error,
                "; keeping the keys fetched before" if self._keys is not None else "",
            )
        else:
            self._last_error = None
            log.info("fetched the keys of issuer %s: kids %s", self.issuer, self._keys.kids)

    async def _get(self, url: str) -> bytes:
        try:
            return await self._fetch(url)
        except Exception as exc:
            raise ValueError(f"GET {_where(url)} failed: {_describe(exc)}") from exc

    async def _discover(self) -> str:
        assert self._domain is not None
        url = self._domain.rstrip("/") + "/.well-known/openid-configuration"
        body = await self._get(url)
        try:
            document = json.loads(body)
        except ValueError:
            raise ValueError(f"the discovery document at {url} is not JSON") from None
        if not isinstance(document, dict):
            raise ValueError(f"the discovery document at {url} is not a JSON object")
        issuer = document.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self._domain.rstrip("/"):
            raise ValueError(
                f"the discovery document at {url} names issuer {shown(issuer)}, "
                f"not {self._domain!r} (the provider's domain must be its issuer)"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or urlsplit(jwks_uri).scheme not in ("http", "https"):
            raise ValueError(
                f"the discovery document at {url} has no jwks_uri (an http(s) URL), "
                f"got {shown(jwks_uri)}"
            )
        return jwks_uri

    def _refusal(self, kid: str | None, refreshed: bool) -> InvalidTokenError:
        every = f"at most every {self.min_refresh_seconds:g} s"
        if self._keys is None:
            return InvalidTokenError(
                "issuer_unreachable",
                f"the signing keys of issuer {self.issuer!r} could not be fetched "
                f"({self._last_error}); tokens of this issuer cannot be checked until it "
                f"answers (Livebase asks again {every})",
            )
        if kid is None:
            return InvalidTokenError(
                "unknown_kid",
                f"the token names no key (no kid in its header) and issuer {self.issuer!r} "
                f"publishes {len(self._keys.keys)} keys, so which one signed it is unknown; "
                "the issuer must put a kid in its tokens",
            )
        if refreshed and self._last_error is not None:
            return InvalidTokenError(
                "issuer_unreachable",
                f"the token names key {shown(kid)}, which is not among the keys of issuer "
                f"{self.issuer!r} fetched before, and fetching them again failed "
                f"({self._last_error}); try again later",
            )
        return InvalidTokenError(
            "unknown_kid",
            f"the token names key {shown(kid)}, which issuer {self.issuer!r} does not "
            f"publish (its keys: {', '.join(map(repr, self._keys.kids)) or 'none with a kid'}); "
            f"get a new token (Livebase looks for new keys {every})",
        )


def _where(url: str) -> str:
    # A data: URI can be kilobytes of base64; it says nothing useful in a message.
    return "the data: URI of the provider" if url.startswith("data:") else url[:300]


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


def shown(value: object, limit: int = 100) -> str:
    """A value from a token or a fetched document, fit for a message or a log line: quoted,
    on one line, bounded (they are written by whoever sent them)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"


__all__ = [
    "DEFAULT_MIN_REFRESH_SECONDS",
    "Clock",
    "Fetch",
    "KeySet",
    "PublicKey",
    "PublishedKeys",
    "fetch_url",
    "shown",
]
