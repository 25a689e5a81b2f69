"""A pytest plugin for testing a Livebase app in-process, the equivalent of ``convex-test``.

Enable it in the project's ``conftest.py``::

    pytest_plugins = ["livebase.testing"]

Fixtures (each test gets its own database in ``tmp_path`` and its own fake clock):

``livebase_app``
    An ``AppHarness`` for the folder that ``livebase_app_dir`` names.
``livebase_app_dir``
    The app folder: the ``livebase_app_dir`` ini option (relative to the ini file), else the
    ``LIVEBASE_APP_DIR`` environment variable. Override the fixture to choose per directory.
``make_livebase_app``
    A factory, ``make_livebase_app(app_dir, *, start_ms=..., settings=..., env={...},
    db=...)``, for tests that need another app or several, environment variables from the start,
    or PostgreSQL (``db``: a URL with an empty schema); everything it made is closed after the
    test.

The plugin is not registered through an entry point: it would import Livebase into every pytest
run of every project that has it installed. See ``docs/testing.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from livebase.testing.harness import AppHarness, Caller, Subscription

__all__ = ["AppHarness", "Caller", "Subscription"]

APP_DIR_INI = "livebase_app_dir"
APP_DIR_ENV = "LIVEBASE_APP_DIR"


def __getattr__(name: str) -> Any:
    # The harness imports the whole platform; only a test that uses it pays for that.
    if name in __all__:
        from livebase.testing import harness

        return getattr(harness, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        APP_DIR_INI,
        "the Livebase app folder the livebase_app fixture loads (relative to the ini file; "
        f"else ${APP_DIR_ENV})",
        default="",
    )


@pytest.fixture
def livebase_app_dir(request: pytest.FixtureRequest) -> Path:
    """The app folder ``livebase_app`` loads."""
    config = request.config
    configured = str(config.getini(APP_DIR_INI) or "")
    if configured:
        base = config.inipath.parent if config.inipath is not None else config.rootpath
        return (base / configured).resolve()
    env = os.environ.get(APP_DIR_ENV)
    if env:
        return Path(env).resolve()
    raise pytest.UsageError(
        f"livebase_app needs the app folder: set `{APP_DIR_INI} = path/to/app` in the pytest "
        f"ini options, or ${APP_DIR_ENV}, or override the `livebase_app_dir` fixture "
        "(or build one with the make_livebase_app fixture)"
    )


@pytest.fixture
def make_livebase_app(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., AppHarness]]:
    """``make_livebase_app(app_dir, **options)``: an ``AppHarness`` on a fresh database."""
    from livebase.testing.harness import AppHarness

    made: list[AppHarness] = []

    def make(app_dir: str | Path, **options: Any) -> AppHarness:
        harness = AppHarness(app_dir, tmp_path_factory.mktemp("livebase"), **options)
        made.append(harness)
        return harness

    yield make
    for harness in reversed(made):
        harness.close()


@pytest.fixture
def livebase_app(
    make_livebase_app: Callable[..., AppHarness], livebase_app_dir: Path
) -> AppHarness:
    """The app in ``livebase_app_dir``, on a fresh database, with the clock at its start."""
    return make_livebase_app(livebase_app_dir)
