"""The one place every public function passes the documents it returns through: who may see
what, and how.

The owner is whoever is signed in: agentfeed trusts only Livebase's built-in accounts
(``auth.py``), and it has no sign-up, so every account on its server was made by whoever runs it
(``agentfeed owner EMAIL``, ``AGENTFEED_OWNER_EMAIL``, ``livebase users add``) and is an owner.
``ctx.auth.get_user_identity()`` tells, the same from every client (the page, HTTP with
``Authorization: Bearer``, the sync socket); Livebase keys results by identity, so the owner's
results are never shared with anyone else's. An anonymous caller gets the public view.

- The owner sees every document as stored.
- The public sees only documents of public projects (``projects.public``): a project itself, and
  events, sessions, tool calls and daily rows whose ``project`` is a public project's path. A
  document without a project is never public. What it sees is redacted (``redact.py``): secrets
  masked, home directories shortened, long strings cut; ``raw`` stays valid JSON. An event's,
  session's or tool call's text fields are shown from its stored redacted copy (``redacted.py``:
  made when it was written, from the text before any cut), and one without a current copy is
  not shown to the public; neither the owner nor the public gets the copy as such. Of a field
  stored out of line (``blobs.py``) the public sees which field it is and its size, never the
  file or its sha256, and no public function reads a blob.

Project paths are shown with the home directory shortened (``~/app``); the functions that take a
project path accept that form back (``project_path``).
"""

from __future__ import annotations

from typing import Any

from livebase import AppError

from . import redact, redacted

Doc = dict[str, Any]

PROJECT_FIELD = {"projects": "path"}
"""The field naming a document's project, per table (default ``project``)."""
KEPT = frozenset(
    {"event_id", "session_id", "tool_use_id", "prompt_id", "agent_id", "pre_event", "post_event"}
    | {"blobs", "origin", "type", "status", "day", "public"}
)
"""Fields shown as stored (ids the client passes back); every field starting with ``_`` too."""
OWNER_ONLY = frozenset({"transcript_file"})
"""Fields the public view leaves out (a session's transcript file: never redacted)."""
PATH_FIELDS = frozenset({"project", "path"})
"""Project paths: only the home directory shortened (the queries accept them back)."""
JSON_FIELDS = frozenset({"raw", "tool_input", "tool_response", "details"})
"""JSON text (or an excerpt of it): redacted value by value when it parses."""
PUBLIC_PROJECTS_LIMIT = 500


def forbidden(message: str) -> AppError:
    return AppError({"code": "Forbidden", "message": message})


def is_owner(ctx: Any) -> bool:
    """Whether the caller is signed in (see the module docstring: every account is an owner)."""
    return ctx.auth.get_user_identity() is not None


def require_owner(ctx: Any) -> None:
    """For functions only the owner may call (changing a project)."""
    if not is_owner(ctx):
        raise forbidden("sign in as the owner to do this (the public view cannot change anything)")


class Viewer:
    """One call's caller: the owner, or the public (with the public projects it has looked up
    so far, so each project is read once per call)."""

    def __init__(self, ctx: Any, owner: bool) -> None:
        self.ctx = ctx
        self.owner = owner
        self._public: dict[str, bool] = {}

    def sees_project(self, path: Any) -> bool:
        """Whether the documents of the project at ``path`` are visible to this caller."""
        if self.owner:
            return True
        if not isinstance(path, str) or not path:
            return False
        if path not in self._public:
            doc = (
                self.ctx.db.query("projects")
                .with_index("by_path", lambda q: q.eq("path", path))
                .unique()
            )
            self._public[path] = doc is not None and doc["public"] is True
        return self._public[path]

    def sees(self, kind: str, doc: Doc) -> bool:
        return self.sees_project(doc.get(PROJECT_FIELD.get(kind, "project")))

    def visible(self, kind: str, docs: list[Doc]) -> list[Doc]:
        """The documents of ``kind`` the caller may see, as they may see them."""
        if self.owner:
            return [_without_copy(doc) for doc in docs]
        return [
            redact_doc(doc) for doc in docs if self.sees(kind, doc) and redacted.is_ready(kind, doc)
        ]

    def visible_one(self, kind: str, doc: Doc | None) -> Doc | None:
        if doc is None:
            return None
        shown = self.visible(kind, [doc])
        return shown[0] if shown else None

    def visible_page(self, kind: str, result: dict[str, Any]) -> dict[str, Any]:
        """A ``paginate`` result with its page filtered (the cursors are unchanged)."""
        return {**result, "page": self.visible(kind, result["page"])}

    def project_path(self, path: str) -> str:
        """The stored path of the project a caller names: as given, or for the public a public
        project's path shown with the home directory shortened (``~/app``). The public never
        sees a full home path, so one it names matches nothing (else answering would confirm
        a guessed user name)."""
        if self.owner:
            return path
        if redact.shorten_home(path) != path:
            return ""
        if self.sees_project(path):
            return path
        public = (
            self.ctx.db.query("projects")
            .filter(lambda doc: doc["public"] is True)
            .take(PUBLIC_PROJECTS_LIMIT)
        )
        for doc in public:
            if redact.shorten_home(doc["path"]) == path:
                self._public[doc["path"]] = True
                return str(doc["path"])
        return path


def viewer(ctx: Any) -> Viewer:
    """The caller of this function call: the owner if signed in, else the public."""
    return Viewer(ctx, is_owner(ctx))


def _without_copy(doc: Doc) -> Doc:
    if redacted.FIELD not in doc:
        return doc
    return {key: value for key, value in doc.items() if key != redacted.FIELD}


def redact_doc(doc: Doc) -> Doc:
    """A document as the public sees it: a text field from its redacted copy (``redacted.py``;
    a document that should have one is not shown without it), one without a copy redacted now
    (a project's name, an event's type...)."""
    shown = redacted.shown_fields(doc)
    out: Doc = {}
    for key, value in doc.items():
        if key == redacted.FIELD or key in OWNER_ONLY:
            continue
        if key == "blobs" and isinstance(value, list):
            out[key] = [_public_ref(ref) for ref in value if isinstance(ref, dict)]
        elif key in KEPT or key.startswith("_"):
            out[key] = value
        elif key in shown:
            out[key] = shown[key]
        elif key in PATH_FIELDS and isinstance(value, str):
            out[key] = redact.shorten_home(value)
        elif key in JSON_FIELDS and isinstance(value, str):
            out[key] = redact.redact_json_text(value)
        else:
            out[key] = redact.redact_value(value)
    return out


def _public_ref(ref: Doc) -> Doc:
    """A reference to a field stored out of line as the public sees it: which field, and its
    size; not the file, nor its sha256 (which would confirm a guess of the whole text)."""
    return {"field": ref.get("field"), "bytes": ref.get("bytes")}


def visible(ctx: Any, kind: str, docs: list[Doc]) -> list[Doc]:
    """The documents of ``kind`` the caller may see, as they may see them."""
    return viewer(ctx).visible(kind, docs)


def visible_one(ctx: Any, kind: str, doc: Doc | None) -> Doc | None:
    return viewer(ctx).visible_one(kind, doc)


def visible_page(ctx: Any, kind: str, result: dict[str, Any]) -> dict[str, Any]:
    """A ``paginate`` result with its page filtered (the cursors are unchanged)."""
    return viewer(ctx).visible_page(kind, result)
