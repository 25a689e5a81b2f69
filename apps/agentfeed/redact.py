"""Redaction for the public view: pure functions over text and JSON-like values.

``redact_text`` applies, in order:

1. private key blocks (PEM ``-----BEGIN ... PRIVATE KEY-----`` up to its end, or to the end of
   the text when cut);
2. known token shapes (``PATTERNS``: cloud, code hosting, CI, messaging, payment and AI
   providers' keys, JWTs, ``Authorization: Bearer/Basic``, URLs with ``user:password@`` or a
   token as user, connection-string and SAS passwords, and passwords given on a command line:
   ``mysql -pPW``, ``sshpass -p PW``, ``docker login -p PW``, ``curl -u user:PW``);
3. values assigned to secret-looking names (``password=``, ``"api_key": "..."``, ``DB_PASS=``,
   ``AWS_SECRET_ACCESS_KEY=``, ``--token x``, ``--key x``...; a quoted value whole; numbers and
   booleans are left alone);
4. ``.env`` contents: every ``KEY=VALUE`` line's value when the text names a ``.env`` file or
   looks like one (at least two assignment lines and most of its lines assignments), and in any
   text every line of a block of two or more ``KEY=VALUE`` lines (an ``.env`` dump pasted
   into a prompt, between other lines);
5. high-entropy tokens (``is_high_entropy``): 24+ characters of a base64/base62 alphabet with a
   digit and a letter, Shannon entropy of at least ``ENTROPY_BITS`` bits per character, and
   not words joined by ``_ - / +`` (``SOME_CONSTANT_NAME_2``, ``a/path/to/file_v2``).
   Hexadecimal strings (git commits, content hashes) and UUIDs are *not* flagged: they are
   everywhere in developer activity and rarely secret; hex secrets are still caught in context
   (``secret=...``, ``token: ...``, ``--key ...``);
6. a token cut short by an earlier cut (right before a ``…[+N chars]`` / ``…[cut N chars]``
   marker: what was stored before redaction happened at store time) — its rest is gone, so no
   rule can recognise it;
7. home directories shortened: ``/home/<user>/``, ``/Users/<user>/``, ``/root/`` and
   ``C:\\Users\\<user>\\`` become ``~/`` (``~\\``), and Claude Code's encoded project folders
   (``-home-<user>-app``) lose the user name.

A secret becomes ``[redacted:<kind>]``. ``cut`` then keeps the first ``limit`` characters of a
long text and marks what it dropped: always *after* redacting, so a secret straddling the cut
is masked whole, never half shown. (A text far longer than the limit is redacted up to
``limit + MARGIN`` characters only: what lies beyond is cut anyway.) ``redact_value`` does all
of it to every string of a JSON value and to every object key (a secret used as a key), masks
the whole value of a key that names a secret, and treats the strings of an object naming a
``.env`` file as its content; ``redact_json_text`` does it to JSON text, keeping it valid JSON.

``VERSION`` numbers these rules: stored redacted copies (``redacted.py``) made under an older
version are redone. Bump it whenever a rule changes.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any

VERSION = 1
"""The version of the rules below (``redacted.py`` redoes copies made by an older one)."""
MASK = "[redacted:{}]"
CUT_LIMIT = 2000
"""Characters of one string the public view keeps."""
MARGIN = 8192
"""Characters past a cut that are still redacted (longer than any secret format)."""
ENTROPY_MIN_LENGTH = 24
ENTROPY_BITS = 4.0
WORD_RUN = 12


def mask(kind: str) -> str:
    return MASK.format(kind)


PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----.*?(?:-----END \1-----|\Z)", re.S
)

_QUOTED_OR_WORD = r"(?P<value>'[^'\n]*'|\"[^\"\n]*\"|[^\s'\"|;&]+)"

Rule = tuple[str, tuple[str, ...], re.Pattern[str]]


def _rule(kind: str, needles: str, pattern: str) -> Rule:
    return kind, tuple(needles.split()), re.compile(pattern)


# (kind, needles, pattern): the whole match is replaced, except a group named ``keep`` (put back
# first); a group named ``value`` that is a plain number or boolean leaves the match as it is.
# A pattern is only tried on text whose lower-case form contains one of its needles (speed).
PATTERNS: list[Rule] = [
    _rule(
        "aws-access-key",
        "akia asia abia acca aroa aida agpa aipa anpa anva apka",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA|AGPA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b",
    ),
    _rule(
        "github-token",
        "gh github_pat_",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_\w{40,255})",
    ),
    _rule("gitlab-token", "gl", r"\bgl(?:pat|rt|dt|ptt|soat|ft|imt|cbt|oas|agent)-[\w\-]{20,}"),
    _rule("slack-token", "xox", r"\bxox[abposre]-[A-Za-z0-9\-]{10,}"),
    _rule(
        "slack-webhook",
        "hooks.slack.com",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_\-]+",
    ),
    _rule("stripe-key", "_live_ _test_", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    _rule("stripe-webhook-secret", "whsec_", r"\bwhsec_[A-Za-z0-9+/=]{24,}"),
    _rule("anthropic-key", "sk-ant-", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
    _rule("openai-key", "sk-", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    _rule("google-api-key", "aiza", r"\bAIza[0-9A-Za-z_\-]{35}"),
    _rule("npm-token", "npm_", r"\bnpm_[A-Za-z0-9]{36}\b"),
    _rule("pypi-token", "pypi-", r"\bpypi-[A-Za-z0-9_\-]{50,}"),
    _rule("sendgrid-key", "sg.", r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}"),
    _rule("twilio-key", "sk", r"\bSK[0-9a-fA-F]{32}\b"),
    _rule("mailgun-key", "key-", r"\bkey-[0-9a-zA-Z]{32}\b"),
    _rule("mailchimp-key", "-us", r"\b[0-9a-f]{32}-us[0-9]{1,2}\b"),
    _rule("heroku-key", "hrku-", r"\bHRKU-[A-Za-z0-9_\-]{20,}"),
    _rule("digitalocean-token", "_v1_", r"\bdo[por]_v1_[a-f0-9]{64}\b"),
    _rule("vault-token", "hvs. hvb. hvr.", r"\bhv[sbr]\.[A-Za-z0-9_\-]{24,}"),
    _rule("doppler-token", "dp.", r"\bdp\.(?:st|ct|sa|scim|audit|pt)\.[A-Za-z0-9_\-.]{20,}"),
    _rule("postman-key", "pmak-", r"\bPMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}\b"),
    _rule("grafana-token", "glsa_ glc_", r"\bgl(?:sa|c)_[A-Za-z0-9_\-=+/]{32,}"),
    _rule("age-secret-key", "age-secret-key-", r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b"),
    _rule(
        "discord-token",
        ".",
        r"\b[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6,7}\.[A-Za-z0-9_\-]{27,40}",
    ),
    _rule("telegram-token", ":aa", r"(?<![0-9])[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}(?![A-Za-z0-9_\-])"),
    _rule("linear-key", "lin_", r"\blin_(?:api|oauth)_[A-Za-z0-9]{40}"),
    _rule("notion-secret", "secret_ ntn_", r"\b(?:secret_[A-Za-z0-9]{43}|ntn_[A-Za-z0-9]{40,})"),
    _rule("atlassian-token", "atatt", r"\bATATT[A-Za-z0-9_\-=]{50,}"),
    _rule("shopify-token", "shp", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    _rule(
        "square-token",
        "eaaa sq0",
        r"\b(?:EAAA[A-Za-z0-9_\-]{60}|sq0(?:atp|csp)-[A-Za-z0-9_\-]{22,43})",
    ),
    _rule(
        "braintree-token",
        "access_token$",
        r"\baccess_token\$(?:production|sandbox)\$[a-z0-9]{16}\$[a-f0-9]{32}",
    ),
    _rule("firebase-key", "aaaa", r"\bAAAA[A-Za-z0-9_\-]{7}:[A-Za-z0-9_\-]{100,}"),
    _rule("supabase-key", "sb_secret_", r"\bsb_secret_[A-Za-z0-9_\-]{20,}"),
    _rule("hugging-face-token", "hf_", r"\bhf_[A-Za-z0-9]{30,}\b"),
    _rule("replicate-token", "r8_", r"\br8_[A-Za-z0-9]{37}\b"),
    _rule("jwt", "eyj", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    _rule(
        "authorization",
        "bearer basic token",
        r"(?i)(?P<keep>\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/\-]{12,}=*",
    ),
    _rule(
        "url-credentials",
        "://",
        r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@\"'\[\]]*:)[^\s@/\"']+(?=@)",
    ),
    _rule("url-token", "://", r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[A-Za-z0-9_\-.~]{16,}(?=@)"),
    _rule(
        "connection-string",
        "password pwd sig accountkey sharedaccess",
        r"(?i)(?P<keep>(?:(?<=[;?&])\s*(?:password|pwd|sig)|(?:^|(?<=[;?&\s\"']))"
        r"(?:accountkey|sharedaccesskey|sharedaccesssignature))\s*=\s*)[^;&\s\"']+",
    ),
    _rule(
        "password",
        "mysql mariadb",
        r"(?P<keep>\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlsh|mysqlcheck|mariadb|"
        r"mariadb-dump)\b[^\n|;&]*?\s-p)" + _QUOTED_OR_WORD,
    ),
    _rule(
        "password",
        "sshpass",
        r"(?P<keep>\bsshpass\s+(?:-[a-oq-zA-Z]\S*\s+)*-p\s*)" + _QUOTED_OR_WORD,
    ),
    _rule(
        "password",
        "login",
        r"(?P<keep>\b(?:docker|podman|nerdctl|buildah|skopeo|helm(?:\s+registry)?|oras|crane)"
        r"\s+login\b[^\n|;&]*?\s(?:-p|--password)(?:\s+|=)\s*)" + _QUOTED_OR_WORD,
    ),
    _rule(
        "password",
        "-u",
        r"(?P<keep>(?:^|(?<=[\s\"']))(?:-u|--user|--proxy-user)(?:\s+|=)\s*[\"']?"
        r"[^\s:\"'@]*:)(?P<value>[^\s\"']+)",
    ),
]

NEEDLES = [(needle, n) for n, (_, needles, _) in enumerate(PATTERNS) for needle in needles]

SECRET_WORD = (
    r"(?:passw(?:or)?d|passphrase|secret|token|api[_\-]?key|apikey|app(?:lication)?[_\-]?key|"
    r"access[_\-]?key|auth[_\-]?key|private[_\-]?key|credentials?|client[_\-]?secret|bearer|"
    r"signing|sshpass|dsn|(?<![a-z])(?:pass|pwd|pw)(?![a-z]))"
)
SECRET_NAME = rf"[A-Za-z0-9_.\-]*{SECRET_WORD}[A-Za-z0-9_.\-]*"
HAS_SECRET_WORD = re.compile(rf"(?i){SECRET_WORD}")
SECRET_WORD_NEEDLES = (
    "pass",
    "pw",
    "secret",
    "token",
    "key",
    "credential",
    "bearer",
    "signing",
    "dsn",
)
"""Lower-case text without any of these names no secret (speed)."""
SECRET_KEY = re.compile(rf"(?i)^{SECRET_NAME}$")
QUOTED_ASSIGNMENT = re.compile(
    rf"(?i)(?P<keep>\b{SECRET_NAME}\\?[\"']?\s*[=:]\s*(?P<quote>\\?[\"']))"
    r"(?P<value>(?!\[redacted)[^\n]+?)(?=(?P=quote))"
)
ASSIGNMENT = re.compile(
    rf"(?i)(?P<keep>\b{SECRET_NAME}\\?[\"']?\s*[=:]\s*\\?[\"']?)"
    r"(?P<value>(?!\[redacted)[^\s\"'\\,;&}\])]+)"
)
FLAG = re.compile(
    rf"(?i)(?P<keep>--{SECRET_NAME}[= ]\s*\\?[\"']?)(?P<value>(?!\[redacted)[^\s\"'\\]+)"
)
KEY_FLAG = re.compile(
    r"(?i)(?P<keep>(?<![\w\-])--(?:[a-z0-9]+-)*key[= ]\s*\\?[\"']?)"
    r"(?P<value>(?!\[redacted)(?![/~.$])(?![^\s\"'\\]*\.[a-z]{2,4}(?:[\s\"'\\]|$))[^\s\"'\\]+)"
)
"""``--key VALUE``, ``--license-key=VALUE``: any value that is not a file's path."""
PLAIN = re.compile(r"(?i)^(?:-?\d+(?:\.\d+)?|true|false|null|none|\[redacted:[\w\-]+\])$")

ENV_LINE = re.compile(
    r"(?P<keep>(?:^|\n|\\n|(?<=[\"']))[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_]*[ \t]*=[ \t]*)"
    r"(?P<value>(?:(?!\\n|\\\")[^\n])+)"
)
ENV_PATH = re.compile(r"(?:^|[/\\\"'\s=:])\.env(?:\.[\w.\-]+)?(?=$|[\s\"',}\\:;)])")
ENV_ASSIGN_ONLY = re.compile(r"^[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_]*[ \t]*=.*$")
ENV_BLOCK_LINE = re.compile(r"^[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_]*=\S")
"""A line of an ``.env`` block: ``KEY=VALUE`` (no space before ``=``, unlike code)."""
LINE = re.compile(r"[^\n]+")
LINE_BREAK = re.compile(r"(\r?\n|\\r\\n|\\n)")

TOKEN = re.compile(r"[A-Za-z0-9+/_\-]{" + str(ENTROPY_MIN_LENGTH) + r",}={0,2}")
HEX = re.compile(r"^[0-9a-fA-F]+$")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
CUT_TOKEN = re.compile(
    r"(?<![A-Za-z0-9+/_\-.=:$])[A-Za-z0-9+/_\-.=:$]{8,}(?=…\[(?:\+|cut )\d+ (?:chars|items)\])"
)
"""A token right before a cut marker: the beginning of something whose end is gone."""
QUICK = re.compile(r"[=:@/\\\-$…]|[A-Za-z0-9+_.~]{12,}")
"""Text without any of these has nothing any rule could match."""

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
        if keep_plain and value is not None and PLAIN.match(value.strip("'\"")):
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


def _is_tokenish(token: str) -> bool:
    """Anything but a word in lower case or a path without digits or capitals."""
    if re.fullmatch(r"[a-z]+", token):
        return False
    return not ("/" in token and re.fullmatch(r"[a-z./_\-]+", token))


def redact_cut_tokens(text: str) -> str:
    """A token cut short by an earlier cut masked (``CUT_TOKEN``; lower-case words and paths
    are left alone)."""
    return CUT_TOKEN.sub(lambda m: mask("cut") if _is_tokenish(m.group(0)) else m.group(0), text)


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


def mask_env_blocks(text: str) -> str:
    """The values of every block of two or more ``KEY=VALUE`` lines masked (blank and comment
    lines may come between them); numbers and booleans are kept."""
    if "=" not in text:
        return text
    parts = LINE_BREAK.split(text)
    lines = parts[0::2]
    assigned = [bool(ENV_BLOCK_LINE.match(line)) for line in lines]
    skippable = [not line.strip() or line.lstrip().startswith("#") for line in lines]
    masked = False
    i = 0
    while i < len(lines):
        if not assigned[i]:
            i += 1
            continue
        block = []
        j = i
        while j < len(lines) and (assigned[j] or skippable[j]):
            if assigned[j]:
                block.append(j)
            j += 1
        if len(block) >= 2:
            for n in block:
                lines[n] = _sub(ENV_LINE, "env", lines[n])
            masked = True
        i = j
    if not masked:
        return text
    parts[0::2] = lines
    return "".join(parts)


def shorten_home(text: str) -> str:
    if "home" not in text and "Users" not in text and "root" not in text:
        return text
    for pattern, short in HOME_PATTERNS:
        text = pattern.sub(short, text)
    return text


def cut(text: str, limit: int = CUT_LIMIT, dropped: int = 0) -> str:
    """The first ``limit`` characters, marked with how many were dropped (plus ``dropped``
    already dropped before)."""
    if len(text) <= limit and not dropped:
        return text
    kept = text[:limit]
    return f"{kept}…[cut {len(text) - len(kept) + dropped} chars]"


def redact_secrets(text: str, env: bool = False) -> str:
    """Secrets masked (steps 1-6); ``env``: treat ``text`` as a ``.env`` file's content."""
    if not QUICK.search(text):
        return text
    if "-----BEGIN" in text:
        text = PEM_BLOCK.sub(lambda m: mask("private-key"), text)
    lowered = text.lower()
    found = {n for needle, n in NEEDLES if needle in lowered}
    for n in sorted(found):
        kind, _, pattern = PATTERNS[n]
        text = _sub(pattern, kind, text)
    if "--" in text:
        text = _sub(KEY_FLAG, "secret", text)
    if any(word in lowered for word in SECRET_WORD_NEEDLES):
        text = LINE.sub(lambda m: _assignments(m.group(0)), text)
    if "=" in text:
        if env or (".env" in text and ENV_PATH.search(text)) or looks_like_env(text):
            text = mask_env(text)
        else:
            text = mask_env_blocks(text)
    if len(text) >= ENTROPY_MIN_LENGTH:
        text = redact_entropy(text)
    return redact_cut_tokens(text) if "…" in text else text


def _assignments(line: str) -> str:
    """Values assigned to secret-looking names masked, in one line that names one."""
    lowered = line.lower()
    if not any(word in lowered for word in SECRET_WORD_NEEDLES) or not HAS_SECRET_WORD.search(line):
        return line
    line = _sub(FLAG, "secret", line)
    line = _sub(QUOTED_ASSIGNMENT, "secret", line)
    return _sub(ASSIGNMENT, "secret", line)


def redact_text(text: str, limit: int | None = CUT_LIMIT, env: bool = False) -> str:
    """Everything the public view does to one string: secrets, home paths, then length."""
    if limit is None:
        return shorten_home(redact_secrets(text, env))
    beyond = max(len(text) - (limit + MARGIN), 0)
    shown = shorten_home(redact_secrets(text[: len(text) - beyond] if beyond else text, env))
    return cut(shown, limit, beyond)


def is_env_path(value: Any) -> bool:
    return isinstance(value, str) and bool(ENV_PATH.search(value.replace("\\", "/")))


def redact_key(key: str, taken: dict[Any, Any] | None = None) -> str:
    """An object key as the public sees it (redacted like any text); with ``taken`` (the keys
    already shown), made unique by a ``#2``, ``#3``... suffix."""
    shown = redact_text(key, CUT_LIMIT)
    if taken is None or shown not in taken:
        return shown
    n = 2
    while f"{shown}#{n}" in taken:
        n += 1
    return f"{shown}#{n}"


def redact_value(value: Any, limit: int | None = CUT_LIMIT, env: bool = False) -> Any:
    """``redact_text`` applied to every string of a JSON-like value and to every key; a key
    that names a secret gets its whole string value masked; the string fields of an object that
    names a ``.env`` file (``file_path``, ``path``) are treated as its content."""
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
            shown_key = redact_key(key, out) if isinstance(key, str) else key
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
