"""Convex's upload flow from headless Chromium with the official client, unmodified: npm
``convex`` 1.48's ``browser.bundle.js`` (``ConvexHttpClient``) and the browser's own ``fetch`` of
a ``Blob``, cross-origin (the page is served from another port, so CORS preflights happen), on
SQLite and PostgreSQL. The driver is ``tests/clients/web/upload_file.mjs`` (playwright-core with
Debian's Chromium, as ``tests/e2e/test_react_page.py`` sets up)."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.files.app import FILES_APP
from tests.support.apps import write_app
from tests.support.postgres import fresh_database_url
from tests.support.server import REPO_ROOT, LivebaseServer, base_env

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(300)]

WEB_DIR = REPO_ROOT / "tests" / "clients" / "web"
BUNDLE = WEB_DIR / "node_modules" / "convex" / "dist" / "browser.bundle.js"
CHROMIUM = Path("/usr/bin/chromium")
PAGE = '<!doctype html><meta charset="utf-8"><title>upload</title><script src="convex.js"></script>'


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not BUNDLE.exists() or not CHROMIUM.exists() or shutil.which("node") is None:
        pytest.skip("needs node, Debian's chromium and tests/clients/web's npm packages")
    root = tmp_path_factory.mktemp("upload-page")
    (root / "index.html").write_text(PAGE)
    shutil.copy(BUNDLE, root / "convex.js")
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_chromium_uploads_with_the_official_client(
    page_url: str, backend: str, tmp_path: Path
) -> None:
    app = write_app(tmp_path / "app", FILES_APP)
    with ExitStack() as stack:
        db = None if backend == "sqlite" else stack.enter_context(fresh_database_url("fb"))
        server = stack.enter_context(
            LivebaseServer.launch(tmp_path / "srv", app=app, db=db, env=base_env())
        )
        done = subprocess.run(
            ["node", str(WEB_DIR / "upload_file.mjs"), page_url, server.url, str(CHROMIUM)],
            cwd=WEB_DIR,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        assert lines, done.stderr
        result = json.loads(lines[-1])
        assert result["ok"], json.dumps(result, indent=2) + "\n" + server.log_text()[-3000:]
        assert result["uploadStatus"] == 200 and result["downloadStatus"] == 200
        assert result["contentType"] == "image/png"
        assert result["etag"].startswith('"') and len(result["etag"]) == 66
        assert result["reusedStatus"] == 401 and result["reused"]["code"] == "UploadUrlUsed"
