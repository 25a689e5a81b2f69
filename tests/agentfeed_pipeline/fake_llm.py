"""A local stand-in for the two LLM APIs the enricher speaks, with their documented wire
format: the Anthropic Messages API (``POST /v1/messages``, ``x-api-key`` and
``anthropic-version`` headers, a ``message`` object with ``content`` blocks and ``usage``
``input_tokens``/``output_tokens``; errors ``{"type": "error", "error": {"type", "message"}}``)
and OpenAI chat completions (``POST /v1/chat/completions``, ``Authorization: Bearer``, a
``chat.completion`` object with ``choices[].message`` and ``usage``
``prompt_tokens``/``completion_tokens``/``total_tokens``; errors ``{"error": {"message", "type",
"param", "code"}}``). It checks each request as the real API would (answering 400/401 like it)
and records it; a test queues failures (status codes) to answer before the next success."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "sk-test-0123456789"
ANSWER = {"intent": "Make checkout totals correct for discounted carts", "confidence": 0.82}


@dataclass
class FakeLlm:
    provider: str  # anthropic | openai
    answer_text: str = json.dumps(ANSWER)
    failures: list[int] = field(default_factory=list)
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        base = f"http://127.0.0.1:{self.port}"
        return base if self.provider == "anthropic" else f"{base}/v1"

    def reply(self, path: str, headers: Any, body: Any) -> tuple[int, dict[str, Any]]:
        self.requests.append({"path": path, "headers": dict(headers), "body": body})
        if self.provider == "anthropic":
            return self._anthropic(path, headers, body)
        return self._openai(path, headers, body)

    def _anthropic(self, path: str, headers: Any, body: Any) -> tuple[int, dict[str, Any]]:
        def error(status: int, kind: str, message: str) -> tuple[int, dict[str, Any]]:
            return status, {"type": "error", "error": {"type": kind, "message": message}}

        if path != "/v1/messages":
            return error(404, "not_found_error", f"no route {path}")
        if headers.get("x-api-key") != KEY:
            return error(401, "authentication_error", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            return error(400, "invalid_request_error", "anthropic-version header is required")
        valid = (
            isinstance(body, dict)
            and isinstance(body.get("model"), str)
            and isinstance(body.get("max_tokens"), int)
            and isinstance(body.get("messages"), list)
            and body["messages"][0].get("role") == "user"
        )
        if not valid:
            return error(400, "invalid_request_error", "model, max_tokens, messages required")
        if self.failures:
            status = self.failures.pop(0)
            return error(status, "overloaded_error" if status == 529 else "api_error", "busy")
        return 200, {
            "id": "msg_01Fake",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": self.answer_text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 120, "output_tokens": 30},
        }

    def _openai(self, path: str, headers: Any, body: Any) -> tuple[int, dict[str, Any]]:
        def error(status: int, kind: str, message: str) -> tuple[int, dict[str, Any]]:
            detail = {"message": message, "type": kind, "param": None, "code": None}
            return status, {"error": detail}

        if path != "/v1/chat/completions":
            return error(404, "invalid_request_error", f"no route {path}")
        if headers.get("authorization") != f"Bearer {KEY}":
            return error(401, "invalid_request_error", "Incorrect API key provided")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(body.get("model"), str) or not isinstance(messages, list):
            return error(400, "invalid_request_error", "model and messages are required")
        if self.failures:
            return error(self.failures.pop(0), "server_error", "The server had an error")
        return 200, {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.answer_text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
        }


@contextmanager
def serve(fake: FakeLlm) -> Iterator[FakeLlm]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if fake.delay:
                time.sleep(fake.delay)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = fake.reply(self.path, headers, body)
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped waiting (the time-budget test): as a real API sees it

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
