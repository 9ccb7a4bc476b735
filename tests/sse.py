"""Reading huihua's event streams in tests: a response's events, and a stream cut short."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from .conftest import Api


@dataclass(frozen=True)
class Event:
    id: int
    name: str
    data: dict[str, Any]


def parse(text: str) -> list[Event]:
    """Return the events of an event stream's text (comments, such as pings, left out)."""
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":") or not line:
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "event" in fields:
            events.append(Event(int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events


def stream(api: Api, path: str, body: dict[str, Any], **kwargs: Any) -> list[Event]:
    """POST ``body`` and return every event of the stream it answers (to its end)."""
    response = api.post(path, body, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream"), response.text
    assert response.headers["cache-control"] == "no-store"
    return parse(response.text)


def first_events(api: Api, path: str, body: dict[str, Any], n: int) -> list[Event]:
    """POST ``body``, read the stream's first ``n`` events, then drop the connection."""
    got: list[Event] = []
    buffer = ""
    with (
        httpx.Client(base_url=api.base_url, timeout=30) as client,
        client.stream("POST", path, json=body) as response,
    ):
        assert response.status_code == 200
        for text in response.iter_text():
            buffer += text
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                got += parse(block + "\n\n")
                if len(got) >= n:
                    return got
    raise AssertionError(f"the stream ended after {len(got)} events")


def text_of(events: list[Event]) -> tuple[str, str]:
    """Return (msg, reasoning) as a client makes them of the deltas (``replace`` too)."""
    msg, reasoning = "", ""
    for event in events:
        if event.name != "delta":
            continue
        if event.data.get("replace"):
            msg, reasoning = event.data.get("msg", ""), event.data.get("reasoning", "")
        else:
            msg += event.data.get("msg", "")
            reasoning += event.data.get("reasoning", "")
    return msg, reasoning


def check_ids(events: list[Event], first: int = 1) -> None:
    """Fail unless the events are numbered from ``first`` with no gaps."""
    assert [e.id for e in events] == list(range(first, first + len(events))), events
