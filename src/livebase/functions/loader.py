"""Load an app folder: its schema and every decorated function, under a private package name.

Each load imports the folder as a fresh package ``_livebase_app_<n>``, so an app's ``http.py``,
``schema.py`` or ``crons.py`` never shadows a standard-library module, two apps in one process
never collide, and a reload never sees stale modules. Files and folders starting with ``_`` or
``.`` are skipped; inside the app, import siblings relatively (``from . import util``).
``auth.py`` is imported like the others; its ``providers`` list becomes ``App.auth_providers``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import itertools
import logging
import sys
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from livebase.auth.providers import Provider, parse_providers
from livebase.errors import AppLoadError
from livebase.functions import sandbox
from livebase.functions.http_router import HttpRouter
from livebase.functions.registry import FunctionDef, canonical_path
from livebase.functions.triggers import TriggerDef
from livebase.scheduler.cron import Crons, CronSpec
from livebase.schema.definition import EMPTY_SCHEMA, SchemaDefinition

_counter = itertools.count(1)
_PREFIX = "_livebase_app_"
_roots: dict[str, Path] = {}  # private package name -> app folder


class _FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles from source on every load: a reload never sees a stale ``.pyc`` (whose
    freshness check is by size and whole-second mtime), and no ``__pycache__`` is written
    into the app folder."""

    def get_code(self, fullname: str) -> types.CodeType:
        source = self.get_data(self.path)
        return compile(source, self.path, "exec", dont_inherit=True)


class _AppFinder(importlib.abc.MetaPathFinder):
    """Finds modules of loaded apps (``_livebase_app_<n>.x.y``) in their folders."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(_PREFIX):
            return None
        package, _, rest = fullname.partition(".")
        root = _roots.get(package)
        if root is None or not rest:
            return None
        base = root.joinpath(*rest.split("."))
        if base.is_dir():
            init = base / "__init__.py"
            spec = importlib.machinery.ModuleSpec(
                fullname,
                _FreshSourceLoader(fullname, str(init)) if init.exists() else None,
                is_package=True,
            )
            spec.submodule_search_locations = [str(base)]
            if init.exists():
                spec.origin = str(init)
                spec.has_location = True
            return spec
        source = base.with_suffix(".py")
        if source.is_file():
            loader = _FreshSourceLoader(fullname, str(source))
            return importlib.util.spec_from_file_location(fullname, source, loader=loader)
        return None


_finder = _AppFinder()


@dataclass
class App:
    root: Path
    package: str
    schema: SchemaDefinition
    functions: dict[str, FunctionDef] = field(default_factory=dict)
    http: HttpRouter | None = None
    triggers: dict[str, list[TriggerDef]] = field(default_factory=dict)
    crons: dict[str, tuple[CronSpec, str]] = field(default_factory=dict)
    """``name -> (spec, kind of its function)`` from ``crons.py``."""
    modules: list[str] = field(default_factory=list)
    auth_providers: list[Provider] = field(default_factory=list)
    """The identity providers ``auth.py`` declares (``providers = [...]``); none without it."""
    on_unload: list[Callable[[], None]] = field(default_factory=list)
    """Called by ``unload`` (e.g. to stop the action workers that run this app's code)."""


def _module_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part.startswith((".", "_")) for part in rel.parts):
            continue
        if rel.parts[0] in ("node_modules", "tests"):
            continue
        files.append(path)
    return files


def _ensure_package(name: str, path: Path) -> None:
    if name in sys.modules:
        return
    module = types.ModuleType(name)
    module.__path__ = [str(path)]
    module.__package__ = name
    sys.modules[name] = module


def _import(package: str, root: Path, path: Path) -> types.ModuleType:
    rel = path.relative_to(root).with_suffix("")
    name = ".".join([package, *rel.parts])
    try:
        return importlib.import_module(name)
    except SyntaxError as exc:
        raise AppLoadError(
            f"{path}:{exc.lineno}: syntax error: {exc.msg}\n    {(exc.text or '').rstrip()}"
        ) from None
    except Exception as exc:
        frames = [
            f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(str(root))
        ]
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else str(path)
        raise AppLoadError(
            f"{where}: importing {rel.as_posix()}.py failed: {type(exc).__name__}: {exc}"
        ) from None


def unload(app: App) -> None:
    callbacks, app.on_unload = app.on_unload, []
    for callback in callbacks:
        callback()
    _roots.pop(app.package, None)
    for name in list(sys.modules):
        if name == app.package or name.startswith(app.package + "."):
            del sys.modules[name]


def _resolve_crons(
    root: Path, crons: Crons, functions: dict[str, FunctionDef]
) -> dict[str, tuple[CronSpec, str]]:
    resolved: dict[str, tuple[CronSpec, str]] = {}
    for name, spec in crons.specs.items():
        try:
            path = spec.path
        except ValueError as exc:
            raise AppLoadError(f"{root / 'crons.py'}: {exc}") from None
        fd = functions.get(canonical_path(path))
        if fd is None or fd.kind == "query":
            what = "a query" if fd is not None else "not a function of this app"
            raise AppLoadError(
                f"{root / 'crons.py'}: cron {name!r} targets {path!r}, which is {what}; a cron "
                "runs a mutation or an action"
            )
        resolved[name] = (replace(spec, target=fd.path), fd.kind)
    return resolved


def load_app(root: str | Path) -> App:
    """Import the app at ``root``; ``AppLoadError`` with one clear message if anything is wrong."""
    root = Path(root).resolve()
    if not root.is_dir():
        hint = ""
        if root.parent.is_dir():
            near = [
                p.name for p in root.parent.iterdir() if p.is_dir() and not p.name.startswith(".")
            ]
            if near:
                hint = f" (folders there: {', '.join(sorted(near)[:8])})"
        raise AppLoadError(f"app folder {str(root)!r} does not exist{hint}")
    # Before any app module runs, so ``from time import sleep`` in one gets the guarded sleep.
    sandbox.install()
    package = f"{_PREFIX}{next(_counter)}"
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    _roots[package] = root
    _ensure_package(package, root)
    logging.getLogger(package).setLevel(logging.DEBUG)
    app = App(root, package, EMPTY_SCHEMA)
    crons: Crons | None = None
    try:
        for path in _module_files(root):
            module = _import(package, root, path)
            rel = path.relative_to(root).with_suffix("").as_posix()
            app.modules.append(rel)
            if rel == "schema":
                schema = getattr(module, "schema", None)
                if schema is None:
                    schema = next(
                        (x for x in vars(module).values() if isinstance(x, SchemaDefinition)), None
                    )
                if not isinstance(schema, SchemaDefinition):
                    raise AppLoadError(
                        f"{path}: schema.py must define `schema = define_schema({{...}})`"
                    )
                app.schema = schema
            if rel == "http" and hasattr(module, "http"):
                router = module.http
                if not isinstance(router, HttpRouter):
                    raise AppLoadError(
                        f"{path}: `http` must be an HttpRouter (http = HttpRouter()), "
                        f"got {type(router).__name__}"
                    )
                app.http = router
            if rel == "crons" and hasattr(module, "crons"):
                if not isinstance(module.crons, Crons):
                    raise AppLoadError(
                        f"{path}: `crons` must be Crons() (crons = Crons()), "
                        f"got {type(module.crons).__name__}"
                    )
                crons = module.crons
            if rel == "auth":
                if not hasattr(module, "providers"):
                    raise AppLoadError(
                        f"{path}: auth.py must define `providers = [...]`, the identity "
                        "providers whose tokens this app accepts (e.g. providers = "
                        '[{"domain": "https://issuer.example.com", "application_id": "my-app"}])'
                    )
                app.auth_providers = parse_providers(module.providers, where=str(path))
            for attr, value in vars(module).items():
                if not attr.startswith("_") and isinstance(value, FunctionDef | TriggerDef):
                    if value.fn.__module__ != module.__name__:
                        continue
                    value.path = f"{rel}:{attr}"
                    if isinstance(value, TriggerDef):
                        app.triggers.setdefault(value.table, []).append(value)
                    else:
                        app.functions[value.path] = value
        if crons is not None:
            app.crons = _resolve_crons(root, crons, app.functions)
    except BaseException:
        unload(app)
        raise
    return app
