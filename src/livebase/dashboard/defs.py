"""How the dashboard declares its system functions: internal ``_system/dashboard:*`` function
definitions with argument validators, like an app's own functions (the admin key reaches them,
nobody else)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livebase.functions.registry import FunctionDef, Kind
from livebase.values.validators import Validator, v

PREFIX = "_system/dashboard"


def system_def(
    name: str, kind: Kind, args: dict[str, Validator], fn: Callable[..., Any]
) -> FunctionDef:
    """``_system/dashboard:<name>``: an internal function whose arguments ``args`` checks."""
    fd = FunctionDef(fn, kind, True, v.object(args), None, False)
    fd.path = f"{PREFIX}:{name}"
    return fd


def optional_number() -> Validator:
    return v.optional(v.number())


def optional_string() -> Validator:
    return v.optional(v.string())
