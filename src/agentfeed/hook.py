"""The agentfeed capture hook that Claude Code runs on every hook event.

Claude Code runs it as a file: ``python3 -S ~/.agentfeed/hook.py --home ~/.agentfeed`` (what
``agentfeed install-hook`` registers). It uses the standard library only, so it works under ``-S``,
and imports as little as it can: no ``json``, ``socket``, ``http.client`` or ``uuid`` modules on the
normal path, because importing them costs more than everything else the hook does.

What one run does:

1. Reads the event JSON from stdin. If it is a JSON object, the body is that object's text with
   two top-level keys added: ``"event_id"`` (a new uuid4 string) and ``"timestamp"`` (ms since the
   epoch). Anything else becomes ``{"event_id", "timestamp", "raw": "<stdin text>"}``.
2. POSTs the body to ``{url}/event`` (``Content-Type: application/json``, ``X-Agentfeed-Key`` if a
   key is configured) with a 1 s connect and a 2 s total timeout. Any 2xx is success.
3. On any failure the body is appended, as one line, to ``$AGENTFEED_HOME/spool.jsonl``.

Order: while the spool is not empty, a run never posts its own event first. It appends its event
to the END of the spool, then (if no other run is draining) replays the spool oldest first,
stopping at the first failure, after ``REPLAY_MAX_EVENTS`` events or once ``REPLAY_BUDGET`` seconds
of the run have passed; what was sent is cut from the front of the spool. So the server receives
events in the order they were captured, and the current event reaches it in the same run when the
backlog is small. Delivery is at least once: a run killed between a post and the spool rewrite
sends those lines again, so the server must dedupe on ``event_id``.

Server answers: 2xx = delivered; 400, 409, 413, 415, 422 and other 4xx not listed next = rejected
for good (the event is dropped, so one bad line cannot block the spool forever); no answer, 3xx,
401, 403, 404, 408, 429 and 5xx = retry later (spooled). After a *timeout* (a hung or unreachable
server, unlike a refused connection which fails at once) runs spool without trying the network for
``OFFLINE_BACKOFF`` seconds, so a dead server costs Claude 2 s once rather than on every tool call.

Concurrency: Claude runs the hooks of parallel tool calls in parallel. Every change to the spool
file happens under ``flock`` on ``spool.lock`` (held for microseconds); only the run holding
``drain.lock`` replays. The spool is capped at ``SPOOL_MAX_BYTES`` (50 MB, env
``AGENTFEED_SPOOL_MAX_BYTES``): beyond it new events are dropped (one stderr line each) and the
spooled backlog is kept.

Contract with Claude Code: nothing is ever written to stdout (for ``SessionStart`` and
``UserPromptSubmit`` stdout would be injected into Claude's context), the exit status is always 0,
and stderr gets at most one short line, which only reaches Claude's debug log.

Configuration, first match wins: env ``AGENTFEED_URL`` / ``AGENTFEED_KEY``, then ``config.json`` in
the agentfeed home (written by the installer), then ``http://127.0.0.1:3210`` and no key. The home
is ``--home DIR`` on the command line, else env ``AGENTFEED_HOME``, else ``~/.agentfeed``.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # typing costs milliseconds to import; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Protocol

    class _Socket(Protocol):
        def settimeout(self, value: float | None, /) -> None: ...
        def sendall(self, data: bytes, /) -> None: ...
        def recv(self, bufsize: int, /) -> bytes: ...
        def close(self) -> None: ...


DEFAULT_URL = "http://127.0.0.1:3210"
CONNECT_TIMEOUT = 1.0  # seconds to establish the TCP (and TLS) connection
REQUEST_TIMEOUT = 2.0  # seconds for one whole POST, connect included
RUN_BUDGET = 2.0  # no network I/O goes on after this many seconds of a run
REPLAY_BUDGET = 1.0  # no new replay POST starts after this many seconds of a run
REPLAY_MAX_EVENTS = 1000  # at most this many spooled events replayed per run
SPOOL_MAX_BYTES = 50 * 1024 * 1024
OFFLINE_BACKOFF = 10.0  # seconds without network attempts after a timeout
LOCK_WAIT = 1.0  # seconds to wait for spool.lock before appending without it
DRAIN_LOCK_WAIT = 0.05  # seconds to wait for drain.lock before leaving the drain to its holder

_RETRY_STATUSES = frozenset({401, 403, 404, 408, 429})
_WS = " \t\n\r"

_stderr_message = ""
_stderr_loss = False


def _note(message: str, loss: bool = False) -> None:
    """Remember the one line this run will write to stderr: the last note about a lost event
    if there is one, else the last note."""
    global _stderr_message, _stderr_loss
    if loss or not _stderr_loss:
        _stderr_message = message
        _stderr_loss = loss


class _Terminated(BaseException):
    """Raised by the SIGTERM handler so the current event can still be spooled."""


class _Failure(Exception):
    """A POST that did not get a usable answer; ``timed_out`` if a timeout caused it."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


# --- JSON, without importing the json package --------------------------------------------------


class _ScanContext:
    """The attributes ``_json.make_scanner`` reads (the same defaults as ``json.loads``)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    array_hook = None  # read by Python >= 3.15
    parse_float = float
    parse_int = int
    parse_constant = float  # float("NaN"), float("Infinity"), float("-Infinity")
    memo: dict[object, object] = {}


def _loads(text: str) -> object:
    """Parse a JSON document (whitespace around it allowed); raise ValueError if it is not one."""
    try:
        import _json

        scan = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]
    except Exception:  # not CPython, or a changed private API: use the public module
        import json

        return json.loads(text)
    text = text.strip(_WS)
    try:
        value, end = scan(text, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text):
        raise ValueError("extra data after JSON")
    return value


def _quote(text: str) -> str:
    """The JSON string literal for ``text`` (ASCII only)."""
    try:
        import _json

        return _json.encode_basestring_ascii(text)
    except ImportError:
        import json

        return json.dumps(text)


# --- the event body ----------------------------------------------------------------------------


def _uuid4() -> str:
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def build_body(raw: bytes, event_id: str, timestamp: int) -> bytes:
    """The POST body for the stdin bytes ``raw``: one line of UTF-8 JSON, no trailing newline.

    A JSON object keeps its own text (key order, number spelling, escapes) and gets the two keys
    appended before its closing brace; newlines between its tokens become spaces (a valid JSON
    text has no raw newline inside a string), so the body fits on one spool line.
    """
    extra = f'"event_id":"{event_id}","timestamp":{timestamp}'
    try:
        text = raw.decode("utf-8")
        value = _loads(text)
    except (ValueError, StopIteration, RecursionError):
        value = None
    if isinstance(value, dict):
        if "event_id" in value or "timestamp" in value:
            import json

            value.update(event_id=event_id, timestamp=timestamp)
            return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        inner = text.strip(_WS)[:-1].rstrip(_WS)
        body = inner + ("," if value else "") + extra + "}"
        return body.replace("\n", " ").replace("\r", " ").encode("utf-8")
    quoted = _quote(raw.decode("utf-8", "replace"))
    return ("{" + extra + ',"raw":' + quoted + "}").encode("utf-8")


# --- configuration -----------------------------------------------------------------------------


def _home(argv: list[str]) -> str:
    if len(argv) >= 2 and argv[0] == "--home" and argv[1]:
        return argv[1]
    env = os.environ.get("AGENTFEED_HOME")
    if env:
        return env
    return os.path.join(os.path.expanduser("~"), ".agentfeed")


def load_config(home: str) -> tuple[str, str]:
    """``(url, key)``: env first, then ``config.json`` in ``home``, then the defaults."""
    url = os.environ.get("AGENTFEED_URL", "")
    key = os.environ.get("AGENTFEED_KEY", "")
    if not url or not key:
        try:
            with open(os.path.join(home, "config.json"), "rb") as f:
                data = _loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            data = None
        except (OSError, ValueError, StopIteration, RecursionError):
            _note("agentfeed hook: unreadable config.json, using defaults")
            data = None
        if isinstance(data, dict):
            if not url and isinstance(data.get("url"), str):
                url = data["url"]
            if not key and isinstance(data.get("key"), str):
                key = data["key"]
    return url or DEFAULT_URL, key


class Target:
    """Where and how to POST: parsed from the configured base URL."""

    def __init__(self, url: str, key: str) -> None:
        scheme, sep, rest = url.strip().partition("://")
        if not sep:
            scheme, rest = "http", url.strip()
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {scheme!r}")
        rest = rest.partition("#")[0].partition("?")[0]
        hostport, _, path = rest.partition("/")
        if "@" in hostport:
            raise ValueError("credentials in the URL are not supported; use the key")
        port_text = ""
        if hostport.startswith("["):
            host, _, after = hostport[1:].partition("]")
            port_text = after[1:] if after.startswith(":") else ""
        else:
            host, _, port_text = hostport.partition(":")
        if not host:
            raise ValueError(f"no host in URL {url!r}")
        self.https = scheme == "https"
        self.host = host
        self.port = int(port_text) if port_text else (443 if self.https else 80)
        self.path = ("/" + path).rstrip("/") + "/event"
        default_port = self.port == (443 if self.https else 80)
        host_header = f"[{host}]" if ":" in host else host
        if not default_port:
            host_header += f":{self.port}"
        headers = [
            f"POST {self.path} HTTP/1.1",
            f"Host: {host_header}",
            "User-Agent: agentfeed-hook/1",
            "Content-Type: application/json",
            "Connection: close",
        ]
        if key:
            if "\r" in key or "\n" in key:
                raise ValueError("the key contains a line break")
            headers.append(f"X-Agentfeed-Key: {key}")
        self.head = ("\r\n".join(headers) + "\r\n").encode("latin-1")
        self.display = f"{scheme}://{host_header}{self.path}"


# --- HTTP over a bare socket -------------------------------------------------------------------


def _connect(target: Target, deadline: float) -> _Socket:
    """A connected socket (``_socket.socket``, or an SSL socket for https)."""
    timeout = min(CONNECT_TIMEOUT, deadline - time.monotonic())
    if timeout <= 0:
        raise _Failure("no time left to connect")
    if target.https:
        import socket
        import ssl

        raw = socket.create_connection((target.host, target.port), timeout=timeout)
        try:
            raw.settimeout(max(0.001, min(CONNECT_TIMEOUT, deadline - time.monotonic())))
            return ssl.create_default_context().wrap_socket(raw, server_hostname=target.host)
        except BaseException:
            raw.close()
            raise
    import _socket

    # An ASCII host goes in as bytes: a str would load the idna codec (and re, enum: ~6 ms).
    host = target.host.encode("ascii") if target.host.isascii() else target.host
    last: BaseException | None = None
    for family, kind, proto, _name, address in _socket.getaddrinfo(
        host, target.port, 0, _socket.SOCK_STREAM
    ):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(max(0.001, min(CONNECT_TIMEOUT, deadline - time.monotonic())))
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
            if isinstance(exc, TimeoutError):
                break
    raise last if last is not None else OSError("no address")


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("request timed out")
    return left


def post(target: Target, body: bytes, deadline: float) -> int:
    """POST ``body``; the HTTP status. Raises ``_Failure`` when no status line arrives in time."""
    deadline = min(deadline, time.monotonic() + REQUEST_TIMEOUT)
    try:
        sock = _connect(target, deadline)
    except _Failure:
        raise
    except OSError as exc:
        raise _Failure(f"connect: {exc}", timed_out=isinstance(exc, TimeoutError)) from None
    request = target.head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    buf = b""
    try:
        try:
            sock.settimeout(_remaining(deadline))
            sock.sendall(request)
        except OSError as exc:
            if isinstance(exc, TimeoutError):
                raise
            # The server may have answered early (a 413, say) and closed: read that answer.
        while b"\r\n" not in buf:
            sock.settimeout(_remaining(deadline))
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
            if len(buf) > 65536:
                break
        status_line = buf.partition(b"\r\n")[0].split()
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/"):
            raise _Failure("no HTTP response")
        status = int(status_line[1])
        _drain_response(sock, buf, deadline)
        return status
    except OSError as exc:
        raise _Failure(f"{type(exc).__name__}: {exc}", isinstance(exc, TimeoutError)) from None
    except ValueError:
        raise _Failure("malformed HTTP response") from None
    finally:
        sock.close()


def _drain_response(sock: _Socket, buf: bytes, deadline: float) -> None:
    """Read the rest of a small response so closing does not reset the connection. Best effort."""
    deadline = min(deadline, time.monotonic() + 0.2)
    try:
        while b"\r\n\r\n" not in buf and len(buf) < 65536:
            sock.settimeout(_remaining(deadline))
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length > 65536:
            return
        while len(rest) < length:
            sock.settimeout(_remaining(deadline))
            chunk = sock.recv(65536)
            if not chunk:
                return
            rest += chunk
    except (OSError, ValueError):
        return


def _deliver(target: Target, body: bytes, deadline: float) -> str:
    """``"ok"``, ``"rejected"`` (dropped for good) or ``"retry"``; notes the reason if not ok."""
    try:
        status = post(target, body, deadline)
    except _Failure as exc:
        _note(f"agentfeed hook: POST {target.display} failed ({exc})")
        return "timeout" if exc.timed_out else "retry"
    if 200 <= status < 300:
        return "ok"
    if 400 <= status < 500 and status not in _RETRY_STATUSES:
        _note(
            f"agentfeed hook: POST {target.display} rejected the event with {status}; dropped",
            loss=True,
        )
        return "rejected"
    _note(f"agentfeed hook: POST {target.display} answered {status}")
    return "retry"


# --- the spool ---------------------------------------------------------------------------------


class _Paths:
    def __init__(self, home: str) -> None:
        self.home = home
        self.spool = os.path.join(home, "spool.jsonl")
        self.spool_lock = os.path.join(home, "spool.lock")
        self.drain_lock = os.path.join(home, "drain.lock")
        self.offline = os.path.join(home, "offline")


def _lock(path: str, wait: float) -> int | None:
    """An fd holding an exclusive ``flock`` on ``path``, or None after ``wait`` seconds."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    give_up = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= give_up:
                os.close(fd)
                return None
            time.sleep(0.002)


def _spool_max() -> int:
    try:
        return int(os.environ.get("AGENTFEED_SPOOL_MAX_BYTES", "")) or SPOOL_MAX_BYTES
    except ValueError:
        return SPOOL_MAX_BYTES


def spool_append(paths: _Paths, line: bytes) -> bool:
    """Append one line (ending in a newline) to the spool; False if it was dropped."""
    os.makedirs(paths.home, mode=0o700, exist_ok=True)
    lock = _lock(paths.spool_lock, LOCK_WAIT)  # None: a stuck holder; append without the lock
    try:
        fd = os.open(paths.spool, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size + len(line) > _spool_max():
                _note(f"agentfeed hook: spool full ({size} bytes); event dropped", loss=True)
                return False
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a run died mid-write: keep its fragment on its own line
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            return True
        finally:
            os.close(fd)
    finally:
        if lock is not None:
            os.close(lock)


def _spool_size(paths: _Paths) -> int:
    try:
        return os.stat(paths.spool).st_size
    except FileNotFoundError:
        return 0


def _cut_front(paths: _Paths, offset: int) -> None:
    """Remove the first ``offset`` bytes (the lines already sent) from the spool."""
    lock = _lock(paths.spool_lock, LOCK_WAIT)
    if lock is None:
        _note("agentfeed hook: spool busy; sent events will be sent again")
        return
    try:
        with open(paths.spool, "rb") as f:
            f.seek(offset)
            rest = f.read()
        if not rest:
            os.unlink(paths.spool)
            return
        tmp = paths.spool + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(rest)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, paths.spool)
    finally:
        os.close(lock)


def drain(paths: _Paths, target: Target, start: float) -> str:
    """Replay the spool oldest first; ``"ok"`` once it is empty, else why it stopped."""
    lock = _lock(paths.drain_lock, DRAIN_LOCK_WAIT)
    if lock is None:
        return "busy"  # another run is draining and will reach our line if it has time
    try:
        try:
            f = open(paths.spool, "rb")
        except FileNotFoundError:
            return "ok"
        with f:
            offset = 0
            sent = 0
            outcome = "budget"
            while True:
                f.seek(offset)
                line = f.readline()
                if line.endswith(b"\n"):
                    if time.monotonic() - start > REPLAY_BUDGET or sent >= REPLAY_MAX_EVENTS:
                        break
                    if line.strip():
                        result = _deliver(target, line[:-1], start + RUN_BUDGET)
                        if result not in ("ok", "rejected"):
                            outcome = result
                            break
                        sent += 1
                    offset += len(line)
                    continue
                # End of the file, or a line still being written: look again under the lock.
                spool_lock = _lock(paths.spool_lock, LOCK_WAIT)
                try:
                    f.seek(offset)
                    rest = f.read()
                    if b"\n" in rest:
                        continue  # more lines arrived meanwhile: send them too
                    if rest:
                        _note("agentfeed hook: dropped a truncated spool line", loss=True)
                    os.unlink(paths.spool)
                    return "ok"
                finally:
                    if spool_lock is not None:
                        os.close(spool_lock)
        if offset:
            _cut_front(paths, offset)
        return outcome
    finally:
        os.close(lock)


# --- one run -----------------------------------------------------------------------------------


class _Run:
    """The state of one hook run, kept so an interrupted run can still spool its event."""

    def __init__(self) -> None:
        self.paths: _Paths | None = None
        self.line = b""
        self.settled = False  # delivered, spooled or deliberately dropped

    def execute(self, argv: list[str], start: float) -> None:
        self.paths = paths = _Paths(_home(argv))
        stdin = sys.stdin
        raw = stdin.buffer.read() if stdin is not None else b""
        body = build_body(raw, _uuid4(), time.time_ns() // 1_000_000)
        self.line = body + b"\n"
        url, key = load_config(paths.home)
        try:
            target = Target(url, key)
        except ValueError as exc:
            _note(f"agentfeed hook: bad URL {url!r} ({exc}); event spooled")
            self._spool()
            return
        try:
            offline_since = os.stat(paths.offline).st_mtime
        except FileNotFoundError:
            offline_since = None
        if offline_since is not None and 0 <= time.time() - offline_since < OFFLINE_BACKOFF:
            _note("agentfeed hook: server timed out recently; event spooled")
            self._spool()
            return
        if _spool_size(paths) > 0:
            self._spool()  # behind the backlog, to keep the order
            result = drain(paths, target, start)
        else:
            result = _deliver(target, body, start + RUN_BUDGET)
            if result in ("ok", "rejected"):
                self.settled = True
            else:
                self._spool()
        if result == "timeout":
            os.makedirs(paths.home, mode=0o700, exist_ok=True)
            with open(paths.offline, "wb"):
                pass
            os.utime(paths.offline)
        elif result == "ok" and offline_since is not None:
            try:
                os.unlink(paths.offline)
            except FileNotFoundError:
                pass

    def _spool(self) -> None:
        assert self.paths is not None
        spool_append(self.paths, self.line)
        self.settled = True

    def rescue(self) -> None:
        """After an unexpected error: spool the event if nothing else happened to it."""
        if self.line and self.paths is not None and not self.settled:
            self._spool()


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


def main(argv: list[str] | None = None) -> None:
    """Run the hook once; never raises, never writes stdout, writes stderr at most one line."""
    start = time.monotonic()
    run = _Run()
    try:
        try:
            import _signal  # type: ignore[import-not-found]

            _signal.signal(_signal.SIGTERM, _on_sigterm)
        except Exception:
            pass
        run.execute(sys.argv[1:] if argv is None else argv, start)
    except BaseException as exc:
        try:
            _note(f"agentfeed hook: {type(exc).__name__}: {exc}")
            run.rescue()
        except BaseException:
            pass
    if _stderr_message:
        try:
            sys.stderr.write(_stderr_message[:300].replace("\n", " ") + "\n")
            sys.stderr.flush()
        except BaseException:
            pass


if __name__ == "__main__":
    try:
        main()
    finally:
        os._exit(0)  # exit 0 even if a late signal arrives or interpreter shutdown would fail
