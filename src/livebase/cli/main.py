"""``livebase dev | serve | run``: serve an app folder, or call a function on a running server.

Errors a user can fix (a typo'd folder, a syntax error, a schema the data does not fit, a server
that is not running) print one clear message and exit 1 — never a traceback wall.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from livebase import __version__
from livebase.errors import LivebaseError

DEFAULT_PORT = 3210


def _progress(what: str, done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    bar = "#" * filled + "-" * (width - filled)
    end = "\n" if done >= total else ""
    print(f"\r  {what:<40} [{bar}] {done}/{total}", end=end, file=sys.stderr, flush=True)


def _serve(args: argparse.Namespace, *, reload: bool) -> int:
    import uvloop

    from livebase.server import Deployment
    from livebase.storage import redact

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    # Apps read this through livebase.is_dev() (e.g. to relax an API key in development).
    os.environ["LIVEBASE_DEV"] = "1" if reload else "0"
    try:
        deployment = Deployment(args.app_dir, args.data, durability=args.durability, db=args.db)
        deployment.open(_progress)
    except LivebaseError as exc:
        print(f"livebase: {exc.message}", file=sys.stderr)
        return 1
    except (LookupError, ValueError) as exc:
        print(f"livebase: {exc}", file=sys.stderr)
        return 1
    n = len(deployment.app.functions)
    print(f"Livebase {__version__} serving {deployment.app_dir} ({n} functions)", flush=True)
    where = redact(deployment.db) if deployment.shared_database else deployment.data_dir
    print(f"Data: {where} (durability: {args.durability})", flush=True)
    print(f"Admin key: {deployment.admin_key}", flush=True)
    if not reload:
        # What start-up made lives as long as the server: out of the collector's way, a full
        # collection walks only what serving allocates (about 25 ms of CPU less per pass).
        # ``dev`` reloads the app, so what it loaded must stay collectable there.
        gc.collect()
        gc.freeze()
    try:
        return uvloop.run(_run_server(deployment, args.host, args.port, reload))
    finally:
        deployment.close()


async def _run_server(deployment: Any, host: str, port: int, reload: bool) -> int:
    import signal

    from livebase.httpserver import HttpServer
    from livebase.server import Router, http_limits

    router = Router(deployment)
    server = HttpServer(
        router,
        max_body=router.max_body,
        upgrade=deployment.sync.upgrade,
        limits=http_limits(deployment.engine.settings),
        body_sink=router.files.body_sink,  # file uploads stream to disk
    )
    try:
        await server.start(host, port)
    except OSError as exc:
        print(f"livebase: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    deployment.listening(host, server.port)  # the built-in issuer's URL, unless configured
    await deployment.start()
    print(f"Livebase ready at http://{host}:{server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = None
    if reload:
        watcher = asyncio.ensure_future(
            deployment.watch(lambda message: print(f"livebase: {message}", flush=True))
        )
    await stop.wait()
    print("livebase: shutting down", flush=True)
    if watcher is not None:
        watcher.cancel()
    deployment.sync.close_all()
    deployment.runner.logs.close()  # long polls of livebase logs --follow answer now
    await server.stop()
    await deployment.stop()
    return 0


def _admin_key(args: argparse.Namespace) -> str | None:
    if args.admin_key:
        return str(args.admin_key)
    if os.environ.get("LIVEBASE_ADMIN_KEY"):
        return os.environ["LIVEBASE_ADMIN_KEY"]
    for folder in (
        [Path(args.data)] if args.data else [Path(".livebase"), *Path(".").glob("*/.livebase")]
    ):
        key_file = folder / "admin_key"
        if key_file.exists():
            return key_file.read_text().strip()
    return None


def _display(value: Any) -> Any:
    if isinstance(value, bytes):
        import base64

        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return [_display(x) for x in value]
    if isinstance(value, dict):
        return {k: _display(x) for k, x in value.items()}
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value


def _run(args: argparse.Namespace) -> int:
    from livebase.values.wire import dumps, from_wire, to_wire

    try:
        call_args = json.loads(args.args)
    except json.JSONDecodeError as exc:
        print(f"livebase run: ARGS is not valid JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(call_args, dict):
        print(
            'livebase run: ARGS must be a JSON object, e.g. \'{"channel": "a"}\'', file=sys.stderr
        )
        return 2
    huge = _unsafe_integer(call_args)
    if huge is not None:
        print(
            f"livebase run: {huge} is beyond 2**53, which a number (float64) cannot hold "
            'exactly; send an int64 as {"$integer": "<base64 of 8 bytes, little-endian>"}',
            file=sys.stderr,
        )
        return 2
    body = dumps(
        {
            "path": args.path,
            "args": to_wire(from_wire(call_args)),
            "format": "convex_encoded_json",
        }
    ).encode()
    request = urllib.request.Request(
        args.url.rstrip("/") + "/api/function",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Convex-Client": f"livebase-cli-{__version__}",
        },
    )
    key = _admin_key(args)
    if key:
        request.add_header("Authorization", f"Convex {key}")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            result = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        data = json.loads(exc.read() or b"{}")
        message = data.get("message", exc.reason)
        hint = ""
        if exc.code == 404 and not key:
            hint = " (internal functions need the admin key: --admin-key or LIVEBASE_ADMIN_KEY)"
        print(f"livebase run: {data.get('code', exc.code)}: {message}{hint}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(
            f"livebase run: no Livebase server is running at {args.url} ({reason}); start one "
            "with `livebase dev APP_DIR` or pass --url",
            file=sys.stderr,
        )
        return 1
    for line in result.get("logLines") or []:
        print(line, file=sys.stderr)
    if result.get("status") == "success":
        print(json.dumps(_display(from_wire(result.get("value"))), indent=2))
        return 0
    print(f"livebase run: {result.get('errorMessage')}", file=sys.stderr)
    if "errorData" in result:
        print(json.dumps(_display(from_wire(result["errorData"])), indent=2), file=sys.stderr)
    return 1


def _import(args: argparse.Namespace) -> int:
    """Send a JSON Lines (or JSON array) file to ``/api/import`` in batches, with progress; a
    snapshot ZIP goes to ``livebase.cli.snapshot`` instead."""
    from livebase.httpapi.importer import parse_documents
    from livebase.snapshot.layout import is_zip
    from livebase.values.wire import dumps, to_wire

    if args.file is None:  # livebase import FILE.zip
        args.table, args.file = None, args.table
    try:
        with open(args.file, "rb") as f:
            zipped = is_zip(f.read(4))
    except OSError as exc:
        print(f"livebase import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    if not zipped and args.table is None:
        print(
            f"livebase import: {args.file} is not a ZIP; to import JSON Lines or a JSON array, "
            "name the table: livebase import TABLE FILE",
            file=sys.stderr,
        )
        return 2
    if zipped:
        return _snapshot_command(args, "import")
    try:
        raw = Path(args.file).read_bytes()
        documents = parse_documents(raw)
    except OSError as exc:
        print(f"livebase import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except LivebaseError as exc:
        print(f"livebase import: {args.file}: {exc.message}", file=sys.stderr)
        return 2
    key = _admin_key(args)
    if not key:
        print(
            "livebase import: needs the admin key (--admin-key or LIVEBASE_ADMIN_KEY)",
            file=sys.stderr,
        )
        return 2
    url = f"{args.url.rstrip('/')}/api/import?table={urllib.parse.quote(args.table)}"
    done = 0
    total = len(documents)
    for start in range(0, total, args.batch):
        batch = documents[start : start + args.batch]
        body = "\n".join(dumps(to_wire(doc)) for doc in batch).encode()
        request = urllib.request.Request(url, data=body, headers={"Authorization": f"Convex {key}"})
        try:
            with urllib.request.urlopen(request, timeout=args.timeout) as response:
                json.loads(response.read())
        except urllib.error.HTTPError as exc:
            data = json.loads(exc.read() or b"{}")
            print(
                f"\nlivebase import: batch starting at document {start + 1}: "
                f"{data.get('code', exc.code)}: {data.get('message', exc.reason)}\n"
                f"{done} documents were imported before it; fix the file and import the rest "
                f"(each batch of {args.batch} is all or nothing)",
                file=sys.stderr,
            )
            return 1
        except (urllib.error.URLError, OSError) as exc:
            print(
                f"livebase import: no Livebase server at {args.url} "
                f"({getattr(exc, 'reason', exc)})",
                file=sys.stderr,
            )
            return 1
        done += len(batch)
        _progress(f"importing into {args.table}", done, total)
    print(f"imported {done} documents into {args.table}")
    return 0


def _snapshot_command(args: argparse.Namespace, command: str) -> int:
    """``livebase export`` / ``livebase import FILE.zip`` (``livebase.cli.snapshot``)."""
    from livebase.cli import snapshot

    if command == "import" and args.table is not None:
        print(
            f"livebase import: {args.file} is a snapshot ZIP, which names its own tables: "
            f"livebase import {args.file}",
            file=sys.stderr,
        )
        return 2
    key = _admin_key(args)
    if not key:
        print(
            f"livebase {command}: needs the admin key (--admin-key or LIVEBASE_ADMIN_KEY)",
            file=sys.stderr,
        )
        return 2
    admin = snapshot.Admin(args.url, key, args.timeout)
    progress = snapshot.Progress()
    try:
        if command == "export":
            snapshot.export(admin, args.out, progress, args.include_file_storage)
            return 0
        mode = "replace" if args.replace else "append" if args.append else "fail"
        report = snapshot.import_zip(admin, Path(args.file), mode, progress)
    except snapshot.CommandError as exc:
        print(f"livebase {command}: {exc}", file=sys.stderr)
        if command == "import" and exc.status == 1:
            print("nothing was imported", file=sys.stderr)
        return exc.status
    snapshot.print_report(report)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    """Copy a database to another backend (``livebase.migrate``) and print what was verified."""
    from livebase.migrate import migrate
    from livebase.storage import redact

    print(f"Migrating {redact(args.source)} -> {redact(args.target)}", file=sys.stderr)
    if bool(args.files_from) != bool(args.files_to):
        print("livebase migrate: give both --files-from and --files-to", file=sys.stderr)
        return 2
    try:
        summary = migrate(args.source, args.target, force=args.force, progress=_progress)
    except LivebaseError as exc:
        print(f"livebase migrate: {exc.message}", file=sys.stderr)
        return 1
    except (LookupError, ValueError) as exc:
        print(f"livebase migrate: {exc}", file=sys.stderr)
        return 1
    print("Copied and verified (row counts and SHA-256 checksums match):")
    for table, digest in summary.tables.items():
        print(f"  {table:<10} {digest.rows:>10} rows  sha256 {digest.sha256[:16]}")
    if args.files_from:  # the bytes of stored files (livebase.files.migrate)
        from livebase.files.migrate import copy_files

        try:
            files = copy_files(Path(args.files_from), Path(args.files_to))
        except (OSError, ValueError) as exc:
            print(f"livebase migrate: files: {exc}", file=sys.stderr)
            return 1
        print(
            f"Files: {files.copied} copied ({files.bytes} bytes, sha256 checked), "
            f"{files.skipped} already there"
        )
        if files.corrupt:
            print(
                f"livebase migrate: {len(files.corrupt)} files do not match their sha256 and "
                f"were not copied: {', '.join(files.corrupt[:5])}",
                file=sys.stderr,
            )
            return 1
    documents = summary.tables["documents"].rows
    rate = documents / summary.seconds if summary.seconds > 0 else 0.0
    print(
        f"Latest commit timestamp {summary.latest_ts}; {documents} documents in "
        f"{summary.seconds:.1f} s ({rate:,.0f} documents/s)"
    )
    return 0


def _unsafe_integer(value: Any) -> int | None:
    """A whole number in ARGS that a float64 cannot hold exactly (it must be sent as
    ``{"$integer": ...}``), or None."""
    from livebase.values.types import MAX_SAFE_INT

    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INT:
        return value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        found = _unsafe_integer(item)
        if found is not None:
            return found
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livebase",
        description="Livebase: a reactive backend for Python apps. Serve an app folder "
        "(dev, serve), or act on a running one (run, import, export, env, logs, users).",
    )
    parser.add_argument("--version", action="version", version=f"livebase {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("dev", "serve an app and reload it when its files change"),
        ("serve", "serve an app (no reload)"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("app_dir", metavar="APP_DIR", help="the app folder (schema.py, functions)")
        p.add_argument(
            "--port", type=int, default=int(os.environ.get("LIVEBASE_PORT", DEFAULT_PORT))
        )
        p.add_argument("--host", default=os.environ.get("LIVEBASE_HOST", "127.0.0.1"))
        p.add_argument("--data", metavar="DIR", help="data folder (default: APP_DIR/.livebase)")
        p.add_argument(
            "--db",
            metavar="URL",
            default=os.environ.get("LIVEBASE_DB"),
            help="postgresql://user@host:port/db[?schema=name] or sqlite:///path "
            "(default: LIVEBASE_DB, else data.sqlite3 in the data folder)",
        )
        p.add_argument(
            "--durability",
            choices=["fsync-per-commit", "normal"],
            default=os.environ.get("LIVEBASE_DURABILITY", "fsync-per-commit"),
            help="fsync-per-commit: on disk before acknowledged; normal: survives a process kill",
        )
    p = sub.add_parser("run", help="call a function on a running server and print the result")
    p.add_argument("path", metavar="PATH", help="module:function, e.g. messages:list")
    p.add_argument("args", metavar="JSON", nargs="?", default="{}", help="arguments object")
    p.add_argument(
        "--url", default=os.environ.get("LIVEBASE_URL", f"http://127.0.0.1:{DEFAULT_PORT}")
    )
    p.add_argument("--admin-key", help="admin key (default: LIVEBASE_ADMIN_KEY or ./.livebase)")
    p.add_argument("--data", metavar="DIR", help="data folder to read the admin key from")
    p.add_argument("--timeout", type=float, default=60.0)
    p = sub.add_parser(
        "import",
        help="import a snapshot ZIP (livebase export, npx convex export), or documents (JSON "
        "Lines or a JSON array) into one table",
        usage="livebase import [options] FILE.zip | TABLE FILE",
    )
    p.add_argument("table", metavar="TABLE", help="the table (not for a snapshot ZIP)")
    p.add_argument(
        "file", metavar="FILE", nargs="?", help="a .jsonl file (one document per line) or .json"
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--append", action="store_true", help="ZIP: add to tables that already have documents"
    )
    how.add_argument(
        "--replace", action="store_true", help="ZIP: delete the imported tables' documents first"
    )
    p.add_argument(
        "--url", default=os.environ.get("LIVEBASE_URL", f"http://127.0.0.1:{DEFAULT_PORT}")
    )
    p.add_argument("--admin-key", help="admin key (default: LIVEBASE_ADMIN_KEY or ./.livebase)")
    p.add_argument("--data", metavar="DIR", help="data folder to read the admin key from")
    p.add_argument("--batch", type=int, default=1000, help="documents per transaction")
    p.add_argument("--timeout", type=float, default=120.0)
    p = sub.add_parser("export", help="write a snapshot ZIP of a running server's tables")
    p.add_argument("-o", "--out", metavar="FILE.zip", help="default: snapshot_<ts>.zip")
    p.add_argument(
        "--include-file-storage",
        action="store_true",
        help="also write stored files' bytes (_storage/<id>); their rows are always written",
    )
    p.add_argument(
        "--url", default=os.environ.get("LIVEBASE_URL", f"http://127.0.0.1:{DEFAULT_PORT}")
    )
    p.add_argument("--admin-key", help="admin key (default: LIVEBASE_ADMIN_KEY or ./.livebase)")
    p.add_argument("--data", metavar="DIR", help="data folder to read the admin key from")
    p.add_argument("--timeout", type=float, default=120.0)
    p = sub.add_parser(
        "migrate", help="copy an app's database to another backend (stop its servers first)"
    )
    p.add_argument(
        "--from", dest="source", metavar="URL", required=True, help="sqlite:///path, postgresql://"
    )
    p.add_argument(
        "--to", dest="target", metavar="URL", required=True, help="an empty database to copy into"
    )
    p.add_argument("--force", action="store_true", help="delete the target's contents first")
    p.add_argument("--files-from", metavar="DIR", help="data folder whose stored files to copy")
    p.add_argument("--files-to", metavar="DIR", help="data folder to copy stored files into")
    p = sub.add_parser(
        "codegen", help="write typed client bindings (api.d.ts, api.js, api.py) for an app"
    )
    p.add_argument("app_dir", metavar="APP_DIR")
    p.add_argument("-o", "--out", metavar="DIR", help="where to write (default APP_DIR/_generated)")
    # livebase users ... / livebase auth rotate-keys (the built-in issuer, livebase.auth.builtin)
    from livebase.auth.builtin.cli import add_commands as add_builtin_issuer_commands

    add_builtin_issuer_commands(
        sub, os.environ.get("LIVEBASE_URL", f"http://127.0.0.1:{DEFAULT_PORT}")
    )
    from livebase.envvars.cli import add_commands as add_env_commands  # livebase env ...

    add_env_commands(sub, os.environ.get("LIVEBASE_URL", f"http://127.0.0.1:{DEFAULT_PORT}"))
    from livebase.logs.cli import add_commands as add_logs_command  # livebase logs

    add_logs_command(sub, os.environ.get("LIVEBASE_URL", f"http://127.0.0.1:{DEFAULT_PORT}"))
    return parser


def _codegen(args: argparse.Namespace) -> int:
    from livebase import codegen
    from livebase.functions.loader import load_app, unload

    app_dir = Path(args.app_dir)
    try:
        app = load_app(app_dir)
    except LivebaseError as exc:
        print(f"livebase codegen: {exc.message}", file=sys.stderr)
        return 1
    try:
        out = Path(args.out) if args.out else app_dir / "_generated"
        for path in codegen.write(app.functions, out):
            print(f"wrote {path}")
    finally:
        unload(app)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("dev", "serve"):
        try:
            return _serve(args, reload=args.command == "dev")
        except KeyboardInterrupt:
            return 0
    if args.command == "run":
        return _run(args)
    if args.command == "import":
        return _import(args)
    if args.command == "export":
        return _snapshot_command(args, "export")
    if args.command == "migrate":
        return _migrate(args)
    if args.command == "codegen":
        return _codegen(args)
    if args.command == "env":
        from livebase.envvars.cli import run as run_env_command

        return run_env_command(args, _admin_key(args))
    if args.command == "logs":
        from livebase.logs.cli import run as run_logs_command

        return run_logs_command(args, _admin_key(args))
    if args.command in ("users", "auth"):
        from livebase.auth.builtin.cli import run as run_builtin_issuer_command

        return run_builtin_issuer_command(args, _admin_key(args))
    return 2


if __name__ == "__main__":
    sys.exit(main())
