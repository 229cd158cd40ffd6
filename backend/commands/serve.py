"""``samvid serve``: the ML backend over HTTP, on gunicorn (threads; more workers on demand).

Flask's development server only runs behind ``--dev``: it warns "do not use it in a
production deployment" and handles neither timeouts nor worker restarts."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import signal
import tempfile
from typing import TYPE_CHECKING

from samvid.commands.arguments import at_least_one, tcp_port
from samvid.errors import ConfigError
from samvid.models.precision import PRECISIONS
from samvid.models.registry import DEFAULT_MODEL, MODELS
from samvid.settings import Settings, env_value, named_as_typed

if TYPE_CHECKING:
    from samvid.predictor import Predictor

log = logging.getLogger("samvid.serve")
THREADS = 4  # gunicorn threads per worker when --threads is not given


def add_arguments(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(MODELS)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=tcp_port, default=9090)
    parser.add_argument("--workers", type=at_least_one, default=1,
                        help="gunicorn worker processes (default 1: one process, the model loaded once)")
    # None: not given, so that --dev (which has no threads to set) can refuse it.
    parser.add_argument("--threads", type=at_least_one, help=f"threads per gunicorn worker (default {THREADS})")
    parser.add_argument("--dev", action="store_true",
                        help="Flask's development server instead of gunicorn (one process; debugging only)")
    parser.add_argument(
        "--model",
        help=f"model name or local folder (SAMVID_MODEL, default {DEFAULT_MODEL}); one of: {names}",
    )
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (SAMVID_DEVICE)")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="model precision for clicks and tracking (SAMVID_PRECISION, default auto: "
                             "bf16 on CPUs with AVX512-BF16 or AMX, fp16 on CUDA, fp32 otherwise)")
    parser.add_argument("--tracker", metavar="ENGINE",
                        help="propagation engine (SAMVID_TRACKER, default auto: SAM 2's memory engine "
                             "when a SAM 2-family or EdgeTAM model with weights is loaded, else flow)")
    parser.add_argument(
        "--fallback",
        choices=["classic", "standin"],
        help="use this model when the configured one has no weights (SAMVID_FALLBACK)",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        default=None,
        help="build the model with random weights: real speed, meaningless masks (benchmarks)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    with named_as_typed(device=args.device, precision=args.precision):
        return Settings.from_env(
            model=args.model, device=args.device, fallback=args.fallback, random_weights=args.random_weights,
            precision=args.precision, tracker=args.tracker,
        )


def run(args: argparse.Namespace) -> int:
    _check_dev(args)
    metrics_dir = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Before prometheus_client is imported: workers then share their figures (samvid.metrics).
        metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="samvid-metrics-")
    try:
        return _serve(args)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_dev(args: argparse.Namespace) -> None:
    """Refuse --workers or --threads with --dev: Flask's server ignored them without a word
    (one process, a thread per request), while the start still warned of workers without
    REDIS_URL and set up metrics shared between processes."""
    given = [flag for flag, set_ in (("--workers", args.workers > 1), ("--threads", args.threads is not None)) if set_]
    if args.dev and given:
        raise ConfigError(f"{' and '.join(given)} and --dev contradict each other: --dev runs Flask's "
                          "development server, one process with a thread per request; drop --dev for "
                          f"gunicorn's workers and threads, or drop {' and '.join(given)}")


def _serve(args: argparse.Namespace) -> int:
    from samvid.app import create_app
    from samvid.launcher import require_free_port
    from samvid.tracker.engines import start_configured

    settings = settings_from(args)
    # Before the model loads (seconds to minutes), and in samvid's words, not gunicorn's
    # five retries and "Can't connect".
    require_free_port(args.host, args.port, "samvid serve", "--port")
    # Load the models now: a missing model is reported at start, not at the first click.
    with named_as_typed(device=args.device, precision=args.precision):
        predictor, settings = _load_predictor(settings, args)
    with named_as_typed(device=args.device, precision=args.precision):
        settings = dataclasses.replace(settings, tracker=start_configured(settings, predictor.segmenter))
    log.info("model %s on %s, propagation engine %s, listening on %s:%d", predictor.version,
             settings.device, settings.tracker, args.host, args.port)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not settings.auth_user:
        log.warning(
            "listening on %s with no authentication: anyone who can reach this port can use "
            "the backend; set SAMVID_AUTH_USER and SAMVID_AUTH_PASSWORD", args.host
        )
    if args.workers > 1 and not settings.redis_url:
        # Each process keeps its own job queue (frame locks are files, shared): a job's
        # status is known to one worker only, and two jobs of one clip may run at once.
        log.warning(
            "--workers %d without REDIS_URL: each worker process keeps its own propagation jobs "
            "(a job's status is known to one worker only, two jobs of one clip may run at once); "
            "set REDIS_URL so they share them, or use --threads", args.workers
        )
    if args.dev:
        log.warning("--dev: Flask's development server, for debugging only")
        # SIGTERM as Ctrl-C: by default it ended the process on the spot, its running and
        # queued jobs dropped unsaid (at exit ``samvid.jobs`` names them).
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        create_app(settings, predictor).run(host=args.host, port=args.port, threaded=True)
        return 0
    # With several gunicorn workers each loads its own copy after the fork.
    _gunicorn(settings, args, None if args.workers > 1 else predictor).run()
    return 0


def _load_predictor(settings: Settings, args: argparse.Namespace) -> tuple[Predictor, Settings]:
    """The predictor of the configured model, or of the fallback with a warning, and the settings
    it was loaded by (``load_configured_segmenter``), its messages naming the flag or variable
    each setting came from."""
    from samvid.predictor import ModelNamed, Predictor, load_configured_segmenter

    given = "--model" if args.model else "SAMVID_MODEL" if env_value("SAMVID_MODEL") else ""
    named = ModelNamed(model=given, folder=given or "--model",
                       fallback="--fallback" if args.fallback else "SAMVID_FALLBACK")
    segmenter, loaded = load_configured_segmenter(settings, named)
    return Predictor.from_settings(loaded, segmenter), loaded


def _gunicorn(settings: Settings, args: argparse.Namespace, predictor=None):
    """gunicorn with ``gthread`` workers. With one worker the app, and the model loaded
    above, are built before the fork (``preload_app``): the model is loaded once."""
    from gunicorn.app.base import BaseApplication

    from samvid.launcher import bind_address

    class Application(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", bind_address(args.host, args.port))
            self.cfg.set("workers", args.workers)
            self.cfg.set("threads", args.threads or THREADS)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 300)  # a cold frame on a slow CPU can take seconds
            self.cfg.set("graceful_timeout", 10)  # `samvid up` waits 15 s before it kills
            self.cfg.set("preload_app", predictor is not None)
            # gunicorn 25.1+ opens a control socket at ~/.gunicorn/gunicorn.ctl, one per user: each
            # backend took it over from the one before (samvid up's, another serve's). Unused here.
            if "control_socket_disable" in self.cfg.settings:  # pyproject allows gunicorn 22+
                self.cfg.set("control_socket_disable", True)

        def load(self):
            from samvid.app import create_app

            return create_app(settings, predictor, processes=args.workers)

    return Application()
