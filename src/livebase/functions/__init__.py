"""Functions: the decorators, the app loader, contexts and the call runner."""

from livebase.functions.loader import App, load_app
from livebase.functions.registry import (
    FunctionDef,
    action,
    canonical_path,
    internal_action,
    internal_mutation,
    internal_query,
    mutation,
    query,
)
from livebase.functions.runner import ActionCtx, CallResult, Runner

__all__ = [
    "ActionCtx",
    "App",
    "CallResult",
    "FunctionDef",
    "Runner",
    "action",
    "canonical_path",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "load_app",
    "mutation",
    "query",
]
