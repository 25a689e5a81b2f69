"""Token prices for the cost estimate of imported sessions, kept in a JSON file the user edits.

The file (``$AGENTFEED_HOME/pricing.json``, written with ``DEFAULT_PRICES`` on first use, or the
one ``--pricing FILE`` names) looks like::

    {"unit": "USD per million tokens",
     "models": {"claude-sonnet-4": {"input": 3, "output": 15, "cache_write": 3.75,
                                    "cache_read": 0.3}, ...}}

A model id is matched against the ``models`` keys by the longest key it starts with, after
dropping a provider prefix (``us.anthropic.``, ``anthropic/``...: everything before ``claude-``)
and a ``[...]`` suffix; so ``claude-sonnet-4-5-20250929`` uses ``claude-sonnet-4`` unless a
``claude-sonnet-4-5`` entry exists. A model no key matches has no price: its cost is ``None``.

The defaults are Anthropic's list prices for the standard API (``DEFAULT_SOURCE``); cache writes
use the 5-minute rate (the transcript does not always say which TTL a write used). They are an
estimate of what the tokens would cost on the API, not what a subscription bills.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SOURCE = (
    "https://platform.claude.com/docs/en/docs/about-claude/pricing (Model pricing table: base "
    "input, 5m cache writes, cache hits, output), as stored when this table was written"
)
FIELDS = ("input", "output", "cache_write", "cache_read")

_OPUS_45 = {"input": 5.0, "output": 25.0, "cache_write": 6.25, "cache_read": 0.5}
_OPUS_4 = {"input": 15.0, "output": 75.0, "cache_write": 18.75, "cache_read": 1.5}
_SONNET = {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.3}
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "claude-opus-5": _OPUS_45,
    "claude-opus-4-8": _OPUS_45,
    "claude-opus-4-7": _OPUS_45,
    "claude-opus-4-6": _OPUS_45,
    "claude-opus-4-5": _OPUS_45,
    "claude-opus-4-1": _OPUS_4,
    "claude-opus-4": _OPUS_4,
    "claude-3-opus": _OPUS_4,
    "claude-sonnet-4": _SONNET,
    "claude-3-7-sonnet": _SONNET,
    "claude-3-5-sonnet": _SONNET,
    "claude-haiku-4-5": {"input": 1.0, "output": 5.0, "cache_write": 1.25, "cache_read": 0.1},
    "claude-3-5-haiku": {"input": 0.8, "output": 4.0, "cache_write": 1.0, "cache_read": 0.08},
    "claude-3-haiku": {"input": 0.25, "output": 1.25, "cache_write": 0.3, "cache_read": 0.03},
}


class PricingError(Exception):
    """The pricing file cannot be read or is not in the expected shape."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens of each kind."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost(self, input: int, output: int, cache_creation: int, cache_read: int) -> float:
        total = (
            input * self.input
            + output * self.output
            + cache_creation * self.cache_write
            + cache_read * self.cache_read
        )
        return total / 1_000_000


@dataclass(frozen=True)
class Pricing:
    """A loaded price table; ``path`` is the file it came from (None: the built-in defaults)."""

    prices: dict[str, Price]
    path: Path | None = None

    def lookup(self, model: str) -> Price | None:
        """The price of ``model``: the longest table key its normalised id starts with."""
        name = normalise_model(model)
        best: str | None = None
        for key in self.prices:
            if name.startswith(key.lower()) and (best is None or len(key) > len(best)):
                best = key
        return self.prices[best] if best is not None else None


def normalise_model(model: str) -> str:
    """``us.anthropic.claude-opus-4-1-20250805-v1:0`` -> ``claude-opus-4-1-20250805-v1:0``;
    ``claude-sonnet-4-5[1m]`` -> ``claude-sonnet-4-5``; lower case."""
    name = model.strip().lower().split("[", 1)[0]
    at = name.find("claude-")
    return name[at:] if at > 0 else name


def default_document() -> dict[str, Any]:
    return {
        "_comment": "Edit freely: USD per million tokens. A model uses the longest key its id "
        "starts with; models no key matches get no cost. cache_write is the 5-minute rate.",
        "source": DEFAULT_SOURCE,
        "unit": "USD per million tokens",
        "models": {name: dict(price) for name, price in DEFAULT_PRICES.items()},
    }


def parse(document: object, where: str = "pricing") -> dict[str, Price]:
    """The prices of a pricing document (``{"models": {...}}``, or the models mapping alone)."""
    if isinstance(document, dict) and isinstance(document.get("models"), dict):
        document = document["models"]
    if not isinstance(document, dict):
        raise PricingError(f"{where}: expected an object with a 'models' object")
    prices: dict[str, Price] = {}
    for name, entry in document.items():
        if not isinstance(entry, dict):
            raise PricingError(f"{where}: models.{name} must be an object")
        values: dict[str, float] = {}
        for field in FIELDS:
            value = entry.get(field, 0)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise PricingError(f"{where}: models.{name}.{field} must be a number >= 0")
            values[field] = float(value)
        prices[name] = Price(**values)
    return prices


def home_dir() -> Path:
    """``$AGENTFEED_HOME``, else ``~/.agentfeed`` (as the hook)."""
    env = os.environ.get("AGENTFEED_HOME")
    return Path(env) if env else Path.home() / ".agentfeed"


def load(path: Path | None = None) -> Pricing:
    """The table in ``path``; without one, ``$AGENTFEED_HOME/pricing.json``, written with the
    defaults first if it does not exist. Raises ``PricingError`` for an unusable file."""
    if path is None:
        path = home_dir() / "pricing.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(default_document(), indent=2) + "\n", encoding="utf-8")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PricingError(f"{path}: {exc}") from None
    return Pricing(parse(document, str(path)), path)


def defaults() -> Pricing:
    """The built-in table, without touching any file."""
    return Pricing(parse(default_document()))
