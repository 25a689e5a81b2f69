"""What the function modules share: who is calling, refusals with a stable ``code``, loading
rows from ids that clients send, and the audit trail.

Not a function module: files whose names start with ``_`` are only imported by the others.
"""

from typing import Any

from livebase import AppError

GITHUB = "github"
"""The actor of changes a GitHub webhook made."""
SYSTEM = "system"
"""The actor of the app's own bookkeeping (retries, crons)."""


def refuse(code: str, message: str, **details: Any) -> AppError:
    """An ``AppError`` whose data is ``{"code", "message", ...details}``: clients branch on
    ``code``, people read ``message``."""
    return AppError({"code": code, "message": message, **details}, message)


def require_user(ctx: Any, doing: str) -> str:
    """The caller's ``tokenIdentifier``; ``SignInRequired`` for an anonymous caller (and for
    the admin, who has no identity: the admin acts through internal functions)."""
    identity = ctx.auth.get_user_identity()
    if identity is None:
        raise refuse("SignInRequired", f"sign in to {doing}")
    return str(identity.token_identifier)


def load(ctx: Any, table: str, id: str) -> dict[str, Any]:
    """The document ``id`` of ``table``; ``NotFound`` for an unknown id or one of another
    table."""
    doc_id = ctx.db.normalize_id(table, id)
    doc = None if doc_id is None else ctx.db.get(doc_id)
    if doc is None:
        raise refuse("NotFound", f"no {table[:-1]} with id {id!r}", table=table, id=id)
    return doc


def audit(
    ctx: Any, actor: str, action: str, table: str, entity_id: str, before: Any, after: Any
) -> None:
    """One row of the audit trail. Always called in the mutation that makes the change, after
    the checks: a refused or failed mutation rolls its audit rows back with everything else."""
    ctx.db.insert(
        "audit",
        {
            "actor": actor,
            "action": action,
            "table": table,
            "entityId": entity_id,
            "before": before,
            "after": after,
            "at": ctx.now,
        },
    )
