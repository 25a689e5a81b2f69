"""Fixtures for identity: a real OIDC issuer on 127.0.0.1, a clock the test moves, and a
verifier wired to both (real HTTP fetches through the default fetcher)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from livebase.auth.providers import OidcProvider, Provider
from livebase.auth.verifier import Verifier
from tests.support.oidc_issuer import OidcIssuer

NOW = 1_796_378_400.0
"""2026-12-04T10:00:00Z: every test starts here; time moves only when a test moves it."""


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


@pytest.fixture
def make_verifier(clock: Clock) -> Callable[..., Verifier]:
    def make(*providers: Provider, **options: object) -> Verifier:
        return Verifier(list(providers), clock=clock, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture
def verifier(issuer: OidcIssuer, make_verifier: Callable[..., Verifier]) -> Verifier:
    """Trusts ``issuer`` as an OIDC provider, for its application id."""
    return make_verifier(OidcProvider(issuer.url, issuer.application_id))
