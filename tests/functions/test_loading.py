"""Loading an app folder: function paths, the private package namespace, and load errors."""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from livebase.errors import AppLoadError
from livebase.functions.loader import App, load_app
from livebase.schema.definition import EMPTY_SCHEMA

from .conftest import CHAT_FILES


def _load(path: Path, loaded: list[App]) -> App:
    app = load_app(path)
    loaded.append(app)
    return app


def _leftover_modules(package: str) -> list[str]:
    return [m for m in sys.modules if m == package or m.startswith(package + ".")]


def test_paths_follow_files_and_folders(make_app: Any, loaded_apps: list[App]) -> None:
    app = _load(make_app(CHAT_FILES), loaded_apps)
    assert "messages:send" in app.functions
    assert "messages:list" in app.functions
    assert "admin/users:total" in app.functions
    assert "admin/users:wipe" in app.functions
    assert app.functions["messages:send"].path == "messages:send"
    assert app.functions["admin/users:wipe"].kind == "mutation"
    assert app.functions["admin/users:wipe"].internal
    assert not app.functions["messages:send"].internal
    assert app.package.startswith("_livebase_app_")
    assert sys.modules[app.package + ".messages"].__file__ == str(app.root / "messages.py")


def test_modules_named_like_stdlib_do_not_shadow_it(make_app: Any, loaded_apps: list[App]) -> None:
    files = {
        "http.py": """
            from livebase import query

            @query
            def route(ctx) -> str:
                return "app http"
        """,
        "json.py": """
            from livebase import query

            @query
            def parse(ctx) -> str:
                return "app json"
        """,
        "random.py": """
            from livebase import query

            @query
            def pick(ctx) -> str:
                return "app random"
        """,
        "crons.py": """
            from livebase import query

            @query
            def jobs(ctx) -> str:
                return "app crons"
        """,
        "schema.py": """
            import json

            from livebase import define_schema, define_table, v

            assert hasattr(json, "JSONDecoder"), json
            schema = define_schema({"things": define_table({"n": v.number()})})
        """,
        "uses_stdlib.py": """
            import http.client
            import json
            import random

            from livebase import query

            STDLIB = (json.__name__, random.__name__, http.client.__name__)


            @query
            def dump(ctx) -> str:
                return json.dumps({"a": [1, 2]}) + " " + str(hasattr(random, "shuffle"))
        """,
    }
    app = _load(make_app(files), loaded_apps)
    assert {"http:route", "json:parse", "random:pick", "crons:jobs", "uses_stdlib:dump"} <= set(
        app.functions
    )
    uses = sys.modules[app.package + ".uses_stdlib"]
    assert uses.STDLIB == ("json", "random", "http.client")
    assert uses.dump.fn(None) == '{"a": [1, 2]} True'
    assert "things" in app.schema.tables
    # The process-wide modules are untouched.
    assert sys.modules["json"] is json and json.dumps([1]) == "[1]"
    assert sys.modules["random"] is random and hasattr(random, "shuffle")
    import http

    assert hasattr(http, "HTTPStatus")


def test_two_apps_in_one_process_keep_their_own_functions_and_schema(
    harness: Any,
) -> None:
    def files(tag: str) -> dict[str, str]:
        return {
            "schema.py": f"""
                from livebase import define_schema, define_table, v

                schema = define_schema({{"only_{tag}": define_table({{"n": v.number()}})}})
            """,
            "messages.py": f"""
                from livebase import mutation, query
                from . import util


                @query
                def hello(ctx) -> str:
                    return util.NAME


                @mutation
                def put(ctx) -> str:
                    return ctx.db.insert("only_{tag}", {{"n": 1.0}})
            """,
            "util.py": f"""
                NAME = "app {tag}"
            """,
        }

    a = harness(files("a"), name="a")
    b = harness(files("b"), name="b")
    assert a.app.package != b.app.package
    assert a.value(a.query("messages:hello")) == "app a"
    assert b.value(b.query("messages:hello")) == "app b"
    assert set(a.app.schema.tables) == {"only_a"}
    assert set(b.app.schema.tables) == {"only_b"}
    assert a.value(a.mutation("messages:put"))
    assert b.value(b.mutation("messages:put"))
    # Calling again after the other app was loaded still reaches the right module.
    assert a.value(a.query("messages:hello")) == "app a"


def test_relative_imports_between_app_modules(harness: Any) -> None:
    h = harness(
        {
            "util.py": """
                def double(x):
                    return x * 2
            """,
            "lib/helpers.py": """
                from ..util import double

                def quadruple(x):
                    return double(double(x))
            """,
            "messages.py": """
                from livebase import query
                from . import util
                from .lib.helpers import quadruple


                @query
                def calc(ctx, x: float) -> list:
                    return [util.double(x), quadruple(x)]
            """,
            "admin/tools.py": """
                from livebase import query
                from .. import util


                @query
                def calc(ctx, x: float) -> float:
                    return util.double(x) + 1
            """,
        }
    )
    assert h.value(h.query("messages:calc", {"x": 1.5})) == [3.0, 6.0]
    assert h.value(h.query("admin/tools:calc", {"x": 1.5})) == 4.0


def test_underscore_and_dot_files_and_folders_are_skipped(
    make_app: Any, loaded_apps: list[App]
) -> None:
    bomb = """
        from livebase import query

        raise RuntimeError("this module must not be imported")

        @query
        def hidden(ctx) -> None:
            return None
    """
    files = {
        "_private.py": bomb,
        "__init__.py": bomb,
        "_internal/mod.py": bomb,
        ".hidden/mod.py": bomb,
        ".dotfile.py": bomb,
        "_helpers.py": """
            from livebase import query

            @query
            def helper_query(ctx) -> str:
                return "helper"
        """,
        "visible.py": """
            from livebase import query
            from ._helpers import helper_query


            @query
            def shown(ctx) -> str:
                return helper_query.fn(ctx)
        """,
    }
    app = _load(make_app(files), loaded_apps)
    assert set(app.functions) == {"visible:shown"}
    assert app.modules == ["visible"]


def test_imported_function_is_registered_only_under_its_defining_module(
    make_app: Any, loaded_apps: list[App]
) -> None:
    files = {
        "a.py": """
            from livebase import query

            @query
            def shared(ctx) -> str:
                return "a"
        """,
        "b.py": """
            from livebase import query
            from .a import shared
            from . import a as a_module

            alias = shared


            @query
            def own(ctx) -> str:
                return "b"
        """,
    }
    app = _load(make_app(files), loaded_apps)
    assert set(app.functions) == {"a:shared", "b:own"}
    assert app.functions["a:shared"].path == "a:shared"


def test_syntax_error_names_file_and_line_without_traceback(
    make_app: Any, loaded_apps: list[App]
) -> None:
    root = make_app(
        {
            "good.py": """
                from livebase import query

                @query
                def ok(ctx) -> int:
                    return 1
            """,
            "broken.py": """
                from livebase import query


                @query
                def bad(ctx) -> int:
                    return (1 +
            """,
        }
    )
    before = set(sys.modules)
    with pytest.raises(AppLoadError) as info:
        _load(root, loaded_apps)
    text = str(info.value)
    assert f"{root / 'broken.py'}:6" in text or f"{root / 'broken.py'}:7" in text, text
    assert "Traceback" not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
    # A failed load leaves no half-imported app package behind.
    assert {m for m in set(sys.modules) - before if m.startswith("_livebase_app_")} == set()


def test_exception_at_import_names_the_file(make_app: Any, loaded_apps: list[App]) -> None:
    root = make_app(
        {
            "boom.py": """
                from livebase import query

                CONFIG = {}["missing_key"]
            """,
        }
    )
    with pytest.raises(AppLoadError) as info:
        _load(root, loaded_apps)
    text = str(info.value)
    assert "boom.py" in text, text
    assert "missing_key" in text, text
    assert "Traceback" not in text


def test_import_of_a_missing_package_names_the_file(make_app: Any, loaded_apps: list[App]) -> None:
    root = make_app({"deps.py": "import no_such_package_livebase_test\n"})
    with pytest.raises(AppLoadError) as info:
        _load(root, loaded_apps)
    assert "deps.py" in str(info.value)
    assert "no_such_package_livebase_test" in str(info.value)


def test_missing_folder_lists_nearby_folders(tmp_path: Path) -> None:
    (tmp_path / "myapp").mkdir()
    (tmp_path / "other").mkdir()
    with pytest.raises(AppLoadError) as info:
        load_app(tmp_path / "myap")
    text = str(info.value)
    assert "myap" in text
    assert "myapp" in text and "other" in text, text


def test_schema_py_without_schema_is_a_clear_error(make_app: Any, loaded_apps: list[App]) -> None:
    root = make_app(
        {
            "schema.py": """
                from livebase import define_table, v

                messages = define_table({"body": v.string()})
            """,
        }
    )
    with pytest.raises(AppLoadError) as info:
        _load(root, loaded_apps)
    text = str(info.value)
    assert "schema.py" in text
    assert "define_schema" in text


def test_app_without_schema_is_schemaless(harness: Any) -> None:
    h = harness(
        {
            "notes.py": """
                from livebase import mutation, query

                @mutation
                def put(ctx, table: str, doc: dict) -> str:
                    return ctx.db.insert(table, doc)

                @query
                def all(ctx, table: str) -> list:
                    return ctx.db.query(table).collect()
            """,
        }
    )
    assert h.app.schema is EMPTY_SCHEMA or not h.app.schema.tables
    h.value(h.mutation("notes:put", {"table": "notes", "doc": {"a": 1.0}}))
    h.value(h.mutation("notes:put", {"table": "notes", "doc": {"b": "x", "c": [True]}}))
    h.value(h.mutation("notes:put", {"table": "other", "doc": {}}))
    docs = h.value(h.query("notes:all", {"table": "notes"}))
    assert [{k: d[k] for k in d if not k.startswith("_")} for d in docs] == [
        {"a": 1.0},
        {"b": "x", "c": [True]},
    ]


VERSION_MODULE = {
    "version.py": """
        from livebase import query

        @query
        def get(ctx) -> str:
            return "v1"
    """,
}


def test_reload_sees_a_new_module(make_app: Any, loaded_apps: list[App]) -> None:
    root = make_app(VERSION_MODULE)
    first = _load(root, loaded_apps)
    (root / "extra.py").write_text(
        "from livebase import query\n\n\n@query\ndef hi(ctx) -> str:\n    return 'hi'\n"
    )
    second = _load(root, loaded_apps)
    assert second.functions["extra:hi"].fn(None) == "hi"
    # The first load is still intact in memory.
    assert "extra:hi" not in first.functions
    assert first.functions["version:get"].fn(None) == "v1"


def test_reload_sees_a_same_size_edit_saved_within_one_second(
    make_app: Any, loaded_apps: list[App], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Users run with bytecode caching on (the default), whatever this test environment says.
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    root = make_app(VERSION_MODULE)
    path = root / "version.py"
    second_start = (int(time.time()) - 10) * 1_000_000_000
    os.utime(path, ns=(second_start, second_start + 100_000_000))
    first = _load(root, loaded_apps)
    assert first.functions["version:get"].fn(None) == "v1"
    # The same file saved again 0.6 s later with one character changed (same size, same whole
    # second): bytecode cached by the first load must not be reused.
    path.write_text(path.read_text().replace('"v1"', '"v2"'))
    os.utime(path, ns=(second_start, second_start + 700_000_000))
    second = _load(root, loaded_apps)
    assert second.functions["version:get"].fn(None) == "v2"
