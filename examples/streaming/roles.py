"""Roles: editors run the content workflow; everyone else is a viewer.

Only the admin sets roles (``set_role`` is internal: clients cannot call it)::

    livebase run roles:set_role '{"user": "<tokenIdentifier>", "role": "editor"}'

``profiles:me`` shows a signed-in user their ``user`` (``tokenIdentifier``).
"""

from typing import Literal

from livebase import internal_mutation


@internal_mutation
def set_role(ctx, user: str, role: Literal["editor", "viewer"]) -> None:
    row = ctx.db.query("roles").with_index("by_user", lambda q: q.eq("user", user)).unique()
    if row is None:
        ctx.db.insert("roles", {"user": user, "role": role})
    else:
        ctx.db.patch(row["_id"], {"role": role})
