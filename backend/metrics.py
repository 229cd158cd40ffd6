"""Prometheus metrics at ``/metrics``: request latency, cache, jobs, frames propagated.

Each app gets its own registry (tests build many apps in one process). Under gunicorn
(``samvid serve --workers N``) the workers write their figures to the files of
``PROMETHEUS_MULTIPROC_DIR`` (set by ``serve``) and any worker's ``/metrics`` reports
the sum over all of them, so a scrape sees the whole server, not one worker.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from samvid.errors import QueueUnavailable
from samvid.predictor import Predictor

log = logging.getLogger(__name__)

# Shared by the propagation code of this process, whichever app runs it.
FRAMES_PROPAGATED = Counter("samvid_frames_propagated_total", "Frames written by propagation jobs")


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    def __init__(self, predictor: Predictor, job_states: Callable[[], dict[str, int]]) -> None:
        self.predictor = predictor
        own = CollectorRegistry()  # where this app's metric objects live
        self.latency = Histogram(
            "samvid_request_seconds", "Request latency by route", ["route", "status"],
            registry=own,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.jobs_submitted = Counter("samvid_jobs_submitted_total", "Jobs submitted", ["kind"], registry=own)
        self.cache = Counter(
            "samvid_embedding_cache", "Embedding cache lookups (local LRU)", ["result"], registry=own
        )
        self.encoder_runs = Counter("samvid_encoder_runs", "Image encoder runs", registry=own)
        self._seen = (0, 0, 0)
        self._lock = threading.Lock()
        if multiprocess():
            # Values live in files shared by all workers; expose their sum, not ``own``.
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry)
        else:
            self.registry = own
            own.register(FRAMES_PROPAGATED)
        # Read at scrape time from the queue: with Redis it is shared, so one worker's view is whole.
        self.registry.register(_JobStates(job_states))

    def sync(self) -> None:
        """Count the cache lookups and encoder runs since the last call (cheap: no I/O)."""
        cache = self.predictor.cache
        with self._lock:
            # Read once, under the lock: a figure read before it (or read twice) by concurrent
            # requests could move ``_seen`` back and count the same lookups or runs again.
            now = (cache.local.stats.hits, cache.local.stats.misses, cache.encoder_runs)
            hits, misses, seen_runs = self._seen
            self.cache.labels("hit").inc(max(0, now[0] - hits))
            self.cache.labels("miss").inc(max(0, now[1] - misses))
            self.encoder_runs.inc(max(0, now[2] - seen_runs))
            self._seen = now


class _JobStates:
    def __init__(self, job_states: Callable[[], dict[str, int]]) -> None:
        self.job_states = job_states

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("samvid_jobs", "Jobs by state", labels=["state"])
        try:
            states = self.job_states()
        except QueueUnavailable as exc:  # the other figures still matter, Redis away most of all
            log.warning("/metrics without the jobs by state: %s", exc.message)
            states = {}
        for state, count in states.items():
            jobs.add_metric([state], count)
        yield jobs
