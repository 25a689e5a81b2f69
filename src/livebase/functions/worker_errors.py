"""Exceptions across the pipe between the server and an action worker process.

An action in a worker process raises the same exceptions it would raise in the server: an
``AppError`` with its data, a Livebase error with its code, a ``KeyError`` from a mutation it
called. Exceptions cannot simply be pickled across: an app's own exception classes live in a
package whose private name differs in each process (``_livebase_app_<n>``), and a Livebase
error's ``__init__`` takes keyword-only arguments. So each crosses as a small dict:

- ``AppError`` (and subclasses): its data as wire JSON and its message, rebuilt as ``AppError``;
- a Livebase error: its class in ``livebase.errors`` (the nearest one for a subclass defined
  elsewhere) and its plain attributes (``code``, ``message``, ``path``), rebuilt as that class;
- a built-in exception (``KeyError``, ``ValueError``...): pickled, rebuilt as itself;
- anything else: rebuilt as a ``RemoteException`` subclass with the original class name and
  message, so scheduled-job messages and server logs read as before.

Every rebuilt exception except an ``AppError`` carries the original traceback as a note
(``add_note``), which the server's log prints, and its frames (``dev_errors.frames_of``), from
which ``livebase dev`` shows the caller the app's own.
"""

from __future__ import annotations

import builtins
import pickle
import traceback
from typing import Any

from livebase import errors
from livebase.errors import AppError, LivebaseError
from livebase.functions.dev_errors import frames_of, set_remote_frames
from livebase.values.wire import from_wire, to_wire


class RemoteException(Exception):
    """An exception of a class that exists only in the other process (the app's own, or a
    library's); its subclass is named after the original class."""


def _plain(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _livebase_class(exc: LivebaseError) -> type[LivebaseError]:
    for cls in type(exc).__mro__:
        if issubclass(cls, LivebaseError) and getattr(errors, cls.__name__, None) is cls:
            found: type[LivebaseError] = cls
            return found
    return LivebaseError


def encode_error(exc: BaseException) -> dict[str, Any]:
    """``exc`` as a picklable dict (see the module docstring)."""
    if isinstance(exc, AppError):
        try:
            data = to_wire(exc.data)
        except LivebaseError:
            data = to_wire(repr(exc.data))
        return {"kind": "app", "data": data, "message": exc.message}
    where = "".join(traceback.format_exception(exc))
    if isinstance(exc, LivebaseError):
        state = {k: v for k, v in vars(exc).items() if _plain(v)}
        return {
            "kind": "livebase",
            "class": _livebase_class(exc).__name__,
            "message": exc.message,
            "state": state,
            "traceback": where,
            "frames": frames_of(exc),
        }
    pickled: bytes | None = None
    if type(exc).__module__ == "builtins":
        try:
            pickled = pickle.dumps(exc)
            pickle.loads(pickled)
        except Exception:
            pickled = None
    return {
        "kind": "other",
        "type": type(exc).__name__,
        "message": str(exc),
        "pickled": pickled,
        "traceback": where,
        "frames": frames_of(exc),
    }


def decode_error(data: dict[str, Any], where: str = "the action worker") -> BaseException:
    """The exception ``encode_error`` described, rebuilt in this process."""
    if data["kind"] == "app":
        return AppError(from_wire(data["data"]), data["message"])
    exc: BaseException
    if data["kind"] == "livebase":
        cls = getattr(errors, data["class"], LivebaseError)
        if not (isinstance(cls, type) and issubclass(cls, LivebaseError)):
            cls = LivebaseError
        exc = cls.__new__(cls)
        Exception.__init__(exc, data["message"])
        exc.__dict__.update(data["state"])
        exc.message = data["message"]
    elif data.get("pickled") is not None and isinstance(
        getattr(builtins, data["type"], None), type
    ):
        exc = pickle.loads(data["pickled"])
    else:
        remote = type(data["type"], (RemoteException,), {"__module__": __name__})
        exc = remote(data["message"])
    set_remote_frames(exc, data.get("frames", []))
    if data.get("traceback"):
        exc.add_note(f"Raised in {where}:\n{data['traceback'].rstrip()}")
    return exc


__all__ = ["RemoteException", "decode_error", "encode_error"]
