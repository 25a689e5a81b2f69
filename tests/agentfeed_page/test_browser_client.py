"""Livebase's browser client: ``GET /_livebase/client.js`` is served, and the module as served,
imported in Node, talks to a real server (signed out as the public, then signed in through its
token fetcher; subscribe, mutation, query, paginatedSubscribe, reconnect, errors: see
``client_node.mjs``); ``agentfeed serve`` runs the app and serves the
page."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.agentfeed_app.conftest import KEY, Agentfeed
from tests.support.server import base_env, free_port

from .conftest import OWNER_EMAIL, OWNER_PASSWORD, hook, now_ms, project_path, run_node

pytestmark = [pytest.mark.e2e, pytest.mark.node]

SOURCE = Path(__file__).resolve().parents[2] / "src" / "livebase" / "static" / "client.js"


def test_client_js_is_served_with_cache_validation(agentfeed: Agentfeed) -> None:
    url = f"{agentfeed.server.url}/_livebase/client.js"
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    assert response.content == SOURCE.read_bytes()
    assert b"export class LivebaseClient" in response.content
    again = httpx.get(url, headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert httpx.get(f"{agentfeed.server.url}/_livebase/other.js").status_code == 404


def test_the_page_and_its_files_are_served(agentfeed: Agentfeed) -> None:
    base = agentfeed.server.url
    page = httpx.get(f"{base}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text
    app = httpx.get(f"{base}/static/app.js")
    assert app.headers["content-type"].startswith("text/javascript")
    assert 'from "/_livebase/client.js"' in app.text
    assert httpx.get(f"{base}/static/style.css").headers["content-type"].startswith("text/css")
    assert httpx.get(f"{base}/static/..%2Fhttp.py").status_code == 404
    assert httpx.get(f"{base}/static/missing.js").status_code == 404


def test_the_client_module_against_a_real_server(
    agentfeed: Agentfeed, node_packages: Path, tmp_path: Path
) -> None:
    project = project_path("node-client")
    session = f"node-client-{now_ms()}"
    start = now_ms()
    payloads = [hook("UserPromptSubmit", session, cwd=project, ts=start + i) for i in range(12)]
    late = [hook("Stop", session, cwd=project, ts=start + 100 + i) for i in range(2)]
    config = {
        "url": agentfeed.server.url,
        "adminKey": agentfeed.server.admin_key,
        "agentfeedKey": KEY,
        "ownerEmail": OWNER_EMAIL,
        "ownerPassword": OWNER_PASSWORD,
        "project": project,
        "payloads": payloads,
        "late": late,
    }
    result = run_node("client_node.mjs", config, tmp_path, timeout=120)
    assert result["ok"], json.dumps(result, indent=1)[:20000]
    assert len(result["steps"]) >= 15, result["steps"]


def test_agentfeed_serve_runs_the_app_and_serves_the_page(tmp_path: Path) -> None:
    port = free_port()
    args = ["serve", "--port", str(port), "--data", str(tmp_path / "data")]
    env = base_env(AGENTFEED_HOME=str(tmp_path / "home"))
    for name in ("AGENTFEED_OWNER_EMAIL", "AGENTFEED_OWNER_PASSWORD"):
        env.pop(name, None)
    log = tmp_path / "serve.out"
    hook_line = f"agentfeed install-hook --url http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentfeed.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        page = None
        while time.monotonic() < deadline:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert page is not None and page.status_code == 200 and "agentfeed" in page.text
        # The banner is printed once the server is ready, after asking it about accounts.
        while hook_line not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    output = log.read_text()
    assert f"agentfeed: your feed: http://127.0.0.1:{port}/ " in output, output
    assert hook_line in output, output
    assert "agentfeed: no owner account yet" in output, output
    assert "?key=" not in output, output


def test_agentfeed_serve_finds_the_app_packaged_in_a_wheel(tmp_path: Path) -> None:
    """In a wheel the app is ``agentfeed/app`` (pyproject force-include); outside a checkout,
    ``serve`` runs that copy and keeps its data in the agentfeed home, not in site-packages."""
    import argparse
    import importlib.util

    package = tmp_path / "site-packages" / "agentfeed"
    (package / "app").mkdir(parents=True)
    (package / "app" / "schema.py").write_text("")
    source = Path(__file__).resolve().parents[2] / "src" / "agentfeed" / "serve.py"
    shutil.copyfile(source, package / "serve.py")
    spec = importlib.util.spec_from_file_location("packaged_serve", package / "serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.app_dir() == package / "app"
    os.environ["AGENTFEED_HOME"] = str(tmp_path / "home")
    try:
        args = argparse.Namespace(port=1, host="127.0.0.1", data=None, db=None)
        command = module.command(args)
    finally:
        del os.environ["AGENTFEED_HOME"]
    assert command[command.index("serve") + 1] == str(package / "app")
    assert command[command.index("--data") + 1] == str(tmp_path / "home" / "data")
