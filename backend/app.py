"""The HTTP edge: Flask routes that parse, validate and delegate.

Speaks the ML-backend protocol of Label Studio 1.23 (``/health``, ``/setup``,
``/predict``, ``/webhook``, ``/versions``). Every failure a user can act on is a
``SamvidError`` turned into a JSON 4xx here; anything else is a JSON 500 with no
stack trace (the trace goes to the log).
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, ServiceUnavailable, UnsupportedMediaType

from samvid import __version__
from samvid.auth import OPEN_PATHS, basic_auth_ok
from samvid.automatic import (
    AutoConfig,
    AutoRegionsCache,
    auto_model_version,
    has_everything_mode,
    require_everything,
)
from samvid.errors import BadRequest, ConfigError, NoEverythingMode, QueueUnavailable, SamvidError, TooLarge
from samvid.http_errors import http_status
from samvid.jobs import Jobs
from samvid.predictor import Predictor
from samvid.propagation import PropagationRequest, clip_key, human_annotated
from samvid.propagation.handoff import STORED_WITHIN, Answer
from samvid.redis_connect import PasswordRefused, replied
from samvid.service import Service
from samvid.settings import Settings
from samvid.studio import protocol, stream, video
from samvid.studio.events import propagation_from_event
from samvid.studio.results import check_shown_size, mask_regions, new_region_id

log = logging.getLogger("samvid.http")


def create_app(
    settings: Settings | None = None, predictor: Predictor | None = None, jobs: Jobs | None = None,
    *, processes: int = 1,
) -> Flask:
    """The app over a ``Service`` built from what is given (the rest from the environment);
    ``processes``: how many worker processes serve it (gunicorn ``--workers``)."""
    return _routes(Service.start(settings, predictor, jobs, processes=processes))


def _routes(service: Service) -> Flask:
    """Thin routes: parse the request, call the service or a module, answer."""
    predictor, jobs, metrics, auto_cache = service.predictor, service.jobs, service.metrics, service.auto_cache

    def shown_version() -> str:  # the version of what Label Studio's labeling stream shows as stored
        return stream.stream_version(service.settings.tracker, predictor.version,
                                     service.settings.auto and has_everything_mode(predictor.segmenter))

    app = Flask("samvid")
    app.config["MAX_CONTENT_LENGTH"] = service.settings.max_request_bytes
    app.extensions["samvid.service"] = service
    app.extensions["samvid.predictor"] = predictor
    app.extensions["samvid.jobs"] = jobs
    app.extensions["samvid.metrics"] = metrics

    @app.before_request
    def _start() -> Response | None:
        g.started = time.perf_counter()
        g.note = ""
        if request.path in OPEN_PATHS:  # a liveness check: needs no Label Studio, so no Redis read
            return None
        if service.settings.auth_user:
            header = request.headers.get("Authorization")
            if not basic_auth_ok(header, service.settings.auth_user, service.settings.auth_password):
                g.note = "unauthorised"
                resp = jsonify(error="authentication required: HTTP basic auth (SAMVID_AUTH_USER)")
                resp.status_code = 401
                resp.headers["WWW-Authenticate"] = 'Basic realm="samvid"'
                return resp
        service.sync_studio()  # a token another worker learned from /setup
        return None

    @app.after_request
    def _log_request(response: Response) -> Response:  # one line per request, with timing
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.latency.labels(route, str(response.status_code)).observe(seconds)
        metrics.sync()
        log.info("%s %s %s %.1fms %s", request.method, loggable(request.path, MAX_LOGGED_PATH),
                 response.status_code, seconds * 1000, loggable(str(g.get("note", "")), MAX_LOGGED_NOTE))
        return response

    @app.errorhandler(SamvidError)
    def _samvid_error(exc: SamvidError):
        g.note = exc.message
        return jsonify(error=exc.message), http_status(exc)

    @app.errorhandler(RequestEntityTooLarge)
    def _body_too_large(exc: RequestEntityTooLarge):  # werkzeug's text names no setting
        return _samvid_error(TooLarge(
            f"the request body is over {service.settings.max_request_bytes} bytes "
            "(SAMVID_MAX_REQUEST_BYTES): send fewer tasks per request or raise the limit"))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        g.note = exc.description or ""
        resp = jsonify(error=exc.description or exc.name)
        resp.status_code = exc.code or 500
        for name, value in exc.get_headers():  # a 405's Allow (RFC 9110 15.5.6), a 401's challenge
            if name.lower() != "content-type":  # the body is JSON, not werkzeug's HTML
                resp.headers[name] = value
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, loggable(request.path, MAX_LOGGED_PATH))
        return jsonify(error="internal error; the samvid log has the details"), 500

    @app.get("/health")
    @app.get("/")
    def health():
        # "UP" whatever Redis says: Label Studio's connect check reads it, and clicks need no
        # Redis. Its state is the last read's; a stale one is checked again in the background.
        extra = {"redis": service.shared.state_for_health()} if service.shared is not None else {}
        return jsonify(status="UP", model_class="samvid", model_version=predictor.version,
                       tracker=service.settings.tracker, **extra)

    @app.get("/metrics")
    def prometheus_metrics():
        metrics.sync()
        # content_type, not mimetype: the latter appends a second "; charset=utf-8".
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    @app.get("/versions")
    def versions():
        return jsonify(versions=[predictor.version], tracker=service.settings.tracker, samvid=__version__)

    @app.get("/openapi.json")
    def openapi():  # this API's description (backend/openapi.yaml); behind auth like the rest
        from samvid.openapi import spec

        return jsonify(spec(auth_required=bool(service.settings.auth_user)))

    @app.post("/setup")
    def setup():
        body = _json_body()
        if "schema" in body:
            problem = config_problem(body["schema"])
            if problem is not None:  # LS shows no setup errors when connecting: the log says it
                log.warning("setup for project %s: %s", loggable(str(body.get("project")), 80), problem)
        service.adopt_studio(body.get("hostname"), body.get("access_token"))
        return jsonify(model_version=shown_version())

    @app.post("/predict")
    def predict():
        body = _json_body()
        tasks = body.get("tasks")
        if not isinstance(tasks, list):
            raise BadRequest("'tasks' must be a list of Label Studio tasks")
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise BadRequest("'params' must be an object")
        boxes = video.box_prompts(params.get("context"))
        if boxes:  # a VideoRectangle drawn on a video task: track it through the video
            if len(tasks) != 1:
                raise BadRequest("an interactive request must carry exactly one task")
            # Each box on the video its control draws on (a config may hold several), each
            # video read once.
            by_video: dict[video.VideoTarget, list[video.BoxPrompt]] = {}
            for box in boxes:
                by_video.setdefault(video.parse_video_config(body.get("label_config") or "", box.from_name),
                                    []).append(box)
            answers = [video.answer(predictor, service.settings, tasks[0], drawn, vtarget)
                       for vtarget, drawn in by_video.items()]
            return jsonify(results=[{**answers[0], "result": [r for a in answers for r in a["result"]]}])
        try:
            target = protocol.parse_config(body.get("label_config"))
        except SamvidError:
            if not _video_boxes(body.get("label_config")):
                raise
            # A video task opened (or edited) with no box drawn: nothing to track yet.
            return jsonify(results=nothing_to_predict(tasks, params.get("context"), predictor.version))

        def task_target(to_name: str | None) -> protocol.MaskTarget:
            """The target of the image ``to_name`` with the labels the task gives (dynamic labels)."""
            data = tasks[0].get("data") if len(tasks) == 1 and isinstance(tasks[0], dict) else None
            return protocol.parse_config(body.get("label_config"), to_name).for_task(data)

        def mask_label(to_name: str | None, label: str) -> str:
            try:
                return protocol.choose_label(task_target(to_name), label)
            except SamvidError:
                return label  # refused with its message when its mask is made

        prompts = protocol.prompts_from_context(params.get("context"), mask_label)
        if not prompts:
            if service.settings.auto:
                automatic = _automatic(predictor, service.settings, tasks, params.get("context"), target, auto_cache)
                if automatic is not None:
                    return jsonify(results=automatic)
            opened = _on_open(service, body, target, stored=params.get("context") is None)
            if opened is not None:
                return jsonify(results=[opened.as_json()])
            return jsonify(results=nothing_to_predict(tasks, params.get("context"), predictor.version))
        if len(tasks) != 1 or not isinstance(tasks[0], dict):
            raise BadRequest("an interactive request must carry exactly one task")
        results, scores, cached = [], [], True
        task_id = tasks[0].get("id")
        for smart in prompts:
            image = task_target(smart.to_name)  # the one clicked
            ref = protocol.image_ref(tasks[0], image, smart.item_index)
            label = protocol.choose_label(image, smart.label)
            size, computed = smart.size, False
            if size is None:  # no original_width/height: the percent values need only the image
                embedding, known = predictor.embedding(ref, task_id, timeout=predictor.request_timeout)
                size, computed = (embedding.image_size[1], embedding.image_size[0]), not known
            if image.control_for(label)[1] == "brushlabels":  # refused before the encoder runs
                check_shown_size(size, service.settings.max_image_pixels)
            timed = predictor.predict(ref, smart.on_image(*size), size, task_id)
            embed_cached = timed.embed_cached and not computed
            cached = cached and embed_cached
            g.note = f"{'cached' if embed_cached else 'cold'} {timed.seconds * 1000:.0f}ms"
            # A polygon project gets one polygon per part (an object split by an occluder),
            # ids <id>, <id>~2, ...: accepted, they are one object to propagation and export.
            # A brush is written at the size Label Studio shows the image at.
            regions = mask_regions(timed.prediction.mask, image, [label], region_id=new_region_id(),
                                   item_index=smart.item_index, score=timed.prediction.score,
                                   shown=size, max_pixels=service.settings.max_image_pixels)
            results += regions
            scores += [timed.prediction.score] if regions else []
        score = float(sum(scores) / len(scores)) if scores else 0.0
        resp = jsonify(results=[{"result": results, "score": score, "model_version": predictor.version}])
        resp.headers["X-Samvid-Embedding"] = "cached" if cached else "computed"
        return resp

    @app.post("/webhook")
    def webhook():
        """Label Studio events: a saved frame annotation starts propagation, answered at once."""
        body = _json_body()
        action = body.get("action")
        g.note = str(action or "")
        request_ = propagation_from_event(body, service.settings)
        if request_ is None:
            return jsonify(status="ignored"), 200
        _require_studio_key(service)
        job = _submit(jobs, request_)
        metrics.jobs_submitted.labels("propagate").inc()
        return jsonify(status="queued", job=job.to_dict()), 201

    @app.post("/propagate")
    def propagate():
        body = _json_body()
        engine = body.get("engine")
        # None, "" (a script's empty option) and "auto": the engine chosen at start, not
        # PropagationRequest's own default (flow), which reads any falsy value as unset.
        if engine is None or (isinstance(engine, str) and engine in ("", "auto")):
            body["engine"] = service.settings.tracker
        elif not isinstance(engine, str):
            raise BadRequest(f"engine must be the name of a tracker engine (a string), not {engine!r}")
        req = PropagationRequest.from_payload(body)
        _require_studio_key(service)
        job = _submit(jobs, req)
        metrics.jobs_submitted.labels("propagate").inc()
        return jsonify(job.to_dict()), 202

    @app.get("/jobs/<job_id>")
    def job_status(job_id: str):
        return jsonify(jobs.get(job_id).to_dict())

    @app.delete("/jobs/<job_id>")
    def job_cancel(job_id: str):
        return jsonify(jobs.cancel(job_id).to_dict())

    return app


def _require_studio_key(service: Service) -> None:
    """A 503 naming what to set when propagation could not reach Label Studio."""
    failure = service.shared.failure if service.shared is not None else None
    if not service.settings.label_studio_api_key and isinstance(failure, PasswordRefused):
        raise QueueUnavailable(f"cannot read Label Studio's token from Redis: {failure.message}")
    if not service.settings.label_studio_api_key and failure is not None and replied(failure):
        # Redis runs and answered: its reply (an ACL without GET, LOADING) says what to fix.
        raise QueueUnavailable(f"cannot read Label Studio's token from Redis: Redis refused the read "
                               f"({type(failure).__name__}: {str(failure)[:200]})")
    if not service.settings.label_studio_api_key and failure is not None:
        # The token may well be in Redis: what to fix is Redis, not the key.
        raise QueueUnavailable(f"cannot read Label Studio's token from Redis ({type(failure).__name__}): check "
                               "that Redis runs and that REDIS_URL points at it, with its password")
    if not service.settings.label_studio_api_key and service.setup_refused:
        # Connected, and told to connect: the reason was in the log only.
        raise ServiceUnavailable(
            "no Label Studio API key, and propagation reads and writes annotations in Label Studio: "
            f"the token Label Studio's /setup sent is not used, as {service.setup_refused}")
    if not service.settings.label_studio_api_key and service.unshared_setup:
        # setup_refused is the one process's that answered /setup: the other gunicorn workers
        # never hear of it, and would say "connect this backend" to a user who just had.
        raise ServiceUnavailable(
            "no Label Studio API key, and propagation reads and writes annotations in Label Studio: "
            f"a token Label Studio's /setup sends is not used, as {service.unshared_setup}")
    if not service.settings.label_studio_api_key:
        # The job's first call to Label Studio would fail within a millisecond, seen only in
        # the log: a webhook answered "queued" is recorded as delivered and nothing happens.
        # The settings are as synced before this request (a token from /setup, or from Redis
        # when another process learned it); the job checks again (a key revoked since).
        raise ServiceUnavailable(
            "no Label Studio API key, and propagation reads and writes annotations in Label Studio: "
            "set LABEL_STUDIO_API_KEY (Label Studio: Account & Settings > Access Token), or connect "
            "this backend to the project in Label Studio (Settings > Model), whose /setup call "
            "sends samvid its token (if you connected it, samvid's log says why the token it sent "
            "was not used)")


def _submit(jobs: Jobs, req: PropagationRequest):
    key = clip_key(req.project, req.clip)  # every direction: two jobs writing one stretch would interleave
    # Only the same request again (a repeated submit of a frame) supersedes a job: one from
    # the same frame for other objects or fewer frames would leave the first's work undone.
    same = json.dumps(req.to_payload(), sort_keys=True)
    return jobs.submit("propagate", key, req.to_payload(), order=same)


def _json_body() -> dict[str, Any]:
    """The request's JSON object; BadRequest (or a 413) says what to change.

    The body must be sent as ``Content-Type: application/json``, though it might parse
    without: a browser sends only form and text types cross-site without asking first
    (a CORS preflight), so a web page could otherwise make an annotator's browser post
    to a backend on their machine, such as a /setup that changes its Label Studio.
    """
    if not request.is_json:
        raise BadRequest(
            "send the body as JSON with the header Content-Type: application/json "
            f"(this request's is {request.mimetype or 'missing'!r})"
        )
    coding = (request.content_encoding or "").strip()
    if coding.lower() not in ("", "identity"):
        # Werkzeug passes the coded bytes through, which the parser then calls invalid UTF-8.
        raise UnsupportedMediaType(f"Content-Encoding {coding[:40]!r} is not supported; send the body uncompressed")
    data = request.get_data(cache=True)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is None and limit is not None and len(data) >= limit:
        # A chunked body is cut at the limit, not refused (werkzeug's LimitedStream): one
        # that fills it is taken as over it, since the stream cannot tell whether more followed.
        raise RequestEntityTooLarge()
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # the parser recurses per level; ValueError is all "silent" absorbs
        raise BadRequest("the JSON body is nested too deeply: send a Label Studio request") from None
    if not data.strip():
        raise BadRequest("the request body is empty: send a JSON object")
    if body is None and data.strip() != b"null":
        # Unparsed (a trailing comma, single quotes): "must be a JSON object" sent its author
        # looking at an object. Parsed again only to say where it broke.
        try:
            json.loads(data)
        except (ValueError, RecursionError) as exc:
            # The parser reads UTF-8 (or UTF-16/32, told by the NULs of the first bytes), never
            # the declared charset: a Latin-1 body fails as a byte no UTF-8 has.
            charset = request.mimetype_params.get("charset", "").strip()
            if isinstance(exc, UnicodeDecodeError) and charset.lower().replace("-", "") not in ("", "utf8"):
                raise BadRequest(f"the request body is not UTF-8 ({str(exc)[:200]}), and its charset "
                                 f"{charset[:40]!r} is not supported: send the JSON encoded as UTF-8") from None
            raise BadRequest(f"the request body is not valid JSON ({str(exc)[:200]}): "
                             "send a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    if (b"\0" in data[:4] or _SURROGATE_ESCAPE.search(data)) and _has_lone_surrogate(body):
        # Valid JSON, but no text: every path, URL or Redis key built from it fails to encode.
        raise BadRequest("the JSON body holds an unpaired surrogate escape (\\ud800-\\udfff): "
                         "send valid Unicode")
    return body


# A surrogate reaches parsed JSON through an escape, or as its raw UTF-8-style bytes (ED A0-BF
# ..., which the parser decodes with "surrogatepass"), so a UTF-8 body with neither is not
# checked; a UTF-16 or UTF-32 body (which the parser also reads: a NUL in its first four
# bytes) always is.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _has_lone_surrogate(body: Any) -> bool:
    """Whether a parsed body holds a surrogate no pair joined into one character."""
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# The request log is one line per request whatever a client puts in the path or provokes
# as a note: a path may carry a decoded newline (%0a) that would start a forged line.
MAX_LOGGED_PATH = 300
MAX_LOGGED_NOTE = 500


def loggable(text: str, limit: int) -> str:
    r"""``text`` with control characters escaped, cut after ``limit`` characters.

    >>> print(loggable("/x\n2026 POST /predict 200", 300), loggable("/" + "a" * 20, 8))
    /x\n2026 POST /predict 200 /aaaaaaa...
    """
    escaped = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return escaped if len(escaped) <= limit else escaped[:limit] + "..."


def config_problem(label_config: Any) -> str | None:
    """What keeps samvid from working with a project's config, None when nothing does: it
    segments images (``protocol.parse_config``) or tracks video boxes (``video``)."""
    try:
        protocol.parse_config(label_config)
        return None
    except SamvidError as image_problem:
        try:
            video.parse_video_config(label_config)
            return None
        except SamvidError as video_problem:
            return (f"{image_problem.message}; nor does it fit box tracking in a video: "
                    f"{video_problem.message}")


def _video_boxes(label_config: Any) -> bool:
    """Whether the config is one for box tracking in a video (no image to segment)."""
    try:
        video.parse_video_config(label_config)
        return True
    except SamvidError:
        return False


AUTO_BATCH = 50  # tasks a call computes or queues masks for: Label Studio waits for the answer


def _automatic(predictor: Predictor, settings: Settings, tasks: list, context: Any, target,
               cache: AutoRegionsCache) -> list | None:
    """SAM's automatic masks for frames opened without annotation: what is computed now,
    the rest queued (a grid takes longer than Label Studio waits).

    One entry per task: Label Studio 1.23 stores nothing at all when the counts differ
    (``ml/models.py``). A task with no masks yet (queued, past ``AUTO_BATCH``, annotated
    by a human, or without an image) gets the entry that stores no prediction: Label
    Studio asks again only for tasks without one, so its masks show when it is next opened.
    None for frames opened with a segmenter that has no automatic mode: they are opened
    as without SAMVID_AUTO (``_on_open``).
    """
    try:
        require_everything(predictor.segmenter)  # decided once: whichever tasks the call holds
    except NoEverythingMode as exc:
        g.note = exc.message  # the request's log line says it
        if context is None:
            # Opened as without SAMVID_AUTO (None): warmed, and filled by propagation on
            # open. Answered with entries that store nothing: one with a result, even
            # empty, is stored as a prediction of this model version, and Label Studio
            # asks again only for tasks without one.
            return None
        return [{"result": [], "score": 0.0, "model_version": predictor.version, "error": exc.message}
                for _ in tasks]
    answers: list = []
    for index, task in enumerate(tasks):
        if index >= AUTO_BATCH or not isinstance(task, dict) or human_annotated(task):
            answers.append(_no_prediction(context, predictor.version))
            continue
        try:
            labelled = target.for_task(task.get("data"))  # the labels a task gives (dynamic labels)
            regions = cache.get_or_queue(
                predictor, protocol.image_ref(task, labelled, None), task.get("id"), labelled,
                protocol.choose_label(labelled, None), AutoConfig(grid=settings.auto_grid))
        except (BadRequest, ConfigError) as exc:
            if isinstance(exc, ConfigError) and not target.labels_keys:
                raise  # the config's, not this task's: every task would fail alike
            # This task's (no image in its data, no labels in its list): the others get theirs.
            log.info("no automatic masks for task %s: %s", task.get("id"), exc.message)
            answers.append(_no_prediction(context, predictor.version))
            continue
        if regions is None:  # queued
            answers.append(_no_prediction(context, predictor.version))
            continue
        score = sum(r.get("score", 0.0) for r in regions) / len(regions) if regions else 0.0
        answers.append({"result": regions, "score": score,
                        "model_version": auto_model_version(predictor.version)})
    return answers


def nothing_to_predict(tasks: list, context: Any, version: str) -> list:
    """The answer that stores nothing and that Label Studio 1.23 logs no error for.

    ``ml/models.py`` rejects ``results: []`` ("results field must be a list with at least
    one item", one log line per call). A task opened without a prompt (``context`` null,
    ``predict_tasks``) takes one entry per task, each entry a *list* of predictions: an
    empty list adds none. An interactive call (a context object) takes exactly one entry,
    shown as a suggestion: an empty result shows nothing.
    """
    if context is None:
        return [_no_prediction(context, version) for _ in tasks]
    return [_no_prediction(context, version)]


def _no_prediction(context: Any, version: str) -> list | dict[str, Any]:
    """One task's entry that stores nothing (see ``nothing_to_predict``)."""
    return [] if context is None else {"result": [], "score": 0.0, "model_version": version}


OPEN_REDIS_SECONDS = 1.0  # what opening a task may spend waiting for Redis, per call and in all


def _on_open(service: Service, body: dict[str, Any], target: protocol.MaskTarget, stored: bool) -> Answer | None:
    """A task was opened (no prompt yet): warm its embedding; for a frame right after a
    human frame with nothing propagated yet, compute its masks now and answer them for
    Label Studio to store (``Propagator.answer_on_open``: the labeling stream shows only
    what an answer stores). None: nothing to answer. ``stored``: Label Studio stores the
    answer (a task opened, context null); else samvid writes the masks at once."""
    predictor, settings = service.predictor, service.settings
    tasks = body["tasks"]
    task = tasks[0] if len(tasks) == 1 and isinstance(tasks[0], dict) else None
    if task is None:  # batch "retrieve predictions": answer at once, never block for minutes
        return None
    if settings.precompute_on_open:
        try:
            predictor.precompute(protocol.image_ref(task, target, None), task.get("id"))
        except SamvidError:
            pass
    project = protocol.project_id_in(str(body.get("project") or "").split(".")[0])
    # Task data that is no object (any JSON can be posted) holds no frame to fill.
    if not (settings.label_studio_api_key and project is not None and isinstance(task.get("data"), dict)):
        return None
    from samvid.propagation import Propagator
    from samvid.studio.client import backoff
    from samvid.studio.frame_locks import FrameLocks

    try:
        # A click is waiting: ride out a blip, not a restart (jobs wait longer). Label Studio
        # holds the annotator's page until /predict answers: with Redis (the frame's write
        # lock) away, the frame is left to its propagation job within seconds, not a minute.
        studio = service.studio(retry_delays=backoff(1.5))
        locks = FrameLocks(studio.url, settings.redis_url, retry_seconds=OPEN_REDIS_SECONDS,
                           socket_seconds=OPEN_REDIS_SECONDS)
        propagator = Propagator(studio, predictor.source, locks)
        answer = propagator.answer_on_open(project, task, target, settings.tracker,
                                           stored_within=STORED_WITHIN if stored else 0.0)
    except SamvidError as exc:
        log.info("no on-demand propagation for task %s: %s", task.get("id"), exc.message)
        return None
    if answer is not None:
        g.note = "answered the job's masks on open" if answer.copied else "propagated on open"
    return answer if stored else None
