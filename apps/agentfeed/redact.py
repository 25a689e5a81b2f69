"""Redaction for the public view: pure functions over text and JSON-like values.

``redact_text`` applies, in order:

1. private key blocks (PEM ``-----BEGIN ... PRIVATE KEY-----`` up to its end, or to the end of
   the text when cut);
2. known token shapes (``PATTERNS``: AWS, GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic,
   Google, npm, PyPI, SendGrid, Twilio keys, JWTs, ``Authorization: Bearer/Basic``, URLs with
   ``user:password@``, connection-string passwords);
3. values assigned to secret-looking names (``password=``, ``"api_key": "..."``,
   ``AWS_SECRET_ACCESS_KEY=``, ``--token x``...; numbers and booleans are left alone);
4. ``.env`` contents: every ``KEY=VALUE`` line's value, when the text names a ``.env`` file or
   looks like one (at least two assignment lines and most of its lines assignments);
5. high-entropy tokens (``is_high_entropy``): 24+ characters of a base64/base62 alphabet with a
   digit and a letter, Shannon entropy of at least ``ENTROPY_BITS`` bits per character, and
   not words joined by ``_ - / +`` (``SOME_CONSTANT_NAME_2``, ``a/path/to/file_v2``).
   Hexadecimal strings (git commits, content hashes) and UUIDs are *not* flagged: they are
   everywhere in developer activity and rarely secret; hex secrets are still caught in context
   (``secret=...``, ``token: ...``);
6. home directories shortened: ``/home/<user>/``, ``/Users/<user>/``, ``/root/`` and
   ``C:\\Users\\<user>\\`` become ``~/`` (``~\\``), and Claude Code's encoded project folders
   (``-home-<user>-app``) lose the user name.

A secret becomes ``[redacted:<kind>]``. ``cut`` then keeps the first ``limit`` characters of a
long text and marks what it dropped. ``redact_value`` does all of it to every string of a JSON
value (and masks the whole value of a key that names a secret); ``redact_json_text`` to JSON
text, keeping it valid JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any

MASK = "[redacted:{}]"
CUT_LIMIT = 2000
"""Characters of one string the public view keeps."""
ENTROPY_MIN_LENGTH = 24
ENTROPY_BITS = 4.0
WORD_RUN = 12


def mask(kind: str) -> str:
    return MASK.format(kind)


PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----.*?(?:-----END \1-----|\Z)", re.S
)

# (kind, pattern): the whole match is replaced, except a group named ``keep`` (put back first).
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z0-9]{16}\b")),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_\w{40,255})")),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}")),
    ("slack-webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+")),
    ("stripe-key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("anthropic-key", re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{20,}")),
    ("openai-key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")),
    ("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("pypi-token", re.compile(r"\bpypi-[A-Za-z0-9_\-]{50,}")),
    ("sendgrid-key", re.compile(r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}")),
    ("twilio-key", re.compile(r"\bSK[0-9a-fA-F]{32}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
    (
        "authorization",
        re.compile(r"(?i)(?P<keep>\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/\-]{12,}=*"),
    ),
    (
        "url-credentials",
        re.compile(r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@\"'\[\]]+:)[^\s@/\"']+(?=@)"),
    ),
    (
        "connection-string",
        re.compile(r"(?i)(?P<keep>;\s*(?:password|pwd)\s*=\s*)[^;\s\"']+(?=;|$|\s|\"|')"),
    ),
]

SECRET_NAME = (
    r"[A-Za-z0-9_.\-]*(?:passw(?:or)?d|passphrase|secret|token|api[_\-]?key|apikey|"
    r"access[_\-]?key|auth[_\-]?key|private[_\-]?key|credentials?|client[_\-]?secret)"
    r"[A-Za-z0-9_.\-]*"
)
SECRET_KEY = re.compile(rf"(?i)^{SECRET_NAME}$")
ASSIGNMENT = re.compile(
    rf"(?i)(?P<keep>\b{SECRET_NAME}\\?[\"']?\s*[=:]\s*\\?[\"']?)"
    r"(?P<value>(?!\[redacted)[^\s\"'\\,;&}\])]+)"
)
FLAG = re.compile(
    rf"(?i)(?P<keep>--{SECRET_NAME}[= ]\s*\\?[\"']?)(?P<value>(?!\[redacted)[^\s\"'\\]+)"
)
PLAIN = re.compile(r"(?i)^(?:-?\d+(?:\.\d+)?|true|false|null|none|\[redacted:[\w\-]+\])$")

ENV_LINE = re.compile(
    r"(?P<keep>(?:^|\n|\\n|(?<=[\"']))[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_]*[ \t]*=[ \t]*)"
    r"(?P<value>(?:(?!\\n|\\\")[^\n])+)"
)
ENV_PATH = re.compile(r"(?:^|[/\\\"'\s=:])\.env(?:\.[\w.\-]+)?(?=$|[\s\"',}\\:;)])")
ENV_ASSIGN_ONLY = re.compile(r"^[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_]*[ \t]*=.*$")

TOKEN = re.compile(r"[A-Za-z0-9+/_\-]{" + str(ENTROPY_MIN_LENGTH) + r",}={0,2}")
HEX = re.compile(r"^[0-9a-fA-F]+$")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

HOME_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?<![\w.~])/(?:home|Users)/[^/\s\"'\\:]+(?=/|$|[\s\"'\\:])"), "~"),
    (re.compile(r"(?<![\w.~])/root(?=/|$|[\s\"'\\:])"), "~"),
    (re.compile(r"(?i)\b[A-Z]:(\\\\|\\)Users\1[^\\\s\"']+(?=\1|$|[\s\"'])"), "~"),
    (re.compile(r"(?<=[/\\])-(?:home|Users)-[A-Za-z0-9_.]+(?=-|[/\\]|$)"), "-~"),
]


def _sub(pattern: re.Pattern[str], kind: str, text: str, keep_plain: bool = True) -> str:
    """``pattern``'s matches masked; with ``keep_plain``, not a ``value`` group that is a number,
    a boolean or null."""

    def repl(match: re.Match[str]) -> str:
        groups = match.groupdict()
        value = groups.get("value")
        if keep_plain and value is not None and PLAIN.match(value):
            return match.group(0)
        return (groups.get("keep") or "") + mask(kind)

    return pattern.sub(repl, text)


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text``'s own character frequencies."""
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def is_high_entropy(token: str) -> bool:
    """Whether ``token`` looks like a random secret (see the module docstring)."""
    body = token.rstrip("=")
    if len(body) < ENTROPY_MIN_LENGTH or HEX.match(body) or UUID.fullmatch(body):
        return False
    if "/" in body and max(len(part) for part in body.split("/")) < ENTROPY_MIN_LENGTH:
        return False  # a path
    runs = re.split(r"[_\-/+]", body)
    if len(runs) >= 3 and max(len(run) for run in runs) < WORD_RUN:
        return False  # words joined by separators: an identifier, a file or package name
    if not (re.search(r"\d", body) and re.search(r"[A-Za-z]", body)):
        return False
    return shannon_entropy(body) >= ENTROPY_BITS


def redact_entropy(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        token = match.group(0)
        return mask("high-entropy") if is_high_entropy(token) else token

    return TOKEN.sub(repl, UUID.sub(lambda m: m.group(0).replace("-", "\x00"), text)).replace(
        "\x00", "-"
    )


def looks_like_env(text: str) -> bool:
    """Whether ``text`` is the content of a ``.env`` file: at least two ``KEY=VALUE`` lines,
    and at least two thirds of the lines that are neither blank nor comments."""
    lines = [
        ln for ln in re.split(r"\n|\\n", text) if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assigned = sum(1 for ln in lines if ENV_ASSIGN_ONLY.match(ln))
    return assigned >= 2 and assigned * 3 >= len(lines) * 2


def mask_env(text: str) -> str:
    """Every ``KEY=VALUE`` line's value masked (also in JSON-escaped text, ``\\n``)."""
    return _sub(ENV_LINE, "env", text, keep_plain=False)


def shorten_home(text: str) -> str:
    for pattern, short in HOME_PATTERNS:
        text = pattern.sub(short, text)
    return text


def cut(text: str, limit: int = CUT_LIMIT) -> str:
    """The first ``limit`` characters, marked with how many were dropped."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[cut {len(text) - limit} chars]"


def redact_secrets(text: str, env: bool = False) -> str:
    """Secrets masked (steps 1-5); ``env``: treat ``text`` as a ``.env`` file's content."""
    text = PEM_BLOCK.sub(lambda m: mask("private-key"), text)
    for kind, pattern in PATTERNS:
        text = _sub(pattern, kind, text)
    text = _sub(FLAG, "secret", text)
    text = _sub(ASSIGNMENT, "secret", text)
    if env or ENV_PATH.search(text) or looks_like_env(text):
        text = mask_env(text)
    return redact_entropy(text)


def redact_text(text: str, limit: int | None = CUT_LIMIT, env: bool = False) -> str:
    """Everything the public view does to one string: secrets, home paths, length."""
    text = shorten_home(redact_secrets(text, env))
    return cut(text, limit) if limit is not None else text


def is_env_path(value: Any) -> bool:
    return isinstance(value, str) and bool(ENV_PATH.search(value.replace("\\", "/")))


def redact_value(value: Any, limit: int | None = CUT_LIMIT, env: bool = False) -> Any:
    """``redact_text`` applied to every string of a JSON-like value (and to dict keys' home
    paths); a key that names a secret gets its whole string value masked; the string fields of
    an object that names a ``.env`` file (``file_path``, ``path``) are treated as its content."""
    if isinstance(value, str):
        return redact_text(value, limit, env)
    if isinstance(value, list):
        return [redact_value(item, limit, env) for item in value]
    if isinstance(value, dict):
        inner_env = env or any(
            is_env_path(value.get(k)) for k in ("file_path", "path", "filePath", "notebook_path")
        )
        out: dict[Any, Any] = {}
        for key, item in value.items():
            shown_key = shorten_home(key) if isinstance(key, str) else key
            if isinstance(key, str) and SECRET_KEY.match(key) and isinstance(item, str):
                out[shown_key] = item if PLAIN.match(item) or not item else mask("secret")
            else:
                out[shown_key] = redact_value(item, limit, inner_env)
        return out
    return value


def redact_json_text(text: str, limit: int | None = CUT_LIMIT) -> str:
    """JSON text with ``redact_value`` applied to its value (still valid JSON); text that is
    not JSON is redacted as text."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return redact_text(text, limit)
    return json.dumps(redact_value(parsed, limit), ensure_ascii=False)
