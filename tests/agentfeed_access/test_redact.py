"""``redact.py``: each secret pattern on positive and negative cases, ``.env`` contents, entropy
detection, home paths, cutting, and JSON values."""

from __future__ import annotations

import json
import random
import string
from types import ModuleType

import pytest

GH = "ghp_" + "a1B2c3D4e5" * 4
SECRETS: list[tuple[str, str, str]] = [
    # (kind, text, secret that must disappear)
    ("aws-access-key", "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("aws-access-key", "key ASIAY34FZKBOKMUTVV7A used", "ASIAY34FZKBOKMUTVV7A"),
    ("secret", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ("github-token", f"git clone https://{GH}@github.com/x/y", GH),
    ("github-token", "gho_" + "Z9y8X7w6V5" * 4, "gho_Z9y8"),
    ("github-token", "ghs_" + "Q1w2E3r4T5" * 4, "ghs_Q1w2"),
    ("github-token", "github_pat_11ABCDEFG0" + "x1Y2z3" * 10, "github_pat_11ABCDEFG0"),
    ("slack-token", "SLACK=xoxb-123456789012-abcdefghijKLMN", "xoxb-123456789012"),
    ("slack-token", "xoxp-1234567890-0987654321-abcdef", "xoxp-1234567890"),
    ("stripe-key", "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39"),
    ("stripe-key", "rk_live_51HXabcdefGHIJKLmnop", "rk_live_51HX"),
    ("openai-key", "OPENAI: sk-proj-abcDEF123abcDEF123abcDEF123abcDEF", "sk-proj-abc"),
    ("openai-key", "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD", "sk-abcdefghijklmnop"),
    ("anthropic-key", "sk-ant-api03-abcDEF123_-abcDEF123_-abcDEF123", "sk-ant-api03"),
    ("google-api-key", "AIzaSyA-abcdefghijklmnopqrstuvwxyz12345 ok", "AIzaSyA-abc"),
    ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1", "eyJhbGci"),
    ("authorization", "curl -H 'Authorization: Bearer abc123def456ghi789' x", "abc123def456"),
    ("authorization", "Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNz"),
    ("secret", 'password="hunter2" user=bob', "hunter2"),
    ("secret", "passwd: correcthorse", "correcthorse"),
    ("secret", "DB_PASSWORD=s3cr3t!", "s3cr3t!"),
    ("secret", "client_secret=abcd1234", "abcd1234"),
    ("secret", '{"api_key": "abc123xyz"}', "abc123xyz"),
    ("secret", '{\\"token\\": \\"tok-998877\\"}', "tok-998877"),
    ("secret", "mytool --password hunter2 --verbose", "hunter2"),
    ("secret", "mytool --api-key=zzz999", "zzz999"),
    ("url-credentials", "postgres://admin:s3cr3tpw@db.local:5432/app", "s3cr3tpw"),
    ("url-credentials", "https://user:p4ss@example.com/x", "p4ss"),
    ("connection-string", "Server=db;Database=app;User Id=sa;Password=Pa55word;", "Pa55word"),
    (
        "private-key",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKC\n-----END RSA PRIVATE KEY-----",
        "MIIEpAIBAAKC",
    ),
    ("private-key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA (cut", "b3Blbn"),
    ("npm-token", "//registry.npmjs.org/:_authToken=npm_" + "a" * 36, "npm_aaaa"),
    ("sendgrid-key", "SG." + "a" * 22 + "." + "b" * 43, "SG.aaaa"),
    ("high-entropy", "blob kj2x9c7rq0h3b8m5v1n4p6z2w8y0 here", "kj2x9c7rq0h3b8m5v1n4p6z2w8y0"),
]

CLEAN = [
    "Run the tests with pytest -q and fix the failures",
    "passwordless login works; tokens: 42",
    "max_tokens=4096 and token_count: 17",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "session 123e4567-e89b-12d3-a456-426614174000 resumed",
    "thisIsAVeryLongCamelCaseIdentifierName and test_redaction_high_entropy_tokens",
    "EXAMPLE_VARIABLE_NAME_WITH_DIGITS_123 is a constant",
    "src/livebase/functions/loader_module_v2.py",
    "claude-opus-4-1-20250805",
    "2026-01-15T10:30:00.000Z",
    "sk-short",
    "AKIA-not-a-key",
    "Bearer of bad news",
    "https://example.com/path?q=1",
]


@pytest.mark.parametrize(("kind", "text", "secret"), SECRETS, ids=[s[0] for s in SECRETS])
def test_each_pattern_masks_its_secret(
    redact: ModuleType, kind: str, text: str, secret: str
) -> None:
    shown = redact.redact_text(text)
    assert secret not in shown
    assert f"[redacted:{kind}]" in shown, shown


@pytest.mark.parametrize("text", CLEAN)
def test_ordinary_text_is_left_alone(redact: ModuleType, text: str) -> None:
    assert redact.redact_text(text) == text


def test_context_around_a_secret_is_kept(redact: ModuleType) -> None:
    shown = redact.redact_text("curl -u x https://bob:hunter2@host/api && echo done")
    assert shown == "curl -u x https://bob:[redacted:url-credentials]@host/api && echo done"
    assert redact.redact_text("PASSWORD=abc; next") == "PASSWORD=[redacted:secret]; next"


def test_env_contents_are_masked(redact: ModuleType) -> None:
    env = "# settings\nDATABASE_URL=postgres://localhost/app\nDEBUG=1\nexport NAME=alice\n"
    shown = redact.redact_text(env)
    assert "postgres://localhost/app" not in shown and "alice" not in shown
    assert "DATABASE_URL=[redacted:env]" in shown and "# settings" in shown
    assert redact.looks_like_env(env)
    assert not redact.looks_like_env("x = 1\nprint(x)\nfor i in range(3):\n    pass")
    # a JSON excerpt of a Write to .env (escaped newlines)
    excerpt = '{"file_path": "/srv/app/.env.local", "content": "A=one\\nB=two"}'
    shown = redact.redact_text(excerpt)
    assert "one" not in shown and "two" not in shown and ".env.local" in shown
    # a structured tool input naming a .env file: its content is masked line by line
    value = {"file_path": "/srv/app/.env", "content": "HOST=example\nPORT=8080"}
    assert redact.redact_value(value)["content"] == "HOST=[redacted:env]\nPORT=[redacted:env]"
    assert redact.redact_value({"file_path": "/srv/app/main.py", "content": "A=b"})["content"] == (
        "A=b"
    )


@pytest.mark.parametrize("length", [24, 32, 40, 64])
def test_random_tokens_are_high_entropy(redact: ModuleType, length: int) -> None:
    rng = random.Random(length)
    alphabet = string.ascii_letters + string.digits
    tokens = ["".join(rng.choice(alphabet) for _ in range(length)) for _ in range(200)]
    found = sum(redact.is_high_entropy(token) for token in tokens)
    assert found >= 200 * (0.85 if length == 24 else 0.97)


@pytest.mark.parametrize(
    "token",
    [
        "3f786850e387550fdab836ed7e6dc881de23001b",  # git commit: hex is never flagged
        "123e4567-e89b-12d3-a456-426614174000",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",
        "test_agentfeed_access_public_view_2024",
        "tests/agentfeed_access/test_public_view_2024.py",
        "abcdefghijklmnopqrstuvwxyz",  # no digit
        "Ab3" * 5,  # too short
    ],
)
def test_not_high_entropy(redact: ModuleType, token: str) -> None:
    assert not redact.is_high_entropy(token)


def test_shannon_entropy(redact: ModuleType) -> None:
    assert redact.shannon_entropy("") == 0.0
    assert redact.shannon_entropy("aaaa") == 0.0
    assert redact.shannon_entropy("abcd") == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("/home/alice/src/app/main.py", "~/src/app/main.py"),
        ("cd /Users/bob", "cd ~"),
        ("/root/.ssh/config", "~/.ssh/config"),
        ("C:\\Users\\carol\\code\\x.py", "~\\code\\x.py"),
        ('{"cwd": "C:\\\\Users\\\\carol\\\\code"}', '{"cwd": "~\\\\code"}'),
        ("~/.claude/projects/-home-alice-app/s.jsonl", "~/.claude/projects/-~-app/s.jsonl"),
        ("/srv/home/alice/x", "/srv/home/alice/x"),
        ("/opt/app and /homework/x", "/opt/app and /homework/x"),
    ],
)
def test_home_paths_are_shortened(redact: ModuleType, text: str, shown: str) -> None:
    assert redact.shorten_home(text) == shown


def test_long_text_is_cut(redact: ModuleType) -> None:
    assert redact.cut("abc", 3) == "abc"
    assert redact.cut("abcdef", 3) == "abc…[cut 3 chars]"
    long = "word " * 1000
    shown = redact.redact_text(long)
    assert len(shown) < redact.CUT_LIMIT + 30 and shown.endswith("…[cut 3000 chars]")
    # a secret straddling the cut is masked first, so no part of it survives
    text = "x" * (redact.CUT_LIMIT - 10) + " AKIAIOSFODNN7EXAMPLE"
    assert "AKIAIOS" not in redact.redact_text(text)


def test_values_and_json_text(redact: ModuleType) -> None:
    value = {
        "env": {"OPENAI_API_KEY": "plain-looking-value", "PATH": "/home/alice/bin"},
        "items": ["ok", "token=abc123"],
        "n": 3,
        "flag": True,
        "secret": "",
    }
    shown = redact.redact_value(value)
    assert shown == {
        "env": {"OPENAI_API_KEY": "[redacted:secret]", "PATH": "~/bin"},
        "items": ["ok", "token=[redacted:secret]"],
        "n": 3,
        "flag": True,
        "secret": "",
    }
    text = json.dumps({"prompt": "use " + GH, "deep": [{"x": "/Users/bob/a"}], "big": 2**70})
    out = json.loads(redact.redact_json_text(text))
    assert out == {"prompt": "use [redacted:github-token]", "deep": [{"x": "~/a"}], "big": 2**70}
    assert redact.redact_json_text("not json " + GH) == "not json [redacted:github-token]"
