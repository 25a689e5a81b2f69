"""Whether an app declares the built-in issuer, and with which ``application_id``.

An app turns built-in accounts on in its ``auth.py``::

    providers = [{"type": "builtin"}]                          # aud = "livebase"
    providers = [{"type": "builtin", "application_id": "my-app"}]

The loader parses them into ``App.auth_providers``; ``builtin_provider`` is the one place that
reads the declaration from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livebase.auth.providers import BuiltinProvider

DEFAULT_AUDIENCE = "livebase"


@dataclass(frozen=True)
class BuiltinDeclaration:
    audience: str
    """The ``aud`` of its tokens: the provider's ``application_id``, else ``livebase``."""


def builtin_provider(app: Any) -> BuiltinDeclaration | None:
    """The app's built-in issuer declaration, or None if its providers include none."""
    for provider in app.auth_providers:
        if isinstance(provider, BuiltinProvider):
            return BuiltinDeclaration(provider.application_id or DEFAULT_AUDIENCE)
    return None


def builtin_enabled(app: Any) -> bool:
    """Whether the app's ``auth.py`` declares ``{"type": "builtin"}``."""
    return builtin_provider(app) is not None


__all__ = ["DEFAULT_AUDIENCE", "BuiltinDeclaration", "builtin_enabled", "builtin_provider"]
