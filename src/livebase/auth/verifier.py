"""Checking a user token (a JWT) against the app's providers: ``Verifier.verify`` -> ``Identity``.

The steps, each refusing with an ``InvalidTokenError`` whose ``reason`` names it:

1. parse the header and claims without trusting them (``malformed``);
2. ``alg`` must be RS256 or ES256, and the one a custom JWT provider declares
   (``alg_not_allowed``: ``none``, and HS256 — the classic forgery that "signs" with the issuer's
   public key as an HMAC secret — never get near a key);
3. the provider is chosen by ``iss`` (``wrong_issuer``; ``no_provider`` when the app has none);
4. the key by ``kid``, refreshing the issuer's keys once if it is new (``unknown_kid``,
   ``issuer_unreachable``);
5. the signature, by joserfc (``bad_signature``);
6. ``exp`` (``expired``), ``nbf`` and ``iat`` (``not_yet_valid``), with ``leeway_seconds`` for
   clock skew; ``aud`` must contain the provider's ``application_id`` when it sets one
   (``wrong_audience``); ``sub`` must be there (``malformed``);
7. a token of the built-in issuer must belong to an active account (``account_disabled``).

Every refusal is logged at INFO with the reason, issuer and kid; never the token, which would
let anyone who can read the logs act as the user until it expires.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import CompactSignature, JWSRegistry

from livebase.auth.identity import Identity
from livebase.auth.keys import (
    DEFAULT_MIN_REFRESH_SECONDS,
    Clock,
    Fetch,
    KeySet,
    PublicKey,
    PublishedKeys,
    fetch_url,
    shown,
)
from livebase.auth.providers import (
    ALGORITHMS,
    BuiltinProvider,
    CustomJwtProvider,
    OidcProvider,
    Provider,
)
from livebase.errors import InvalidTokenError

log = logging.getLogger("livebase.auth")

MAX_TOKEN_BYTES = 16 * 1024
"""Longer than any real ID token (a few KiB with many claims); bounds the work a bad one costs."""

_KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}


SIGNATURE_MEMORY_SECONDS = 60.0
"""How long a token's verified signature is trusted without checking it again (a key the
issuer withdraws stops verifying the tokens it signed within this time)."""
SIGNATURE_MEMORY_SIZE = 4096


class BuiltinKeys(Protocol):
    """The deployment's own issuer (``livebase.auth.builtin``), as the verifier needs it."""

    @property
    def issuer(self) -> str:
        """The ``iss`` of the tokens it signs."""
        ...

    def public_jwks(self) -> dict[str, Any]:
        """Its current public keys, a JWKS dict (``{"keys": [...]}``)."""
        ...

    def account_active(self, subject: str) -> bool:
        """False when the account ``subject`` names is disabled or gone."""
        ...


@dataclass
class _Seen:
    """What a token said about itself, for the refusal log line (never the token itself)."""

    issuer: object = None
    kid: object = None


@dataclass(frozen=True)
class _Parsed:
    signed: CompactSignature
    alg: str
    kid: str | None
    claims: dict[str, Any]


class Verifier:
    """Verifies user tokens against ``providers`` (``App.auth_providers``).

    ``fetch`` and ``clock`` replace the network and the time (tests); ``leeway_seconds`` is the
    clock skew tolerated on ``exp``, ``nbf`` and ``iat``; ``builtin`` is required when the
    providers include the built-in issuer.
    """

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        fetch: Fetch | None = None,
        clock: Clock = time.time,
        leeway_seconds: float = 5,
        builtin: BuiltinKeys | None = None,
        min_refresh_seconds: float = DEFAULT_MIN_REFRESH_SECONDS,
    ) -> None:
        self.providers = list(providers)
        if builtin is None and any(isinstance(p, BuiltinProvider) for p in self.providers):
            raise ValueError("the providers include the built-in issuer, but no builtin keys")
        self.clock = clock
        self.leeway_seconds = leeway_seconds
        self.builtin = builtin
        self._builtin_keys: tuple[dict[str, Any], PublishedKeys] | None = None
        self._signatures: dict[str, tuple[float, list[Provider]]] = {}
        """Tokens whose signature held, until when that is trusted without checking it again."""
        self.key_sets: dict[str, KeySet] = {}
        """One per key source (an OIDC domain or a JWKS URL), shared by the providers on it."""
        fetch = fetch or fetch_url
        for provider in self.providers:
            source = _key_source(provider)
            if source is None or source in self.key_sets:
                continue
            if isinstance(provider, OidcProvider):
                self.key_sets[source] = KeySet.for_oidc(
                    provider.domain,
                    fetch=fetch,
                    clock=clock,
                    min_refresh_seconds=min_refresh_seconds,
                )
            elif isinstance(provider, CustomJwtProvider):
                self.key_sets[source] = KeySet(
                    provider.issuer,
                    jwks_url=provider.jwks,
                    fetch=fetch,
                    clock=clock,
                    min_refresh_seconds=min_refresh_seconds,
                )

    async def verify(self, token: str) -> Identity:
        """The identity ``token`` proves; ``InvalidTokenError`` naming the reason otherwise."""
        seen = _Seen()
        try:
            return await self._verify(token, seen)
        except InvalidTokenError as exc:
            log.info(
                "user token refused (%s): issuer %s, kid %s: %s",
                exc.reason,
                shown(seen.issuer),
                shown(seen.kid),
                exc.message,
            )
            raise

    async def _verify(self, token: str, seen: _Seen) -> Identity:
        if not self.providers:
            raise InvalidTokenError(
                "no_provider",
                "this app accepts no user tokens: it declares no identity providers "
                "(add APP_DIR/auth.py with providers = [...])",
            )
        parsed = _parse(token)
        seen.kid = parsed.kid
        seen.issuer = parsed.claims.get("iss")
        if parsed.alg not in ALGORITHMS:
            raise InvalidTokenError("alg_not_allowed", _alg_refusal(parsed.alg))
        issuer = parsed.claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise InvalidTokenError(
                "malformed", "the token has no iss claim (who issued it); it is not an ID token"
            )
        candidates = [p for p in self.providers if self._issues(p, issuer)]
        if not candidates:
            raise InvalidTokenError(
                "wrong_issuer",
                f"the token was issued by {shown(issuer)}, which this app does not trust "
                f"(its issuers: {', '.join(self._issuers())}); get a token from one of them "
                "or add the issuer to APP_DIR/auth.py",
            )
        allowed = [p for p in candidates if _allows(p, parsed.alg)]
        if not allowed:
            declared = " or ".join(
                sorted({p.algorithm for p in candidates if isinstance(p, CustomJwtProvider)})
            )
            raise InvalidTokenError(
                "alg_not_allowed",
                f"the token is signed with {parsed.alg}, but issuer {shown(issuer)} is "
                f"declared with algorithm {declared} in APP_DIR/auth.py",
            )
        providers = await self._signed_by(token, parsed, allowed)
        self._check_times(parsed.claims)
        self._check_audience(parsed.claims, providers)
        subject = parsed.claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidTokenError(
                "malformed", "the token has no sub claim (the user it speaks for)"
            )
        if isinstance(providers[0], BuiltinProvider):
            assert self.builtin is not None
            if not self.builtin.account_active(subject):
                raise InvalidTokenError(
                    "account_disabled",
                    "the account this token is for is disabled or was deleted; "
                    "sign in with another account, or ask an administrator to enable it",
                )
        return Identity.from_claims(parsed.claims)

    def _issues(self, provider: Provider, issuer: str) -> bool:
        if isinstance(provider, OidcProvider):
            # Issuers differ on a trailing slash (Auth0's iss has one, the domain people copy
            # from its dashboard has not); the discovery document is checked the same way.
            return issuer.rstrip("/") == provider.domain.rstrip("/")
        if isinstance(provider, CustomJwtProvider):
            return issuer == provider.issuer
        assert self.builtin is not None
        return issuer == self.builtin.issuer

    def _issuers(self) -> list[str]:
        names = []
        for provider in self.providers:
            if isinstance(provider, OidcProvider):
                names.append(repr(provider.domain))
            elif isinstance(provider, CustomJwtProvider):
                names.append(repr(provider.issuer))
            elif self.builtin is not None:
                names.append(f"{self.builtin.issuer!r} (built-in)")
        return list(dict.fromkeys(names))

    async def _signed_by(
        self, token: str, parsed: _Parsed, candidates: list[Provider]
    ) -> list[Provider]:
        """``_check_signature``, remembered for a while: a client sends the same token with
        every HTTP request, and the signature is most of the cost of checking it (60-140 us).
        The claims (expiry, audience, a disabled account) are checked on every use."""
        now = self.clock()
        remembered = self._signatures.get(token)
        if remembered is not None and remembered[0] > now:
            usable = [p for p in remembered[1] if p in candidates]
            if usable:
                return usable
        providers = await self._check_signature(parsed, candidates)
        self._signatures[token] = (now + SIGNATURE_MEMORY_SECONDS, providers)
        if len(self._signatures) > SIGNATURE_MEMORY_SIZE:
            del self._signatures[next(iter(self._signatures))]
        return providers

    async def _check_signature(self, parsed: _Parsed, candidates: list[Provider]) -> list[Provider]:
        """The candidates whose keys verify the signature (those of the first key source that
        does); the first source's refusal when none does."""
        groups: dict[str | None, list[Provider]] = {}
        for provider in candidates:
            groups.setdefault(_key_source(provider), []).append(provider)
        first_refusal: InvalidTokenError | None = None
        for source, providers in groups.items():
            try:
                key = await self._key(source, parsed)
                _check_signature_with(key, parsed)
            except InvalidTokenError as exc:
                first_refusal = first_refusal or exc
                continue
            return providers
        assert first_refusal is not None
        raise first_refusal

    async def _key(self, source: str | None, parsed: _Parsed) -> PublicKey:
        key_type = _KEY_TYPES[parsed.alg]
        if source is not None:
            return await self.key_sets[source].key_for(parsed.kid, key_type)
        # The built-in issuer: its keys are local, read on each token (they may rotate).
        assert self.builtin is not None
        jwks = self.builtin.public_jwks()
        if self._builtin_keys is None or self._builtin_keys[0] != jwks:
            self._builtin_keys = (jwks, PublishedKeys.from_jwks(jwks, "the built-in issuer"))
        key = self._builtin_keys[1].find(parsed.kid, key_type)
        if key is None:
            raise InvalidTokenError(
                "unknown_kid",
                f"the token names key {shown(parsed.kid)}, which the built-in issuer no "
                "longer has (its keys were rotated); sign in again",
            )
        return key

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now, leeway = self.clock(), self.leeway_seconds
        exp = _number(claims, "exp", required=True)
        assert exp is not None
        if now > exp + leeway:
            raise InvalidTokenError(
                "expired",
                f"the token expired at {_iso(exp)} (it is now {_iso(now)}); get a new one "
                "(refresh) and authenticate again",
            )
        nbf = _number(claims, "nbf")
        if nbf is not None and nbf > now + leeway:
            raise InvalidTokenError(
                "not_yet_valid",
                f"the token is not valid before {_iso(nbf)} (it is now {_iso(now)}); if it was "
                "just issued, the issuer's clock or this server's is wrong",
            )
        iat = _number(claims, "iat")
        if iat is not None and iat > now + leeway:
            raise InvalidTokenError(
                "not_yet_valid",
                f"the token says it was issued at {_iso(iat)}, in the future (it is now "
                f"{_iso(now)}); the issuer's clock or this server's is wrong",
            )

    def _check_audience(self, claims: Mapping[str, Any], providers: list[Provider]) -> None:
        expected = [p.application_id for p in providers]
        if any(app is None for app in expected):
            return  # a provider that names no application accepts any audience
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if any(app in audiences for app in expected):
            return
        wanted = " or ".join(repr(app) for app in dict.fromkeys(expected))
        has = f"is for audience {shown(aud)}" if aud is not None else "names no audience (aud)"
        raise InvalidTokenError(
            "wrong_audience",
            f"the token {has}, not {wanted} (the application_id in APP_DIR/auth.py); "
            "get a token issued for this app",
        )


def _allows(provider: Provider, alg: str) -> bool:
    # A custom JWT provider names its one algorithm; the others may use either.
    return not isinstance(provider, CustomJwtProvider) or provider.algorithm == alg


def _key_source(provider: Provider) -> str | None:
    if isinstance(provider, OidcProvider):
        return "oidc:" + provider.domain.rstrip("/")
    if isinstance(provider, CustomJwtProvider):
        return "jwks:" + provider.jwks
    return None


def _parse(token: object) -> _Parsed:
    if not isinstance(token, str) or not token:
        raise InvalidTokenError("malformed", "the token is empty or not a string")
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidTokenError(
            "malformed", f"the token is {len(token)} bytes long, more than {MAX_TOKEN_BYTES}"
        )
    if token.count(".") != 2:
        parts = token.count(".") + 1
        raise InvalidTokenError(
            "malformed",
            f"the token has {parts} part{'s' if parts > 1 else ''}, not the 3 of a signed JWT "
            "(header.payload.signature); it may have been cut short",
        )
    try:
        signed = jws.extract_compact(token.encode("ascii"))
        header = signed.headers()
        claims = json.loads(signed.payload or b"")
    except (JoseError, ValueError, UnicodeError):
        raise InvalidTokenError(
            "malformed",
            "the token is not a JWT: its header or payload is not base64url-encoded JSON "
            "(it may have been cut short or altered)",
        ) from None
    if not isinstance(claims, dict):
        raise InvalidTokenError("malformed", "the token's payload is not a JSON object")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise InvalidTokenError("malformed", "the token's header has no alg")
    if "crit" in header or "b64" in header:
        # Extensions a JWT has no use for; refusing them keeps the parse above the whole story.
        raise InvalidTokenError(
            "malformed", "the token's header uses crit or b64, which Livebase does not accept"
        )
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidTokenError("malformed", "the token's kid is not a string")
    return _Parsed(signed, alg, kid, claims)


def _alg_refusal(alg: str) -> str:
    if alg.lower() == "none":
        return "the token is not signed (alg none); Livebase accepts RS256 and ES256 signatures"
    if alg.upper().startswith("HS"):
        return (
            f"the token is signed with {shown(alg)}, a shared-secret algorithm, which cannot "
            "prove who issued it; Livebase accepts RS256 and ES256 signatures"
        )
    return f"the token is signed with {shown(alg)}; Livebase accepts RS256 and ES256 only"


def _check_signature_with(key: PublicKey, parsed: _Parsed) -> None:
    expected = _KEY_TYPES[parsed.alg]
    if key.key_type != expected:
        raise InvalidTokenError(
            "bad_signature",
            f"the token says {parsed.alg}, but key {shown(parsed.kid)} is an {key.key_type} "
            f"key, which cannot have made that signature",
        )
    registry = JWSRegistry(algorithms=[parsed.alg], strict_check_header=False)
    try:
        valid = jws.validate_compact(parsed.signed, key, registry=registry)
    except JoseError:
        valid = False
    if not valid:
        raise InvalidTokenError(
            "bad_signature",
            f"the token's signature does not match key {shown(parsed.kid)} of its issuer: "
            "it was altered, or signed by someone else",
        )


def _number(claims: Mapping[str, Any], name: str, *, required: bool = False) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        what = "has no" if value is None else "has a non-numeric"
        raise InvalidTokenError("malformed", f"the token {what} {name} claim (seconds since 1970)")
    return float(value)


def _iso(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{seconds:g} (seconds since 1970)"


__all__ = ["MAX_TOKEN_BYTES", "BuiltinKeys", "Verifier"]
