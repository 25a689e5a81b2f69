"""``ctx.env``: the deployment's environment variables as a read-only mapping.

``ctx.env["NAME"]``, ``ctx.env.get("NAME", default)``, ``"NAME" in ctx.env``, iteration and
``len``. A view holds the values of the moment its call started (a later ``livebase env set``
changes later calls, never a running one); the values are fetched on first use, which also
marks the call as one that read the environment (a subscription to a query that never touched
``ctx.env`` is not re-run when a variable changes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType


class EnvVarNotSet(KeyError):
    """``ctx.env["NAME"]`` for a variable that is not set (a ``KeyError``, so ``get`` and
    ``in`` work as for any mapping)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return (
            f"environment variable {self.name!r} is not set (set it with: livebase env set "
            f"{self.name} VALUE, or read it with ctx.env.get({self.name!r}, default))"
        )


class EnvView(Mapping[str, str]):
    """The variables ``load`` gives (called at most once, on first use; it may raise why the
    values cannot be read, which every use then raises)."""

    __slots__ = ("_load", "_values", "used")

    def __init__(self, load: Callable[[], Mapping[str, str]]) -> None:
        self._load = load
        self._values: Mapping[str, str] | None = None
        self.used = False
        """Whether the call looked at its environment at all."""

    def _get(self) -> Mapping[str, str]:
        self.used = True
        if self._values is None:
            self._values = self._load()
        return self._values

    def __getitem__(self, name: str) -> str:
        values = self._get()
        try:
            return values[name]
        except KeyError:
            raise EnvVarNotSet(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._get()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._get()))

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return f"<ctx.env: {len(self)} variables>"  # never the values (they are secrets)


_EMPTY: Mapping[str, str] = MappingProxyType({})


def empty_view() -> EnvView:
    """The view of a call outside a deployment with variables (no variables at all)."""
    return EnvView(lambda: _EMPTY)


__all__ = ["EnvVarNotSet", "EnvView", "empty_view"]
