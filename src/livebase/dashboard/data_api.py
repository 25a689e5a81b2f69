"""The Data panel's system functions: tables, a window of one table's documents (index range,
field filter, sort, offset), writes through the normal write path, and batched imports.

A subscription to ``page`` holds only the rows on screen (at most ``MAX_WINDOW``), so a change
to a 10,000-document table re-sends a window of rows, not the table. A plain window (no range,
filter or sort) reads the table only up to the window's end; with a range, a filter or a sort the
function reads the whole index range (capped at ``SCAN_CAP`` documents, under the per-call read
limit) to count and sort the matches.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from livebase.dashboard.defs import optional_number, optional_string, system_def
from livebase.engine.catalog import BY_CREATION_TIME
from livebase.errors import BadRequestError, LivebaseError
from livebase.functions.registry import FunctionDef
from livebase.values.validators import v

if TYPE_CHECKING:
    from livebase.server import Deployment

MAX_WINDOW = 500
"""The most documents one ``page`` answer holds (the page asks for the rows on screen)."""
SCAN_CAP = 30_000
"""The most documents ``page`` reads to count, filter and sort (the call limit is 32,000)."""
MAX_IMPORT_BATCH = 1000
RANGE_OPS = ("eq", "gt", "gte", "lt", "lte")


def sort_key(value: Any) -> tuple[int, Any]:
    """Convex's order of values: missing and null, numbers, booleans, strings, bytes, arrays,
    objects (arrays and objects by their JSON text)."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (1, -math.inf if math.isnan(value) else value)
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, (bytes, bytearray)):
        return (4, bytes(value))
    if isinstance(value, list):
        return (5, json.dumps(value, default=str, sort_keys=True))
    return (6, json.dumps(value, default=str, sort_keys=True))


def cell_text(value: Any) -> str:
    """The text a field filter searches: strings as they are, other values as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    return json.dumps(value, default=str)


def _range_builder(conditions: list[dict[str, Any]]) -> Callable[[Any], Any]:
    """The ``with_index`` builder for ``[{field, op, value}]`` (checked here, then by the
    index range itself: fields in the index's order, equalities first)."""
    for i, cond in enumerate(conditions):
        if not isinstance(cond, dict) or not isinstance(cond.get("field"), str):
            raise BadRequestError(f"range[{i}] must be {{field, op, value}}")
        if cond.get("op") not in RANGE_OPS:
            raise BadRequestError(
                f"range[{i}].op is {cond.get('op')!r}; use one of {', '.join(RANGE_OPS)}"
            )

    def build(q: Any) -> Any:
        for cond in conditions:
            q = getattr(q, cond["op"])(cond["field"], cond.get("value"))
        return q

    return build


def _matcher(field: str | None, contains: str | None) -> Callable[[dict[str, Any]], bool]:
    needle = (contains or "").strip().lower()
    if not needle:
        return lambda _doc: True
    if field:
        return lambda doc: field in doc and needle in cell_text(doc[field]).lower()
    return lambda doc: any(needle in cell_text(x).lower() for x in doc.values())


def data_functions(deployment: Deployment) -> list[FunctionDef]:
    def tables(ctx: Any) -> list[dict[str, Any]]:
        schema = deployment.app.schema
        declared = schema.tables if schema is not None else {}
        catalog = deployment.engine.catalog.tables
        names = sorted(set(declared) | {n for n in catalog if not n.startswith("_")})
        out = []
        for name in names:
            definition = declared.get(name)
            info = catalog.get(name)
            out.append(
                {
                    "name": name,
                    "count": len(ctx.db.query(name).collect()),
                    "schema": definition.to_json() if definition is not None else None,
                    "builtIndexes": sorted(info.indexes) if info is not None else [],
                }
            )
        return out

    def documents(
        ctx: Any, table: str, order: str = "desc", limit: float = 1000
    ) -> list[dict[str, Any]]:
        q = ctx.db.query(table).order("asc" if order == "asc" else "desc")
        return list(q.take(max(1, min(int(limit), 20000))))

    def page(
        ctx: Any,
        table: str,
        index: str = BY_CREATION_TIME,
        order: str = "desc",
        range: list[dict[str, Any]] | None = None,
        field: str | None = None,
        contains: str | None = None,
        sortField: str | None = None,
        sortOrder: str = "asc",
        offset: float = 0,
        limit: float = 100,
    ) -> dict[str, Any]:
        if order not in ("asc", "desc") or sortOrder not in ("asc", "desc"):
            raise BadRequestError('order and sortOrder are "asc" or "desc"')
        start = max(0, int(offset))
        count = max(0, min(int(limit), MAX_WINDOW))
        q = ctx.db.query(table)
        if index != BY_CREATION_TIME or range:
            q = q.with_index(index, _range_builder(range or []))
        q = q.order(order)
        if not range and not (contains or "").strip() and not sortField:
            # a plain window of the table: read only up to its end; the page knows the count
            # (``tables``), and asks for windows past the middle in the other order
            rows = q.take(start + count) if count else []
            return {"documents": rows[start:], "offset": start, "total": None, "capped": False}
        matches = _matcher(field, contains)
        found: list[dict[str, Any]] = []
        capped = False
        for scanned, doc in enumerate(q, start=1):
            if matches(doc):
                found.append(doc)
            if scanned >= SCAN_CAP:
                capped = True
                break
        if sortField:
            found.sort(
                key=lambda d: sort_key(d.get(sortField)), reverse=sortOrder == "desc"
            )  # stable: ties keep the index order
        return {
            "documents": found[start : start + count],
            "offset": start,
            "total": len(found),
            "capped": capped,
        }

    def insert(ctx: Any, table: str, document: dict[str, Any]) -> str:
        return str(ctx.db.insert(table, document))

    def replace(ctx: Any, id: str, document: dict[str, Any]) -> None:
        fields = {k: x for k, x in document.items() if not k.startswith("_")}
        ctx.db.replace(id, fields)

    def delete(ctx: Any, id: str) -> None:
        ctx.db.delete(id)

    def import_documents(
        ctx: Any,
        table: str,
        documents: list[Any],
        firstLine: float = 1,
        lines: list[float] | None = None,
    ) -> dict[str, Any]:
        """One batch of an import, in one transaction: every document is inserted or none.
        ``lines`` (or ``firstLine`` onwards) are the documents' line numbers in the file."""
        if lines is not None and len(lines) != len(documents):
            raise BadRequestError(f"lines has {len(lines)} numbers for {len(documents)} documents")
        if len(documents) > MAX_IMPORT_BATCH:
            raise BadRequestError(
                f"an import batch holds at most {MAX_IMPORT_BATCH} documents, not {len(documents)}"
            )
        ids = []
        for i, document in enumerate(documents):
            line = int(lines[i]) if lines is not None else int(firstLine) + i
            if not isinstance(document, dict):
                raise BadRequestError(f"line {line}: a document is an object, not {document!r}")
            try:
                ids.append(str(ctx.db.insert(table, document)))
            except Exception as exc:  # the batch rolls back with it
                message = exc.message if isinstance(exc, LivebaseError) else str(exc)
                code = exc.code if isinstance(exc, LivebaseError) else "BadRequest"
                raise BadRequestError(f"line {line}: {message}", code=code) from None
        return {"inserted": len(ids), "firstId": ids[0] if ids else None}

    row = v.object({"field": v.string(), "op": v.string(), "value": v.any()})
    return [
        system_def("tables", "query", {}, tables),
        system_def(
            "documents",
            "query",
            {"table": v.string(), "order": optional_string(), "limit": optional_number()},
            documents,
        ),
        system_def(
            "page",
            "query",
            {
                "table": v.string(),
                "index": optional_string(),
                "order": optional_string(),
                "range": v.optional(v.array(row)),
                "field": optional_string(),
                "contains": optional_string(),
                "sortField": optional_string(),
                "sortOrder": optional_string(),
                "offset": optional_number(),
                "limit": optional_number(),
            },
            page,
        ),
        system_def("insert", "mutation", {"table": v.string(), "document": v.any()}, insert),
        system_def("replace", "mutation", {"id": v.string(), "document": v.any()}, replace),
        system_def("delete", "mutation", {"id": v.string()}, delete),
        system_def(
            "importDocuments",
            "mutation",
            {
                "table": v.string(),
                "documents": v.array(v.any()),
                "firstLine": optional_number(),
                "lines": v.optional(v.array(v.number())),
            },
            import_documents,
        ),
    ]
