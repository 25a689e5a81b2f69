"""Display names: each user sets their own; chat shows the sender's current one."""

from typing import Any

from livebase import mutation, query

from ._common import display_name, public_id, refuse, require_user, role_of

MAX_NAME_LENGTH = 32


@mutation
def set_name(ctx, name: str) -> str:
    """Set the caller's display name (trimmed, 1 to 32 printable characters)."""
    user = require_user(ctx, "set a display name")
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise refuse(
            "InvalidName", f"a display name is 1 to {MAX_NAME_LENGTH} printable characters"
        )
    row = ctx.db.query("profiles").with_index("by_user", lambda q: q.eq("user", user)).unique()
    if row is None:
        ctx.db.insert("profiles", {"user": user, "name": name, "updatedAt": ctx.now})
    else:
        ctx.db.patch(row["_id"], {"name": name, "updatedAt": ctx.now})
    return name


@query
def me(ctx) -> dict[str, Any] | None:
    """The signed-in caller (None when anonymous): ``user`` is the key roles are granted to."""
    identity = ctx.auth.get_user_identity()
    if identity is None:
        return None
    user = identity.token_identifier
    return {
        "user": user,
        "publicId": public_id(user),
        "email": identity.email,
        "name": display_name(ctx, user),
        "role": role_of(ctx, user),
    }
