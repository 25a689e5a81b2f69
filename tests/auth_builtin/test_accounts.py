"""Built-in accounts: add, list, disable, reset, authenticate; kept out of app tables."""

from __future__ import annotations

import pytest

from livebase.auth.builtin import BuiltinIssuer
from livebase.auth.builtin.tables import ACCOUNTS
from livebase.engine import Engine
from livebase.errors import (
    AccountExistsError,
    AccountNotFoundError,
    InvalidGrantError,
    ValidationError,
)
from livebase.runtime import FakeRuntime
from livebase.storage import Storage

from .conftest import PASSWORD, run


def test_add_normalises_the_email_and_never_stores_the_password(
    issuer: BuiltinIssuer, storage: Storage
) -> None:
    account = run(issuer.accounts.add("  Alice@Example.COM ", PASSWORD))
    assert account.email == "alice@example.com"
    assert len(account.subject) == 32 and not account.disabled
    assert issuer.accounts.by_email("alice@example.com") == account
    with storage.reader() as r:
        rows = r.dump("globals", None, 1000)
    assert all(PASSWORD not in str(value) for _, value in rows)
    assert any(str(key) == f"{ACCOUNTS}:{account.subject}" for key, _ in rows)


def test_emails_are_unique_whatever_their_case(issuer: BuiltinIssuer) -> None:
    run(issuer.accounts.add("alice@example.com", PASSWORD))
    with pytest.raises(AccountExistsError, match=r"alice@example\.com already exists"):
        run(issuer.accounts.add("ALICE@example.com", "another password"))


@pytest.mark.parametrize("email", ["", "alice", "@example.com", "alice@", "a b@example.com", 7])
def test_not_an_email_is_refused(issuer: BuiltinIssuer, email: object) -> None:
    with pytest.raises(ValidationError) as info:
        run(issuer.accounts.add(email, PASSWORD))  # type: ignore[arg-type]
    assert info.value.code == "InvalidEmail"


def test_short_password_is_refused_and_nothing_is_added(issuer: BuiltinIssuer) -> None:
    with pytest.raises(ValidationError, match="at least 8"):
        run(issuer.accounts.add("alice@example.com", "short"))
    assert issuer.accounts.list() == []


def test_list_is_by_email_and_shows_no_hash(issuer: BuiltinIssuer, clock: FakeRuntime) -> None:
    run(issuer.accounts.add("zoe@example.com", PASSWORD))
    clock.advance(5)
    run(issuer.accounts.add("adam@example.com", PASSWORD))
    listed = [a.public() for a in issuer.accounts.list()]
    assert [a["email"] for a in listed] == ["adam@example.com", "zoe@example.com"]
    assert listed[1]["createdAt"] == clock.now_ns // 10**9 - 5
    assert set(listed[0]) == {"email", "subject", "disabled", "admin", "createdAt", "updatedAt"}
    assert listed[0]["admin"] is False  # only the admin key grants the role


def test_authenticate_gives_the_same_error_for_a_wrong_password_and_an_unknown_email(
    issuer: BuiltinIssuer,
) -> None:
    account = run(issuer.accounts.add("alice@example.com", PASSWORD))
    assert run(issuer.accounts.authenticate("ALICE@example.com", PASSWORD)) == account
    errors = []
    for email, password in [
        ("alice@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ]:
        with pytest.raises(InvalidGrantError) as info:
            run(issuer.accounts.authenticate(email, password))
        errors.append((info.value.code, info.value.to_oauth_json()))
    assert errors == [
        ("InvalidCredentials", {"error": "invalid_grant",
                                "error_description": "invalid email or password"}),
    ] * 3  # fmt: skip


def test_disabled_account_cannot_sign_in_and_is_not_active(issuer: BuiltinIssuer) -> None:
    account = run(issuer.accounts.add("alice@example.com", PASSWORD))
    assert issuer.account_active(account.subject)
    disabled = run(issuer.accounts.set_disabled("Alice@example.com", True))
    assert disabled.disabled and disabled.subject == account.subject
    assert not issuer.account_active(account.subject)
    with pytest.raises(InvalidGrantError, match="this account is disabled") as info:
        run(issuer.accounts.authenticate("alice@example.com", PASSWORD))
    assert info.value.code == "AccountDisabled"
    # Only the right password learns that the account is disabled.
    with pytest.raises(InvalidGrantError, match="invalid email or password"):
        run(issuer.accounts.authenticate("alice@example.com", "wrong password"))
    run(issuer.accounts.set_disabled("alice@example.com", False))
    assert issuer.account_active(account.subject)
    assert not issuer.account_active("no-such-subject")


def test_reset_password(issuer: BuiltinIssuer) -> None:
    run(issuer.accounts.add("alice@example.com", PASSWORD))
    run(issuer.accounts.reset_password("alice@example.com", "a brand new one"))
    run(issuer.accounts.authenticate("alice@example.com", "a brand new one"))
    with pytest.raises(InvalidGrantError):
        run(issuer.accounts.authenticate("alice@example.com", PASSWORD))
    with pytest.raises(ValidationError, match="too short"):
        run(issuer.accounts.reset_password("alice@example.com", "short"))


def test_unknown_email_is_named(issuer: BuiltinIssuer) -> None:
    with pytest.raises(AccountNotFoundError, match=r"no account for bob@example\.com"):
        run(issuer.accounts.set_disabled("bob@example.com", True))
    with pytest.raises(AccountNotFoundError, match=r"no account for bob@example\.com"):
        run(issuer.accounts.reset_password("Bob@example.com", PASSWORD))


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(issuer: BuiltinIssuer) -> None:
    from argon2 import PasswordHasher

    run(issuer.accounts.add("alice@example.com", PASSWORD))
    issuer.accounts.passwords.hasher = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    run(issuer.accounts.authenticate("alice@example.com", PASSWORD))
    stored = issuer.accounts.by_email("alice@example.com")
    assert stored is not None and "$m=16,t=2,p=1$" in stored.password_hash
    run(issuer.accounts.authenticate("alice@example.com", PASSWORD))


def test_accounts_are_not_in_the_app_tables(issuer: BuiltinIssuer, storage: Storage) -> None:
    """The engine over the same database, as app functions see it, finds no such table."""
    run(issuer.accounts.add("alice@example.com", PASSWORD))
    engine = Engine(storage)
    engine.open()
    for table in ("_auth_accounts", "_auth_refresh_tokens"):
        assert table not in engine.catalog.tables
        assert engine.read(lambda tx, t=table: tx.query(t).collect())[0] == []
