"""A real ``livebase serve`` of an app whose functions print, log at every level and fail, and
``livebase logs`` run as a real process against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.admin_cli import AdminCliServer
from tests.support.apps import write_app
from tests.support.server import LivebaseServer

APP = {
    "schema.py": """
        from livebase import define_schema, define_table, v

        schema = define_schema({"notes": define_table({"text": v.string()})})
    """,
    "chatty.py": """
        import logging

        from livebase import action, mutation, query

        log = logging.getLogger("chatty")
        log.setLevel(logging.DEBUG)  # the server's logging shows INFO and above by default


        @query
        def levels(ctx, tag: str) -> int:
            print(f"printed {tag}")
            log.debug(f"debug {tag}")
            log.info(f"info {tag}")
            log.warning(f"warn {tag}")
            log.error(f"error {tag}")
            return 1


        @query
        def quiet(ctx) -> int:
            return 1


        @mutation
        def note(ctx, tag: str) -> str:
            print(f"noted {tag}")
            return ctx.db.insert("notes", {"text": tag})


        @mutation
        def later(ctx, tag: str) -> None:
            ctx.scheduler.run_after(0, "chatty:note", {"tag": tag})


        @mutation
        def broken(ctx, tag: str) -> None:
            print(f"about to break {tag}")
            raise ValueError(f"broken on purpose {tag}")


        @action
        def worker(ctx, tag: str) -> str:
            print(f"from the worker {tag}")
            log.warning(f"worker warns {tag}")
            return "done"


        @action
        def worker_fails(ctx, tag: str) -> None:
            raise RuntimeError(f"worker failed {tag}")
    """,
}


LogsServer = AdminCliServer
"""The server and ``livebase logs`` against it."""


def app_dir(base: Path) -> Path:
    return write_app(base / "app", APP)


@pytest.fixture(scope="module")
def logs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogsServer]:
    base = tmp_path_factory.mktemp("logs")
    with LivebaseServer.launch(base, app=app_dir(base)) as server:
        yield LogsServer(server, base, "logs")
