"""The LLM enricher's settings and its one HTTP exchange: a chat request to the Anthropic
Messages API or to any OpenAI-compatible chat-completions endpoint, with retries inside a time
budget, answered by an intent and a confidence.

Settings (``AGENTFEED_LLM_*``), read from the deployment's environment variables
(``livebase env set``, encrypted at rest) and else from the server's environment:

- ``AGENTFEED_LLM_PROVIDER``: ``anthropic`` or ``openai`` (any OpenAI-compatible server). Unset:
  no LLM, the heuristic alone.
- ``AGENTFEED_LLM_API_KEY``: the key (required for ``anthropic``; optional for a local
  OpenAI-compatible server).
- ``AGENTFEED_LLM_MODEL``: the model name (required).
- ``AGENTFEED_LLM_URL``: the base URL (default ``https://api.anthropic.com``, where
  ``/v1/messages`` is posted, or ``https://api.openai.com/v1``, where ``/chat/completions`` is).
- ``AGENTFEED_LLM_TIMEOUT_SECONDS`` (30): the time budget of one guess, retries included.
- ``AGENTFEED_LLM_RETRIES`` (2): attempts after the first, on timeouts, connection errors,
  429 and 5xx answers (``Retry-After`` honoured within the budget).
- ``AGENTFEED_LLM_MAX_TOKENS`` (300): the most output tokens one request may use.
- ``AGENTFEED_LLM_DAILY_TOKENS`` (200000): input plus output tokens a UTC day may use.

Plain ``urllib``: one JSON POST does not need an SDK, and the standard library keeps the
offline install free of another dependency.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "AGENTFEED_LLM_"
PROVIDERS = {"anthropic": "https://api.anthropic.com", "openai": "https://api.openai.com/v1"}
ANTHROPIC_VERSION = "2023-06-01"
RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
INTENT_CHARS = 200
SYSTEM = (
    "You label stretches of a developer's work with a coding agent. Given what happened in one "
    "activity session, answer with one JSON object and nothing else: "
    '{"intent": "<what the developer was trying to do, at most 12 words>", '
    '"confidence": <a number from 0 to 1>}.'
)


class ConfigError(ValueError):
    """An ``AGENTFEED_LLM_*`` setting is missing or wrong (the message names it)."""


class LlmFailure(RuntimeError):
    """No usable answer within the budget (the message says what went wrong last);
    ``tokens``: what the failed attempts used."""

    def __init__(self, message: str, tokens: int = 0) -> None:
        super().__init__(message)
        self.tokens = tokens


@dataclass(frozen=True)
class Config:
    provider: str
    url: str
    model: str
    api_key: str | None
    timeout_seconds: float = 30.0
    retries: int = 2
    max_tokens: int = 300
    daily_tokens: int = 200_000


def setting(env: Mapping[str, str], name: str) -> str:
    return (env.get(PREFIX + name) or "").strip()


def _number(env: Mapping[str, str], name: str, default: float, least: float) -> float:
    raw = setting(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: expected a number") from None
    if value < least:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: expected at least {least:g}")
    return value


def enabled(env: Mapping[str, str]) -> bool:
    return bool(setting(env, "PROVIDER"))


def load(env: Mapping[str, str]) -> Config:
    """The settings in ``env``; ``ConfigError`` naming the first wrong one."""
    provider = setting(env, "PROVIDER").lower()
    if provider not in PROVIDERS:
        raise ConfigError(f"{PREFIX}PROVIDER={provider!r}: expected one of {', '.join(PROVIDERS)}")
    model = setting(env, "MODEL")
    if not model:
        raise ConfigError(f"{PREFIX}MODEL is not set: name the model to ask")
    key = setting(env, "API_KEY") or None
    if provider == "anthropic" and key is None:
        raise ConfigError(f"{PREFIX}API_KEY is not set: the Anthropic API needs a key")
    url = (setting(env, "URL") or PROVIDERS[provider]).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{PREFIX}URL={url!r}: expected an http:// or https:// URL")
    return Config(
        provider, url, model, key,
        timeout_seconds=_number(env, "TIMEOUT_SECONDS", 30.0, 0.1),
        retries=int(_number(env, "RETRIES", 2, 0)),
        max_tokens=int(_number(env, "MAX_TOKENS", 300, 16)),
        daily_tokens=int(_number(env, "DAILY_TOKENS", 200_000, 0)),
    )  # fmt: skip


@dataclass
class Answer:
    intent: str
    confidence: float
    input_tokens: int
    output_tokens: int
    attempts: int


def _request(config: Config, prompt: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The endpoint, headers and body of one request, as each API documents them."""
    headers = {"content-type": "application/json"}
    if config.provider == "anthropic":
        assert config.api_key is not None
        headers.update({"x-api-key": config.api_key, "anthropic-version": ANTHROPIC_VERSION})
        body = {
            "model": config.model,
            "max_tokens": config.max_tokens,
            "system": SYSTEM,
            "messages": [{"role": "user", "content": prompt}],
        }
        return f"{config.url}/v1/messages", headers, body
    if config.api_key:
        headers["authorization"] = f"Bearer {config.api_key}"
    body = {
        "model": config.model,
        "max_tokens": config.max_tokens,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
    }
    return f"{config.url}/chat/completions", headers, body


def _text_and_usage(config: Config, reply: dict[str, Any]) -> tuple[str, int, int]:
    """The answer's text and token counts (``LlmFailure`` if the reply is not that API's)."""
    try:
        if config.provider == "anthropic":
            text = "".join(b["text"] for b in reply["content"] if b.get("type") == "text")
            usage = reply.get("usage") or {}
            return text, int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
        text = reply["choices"][0]["message"]["content"] or ""
        usage = reply.get("usage") or {}
        return text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise LlmFailure(f"the reply is not a {config.provider} answer ({exc!r})") from None


def parse_intent(text: str) -> tuple[str, float]:
    """The ``{"intent", "confidence"}`` object in a model's text (``LlmFailure`` if none)."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    try:
        found = json.loads(match.group(0)) if match else None
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise LlmFailure(f"the answer holds no JSON object: {text[:120]!r}")
    intent, confidence = found.get("intent"), found.get("confidence")
    if not isinstance(intent, str) or not intent.strip():
        raise LlmFailure("the answer's 'intent' is not a non-empty string")
    if not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise LlmFailure("the answer's 'confidence' is not a number from 0 to 1")
    return intent.strip()[:INTENT_CHARS], float(confidence)


def _error_message(status: int, body: bytes) -> str:
    """Both APIs answer errors as ``{"error": {"message": ...}}``."""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body[:200].decode("utf-8", "replace")
    return f"HTTP {status}: {message}"


def ask(config: Config, prompt: str) -> Answer:
    """One guess: POST, retrying what may pass, within ``timeout_seconds`` in all."""
    url, headers, body = _request(config, prompt)
    data = json.dumps(body).encode()
    deadline = time.monotonic() + config.timeout_seconds
    used_in, used_out, problem = 0, 0, "no attempt made"
    for attempt in range(1, config.retries + 2):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        wait = 0.25 * 2 ** (attempt - 1)
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=left) as response:
                reply = json.loads(response.read())
            text, tokens_in, tokens_out = _text_and_usage(config, reply)
            used_in, used_out = used_in + tokens_in, used_out + tokens_out
            intent, confidence = parse_intent(text)
            return Answer(intent, confidence, used_in, used_out, attempt)
        except urllib.error.HTTPError as exc:
            problem = _error_message(exc.code, exc.read())
            if exc.code not in RETRYABLE:
                raise LlmFailure(problem, used_in + used_out) from None
            retry_after = exc.headers.get("retry-after", "")
            if retry_after.replace(".", "", 1).isdigit():
                wait = float(retry_after)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            problem = f"no answer from {url}: {getattr(exc, 'reason', exc)}"
        except (LlmFailure, ValueError) as exc:
            problem = str(exc)
        if time.monotonic() + wait >= deadline:
            break
        time.sleep(wait)
    raise LlmFailure(problem, used_in + used_out)
