"""Whether an app declares the built-in issuer, and with which ``application_id``.

An app turns built-in accounts on in its ``auth.py``::

    providers = [{"type": "builtin"}]                          # aud = "livebase"
    providers = [{"type": "builtin", "application_id": "my-app"}]

The app loader's ``App.auth_providers`` (entries of ``livebase.auth.providers``) is read when it
exists; otherwise the ``providers`` list of the loaded ``auth`` module. ``builtin_provider`` is
the one place that reads the declaration.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any

DEFAULT_AUDIENCE = "livebase"


@dataclass(frozen=True)
class BuiltinDeclaration:
    audience: str
    """The ``aud`` of its tokens: the provider's ``application_id``, else ``livebase``."""


def builtin_provider(app: Any) -> BuiltinDeclaration | None:
    """The app's built-in issuer declaration, or None if its providers include none."""
    for provider in _providers(app):
        if _is_builtin(provider):
            application_id = _field(provider, "application_id") or _field(provider, "applicationID")
            return BuiltinDeclaration(str(application_id or DEFAULT_AUDIENCE))
    return None


def builtin_enabled(app: Any) -> bool:
    """Whether the app's ``auth.py`` declares ``{"type": "builtin"}``."""
    return builtin_provider(app) is not None


def _providers(app: Any) -> list[Any]:
    declared = getattr(app, "auth_providers", None)
    if declared is not None:
        return list(declared)
    module = sys.modules.get(f"{getattr(app, 'package', '')}.auth")
    providers = getattr(module, "providers", None) if module is not None else None
    return list(providers) if isinstance(providers, list | tuple) else []


def _is_builtin(provider: Any) -> bool:
    try:
        final_api = importlib.import_module("livebase.auth.providers").BuiltinProvider
    except (ImportError, AttributeError):
        final_api = None
    if isinstance(final_api, type) and isinstance(provider, final_api):
        return True
    return bool(_field(provider, "type") == "builtin")


def _field(provider: Any, name: str) -> Any:
    if isinstance(provider, dict):
        return provider.get(name)
    return getattr(provider, name, None)


__all__ = ["DEFAULT_AUDIENCE", "BuiltinDeclaration", "builtin_enabled", "builtin_provider"]
