"""Convex's rules for environment variables: what a name may be, and how much may be kept.

A name starts with a letter and holds only ASCII letters, digits and underscores, at most 256
characters; a value is at most 8 KiB (UTF-8); a deployment keeps at most 512 variables and
512 KiB of names and values together. Each check raises ``ValidationError`` naming what was
wrong.
"""

from __future__ import annotations

import re

from livebase.errors import ValidationError

MAX_NAME = 256
MAX_VALUE_BYTES = 8 << 10
MAX_VARIABLES = 512
MAX_TOTAL_BYTES = 512 << 10

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def check_name(name: object) -> str:
    """``name`` if it is a valid variable name, else ``ValidationError`` saying why."""
    if not isinstance(name, str):
        raise _invalid(f"an environment variable name must be a string, got {type(name).__name__}")
    if not name:
        raise _invalid("the environment variable name is empty")
    shown = name if len(name) <= 60 else name[:60] + "..."
    if len(name) > MAX_NAME:
        raise _invalid(
            f"environment variable name {shown!r} is {len(name)} characters; "
            f"the limit is {MAX_NAME}"
        )
    if not name[0].isascii() or not name[0].isalpha():
        raise _invalid(
            f"environment variable name {shown!r} must start with a letter, not {name[0]!r}"
        )
    if _NAME.fullmatch(name) is None:
        bad = next(c for c in name if not (c.isascii() and (c.isalnum() or c == "_")))
        raise _invalid(
            f"environment variable name {shown!r} may hold only letters, digits and "
            f"underscores, not {bad!r}"
        )
    return name


def check_value(name: str, value: object) -> str:
    """``value`` if it is a string of at most ``MAX_VALUE_BYTES``, else ``ValidationError``."""
    if not isinstance(value, str):
        raise _invalid(
            f"the value of {name} must be a string, got {type(value).__name__}",
            code="InvalidEnvVarValue",
        )
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_VALUE_BYTES:
        raise _invalid(
            f"the value of {name} is {size} bytes; the limit is {MAX_VALUE_BYTES} (8 KiB)",
            code="EnvValueTooLarge",
        )
    return value


def check_totals(count: int, total_bytes: int) -> None:
    """The deployment's variables after a change: at most ``MAX_VARIABLES`` of them and
    ``MAX_TOTAL_BYTES`` of names and values."""
    if count > MAX_VARIABLES:
        raise _invalid(
            f"a deployment keeps at most {MAX_VARIABLES} environment variables; unset one first",
            code="TooManyEnvVars",
        )
    if total_bytes > MAX_TOTAL_BYTES:
        raise _invalid(
            f"the environment variables would hold {total_bytes} bytes of names and values; "
            f"the limit is {MAX_TOTAL_BYTES} (512 KiB)",
            code="EnvTooLarge",
        )


def _invalid(message: str, code: str = "InvalidEnvVarName") -> ValidationError:
    return ValidationError(message, code=code)


__all__ = [
    "MAX_NAME",
    "MAX_TOTAL_BYTES",
    "MAX_VALUE_BYTES",
    "MAX_VARIABLES",
    "check_name",
    "check_totals",
    "check_value",
]
