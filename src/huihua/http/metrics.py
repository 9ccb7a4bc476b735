"""GET /metrics: what Prometheus scrapes, in its text format (prometheus-client).

- ``huihua_requests_total{route, ok}``: requests answered, by route and ok code (``-``: the
  client left before its reply);
- ``huihua_request_seconds{route}``: the time from a request's arrival to its reply sent;
- ``huihua_rate_limited_total{route}``: requests refused by a rate limit (ok 7);
- ``huihua_group_commit_writes``: writes per SQLite group commit (one transaction, one fsync);
- ``huihua_store_errors_total{kind, code}``: the store's failures (``unavailable``,
  ``disk_full``, ``retried``, ``other``) by the driver's code (SQLite's error name,
  PostgreSQL's SQLSTATE, MySQL's error number).

Labels are route names (the endpoint's path, ``(unknown)`` for any other path), never a
user id or a raw path: a label set must not grow with what clients send.

With several workers (``huihua serve --workers N``) each process writes its values to files
in the folder ``PROMETHEUS_MULTIPROC_DIR`` names (``huihua serve`` makes it), and whichever
worker answers a scrape adds them all up (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from huihua.store import Store

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
RATE_LIMITED = 7
CONTENT_TYPE = CONTENT_TYPE_LATEST


def multiprocess_dir() -> str | None:
    """Return the folder of multiprocess mode, or None in a single process."""
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """The app's metrics: an observer of every request (observe.py), hooks for the store,
    and the text of a scrape."""

    def __init__(self) -> None:
        self._registry = CollectorRegistry(auto_describe=True)
        self._multiproc = multiprocess_dir()
        r = self._registry
        self._requests = Counter(
            "huihua_requests",
            "Requests answered, by route and ok code.",
            ["route", "ok"],
            registry=r,
        )
        self._seconds = Histogram(
            "huihua_request_seconds",
            "Time from a request's arrival to its reply, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._limited = Counter(
            "huihua_rate_limited",
            "Requests refused by a rate limit (ok 7).",
            ["route"],
            registry=r,
        )
        self._groups = Histogram(
            "huihua_group_commit_writes",
            "Writes committed together in one SQLite transaction (one fsync).",
            buckets=GROUP_BUCKETS,
            registry=r,
        )
        self._errors = Counter(
            "huihua_store_errors",
            "The store's failures, by kind and the driver's error code.",
            ["kind", "code"],
            registry=r,
        )
        # The children by label values: .labels() takes a lock and builds a tuple each call.
        self._by_outcome: dict[tuple[str, int | None], Any] = {}
        self._by_route: dict[str, Any] = {}

    def __call__(
        self,
        route: str,
        ok: int | None,
        status: int,
        seconds: float,
        request_id: str | None = None,
        who: str = "-",
    ) -> None:
        counter = self._by_outcome.get((route, ok))
        if counter is None:
            counter = self._requests.labels(route, "-" if ok is None else str(ok))
            self._by_outcome[(route, ok)] = counter
            if route not in self._by_route:
                self._by_route[route] = self._seconds.labels(route)
        counter.inc()
        self._by_route[route].observe(seconds)
        if ok == RATE_LIMITED:
            self._limited.labels(route).inc()

    def watch(self, store: Store) -> None:
        """Count the store's group commits and failures."""
        store.instrument(on_group=self._groups.observe, on_error=self._error)

    def _error(self, kind: str, code: str) -> None:
        self._errors.labels(kind, code).inc()

    def scrape(self) -> bytes:
        """Return the metrics in Prometheus' text format (every worker's, added up)."""
        if self._multiproc is None:
            return generate_latest(self._registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self._multiproc)
        return generate_latest(registry)
