"""The kit's own tests use it as a user would: the plugin, and ``livebase_app_dir`` pointing at
the app (overridden here, as a user may do instead of the ini option)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.testing_kit.app import write_kit_app

pytest_plugins = ["pytester", "livebase.testing"]


@pytest.fixture(scope="session")
def kit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kit")
    write_kit_app(root)
    return root


@pytest.fixture
def livebase_app_dir(kit_root: Path) -> Path:
    return kit_root / "kitapp"


@pytest.fixture
def app_module(
    kit_root: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], ModuleType]]:
    """Import one of the app's modules the way a user's test does (``from kitapp import x``)."""
    monkeypatch.syspath_prepend(str(kit_root))
    yield lambda name: importlib.import_module(f"kitapp.{name}")
    for name in [m for m in sys.modules if m == "kitapp" or m.startswith("kitapp.")]:
        del sys.modules[name]
