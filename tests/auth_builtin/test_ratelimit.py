"""Failed sign-ins limited per account and per client address, on an injected clock."""

from __future__ import annotations

import pytest

from livebase.auth.builtin import BuiltinIssuer
from livebase.auth.builtin.ratelimit import FailureLimiter
from livebase.errors import InvalidGrantError, SlowDownError
from livebase.runtime import FakeRuntime

from .conftest import PASSWORD, IssuerFactory, run


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_locks_after_the_limit_until_its_oldest_failure_ages_out() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, 900, clock)
    for _ in range(2):
        limiter.failed("k")
        clock.now += 100
    assert limiter.retry_after("k") is None
    limiter.failed("k")  # the third, at 1200; the first was at 1000
    assert limiter.retry_after("k") == 700
    clock.now = 1899.5
    assert limiter.retry_after("k") == 1
    clock.now = 1900.0  # the first failure is 900 s old: two left in the window
    assert limiter.retry_after("k") is None
    assert limiter.retry_after("other") is None


def test_clear_forgets_a_key_and_the_number_of_keys_is_bounded() -> None:
    clock = Clock()
    limiter = FailureLimiter(1, 60, clock, max_keys=2)
    limiter.failed("a")
    limiter.clear("a")
    assert limiter.retry_after("a") is None
    for key in ("a", "b", "c"):
        limiter.failed(key)
    assert limiter.retry_after("a") is None  # the least recently failed went first
    assert limiter.retry_after("b") == 60 and limiter.retry_after("c") == 60


def failing(issuer: BuiltinIssuer, email: str, address: str | None, times: int) -> None:
    for _ in range(times):
        with pytest.raises(InvalidGrantError):
            run(issuer.sign_in(email, "wrong password", address))


def slowed(issuer: BuiltinIssuer, email: str, address: str | None) -> SlowDownError:
    with pytest.raises(SlowDownError) as info:
        run(issuer.sign_in(email, PASSWORD, address))
    return info.value


def test_too_many_failures_for_an_account_lock_it_even_for_the_right_password(
    issuer: BuiltinIssuer, clock: FakeRuntime
) -> None:
    run(issuer.accounts.add("alice@example.com", PASSWORD))
    failing(issuer, "alice@example.com", "198.51.100.1", 4)
    clock.advance(60)
    failing(issuer, "Alice@Example.com", "198.51.100.2", 1)  # five, from two addresses
    error = slowed(issuer, "alice@example.com", "198.51.100.3")
    assert error.http_status == 429 and error.retry_after == 840
    assert error.to_oauth_json() == {
        "error": "slow_down",
        "error_description": "too many failed sign-ins for this account: try again in 840 s",
    }
    clock.advance(839)
    assert slowed(issuer, "alice@example.com", None).retry_after == 1
    clock.advance(1)  # the first four failures are 900 s old
    run(issuer.sign_in("alice@example.com", PASSWORD, "198.51.100.3"))


def test_a_success_clears_the_account_count(issuer: BuiltinIssuer) -> None:
    run(issuer.accounts.add("alice@example.com", PASSWORD))
    failing(issuer, "alice@example.com", None, 4)
    run(issuer.sign_in("alice@example.com", PASSWORD, None))
    failing(issuer, "alice@example.com", None, 4)
    run(issuer.sign_in("alice@example.com", PASSWORD, None))


def test_too_many_failures_from_an_address_lock_that_address(
    issuer: BuiltinIssuer, clock: FakeRuntime
) -> None:
    run(issuer.accounts.add("alice@example.com", PASSWORD))
    for n in range(20):  # one guess at each of 20 accounts (most do not exist)
        failing(issuer, f"user{n}@example.com", "203.0.113.9", 1)
    error = slowed(issuer, "alice@example.com", "203.0.113.9")
    assert error.retry_after == 900 and "for this address" in error.message
    run(issuer.sign_in("alice@example.com", PASSWORD, "203.0.113.10"))  # others go on
    clock.advance(900)
    run(issuer.sign_in("alice@example.com", PASSWORD, "203.0.113.9"))


def test_limits_come_from_the_settings(make_issuer: IssuerFactory, clock: FakeRuntime) -> None:
    issuer = make_issuer(auth_account_failures=2, auth_failure_window_seconds=60)
    run(issuer.accounts.add("alice@example.com", PASSWORD))
    failing(issuer, "alice@example.com", None, 2)
    assert slowed(issuer, "alice@example.com", None).retry_after == 60
    clock.advance(60)
    run(issuer.sign_in("alice@example.com", PASSWORD, None))


def test_a_disabled_account_with_the_right_password_is_not_a_failure(
    issuer: BuiltinIssuer,
) -> None:
    run(issuer.accounts.add("alice@example.com", PASSWORD))
    run(issuer.accounts.set_disabled("alice@example.com", True))
    for _ in range(6):
        with pytest.raises(InvalidGrantError, match="disabled"):
            run(issuer.sign_in("alice@example.com", PASSWORD, None))
