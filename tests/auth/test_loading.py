"""``APP_DIR/auth.py``: its ``providers`` become ``App.auth_providers``; a bad one stops the
load with an error that says what to fix."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from livebase.auth.providers import BuiltinProvider, CustomJwtProvider, OidcProvider
from livebase.errors import AppLoadError
from livebase.functions.loader import App, load_app, unload
from tests.support.apps import write_app

FUNCTIONS = """
    from livebase import query

    @query
    def whoami(ctx) -> str:
        return "nobody"
"""


@pytest.fixture
def load(tmp_path: Path) -> Iterator[object]:
    loaded: list[App] = []

    def load_files(files: Mapping[str, str]) -> App:
        app = load_app(write_app(tmp_path / f"app{len(loaded)}", files))
        loaded.append(app)
        return app

    yield load_files
    for app in loaded:
        unload(app)


def test_providers_from_auth_py(load: object) -> None:
    app = load(  # type: ignore[operator]
        {
            "auth.py": """
                import os

                from livebase import builtin, custom_jwt

                providers = [
                    {"domain": "https://accounts.example.com", "applicationID": "web"},
                    custom_jwt(
                        "https://auth.example.com",
                        os.environ.get("NO_SUCH_VARIABLE", "https://auth.example.com/jwks.json"),
                        algorithm="ES256",
                    ),
                    builtin(),
                ]
            """,
            "users.py": FUNCTIONS,
        }
    )
    assert app.auth_providers == [
        OidcProvider("https://accounts.example.com", "web"),
        CustomJwtProvider(
            "https://auth.example.com", "https://auth.example.com/jwks.json", "ES256"
        ),
        BuiltinProvider(),
    ]
    # auth.py declares; it adds no functions.
    assert set(app.functions) == {"users:whoami"}


def test_no_auth_py_means_no_providers(load: object) -> None:
    app = load({"users.py": FUNCTIONS})  # type: ignore[operator]
    assert app.auth_providers == []


def test_a_bad_provider_names_the_file_entry_and_field(load: object, tmp_path: Path) -> None:
    with pytest.raises(AppLoadError) as raised:
        load(  # type: ignore[operator]
            {
                "auth.py": """
                    providers = [
                        {"domain": "https://accounts.example.com", "application_id": "web"},
                        {"type": "customJwt", "issuer": "x", "jwks": "https://x/jwks.json",
                         "algorithm": "HS256"},
                    ]
                """,
                "users.py": FUNCTIONS,
            }
        )
    message = raised.value.message
    assert message.startswith(str(tmp_path / "app0" / "auth.py"))
    assert "providers[1].algorithm is 'HS256'; it must be RS256 or ES256" in message


def test_auth_py_without_providers(load: object) -> None:
    with pytest.raises(AppLoadError) as raised:
        load({"auth.py": "PROVIDERS = []\n", "users.py": FUNCTIONS})  # type: ignore[operator]
    assert "auth.py must define `providers = [...]`" in raised.value.message


def test_auth_py_that_fails_to_import(load: object) -> None:
    with pytest.raises(AppLoadError) as raised:
        load({"auth.py": "providers = [oidc()]\n"})  # type: ignore[operator]
    assert "auth.py" in raised.value.message and "NameError" in raised.value.message
