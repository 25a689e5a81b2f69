"""What the caller sees of a bug in the app under ``livebase dev``.

Under ``livebase serve`` an uncaught exception reaches the caller as ``[Request ID: <id>] Server
Error`` and nothing more. Under ``livebase dev`` (``Settings.dev``) the same line is followed by
the exception's type and message and the app's own frames of its traceback, innermost first, as
Convex dev deployments show them::

    [Request ID: 5f0c...] Server Error
    Uncaught ValueError: no such channel
        at send (messages.py:14)
        at post (http.py:9)

Only frames of files inside the app folder are shown (paths relative to it), never Livebase's
own or a library's. An exception raised in an action worker process crosses the pipe with its
frames (``worker_errors``), kept on the rebuilt exception by ``set_remote_frames``.
"""

from __future__ import annotations

import traceback
from pathlib import Path

Frame = tuple[str, int, str]
"""A traceback frame: file name, line number, function name."""

_REMOTE_FRAMES = "_livebase_remote_frames"
_LIVEBASE_DIR = Path(__file__).resolve().parents[1]


def frames_of(exc: BaseException) -> list[Frame]:
    """Every frame of ``exc``'s traceback, outermost first, including those it was raised
    through in another process (which are the innermost)."""
    local = [(f.filename, f.lineno or 0, f.name) for f in traceback.extract_tb(exc.__traceback__)]
    remote: list[Frame] = getattr(exc, _REMOTE_FRAMES, [])
    return local + remote


def set_remote_frames(exc: BaseException, frames: list[Frame]) -> None:
    """Keep the frames ``exc`` was raised through in another process (see ``frames_of``)."""
    try:
        setattr(exc, _REMOTE_FRAMES, [tuple(f) for f in frames])
    except AttributeError:
        pass  # an exception class with __slots__: its frames are lost, not its message


def app_frames(exc: BaseException, app_root: Path) -> list[tuple[str, int, str]]:
    """The frames of ``exc`` in the app's own files: (path relative to ``app_root``, line,
    function), outermost first."""
    root = app_root.resolve()
    found = []
    for filename, lineno, name in frames_of(exc):
        try:
            path = Path(filename).resolve()
            rel = path.relative_to(root)
        except (ValueError, OSError):
            continue
        if path.is_relative_to(_LIVEBASE_DIR) or "site-packages" in rel.parts:
            continue
        found.append((rel.as_posix(), lineno, name))
    return found


def describe(exc: BaseException, app_root: Path) -> str:
    """``Uncaught <Type>: <message>`` and the app's frames, innermost first (see the module
    docstring)."""
    message = str(exc)
    lines = [f"Uncaught {type(exc).__name__}" + (f": {message}" if message else "")]
    for rel, lineno, name in reversed(app_frames(exc, app_root)):
        lines.append(f"    at {name} ({rel}:{lineno})")
    return "\n".join(lines)


def server_error(request_id: str, detail: str = "") -> str:
    """The message of an uncaught exception: ``detail`` (from ``describe``) only in dev."""
    head = f"[Request ID: {request_id}] Server Error"
    return f"{head}\n{detail}" if detail else head


__all__ = ["Frame", "app_frames", "describe", "frames_of", "server_error", "set_remote_frames"]
