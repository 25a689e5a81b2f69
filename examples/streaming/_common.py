"""What the function modules share: who is calling (from ``ctx.auth``, never from an argument),
their role and display name, and the checks on identifiers that clients send.

Not a function module: files whose names start with ``_`` are only imported by the others.
"""

import hashlib
from typing import Any

from livebase import AppError

MAX_ID_LENGTH = 128
"""Game and video ids come from the catalogue, outside this app: any short non-empty string."""


def refuse(code: str, message: str, **details: Any) -> AppError:
    """An ``AppError`` whose data carries a stable ``code``, the message and the details (a
    client branches on ``code``; the message is for people)."""
    return AppError({"code": code, "message": message, **details}, message)


def current_user(ctx: Any) -> str | None:
    """The caller's ``tokenIdentifier``, or None for an anonymous caller."""
    identity = ctx.auth.get_user_identity()
    return None if identity is None else identity.token_identifier


def require_user(ctx: Any, doing: str) -> str:
    """The caller's ``tokenIdentifier``; ``SignInRequired`` for an anonymous caller."""
    user = current_user(ctx)
    if user is None:
        raise refuse("SignInRequired", f"sign in to {doing}")
    return user


def role_of(ctx: Any, user: str) -> str:
    row = ctx.db.query("roles").with_index("by_user", lambda q: q.eq("user", user)).unique()
    return "viewer" if row is None else str(row["role"])


def require_editor(ctx: Any, doing: str) -> str:
    """The caller's ``tokenIdentifier`` if they are an editor; ``Forbidden`` otherwise."""
    user = require_user(ctx, doing)
    role = role_of(ctx, user)
    if role != "editor":
        raise refuse("Forbidden", f"only editors can {doing} (you are a {role})", role=role)
    return user


def public_id(user: str) -> str:
    """A short stable id for a user that can be shown to everyone: it does not reveal the
    token's issuer or subject, yet lets a client recognise its own chat messages."""
    return hashlib.sha256(user.encode()).hexdigest()[:16]


def display_name(ctx: Any, user: str) -> str:
    """The user's current display name, or ``Viewer <id>`` until they set one (never their
    email: chat is public)."""
    row = ctx.db.query("profiles").with_index("by_user", lambda q: q.eq("user", user)).unique()
    return str(row["name"]) if row is not None else f"Viewer {public_id(user)[:6]}"


def check_id(kind: str, value: str) -> str:
    if not value or len(value) > MAX_ID_LENGTH:
        raise refuse(
            "InvalidArgument", f"{kind} must be 1 to {MAX_ID_LENGTH} characters", field=kind
        )
    return value
