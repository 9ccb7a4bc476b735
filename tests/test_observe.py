"""observe.observers: each observer called in order; one that raises is logged, not fatal."""

from __future__ import annotations

import logging

import pytest

from huihua.http.observe import observers


@pytest.mark.parametrize("count", [2, 3])
def test_each_called_in_order_past_one_that_raises(
    count: int, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[tuple[object, ...]] = []

    def failing(*args: object) -> None:
        heard.append(("failing", *args))
        raise RuntimeError("secret words")

    def recording(*args: object) -> None:
        heard.append(("recording", *args))

    each = [failing, *[recording] * (count - 1)]
    with caplog.at_level(logging.ERROR, logger="huihua"):
        observers(each)("/add_chat", 0, 200, 0.5, "r1", "open")
        observers(each)("/add_chat", None, 499, 0.25)
    args = ("/add_chat", 0, 200, 0.5, "r1", "open")
    short = ("/add_chat", None, 499, 0.25, None, "-")
    want = [("failing", *args)] + [("recording", *args)] * (count - 1)
    want += [("failing", *short)] + [("recording", *short)] * (count - 1)
    assert heard == want
    failures = [r for r in caplog.records if "observer failed" in r.getMessage()]
    assert len(failures) == 2
    assert "secret words" not in caplog.text
