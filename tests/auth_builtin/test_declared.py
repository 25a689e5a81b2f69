"""Which apps have the built-in issuer: the ones whose ``auth.py`` declares it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from livebase.auth.builtin import builtin_enabled, builtin_provider
from livebase.auth.builtin.declared import BuiltinDeclaration
from livebase.auth.providers import BuiltinProvider
from livebase.functions.loader import App, load_app, unload
from tests.support.apps import write_app


@pytest.fixture
def load(tmp_path: Path) -> Iterator[object]:
    loaded: list[App] = []

    def make(auth_py: str | None) -> App:
        files = {"notes.py": "from livebase import query\n\n@query\ndef ping(ctx):\n    return 1\n"}
        if auth_py is not None:
            files["auth.py"] = auth_py
        app = load_app(write_app(tmp_path / f"app{len(loaded)}", files))
        loaded.append(app)
        return app

    yield make
    for app in loaded:
        unload(app)


@pytest.mark.parametrize(
    ("auth_py", "expected"),
    [
        (None, None),
        ("providers = []\n", None),
        ('providers = [{"domain": "https://id.example.com", "application_id": "a"}]\n', None),
        ('providers = [{"type": "builtin"}]\n', BuiltinDeclaration("livebase")),
        ('providers = [{"type": "builtin", "application_id": "notes"}]\n',
         BuiltinDeclaration("notes")),
        ('providers = [{"type": "builtin", "applicationID": "notes"}]\n',
         BuiltinDeclaration("notes")),
    ],
)  # fmt: skip
def test_auth_py_declares_the_builtin_issuer(
    load: object, auth_py: str | None, expected: BuiltinDeclaration | None
) -> None:
    app = load(auth_py)  # type: ignore[operator]
    assert builtin_provider(app) == expected
    assert builtin_enabled(app) is (expected is not None)


def test_the_loaders_parsed_providers_are_what_counts() -> None:
    """``App.auth_providers`` (the loader's typed providers) is the one source."""
    app = SimpleNamespace(auth_providers=[BuiltinProvider(application_id="notes")])
    assert builtin_provider(app) == BuiltinDeclaration("notes")
    assert not builtin_enabled(SimpleNamespace(auth_providers=[]))
