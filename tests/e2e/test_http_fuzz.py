"""Fuzzing the HTTP server of a real ``livebase serve`` with hypothesis-generated requests.

Every request (bad JSON, deeply nested or wrong-typed arguments, odd and oversized headers,
huge and odd targets, unknown methods, chunked bodies, upgrades; see
``tests/support/http_fuzz.py``) must get a response that is not a 5xx, or a clean close; the
server's log must hold no traceback; and the server must still answer afterwards. This run is
bounded for CI (a few hundred requests, about 10 s); ``bench/fuzz_http.py`` is the long run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from tests.support.http_fuzz import FuzzRequest, http_requests, send_request
from tests.support.server import LivebaseServer, base_env

from .conftest import TEST_ADMIN_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
"""``FUZZ_EXAMPLES=5000`` for a longer local run."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivebaseServer]:
    env = base_env(
        LIVEBASE_HTTP_HEAD_TIMEOUT_SECONDS="2",
        LIVEBASE_HTTP_BODY_TIMEOUT_SECONDS="2",
    )
    base = tmp_path_factory.mktemp("http-fuzz")
    with LivebaseServer.launch(base, admin_key=TEST_ADMIN_KEY, env=env) as srv:
        yield srv


def test_fuzzed_requests_get_no_5xx_and_leave_no_traceback(server: LivebaseServer) -> None:
    since = len(server.log_text())
    statuses: Counter[int | None] = Counter()
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=http_requests(TEST_ADMIN_KEY))
    def one(request: FuzzRequest) -> None:
        outcome = send_request(server.port, request.data, timeout=10.0)
        statuses[outcome.status] += 1
        assert outcome.status != -1, f"not an HTTP answer to {request.what}: {outcome.detail}"
        assert outcome.status is None or outcome.status < 500, (
            f"{outcome.status} for {request.what}:\n{outcome.detail}\n"
            f"server log:\n{server.log_text()[since:][-3000:]}"
        )

    one()
    took = time.monotonic() - started
    assert httpx.get(f"{server.url}/version", timeout=5).status_code == 200
    log = server.log_text()[since:]
    assert "Traceback" not in log and "unhandled error" not in log, log[-5000:]
    # The mix reached the function API and was not all refused at the door.
    assert statuses[200] > 0 and statuses[400] > 0, statuses
    assert took < 60, f"{EXAMPLES} fuzzed requests took {took:.0f} s"
