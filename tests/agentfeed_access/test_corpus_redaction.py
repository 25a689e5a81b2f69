"""The secret corpus (``secret_corpus.py``) through the redaction pipeline itself, without a
server: every entry in every place, as a payload the HTTP handler receives, goes through
``redacted.public_payload`` and ``redacted.event_copy`` (what ``events:ingest`` stores as the
event's redacted copy) and ``redacted.tool_input`` (a tool call's), and through the copy the
migration gives an event stored before copies existed (``redacted.event_view``); no fragment of
any secret may come out. The server test (``test_secret_corpus.py``) does the same through every
public function."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from livebase.functions.loader import load_app, unload
from tests.agentfeed_access.secret_corpus import (
    CORPUS,
    PLACES,
    Secret,
    find_leaks,
    plantings,
    strings_of,
)
from tests.agentfeed_app.conftest import APP

CWD = "/home/alice/corpus"
REQUIRED = {
    # named in issue 11
    "mysql-p-glued", "export-db-pass", "curl-user-password", "key-flag-hex", "sshpass-password",
    "stripe-secret-key", "env-file-dump", "azure-storage-connection-string", "aws-access-key-id",
    "short-password",
    # the common ones
    "aws-secret-access-key", "github-classic-token", "github-oauth-token",
    "github-fine-grained-token", "gitlab-personal-token", "slack-bot-token",
    "stripe-restricted-key",
    "openai-project-key", "anthropic-api-key", "google-api-key", "gcp-service-account-json",
    "azure-sas-token", "npm-token", "pypi-token", "sendgrid-api-key", "twilio-api-key",
    "mailgun-api-key", "heroku-api-key", "digitalocean-token", "datadog-keys", "sentry-dsn",
    "discord-bot-token", "telegram-bot-token", "jwt", "rsa-private-key", "openssh-private-key",
    "password-in-url", "authorization-basic", "authorization-bearer", "pgpassword-env",
    "token-flag-base64", "api-key-flag", "docker-login-password", "kubectl-token", "vault-token",
    "doppler-token", "shopify-access-token", "square-access-token",
    "braintree-paypal-access-token", "firebase-cloud-messaging-key", "supabase-service-key",
    "hugging-face-token", "replicate-token", "cloudflare-api-token", "linear-api-key",
    "notion-integration-secret", "atlassian-api-token",
}  # fmt: skip


@pytest.fixture(scope="module")
def app() -> Iterator[dict[str, ModuleType]]:
    loaded = load_app(APP)
    try:
        yield {
            name: importlib.import_module(f"{loaded.package}.{name}")
            for name in ("redact", "redacted", "payload", "normalize")
        }
    finally:
        unload(loaded)


def test_the_corpus_covers_the_formats() -> None:
    names = {secret.name for secret in CORPUS}
    assert len(CORPUS) >= 40
    assert REQUIRED <= names, REQUIRED - names
    for secret in CORPUS:
        for literal in secret.secrets:
            assert literal in secret.text, (secret.name, literal)
        assert secret.fragments(), secret.name


def _stored(app: dict[str, ModuleType], endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """What ``intake`` and ``events:ingest`` make of ``body``: the ``raw`` kept for the owner,
    and the redacted copy of the event."""
    value = json.loads(json.dumps(body))
    split = app["payload"].split(value)
    name = "event" if endpoint == "/event" else "activity"
    shown = app["redacted"].public_payload(name, value, split.moved)
    origin = "hook" if name == "event" else "activity"
    copy = app["redacted"].event_copy(origin, json.loads(app["normalize"].dumps(shown)))
    return {"raw": split.raw, "origin": origin, "copy": copy}


@pytest.mark.parametrize("secret", CORPUS, ids=[s.name for s in CORPUS])
def test_every_place_is_redacted_before_it_is_cut(
    app: dict[str, ModuleType], secret: Secret
) -> None:
    planted = plantings(secret, 0, CWD)
    assert {place for place, _, _ in planted} == set(PLACES)
    raws = []
    for place, endpoint, body in planted:
        stored = _stored(app, endpoint, body)
        copy = stored["copy"]
        texts = list(strings_of(copy))
        if endpoint == "/event" and "tool_input" in body:
            event = {**app["normalize"].normalize_hook(body), "redacted": copy}
            texts.append(app["redacted"].tool_input(event))
        assert not find_leaks(texts, [secret]), (place, find_leaks(texts, [secret]), copy)
        raws += strings_of(json.loads(stored["raw"]))
    # the owner's text is untouched: the secret is really there
    assert find_leaks(raws, [secret])


@pytest.mark.parametrize("secret", CORPUS, ids=[s.name for s in CORPUS])
def test_the_migration_redacts_events_stored_before_copies(
    app: dict[str, ModuleType], secret: Secret
) -> None:
    """An event without a copy (stored by an earlier version) gets one computed from its
    ``raw`` (``events:refresh_redacted``): large fields there are previews cut before anything
    was redacted, and the token a cut leaves half of is masked too."""
    for place, endpoint, body in plantings(secret, 0, CWD):
        stored = _stored(app, endpoint, body)
        old = {"origin": stored["origin"], "raw": stored["raw"], "summary": "x"}
        view = app["redacted"].event_view(old)
        assert view["v"] == app["redacted"].VERSION
        texts = list(strings_of(view))
        assert not find_leaks(texts, [secret]), (place, find_leaks(texts, [secret]))


def test_a_cut_never_leaves_half_a_secret(app: dict[str, ModuleType]) -> None:
    redact = app["redact"]
    key = "AKIAZ7FAKE2EXAMPLE9Q"
    for offset in range(redact.CUT_LIMIT - len(key), redact.CUT_LIMIT + 1):
        shown = redact.redact_text("x" * (offset - 1) + " " + key + " and more")
        assert "Z7FAKE2E" not in shown and "AKIAZ7" not in shown, offset
    # a text cut before redaction (an old stored summary): the cut token is masked
    shown = redact.redact_text("use AKIAZ7FAKE2EXAMP…[+40 chars]")
    assert shown == "use [redacted:cut]…[+40 chars]"
    assert redact.redact_text("see src/app/main.py…[+4 chars]") == "see src/app/main.py…[+4 chars]"


def test_a_secret_used_as_a_key_is_redacted(app: dict[str, ModuleType]) -> None:
    redact = app["redact"]
    key = "sk_live_51FAKEKADxQCCtkJdAlXaW06pB4SaEL4jLa1eVpwMXzNaf"
    shown = redact.redact_value({key: 1, "b": {f"{key}x": 2, "[redacted:stripe-key]": 3}})
    assert shown == {
        "[redacted:stripe-key]": 1,
        "b": {"[redacted:stripe-key]": 2, "[redacted:stripe-key]#2": 3},
    }


def test_every_line_of_an_env_dump_is_redacted(app: dict[str, ModuleType]) -> None:
    redact = app["redact"]
    text = "it fails\nwith this:\nA_URL=postgres://u:pw1@h/db\nB_SALT=abc-def\nPORT=8080\nwhy?"
    assert redact.redact_text(text) == (
        "it fails\nwith this:\nA_URL=[redacted:env]\nB_SALT=[redacted:env]\nPORT=8080\nwhy?"
    )
    # code is not an .env block
    code = "x = compute(a)\ny = other(b)\nprint(x, y)\nreturn x"
    assert redact.redact_text(code) == code


def test_a_derived_copy_is_current_only_when_whole(app: dict[str, ModuleType]) -> None:
    """A session's copy patched from an event is current only if the copy it patches was: a
    session stored before copies existed stays hidden until the migration makes its whole copy."""
    redacted = app["redacted"]
    event = {"summary": "use AKIAZ7FAKE2EXAMPLE9Q", "redacted": {"summary": "use [redacted]"}}
    new = redacted.follow(
        None, {"last_summary": event["summary"], "cwd": "/home/a/x"}, event, new=True
    )
    assert new == {"last_summary": "use [redacted]", "cwd": "~/x", "v": redacted.VERSION}
    patched = redacted.follow(new, {"last_summary": event["summary"], "status": "ended"}, event)
    assert redacted.is_current(patched) and patched["cwd"] == "~/x"
    for old in (None, {"v": 0.0, "cwd": "~/x"}):
        partial = redacted.follow(old, {"last_summary": event["summary"]}, event)
        assert not redacted.is_current(partial)
        assert not redacted.is_ready("sessions", {"redacted": partial})
    assert redacted.is_ready("projects", {})
