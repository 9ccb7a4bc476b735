"""GET /metrics: what Prometheus scrapes, in its text format (prometheus-client).

- ``huihua_requests_total{route, ok}``: requests answered, by route and ok code (``-``: the
  client left before its reply);
- ``huihua_request_seconds{route}``: the time from a request's arrival to its reply sent;
- ``huihua_rate_limited_total{route}``: requests refused by a rate limit (ok 7);
- ``huihua_group_commit_writes``: writes per SQLite group commit (one transaction, one fsync);
- ``huihua_store_errors_total{kind, code}``: the store's failures (``unavailable``,
  ``disk_full``, ``retried``, ``busy``, ``other``) by the driver's code (SQLite's error name,
  PostgreSQL's SQLSTATE, MySQL's error number);
- ``huihua_replies_total{model, status}``, ``huihua_reply_tokens_total{model, kind}``
  (``prompt``, ``completion``) and ``huihua_reply_first_token_seconds{model}``: the replies
  huihua asked a model for, as each ended (docs/api.md §8), through prometheus-client's own
  metrics (a reply is rare beside a request).

Labels are route names (the endpoint's path, ``(unknown)`` for any other path), never a
user id or a raw path: a label set must not grow with what clients send.

One worker (the default) counts in plain Python numbers, turned into Prometheus' families
only when scraped: a request pays a dict lookup and two additions (prometheus-client's
own counter and histogram, with a lock and a loop each, cost a request about 5% more
instructions here: bench/README.md). With several workers (``huihua serve --workers N``)
each process writes its values to files in the folder ``PROMETHEUS_MULTIPROC_DIR`` names
(``huihua serve`` makes it) through prometheus-client's own metrics, and whichever worker
answers a scrape adds them all up (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.utils import floatToGoString

from huihua.relay.task import Finished
from huihua.store import Store

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
RATE_LIMITED = 7
CONTENT_TYPE = CONTENT_TYPE_LATEST
HELP = {
    "huihua_requests": "Requests answered, by route and ok code.",
    "huihua_request_seconds": "Time from a request's arrival to its reply, by route.",
    "huihua_rate_limited": "Requests refused by a rate limit (ok 7).",
    "huihua_group_commit_writes": "Writes committed together in one SQLite transaction.",
    "huihua_store_errors": "The store's failures, by kind and the driver's error code.",
    "huihua_replies": "Replies asked of a model, by model and the status they ended with.",
    "huihua_reply_tokens": "Tokens of the replies asked of a model, by model and kind.",
    "huihua_reply_first_token_seconds": "Time from an ask to the model's first chunk.",
}
FIRST_TOKEN_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)


class _ReplyMetrics:
    """The replies' counters, in a registry (the worker's, or the multiprocess files)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        h = HELP
        self._replies = Counter(
            "huihua_replies", h["huihua_replies"], ["model", "status"], registry=registry
        )
        self._tokens = Counter(
            "huihua_reply_tokens", h["huihua_reply_tokens"], ["model", "kind"], registry=registry
        )
        self._first = Histogram(
            "huihua_reply_first_token_seconds",
            h["huihua_reply_first_token_seconds"],
            ["model"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=registry,
        )

    def reply(self, finished: Finished) -> None:
        """Count a reply that ended."""
        self._replies.labels(finished.model, finished.status).inc()
        self._tokens.labels(finished.model, "prompt").inc(finished.prompt_tokens)
        self._tokens.labels(finished.model, "completion").inc(finished.completion_tokens)
        if finished.first_token_s is not None:
            self._first.labels(finished.model).observe(finished.first_token_s)


def multiprocess_dir() -> str | None:
    """Return the folder of multiprocess mode, or None in a single process."""
    return os.environ.get(MULTIPROC_ENV) or None


def new_metrics() -> LocalMetrics | SharedMetrics:
    """Return the app's metrics: shared by the workers in multiprocess mode, else local."""
    folder = multiprocess_dir()
    return SharedMetrics(folder) if folder else LocalMetrics()


class _Route:
    """One route's counts: requests by ok code, latency buckets (not cumulative), sum."""

    __slots__ = ("buckets", "by_ok", "seconds")

    def __init__(self) -> None:
        self.by_ok: dict[int | None, int] = {}
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last: above every bound
        self.seconds = 0.0


class LocalMetrics:
    """One process's metrics, in plain numbers; an observer (observe.py), the store's
    hooks, and a prometheus-client collector that makes the families when scraped."""

    def __init__(self) -> None:
        self._routes: dict[str, _Route] = {}
        self._groups = [0] * (len(GROUP_BUCKETS) + 1)
        self._group_writes = 0
        self._errors: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()  # errors are told from the pool's threads
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)
        self.replies = _ReplyMetrics(self._registry)

    def __call__(
        self,
        route: str,
        ok: int | None,
        status: int,
        seconds: float,
        request_id: str | None = None,
        who: str = "-",
    ) -> None:
        counts = self._routes.get(route)
        if counts is None:
            counts = self._routes[route] = _Route()
        by_ok = counts.by_ok
        by_ok[ok] = by_ok.get(ok, 0) + 1
        counts.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        counts.seconds += seconds

    def watch(self, store: Store) -> None:
        """Count the store's group commits and failures."""
        store.instrument(on_group=self._group, on_error=self._error)

    def _group(self, writes: int) -> None:
        self._groups[bisect_left(GROUP_BUCKETS, writes)] += 1
        self._group_writes += writes

    def _error(self, kind: str, code: str) -> None:
        with self._lock:
            self._errors[(kind, code)] = self._errors.get((kind, code), 0) + 1

    def collect(self) -> Iterator[Metric]:
        """Return the families (prometheus-client's collector interface)."""
        routes = sorted(self._routes.items())
        requests = CounterMetricFamily(
            "huihua_requests", HELP["huihua_requests"], labels=["route", "ok"]
        )
        limited = CounterMetricFamily(
            "huihua_rate_limited", HELP["huihua_rate_limited"], labels=["route"]
        )
        latency = HistogramMetricFamily(
            "huihua_request_seconds", HELP["huihua_request_seconds"], labels=["route"]
        )
        for route, counts in routes:
            for ok, n in list(counts.by_ok.items()):
                requests.add_metric([route, "-" if ok is None else str(ok)], n)
            if counts.by_ok.get(RATE_LIMITED):
                limited.add_metric([route], counts.by_ok[RATE_LIMITED])
            latency.add_metric([route], _buckets(LATENCY_BUCKETS, counts.buckets), counts.seconds)
        groups = HistogramMetricFamily(
            "huihua_group_commit_writes", HELP["huihua_group_commit_writes"]
        )
        groups.add_metric([], _buckets(GROUP_BUCKETS, self._groups), self._group_writes)
        errors = CounterMetricFamily(
            "huihua_store_errors", HELP["huihua_store_errors"], labels=["kind", "code"]
        )
        with self._lock:
            for (kind, code), n in sorted(self._errors.items()):
                errors.add_metric([kind, code], n)
        yield from (requests, latency, limited, groups, errors)

    def scrape(self) -> bytes:
        """Return the metrics in Prometheus' text format."""
        return generate_latest(self._registry)


def _buckets(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, int]]:
    # prometheus-client leaves floatToGoString and MultiProcessCollector unannotated
    les = [*(floatToGoString(float(b)) for b in bounds), "+Inf"]  # type: ignore[no-untyped-call]
    return list(zip(les, accumulate(counts), strict=True))


class SharedMetrics:
    """The metrics of one of several workers, written through prometheus-client's own
    metrics to the multiprocess folder; a scrape adds every worker's up."""

    def __init__(self, folder: str) -> None:
        self._folder = folder
        r = CollectorRegistry()  # each worker's values live in the folder's files
        h = HELP
        self._requests = Counter(
            "huihua_requests", h["huihua_requests"], ["route", "ok"], registry=r
        )
        self._seconds = Histogram(
            "huihua_request_seconds",
            h["huihua_request_seconds"],
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._limited = Counter(
            "huihua_rate_limited", h["huihua_rate_limited"], ["route"], registry=r
        )
        self._groups = Histogram(
            "huihua_group_commit_writes",
            h["huihua_group_commit_writes"],
            buckets=GROUP_BUCKETS,
            registry=r,
        )
        self._errors = Counter(
            "huihua_store_errors", h["huihua_store_errors"], ["kind", "code"], registry=r
        )
        self.replies = _ReplyMetrics(r)
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
        """Return every worker's metrics, added up, in Prometheus' text format."""
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self._folder)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
