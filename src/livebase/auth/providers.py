"""The identity providers an app trusts, declared in ``APP_DIR/auth.py``.

``providers`` there is a list in the shape of Convex's ``auth.config.ts``, so a configuration
ports one to one::

    providers = [
        {"domain": "https://accounts.example.com", "application_id": "my-app"},   # OIDC
        {"type": "customJwt", "issuer": "https://auth.example.com",
         "jwks": "https://auth.example.com/.well-known/jwks.json", "algorithm": "RS256",
         "application_id": "my-app"},
        {"type": "builtin"},                      # Livebase's own accounts (livebase.auth.builtin)
    ]

Convex's camelCase ``applicationID`` is accepted too, and the typed helpers ``oidc``,
``custom_jwt`` and ``builtin`` build the same dicts. ``parse_providers`` turns the list into
``Provider`` objects, refusing anything wrong with an ``AppLoadError`` that names the entry and
the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from livebase.errors import AppLoadError

Algorithm = Literal["RS256", "ES256"]
ALGORITHMS: tuple[Algorithm, ...] = ("RS256", "ES256")
"""The signature algorithms a token may use (Convex accepts these two as well)."""


@dataclass(frozen=True)
class OidcProvider:
    """An OpenID Connect issuer: its keys are found through
    ``{domain}/.well-known/openid-configuration``; a token's ``iss`` must be ``domain`` (a
    trailing slash aside) and its ``aud`` must contain ``application_id``."""

    domain: str
    application_id: str


@dataclass(frozen=True)
class CustomJwtProvider:
    """An issuer of plain JWTs: keys at the ``jwks`` URL (or a ``data:`` URI), ``iss`` exactly
    ``issuer``, signed with ``algorithm``; ``aud`` is checked only when ``application_id`` is
    set (without it any token of that issuer is accepted, whichever app it was for)."""

    issuer: str
    jwks: str
    algorithm: Algorithm
    application_id: str | None = None


@dataclass(frozen=True)
class BuiltinProvider:
    """Livebase's own issuer, for self-hosted apps with no identity service; its keys and
    accounts live in the deployment."""

    application_id: str | None = None


Provider = OidcProvider | CustomJwtProvider | BuiltinProvider


def oidc(domain: str, application_id: str) -> dict[str, str]:
    """An OpenID Connect issuer entry for ``providers``."""
    return {"domain": domain, "application_id": application_id}


def custom_jwt(
    issuer: str, jwks: str, algorithm: Algorithm = "RS256", application_id: str | None = None
) -> dict[str, str]:
    """A custom JWT issuer entry for ``providers``."""
    entry = {"type": "customJwt", "issuer": issuer, "jwks": jwks, "algorithm": algorithm}
    if application_id is not None:
        entry["application_id"] = application_id
    return entry


def builtin(application_id: str | None = None) -> dict[str, str]:
    """The built-in issuer's entry for ``providers``."""
    entry = {"type": "builtin"}
    if application_id is not None:
        entry["application_id"] = application_id
    return entry


_FIELDS: dict[str, tuple[str, ...]] = {
    "oidc": ("domain", "application_id"),
    "customJwt": ("issuer", "jwks", "algorithm", "application_id"),
    "builtin": ("application_id",),
}


def parse_providers(value: Any, where: str = "auth.py") -> list[Provider]:
    """The providers ``value`` (the ``providers`` list of ``auth.py``) declares."""
    if not isinstance(value, list | tuple):
        raise AppLoadError(
            f"{where}: `providers` must be a list of providers "
            f"(providers = [{{...}}, ...]), got {type(value).__name__}"
        )
    providers: list[Provider] = []
    for index, entry in enumerate(value):
        at = f"{where}: providers[{index}]"
        provider = entry if isinstance(entry, Provider) else _parse_entry(entry, at)
        _check_provider(provider, at)
        if isinstance(provider, BuiltinProvider) and any(
            isinstance(p, BuiltinProvider) for p in providers
        ):
            raise AppLoadError(f"{at}: a second builtin provider; declare it once")
        providers.append(provider)
    return providers


def _parse_entry(entry: Any, at: str) -> Provider:
    if not isinstance(entry, Mapping):
        raise AppLoadError(
            f"{at} must be a dict like {{'domain': ..., 'application_id': ...}}, "
            f"got {type(entry).__name__}"
        )
    fields = dict(entry)
    if "applicationID" in fields:
        if "application_id" in fields:
            raise AppLoadError(f"{at} has both application_id and applicationID; keep one")
        fields["application_id"] = fields.pop("applicationID")
    kind = fields.pop("type", "oidc")
    if kind not in _FIELDS:
        raise AppLoadError(
            f"{at}.type is {kind!r}; a provider is an OIDC issuer (no type), "
            "'customJwt' or 'builtin'"
        )
    unknown = sorted(str(name) for name in fields if name not in _FIELDS[kind])
    if unknown:
        allowed = ", ".join(_FIELDS[kind])
        what = "an OIDC provider" if kind == "oidc" else f"a {kind} provider"
        raise AppLoadError(f"{at} has unknown field {unknown[0]!r}; {what} takes {allowed}")
    if kind == "oidc":
        return OidcProvider(
            domain=_required(fields, "domain", at),
            application_id=_required(fields, "application_id", at),
        )
    if kind == "customJwt":
        algorithm = _required(fields, "algorithm", at)
        if algorithm not in ALGORITHMS:
            raise AppLoadError(f"{at}.algorithm is {algorithm!r}; it must be RS256 or ES256")
        return CustomJwtProvider(
            issuer=_required(fields, "issuer", at),
            jwks=_required(fields, "jwks", at),
            algorithm="RS256" if algorithm == "RS256" else "ES256",
            application_id=_optional(fields, "application_id", at),
        )
    return BuiltinProvider(application_id=_optional(fields, "application_id", at))


_MEANING = {
    "domain": "the issuer's URL, e.g. https://accounts.example.com",
    "application_id": "the audience its tokens are issued for (their aud)",
    "issuer": "the exact iss of its tokens",
    "jwks": "the URL of its key set (JWKS)",
    "algorithm": "RS256 or ES256",
}


def _required(fields: dict[str, Any], name: str, at: str) -> str:
    value = _optional(fields, name, at)
    if value is None:
        raise AppLoadError(f"{at} has no {name} ({_MEANING[name]})")
    return value


def _optional(fields: dict[str, Any], name: str, at: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise AppLoadError(f"{at}.{name} must be a non-empty string, got {shown}")
    return value


def _check_provider(provider: Provider, at: str) -> None:
    """What a dict and a hand-built provider object must both satisfy."""
    if isinstance(provider, OidcProvider):
        _check_string(provider.application_id, "application_id", at)
        _check_url(provider.domain, "domain", at)
    elif isinstance(provider, CustomJwtProvider):
        _check_string(provider.issuer, "issuer", at)
        _check_url(provider.jwks, "jwks", at, key_set=True)
        if provider.algorithm not in ALGORITHMS:
            raise AppLoadError(
                f"{at}.algorithm is {provider.algorithm!r}; it must be RS256 or ES256"
            )
        if provider.application_id is not None:
            _check_string(provider.application_id, "application_id", at)
    elif provider.application_id is not None:
        _check_string(provider.application_id, "application_id", at)


def _check_string(value: object, name: str, at: str) -> None:
    if not isinstance(value, str) or not value.strip():
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise AppLoadError(f"{at}.{name} must be a non-empty string, got {shown}")


def _check_url(value: object, name: str, at: str, *, key_set: bool = False) -> None:
    """An http(s) URL with a host; a key set may also be a ``data:`` URI (as in Convex) and
    have a query (some issuers select the keys of one application with it)."""
    _check_string(value, name, at)
    assert isinstance(value, str)
    if key_set and value.startswith("data:"):
        if "," not in value:
            raise AppLoadError(f"{at}.{name} is a data: URI with no data (data:...;base64,...)")
        return
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        also = " or a data: URI" if key_set else ""
        raise AppLoadError(
            f"{at}.{name} must be an http(s) URL{also} like https://auth.example.com, "
            f"got {value[:200]!r}"
        )
    if parts.fragment or (parts.query and not key_set):
        raise AppLoadError(f"{at}.{name} must not have a query or fragment, got {value[:200]!r}")


__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "BuiltinProvider",
    "CustomJwtProvider",
    "OidcProvider",
    "Provider",
    "builtin",
    "custom_jwt",
    "oidc",
    "parse_providers",
]
