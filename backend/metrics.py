"""Prometheus metrics at ``/metrics``: request latency, cache, jobs, frames propagated.

Each app gets its own registry (tests build many apps in one process). With
gunicorn each worker process exposes its own figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from samvid.predictor import Predictor

# Shared by the propagation code of this process, whichever app runs it.
FRAMES_PROPAGATED = Counter("samvid_frames_propagated_total", "Frames written by propagation jobs")


class Metrics:
    def __init__(self, predictor: Predictor, job_states: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "samvid_request_seconds", "Request latency by route", ["route", "status"],
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.jobs_submitted = Counter(
            "samvid_jobs_submitted_total", "Jobs submitted", ["kind"], registry=self.registry
        )
        self.registry.register(_StateCollector(predictor, job_states))
        self.registry.register(FRAMES_PROPAGATED)


class _StateCollector:
    """Figures read at scrape time from the objects that own them."""

    def __init__(self, predictor: Predictor, job_states: Callable[[], dict[str, int]]) -> None:
        self.predictor, self.job_states = predictor, job_states

    def collect(self) -> Iterator[object]:
        stats = self.predictor.cache.local.stats
        cache = CounterMetricFamily(
            "samvid_embedding_cache", "Embedding cache lookups (local LRU)", labels=["result"]
        )
        cache.add_metric(["hit"], stats.hits)
        cache.add_metric(["miss"], stats.misses)
        yield cache
        yield CounterMetricFamily(
            "samvid_encoder_runs", "Image encoder runs", value=self.predictor.cache.encoder_runs
        )
        jobs = GaugeMetricFamily("samvid_jobs", "Jobs by state", labels=["state"])
        for state, count in self.job_states().items():
            jobs.add_metric([state], count)
        yield jobs
