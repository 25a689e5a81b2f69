"""The ``@query`` / ``@mutation`` / ``@action`` decorators (and ``internal_*``), and what they
record.

A decorated function keeps working as a plain function; the decorator attaches its kind, its
visibility and an argument validator, taken from ``args={...}`` or derived from type hints.
Arguments arrive as keyword arguments: ``def send(ctx, channel: str, body: str)``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from livebase.errors import InvalidValueError
from livebase.values.validators import Validator, _Any, from_type_hint, v

Kind = Literal["query", "mutation", "action"]


@dataclass
class FunctionDef:
    fn: Callable[..., Any]
    kind: Kind
    internal: bool
    args: Validator
    returns: Validator | None
    accepts_extra: bool
    path: str = ""
    is_async: bool = field(init=False)

    def __post_init__(self) -> None:
        self.is_async = inspect.iscoroutinefunction(self.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    @property
    def visibility(self) -> str:
        return "internal" if self.internal else "public"


def _args_validator(
    fn: Callable[..., Any], explicit: Mapping[str, Any] | Validator | None
) -> tuple[Validator, bool]:
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if not params:
        raise TypeError(f"{fn.__qualname__}: the first parameter must be ctx")
    rest = params[1:]
    accepts_extra = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in rest)
    if explicit is not None:
        if isinstance(explicit, Validator):
            return explicit, accepts_extra
        return v.object(dict(explicit)), accepts_extra
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise TypeError(f"{fn.__qualname__}: cannot read type hints: {exc}") from None
    fields: dict[str, Validator] = {}
    for p in rest:
        if p.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL):
            continue
        hint = hints.get(p.name)
        try:
            validator = _Any() if hint is None else from_type_hint(hint)
        except TypeError as exc:
            raise TypeError(f"{fn.__qualname__}, argument {p.name!r}: {exc}") from None
        fields[p.name] = (
            validator if p.default is inspect.Parameter.empty else v.optional(validator)
        )
    return v.object(fields), accepts_extra


Decorated = Callable[..., Any]


class _Decorator:
    def __init__(self, kind: Kind, internal: bool) -> None:
        self.kind: Kind = kind
        self.internal = internal

    @overload
    def __call__(self, fn: Decorated) -> FunctionDef: ...

    @overload
    def __call__(
        self,
        fn: None = None,
        *,
        args: Mapping[str, Any] | Validator | None = None,
        returns: Validator | None = None,
    ) -> Callable[[Decorated], FunctionDef]: ...

    def __call__(
        self,
        fn: Decorated | None = None,
        *,
        args: Mapping[str, Any] | Validator | None = None,
        returns: Validator | None = None,
    ) -> FunctionDef | Callable[[Decorated], FunctionDef]:
        def wrap(f: Decorated) -> FunctionDef:
            if isinstance(f, FunctionDef):
                raise TypeError(f"{f.fn.__qualname__} is decorated twice")
            validator, extra = _args_validator(f, args)
            return FunctionDef(f, self.kind, self.internal, validator, returns, extra)

        return wrap if fn is None else wrap(fn)


query = _Decorator("query", False)
mutation = _Decorator("mutation", False)
action = _Decorator("action", False)
internal_query = _Decorator("query", True)
internal_mutation = _Decorator("mutation", True)
internal_action = _Decorator("action", True)


def canonical_path(path: str) -> str:
    """``messages.js:list`` -> ``messages:list``; ``messages`` -> ``messages:default``."""
    module, sep, name = path.rpartition(":")
    if not sep:
        module, name = path, "default"
    module = module.removesuffix(".js").strip("/")
    return f"{module}:{name}"


def function_path(target: Any, use: str, kind: Kind | None = None) -> str:
    """The ``module:function`` path that ``target`` names, for ``use`` (``ctx.run_query``,
    ``ctx.scheduler.run_after``...): a path string, or the decorated function itself (whose
    path the loader set). ``kind``, if given: a decorated function of another kind is refused
    here, naming the call that takes it. Anything else is an ``InvalidValueError`` that names
    what was passed."""
    if isinstance(target, str) and target:
        return target
    if isinstance(target, FunctionDef):
        name = target.path or target.fn.__qualname__
        if not target.path:
            raise InvalidValueError(
                f"{use}: {name} is not one of the app's functions (not loaded from its folder)"
            )
        if kind is not None and target.kind != kind:
            raise InvalidValueError(
                f"{use}: {name} is a {target.kind}, not a {kind}; call it with "
                f"ctx.run_{target.kind}"
            )
        return target.path
    if callable(target) and hasattr(target, "__qualname__"):
        what = f"the plain function {target.__qualname__} (decorate it with @query, @mutation "
        what += "or @action)"
    else:
        what = f"{type(target).__name__} {target!r:.80}"
    raise InvalidValueError(
        f"{use}: give the function's path ('module:function') or the decorated function "
        f"itself, got {what}"
    )
