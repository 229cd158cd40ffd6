"""Prometheus metrics at ``/metrics``: request latency, cache, jobs, frames propagated.

``samvid_frames_propagated_total`` counts the frames propagation wrote: a job's (a frame
every object has left counts: its earlier prediction is cleared), and a frame computed as
an annotator opens it (``Propagator.answer_on_open``, in the server).
A frame written again counts again (a job recomputing a frame filled on open, a correction
recomputing the frames after it): it is the work done, not the frames of a project.

Each app gets its own registry (tests build many apps in one process). Under gunicorn
(``samvid serve --workers N``) the workers write their figures to the files of
``PROMETHEUS_MULTIPROC_DIR`` (set by ``serve``) and any worker's ``/metrics`` reports
the sum over all of them, so a scrape sees the whole server, not one worker. With Redis
the propagation jobs run in ``samvid worker`` processes, which add the frames they write
to a count in Redis; ``/metrics`` adds it to this server's own (the frames filled on open,
which the server's processes count in their own counters, shared through the files above,
and never add to Redis's: each is counted once).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from samvid.errors import QueueUnavailable
from samvid.predictor import Predictor

log = logging.getLogger(__name__)

# Shared by the propagation code of this process, whichever app runs it.
FRAMES_HELP = ("Frames written by propagation, a frame every object left (prediction cleared) "
               "included: jobs, and frames filled as an annotator opens them; a frame written "
               "again counts again")
FRAMES_PROPAGATED = Counter("samvid_frames_propagated_total", FRAMES_HELP)
FRAMES_NAME = "samvid_frames_propagated"


def frames_propagated_here() -> float:
    """The frames this process wrote (``FRAMES_PROPAGATED``'s value)."""
    for metric in FRAMES_PROPAGATED.collect():
        for sample in metric.samples:
            if sample.name == f"{FRAMES_NAME}_total":
                return sample.value
    return 0.0


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    def __init__(self, predictor: Predictor, job_states: Callable[[], dict[str, int]],
                 frames_elsewhere: Callable[[], int] | None = None) -> None:
        """``job_states`` and ``frames_elsewhere`` (the frames other processes' jobs wrote:
        ``samvid worker``s with Redis; those this server's processes wrote, their jobs' and
        the frames filled on open, are in ``FRAMES_PROPAGATED``) are read at scrape time."""
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
        figures: Collector
        if multiprocess():
            # Values live in files shared by all workers; expose their sum, not ``own``.
            figures = MultiProcessCollector(None)
        else:
            own.register(FRAMES_PROPAGATED)
            figures = own
        self.registry = CollectorRegistry()
        self.registry.register(_Deployment(figures, job_states, frames_elsewhere))

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


class _Deployment:
    """This server's figures, plus what is read at scrape time from the queue: the jobs by
    state and the frames its workers wrote. With Redis both are shared, so one server's
    view is whole."""

    def __init__(self, figures: Collector, job_states: Callable[[], dict[str, int]],
                 frames_elsewhere: Callable[[], int] | None) -> None:
        self.figures, self.job_states, self.frames_elsewhere = figures, job_states, frames_elsewhere

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("samvid_jobs", "Jobs by state", labels=["state"])
        elsewhere: float | None = 0
        try:
            states = self.job_states()
            if self.frames_elsewhere is not None:
                elsewhere = self.frames_elsewhere()
        except QueueUnavailable as exc:  # the other figures still matter, Redis away most of all
            # Read once per scrape: each read waits out the client's retries (~40 s).
            log.warning("/metrics without the jobs by state or the workers' frames: %s", exc.message)
            states = {}
            # Left out, not this server's frames alone: a counter that drops reads as a restart.
            elsewhere = None if self.frames_elsewhere is not None else 0
        counted = False
        for metric in self.figures.collect():
            if metric.name == FRAMES_NAME:
                if elsewhere is None:
                    continue
                counted = True
                metric.samples = [s._replace(value=s.value + elsewhere) if s.name == f"{FRAMES_NAME}_total" else s
                                  for s in metric.samples]
            yield metric
        if not counted and elsewhere:  # none of this server's (no gunicorn worker has counted yet)
            yield CounterMetricFamily(FRAMES_NAME, FRAMES_HELP, value=elsewhere)
        for state, count in states.items():
            jobs.add_metric([state], count)
        yield jobs
