"""Which runs of a live query can be kept current by applying commits (``engine.live_range``).

The subscription manager asks the runner to record a query's ``collect()`` ranges; after the
call, ``maintainable`` decides whether its result is one of them, whole and untouched, and
nothing else the call did (the clock, random numbers, log lines) could make a later run answer
differently. For a function with a ``returns`` validator, a document arriving later must pass it
unchanged; a validator that is not ``v.array(...)`` keeps the query on full runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livebase.engine.live_range import CollectedList, LiveRange
from livebase.engine.transaction import Document, Transaction, encode_document
from livebase.errors import LivebaseError
from livebase.functions.registry import FunctionDef
from livebase.values.validators import IdContext, array_item


def maintainable(
    fd: FunctionDef,
    tx: Transaction,
    value: Any,
    *,
    nondeterministic: bool,
    table_name: IdContext,
) -> LiveRange | None:
    """The range a query's result is, if later commits can be applied to it instead of a run."""
    collected = tx.collected
    if fd.kind != "query" or nondeterministic or collected is None or len(collected) != 1:
        return None
    live = collected[0]
    if not live.is_whole_result(value, tx.read_set, tx.documents_scanned):
        return None
    if fd.returns is not None:
        item = array_item(fd.returns)
        if item is None:
            return None
        live.check_new = _passes(item.validate, table_name)
    return live


def plain(value: Any) -> Any:
    """The function's value with a recorded ``collect()`` list made an ordinary list again."""
    return value.plain() if type(value) is CollectedList else value


def _passes(
    validate: Callable[[Any, str, IdContext], Any], table_name: IdContext
) -> Callable[[Document, str], bool]:
    def check(doc: Document, text: str) -> bool:
        try:
            return encode_document(validate(doc, "", table_name)) == text
        except LivebaseError:
            return False

    return check
