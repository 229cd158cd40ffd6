"""The HTTP edge where clients stray from Label Studio's usual requests: a second image,
odd bodies and headers, hostile paths, float residues, missing sizes, a Label Studio
served below a path. Each answer is the right status with a message that says what to do.
"""

from __future__ import annotations

import io
import json
import logging
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pytest
from ls_requests import BRUSH_CONFIG, keypoint, png_bytes, predict_body, write_png
from prometheus_client import CONTENT_TYPE_LATEST
from services import http_server, wait_until

from samvid.app import create_app
from samvid.auth import basic_auth_header, basic_auth_ok
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings
from samvid.studio.results import decode_brush

CONFIGS = Path(__file__).resolve().parents[2] / "labeling_configs"

TWO_IMAGES = """<View>
  <Image name="left" value="$left"/><Image name="right" value="$right"/>
  <BrushLabels name="mask_l" toName="left"><Label value="Car"/></BrushLabels>
  <BrushLabels name="mask_r" toName="right"><Label value="Car"/></BrushLabels>
  <KeyPointLabels name="kp_l" toName="left" smart="true"><Label value="Car"/></KeyPointLabels>
  <KeyPointLabels name="kp_r" toName="right" smart="true"><Label value="Car"/></KeyPointLabels>
</View>"""


def _app(images: Path, **settings):
    config = Settings.from_env({}, model="standin", local_roots=(images,), precompute_on_open=False, **settings)
    app = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10)))
    app.testing = True
    return app.test_client()


def _disk(w, h, cx, cy, r=10):
    ys, xs = np.mgrid[0:h, 0:w]
    return (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= r * r


def _region(resp) -> dict:
    assert resp.status_code == 200, resp.get_json()
    (entry,) = resp.get_json()["results"]
    (region,) = entry["result"]
    return region


def _two_image_body(left: str, right: str, item: dict, config: str = TWO_IMAGES) -> dict:
    return {"tasks": [{"id": 1, "data": {"left": left, "right": right}}], "project": "1.1",
            "label_config": config, "params": {"context": {"result": [item]}}}


# --- a config with two images ---------------------------------------------------------


def test_click_on_the_second_image_is_segmented_on_that_image(client, images):
    left = write_png(images / "left.png", 100, 80, seed=1)
    right = write_png(images / "right.png", 60, 40, seed=2)
    item = {**keypoint(30.5, 20.5, 60, 40), "from_name": "kp_r", "to_name": "right"}
    region = _region(client.post("/predict", json=_two_image_body(str(left), str(right), item)))
    assert (region["from_name"], region["to_name"]) == ("mask_r", "right")
    assert (region["original_width"], region["original_height"]) == (60, 40)
    np.testing.assert_array_equal(decode_brush(region), _disk(60, 40, 30.5, 20.5))


def test_click_on_an_image_no_mask_control_points_at_is_a_400_naming_it(client, images):
    left, right = write_png(images / "l.png", 40, 30), write_png(images / "r.png", 40, 30)
    config = TWO_IMAGES.replace('<BrushLabels name="mask_r" toName="right"><Label value="Car"/></BrushLabels>', "")
    item = {**keypoint(10, 10, 40, 30), "from_name": "kp_r", "to_name": "right"}
    resp = client.post("/predict", json=_two_image_body(str(left), str(right), item, config))
    assert resp.status_code == 400
    assert "'right'" in resp.get_json()["error"] and "toName" in resp.get_json()["error"]


# --- bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/predict", "/webhook", "/setup"])
def test_deeply_nested_json_is_a_400_without_a_traceback(client, caplog, path):
    raw = "[" * 5000 + "]" * 5000
    with caplog.at_level(logging.INFO, logger="samvid"):
        resp = client.post(path, data=raw, content_type="application/json")
    assert resp.status_code == 400
    assert "nested too deeply" in resp.get_json()["error"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_json_body_without_json_content_type_says_what_header_to_send(client, images):
    body = json.dumps(predict_body(str(write_png(images / "a.png", 32, 32)), [keypoint(5, 5, 32, 32)]))
    # curl -d sends form encoding: the body is refused, though it parses, so that a web
    # page cannot post to a backend without the browser's CORS preflight.
    resp = client.post("/predict", data=body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 400
    assert "Content-Type: application/json" in resp.get_json()["error"]


def _chunked(client, body: bytes):
    # As gunicorn passes a chunked body: no Content-Length, the stream ends by itself.
    return client.post("/predict", input_stream=io.BytesIO(body), content_type="application/json",
                       headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})


def test_chunked_body_over_the_limit_is_a_413(images):
    client = _app(images, max_request_bytes=100_000)
    big = json.dumps({"tasks": [{"data": {"image": "x" * 200_000}}]}).encode()
    resp = _chunked(client, big)
    assert resp.status_code == 413
    assert "SAMVID_MAX_REQUEST_BYTES" in resp.get_json()["error"]
    small = predict_body(str(write_png(images / "a.png", 32, 32)), [keypoint(5, 5, 32, 32)])
    assert _chunked(client, json.dumps(small).encode()).status_code == 200


# --- headers --------------------------------------------------------------------------


def test_wrong_method_answers_405_with_allow_header(client):
    resp = client.get("/predict")
    assert resp.status_code == 405
    assert "POST" in resp.headers["Allow"]
    assert resp.mimetype == "application/json" and resp.get_json()["error"]


def test_metrics_content_type_is_exactly_prometheus_text(client):
    assert client.get("/metrics").headers["Content-Type"] == CONTENT_TYPE_LATEST


@pytest.mark.parametrize("scheme", ["basic", "BASIC", "bAsIc"])
def test_basic_auth_scheme_is_case_insensitive(images, scheme):
    header = basic_auth_header("ann", "s3cret").replace("Basic", scheme, 1)
    assert basic_auth_ok(header, "ann", "s3cret")
    client = _app(images, auth_user="ann", auth_password="s3cret")
    assert client.get("/versions", headers={"Authorization": header}).status_code == 200
    wrong = basic_auth_header("ann", "x").replace("Basic", scheme, 1)
    assert client.get("/versions", headers={"Authorization": wrong}).status_code == 401
    assert not basic_auth_ok("Bearer " + header.split(" ", 1)[1], "ann", "s3cret")


# --- the request log ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/x%0a2026-01-01 00:00:00,000 samvid.http POST /predict 200 1.0ms",
                                  "/x%0d%1b[2J%e2%80%a8", "/" + "a" * 5000])
def test_request_log_is_one_line_for_a_path_with_a_newline(client, caplog, path):
    with caplog.at_level(logging.INFO, logger="samvid.http"):
        client.get(path)
    (record,) = [r for r in caplog.records if r.name == "samvid.http"]
    line = record.getMessage()
    assert line.splitlines() == [line] and line.isprintable()
    assert len(line) < 1000


def test_a_note_from_the_request_is_logged_on_one_line(client, caplog):
    # The note may quote what the client sent: here the webhook's action.
    with caplog.at_level(logging.INFO, logger="samvid.http"):
        client.post("/webhook", json={"action": "PING\n2026-01-01 00:00:00,000 samvid.http POST /predict 200"})
    (record,) = [r for r in caplog.records if r.name == "samvid.http"]
    assert "PING" in record.getMessage() and "\n" not in record.getMessage()


# --- /setup ---------------------------------------------------------------------------


def test_setup_with_each_shipped_config_logs_no_warning(client, caplog):
    shipped = sorted(CONFIGS.glob("*.xml"))
    assert "video_boxes.xml" in [p.name for p in shipped]  # box tracking's: not an image config
    for config in shipped:
        with caplog.at_level(logging.WARNING, logger="samvid"):
            resp = client.post("/setup", json={"project": "3.1700000000", "schema": config.read_text()})
        assert resp.status_code == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_setup_with_a_config_samvid_cannot_use_warns_naming_both_uses(client, caplog):
    schema = '<View><Text name="t" value="$text"/><Choices name="c" toName="t"><Choice value="a"/></Choices></View>'
    with caplog.at_level(logging.WARNING, logger="samvid"):
        assert client.post("/setup", json={"project": "3.1", "schema": schema}).status_code == 200
    assert "<Image>" in caplog.text and "<Video>" in caplog.text


# --- prompt coordinates ---------------------------------------------------------------


def _click_at_percent(x_pct: float, y_pct: float, w: int, h: int) -> dict:
    item = keypoint(1, 1, w, h)
    item["value"].update(x=x_pct, y=y_pct)
    return item


@pytest.mark.parametrize("x_pct,y_pct", [(100.000000001, 50), (-1e-9, 50), (50, 100 + 0.4 / 48 * 100)])
def test_click_a_hair_past_the_edge_is_clamped(client, images, x_pct, y_pct):
    path = write_png(images / "a.png", 64, 48)
    region = _region(client.post("/predict", json=predict_body(str(path), [_click_at_percent(x_pct, y_pct, 64, 48)])))
    cx, cy = min(max(x_pct, 0), 100) / 100 * 64, min(max(y_pct, 0), 100) / 100 * 48
    np.testing.assert_array_equal(decode_brush(region), _disk(64, 48, cx, cy))


def test_click_further_past_the_edge_is_a_400_showing_its_percent(client, images):
    path = write_png(images / "a.png", 64, 48)
    resp = client.post("/predict", json=predict_body(str(path), [_click_at_percent(101.5, 50, 64, 48)]))
    assert resp.status_code == 400
    assert "x=101.5%" in resp.get_json()["error"]


def test_prompt_without_original_size_uses_the_image_size(client, images):
    path = write_png(images / "a.png", 64, 48)
    item = keypoint(16.5, 12.5, 64, 48)
    del item["original_width"], item["original_height"]
    region = _region(client.post("/predict", json=predict_body(str(path), [item])))
    assert (region["original_width"], region["original_height"]) == (64, 48)
    np.testing.assert_array_equal(decode_brush(region), _disk(64, 48, 16.5, 12.5))


# --- Label Studio below a path --------------------------------------------------------


class _StudioUnderLs(BaseHTTPRequestHandler):
    """Label Studio served below /ls: its files only there, and only with the token."""

    seen: list[str] = []
    png = png_bytes(np.full((48, 64, 3), 100, np.uint8))

    def do_GET(self):
        _StudioUnderLs.seen.append(self.path)
        ok = self.path.startswith("/ls/data/") and self.headers.get("Authorization") == "Token TOK"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        if ok:
            self.wfile.write(self.png)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("ref", ["/data/upload/1/a.png", "/ls/data/upload/1/a.png"])
def test_relative_image_url_keeps_the_label_studio_path_prefix(images, ref):
    _StudioUnderLs.seen = []
    with http_server(_StudioUnderLs) as url:
        client = _app(images, label_studio_url=f"{url}/ls/", label_studio_api_key="TOK")
        resp = client.post("/predict", json=predict_body(ref, [keypoint(20, 20, 64, 48)]))
    assert resp.status_code == 200, resp.get_json()
    assert _StudioUnderLs.seen == ["/ls/data/upload/1/a.png"]


def test_metrics_count_each_encoder_run_once_under_concurrent_requests(app):
    """Requests finish on many threads at once, each bringing /metrics up to date while
    other requests run the encoder: every run is counted exactly once."""
    import sys
    import threading

    cache, client = app.extensions["samvid.predictor"].cache, app.test_client()

    def busy() -> None:
        for _ in range(400):
            with cache._lock:  # an encoder run on another request's thread
                cache.encoder_runs += 1
            client.get("/health")

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # interleave the threads as a loaded server would
    try:
        threads = [threading.Thread(target=busy) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    text = client.get("/metrics").get_data(as_text=True)
    counted = [line for line in text.splitlines() if line.startswith("samvid_encoder_runs_total ")]
    assert counted == [f"samvid_encoder_runs_total {float(cache.encoder_runs)}"]


def test_metrics_answer_without_the_job_gauge_while_the_queue_is_away(images):
    """/metrics is what shows an outage: Redis away costs the jobs by state, not the scrape."""
    from samvid.errors import QueueUnavailable
    from samvid.jobs import ThreadJobs

    class AwayQueue(ThreadJobs):
        def states(self) -> dict[str, int]:
            raise QueueUnavailable("cannot reach the Redis job queue")

    config = Settings.from_env({}, model="standin", local_roots=(images,), precompute_on_open=False)
    app = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10)),
                     AwayQueue(config))
    client = app.test_client()
    client.get("/health")
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert 'samvid_request_seconds_count{route="/health",status="200"} 1.0' in resp.get_data(as_text=True)


@pytest.mark.parametrize("project", ["²", "9" * 5000], ids=["superscript-two", "5000-digits"])
def test_a_project_id_that_is_digits_but_no_number_opens_the_task_without_a_500(images, project):
    # "²" passes str.isdigit() and 5000 digits pass it too; int() refuses both.
    client = _app(images, label_studio_url="http://127.0.0.1:9", label_studio_api_key="t" * 40)
    body = {"tasks": [{"id": 1, "data": {"image": "a.png", "clip": "c", "frame": 1}}], "project": project,
            "label_config": (CONFIGS / "brush.xml").read_text(), "params": {"context": None}}
    reply = client.post("/predict", json=body)
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json() == {"results": [[]]}


class _RecordingJobs:
    """A job queue that only remembers what was submitted."""

    def __init__(self) -> None:
        self.payloads: list[dict] = []

    def submit(self, kind, key, payload, order=0):
        from samvid.jobs import JobStatus

        self.payloads.append(payload)
        return JobStatus(id=str(len(self.payloads)), kind=kind, key=key)

    def states(self) -> dict[str, int]:
        return {}

    def frames_propagated(self) -> int:
        return 0


@pytest.mark.parametrize("engine", [None, "auto", ""], ids=["absent", "auto", "empty"])
def test_propagate_without_an_engine_uses_the_configured_tracker(images, engine):
    config = Settings.from_env({"SAMVID_TRACKER": "copy"}, model="standin", local_roots=(images,),
                               precompute_on_open=False, label_studio_api_key="t" * 40)
    jobs = _RecordingJobs()
    client = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter()), jobs).test_client()
    body = {"project": 1, "clip": "c", "frame": 0} | ({} if engine is None else {"engine": engine})
    assert client.post("/propagate", json=body).status_code == 202
    assert [p["engine"] for p in jobs.payloads] == ["copy"]


@pytest.mark.parametrize("engine", [0, False, [], {}])
def test_propagate_with_an_engine_that_is_no_name_is_a_400(images, engine):
    jobs = _RecordingJobs()
    config = Settings.from_env({}, model="standin", local_roots=(images,), precompute_on_open=False)
    client = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter()), jobs).test_client()
    resp = client.post("/propagate", json={"project": 1, "clip": "c", "frame": 0, "engine": engine})
    assert resp.status_code == 400 and "engine" in resp.get_json()["error"]
    assert jobs.payloads == []


@pytest.mark.parametrize("reviewed", [False, True], ids=["new", "human-annotated"])
def test_a_task_opened_with_auto_masks_but_no_everything_mode_is_warmed_as_without_them(images, reviewed):
    # SAMVID_AUTO on with the weight-free fallback (a container without weights): an opened
    # task was answered and nothing else, so its first click was cold and no frame filled.
    embedded: list[int] = []

    class Counting(StandInSegmenter):
        def embed(self, image: np.ndarray):  # type: ignore[no-untyped-def]
            embedded.append(image.shape[1])
            return super().embed(image)

    config = Settings.from_env({}, model="standin", local_roots=(images,), precompute_on_open=True, auto=True)
    client = create_app(config, Predictor.from_settings(config, segmenter=Counting(radius=10))).test_client()
    path = write_png(images / "opened.png", 64, 48)
    task = {"id": 1, "data": {"image": str(path)}, **({"total_annotations": 1} if reviewed else {})}
    resp = client.post("/predict", json={"tasks": [task], "project": "1.1",
                                         "label_config": BRUSH_CONFIG, "params": {"context": None}})
    assert resp.status_code == 200 and resp.get_json()["results"] == [[]]
    wait_until(lambda: embedded == [64], timeout=10, what="the opened frame warmed")


def test_auto_masks_without_an_everything_mode_store_no_empty_prediction_in_opened_tasks(images, caplog):
    # Label Studio 1.23 stores each entry with a "result" (empty too) as a prediction of the
    # model's version, and asks again only for tasks without one: the frames opened while
    # SAMVID_AUTO was on with such a model would never be asked for again.
    client = _app(images, auto=True)
    write_png(images / "f.png", 64, 48)
    tasks = [{"id": i, "data": {"image": str(images / "f.png")}} for i in (1, 2)]
    with caplog.at_level(logging.INFO, logger="samvid.http"):
        resp = client.post("/predict", json={"tasks": tasks, "project": "1.1", "label_config": BRUSH_CONFIG,
                                             "params": {"context": None}})
    assert resp.status_code == 200 and resp.get_json()["results"] == [[], []]
    assert "no automatic ('segment everything') mode" in caplog.text  # the operator is told


# A full ANNOTATION_CREATED event: one that starts propagation of the clip's frame 0.
CREATED = {"action": "ANNOTATION_CREATED", "annotation": {"id": 1, "result": []},
           "task": {"id": 5, "project": 3, "data": {"clip": "walk", "frame": 0, "image": "/f0.png"}}}
SUBMITS = [("/propagate", {"project": 1, "clip": "c", "frame": 0}), ("/webhook", CREATED)]


def _recording_app(images: Path, **settings) -> tuple:
    config = Settings.from_env({}, model="standin", local_roots=(images,), precompute_on_open=False, **settings)
    jobs = _RecordingJobs()
    app = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter()), jobs)
    app.testing = True
    return app.test_client(), jobs


@pytest.mark.parametrize("path, body", SUBMITS, ids=["propagate", "webhook"])
def test_propagation_without_a_label_studio_key_is_refused_at_submit_saying_what_to_set(images, path, body):
    # It was queued (202/201) and failed a millisecond later, seen only in the log: Label
    # Studio recorded the webhook as delivered and the annotator saw nothing happen.
    client, jobs = _recording_app(images)
    resp = client.post(path, json=body)
    assert resp.status_code == 503
    error = resp.get_json()["error"]
    assert "LABEL_STUDIO_API_KEY" in error and "/setup" in error and "connect" in error
    assert jobs.payloads == []


def test_an_event_that_starts_nothing_is_still_answered_without_a_key(images):
    client, jobs = _recording_app(images)
    assert client.post("/webhook", json={"action": "PROJECT_UPDATED"}).status_code == 200
    assert jobs.payloads == []


@pytest.mark.parametrize("path, body", SUBMITS, ids=["propagate", "webhook"])
def test_a_token_from_setup_is_a_key_to_submit_with(images, path, body):
    client, jobs = _recording_app(images)
    token = {"hostname": "http://localhost:8080", "access_token": "a" * 40}
    assert client.post("/setup", json=token).status_code == 200
    assert client.post(path, json=body).status_code in (201, 202)
    assert len(jobs.payloads) == 1


@pytest.mark.redis
def test_a_token_another_process_learned_through_redis_is_a_key_to_submit_with(images, redis_server):
    # Two gunicorn workers sharing a Redis: /setup reached the first, the submit the second.
    learned, _ = _recording_app(images, redis_url=redis_server.url)
    submitting, jobs = _recording_app(images, redis_url=redis_server.url)
    token = {"hostname": "http://localhost:8080", "access_token": "b" * 40}
    assert learned.post("/setup", json=token).status_code == 200
    assert submitting.post("/propagate", json={"project": 1, "clip": "c", "frame": 0}).status_code == 202
    assert len(jobs.payloads) == 1


@pytest.mark.parametrize("path, body", SUBMITS, ids=["propagate", "webhook"])
def test_a_token_redis_did_not_answer_for_is_refused_naming_redis_not_the_key(images, path, body):
    # The token is shared through Redis, which is down: "set LABEL_STUDIO_API_KEY" sent the
    # user to a key they had given (through /setup), away from Redis.
    from services import free_port

    client, jobs = _recording_app(images, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    resp = client.post(path, json=body)
    assert resp.status_code == 503
    error = resp.get_json()["error"]
    assert "cannot read Label Studio's token from Redis (ConnectionError)" in error
    assert "LABEL_STUDIO_API_KEY" not in error and jobs.payloads == []


@pytest.mark.parametrize("path, body", SUBMITS, ids=["propagate", "webhook"])
def test_a_token_setup_sent_that_was_not_used_is_refused_saying_why(images, path, body):
    # "connect this backend ... whose /setup call sends samvid its token" to a user who had
    # just connected it: why its token was not used was in the log only.
    client, jobs = _recording_app(images)
    token = {"hostname": "http://10.0.0.9:8080", "access_token": "c" * 40}  # another host, no auth
    assert client.post("/setup", json=token).status_code == 200
    resp = client.post(path, json=body)
    assert resp.status_code == 503
    error = resp.get_json()["error"]
    assert "the token Label Studio's /setup sent is not used, as it names Label Studio at " \
           "'http://10.0.0.9:8080' and /setup is not authenticated" in error
    assert "SAMVID_AUTH_USER" in error and "c" * 40 not in error and jobs.payloads == []


@pytest.mark.redis
@pytest.mark.parametrize("path, body", SUBMITS, ids=["propagate", "webhook"])
def test_a_token_redis_refused_the_password_for_is_refused_saying_to_give_it(images, redis_server, path, body):
    import redis

    redis.Redis.from_url(redis_server.url).config_set("requirepass", "x")
    client, jobs = _recording_app(images, redis_url=redis_server.url)
    resp = client.post(path, json=body)
    assert resp.status_code == 503
    error = resp.get_json()["error"]
    example = redis_server.url.replace("redis://", "redis://:PASSWORD@")
    assert error == (f"cannot read Label Studio's token from Redis: Redis at {redis_server.url} wants a "
                     f"password (or refused this one): give it in REDIS_URL as {example}")
    assert jobs.payloads == []


def test_a_compressed_body_is_a_415_saying_to_send_it_uncompressed(images):
    import gzip

    client = _app(images)
    body = gzip.compress(json.dumps({"action": "PING"}).encode())
    resp = client.post("/webhook", data=body, headers={"Content-Type": "application/json",
                                                       "Content-Encoding": "gzip"})
    assert resp.status_code == 415
    assert resp.get_json()["error"] == "Content-Encoding 'gzip' is not supported; send the body uncompressed"
    identity = {"Content-Type": "application/json", "Content-Encoding": "identity"}
    assert client.post("/webhook", data=b'{"action": "PING"}', headers=identity).status_code == 200


def test_a_body_in_a_charset_other_than_utf8_is_refused_naming_the_charset(images):
    client = _app(images)
    latin = '{"action": "café"}'.encode("latin-1")
    resp = client.post("/webhook", data=latin, headers={"Content-Type": "application/json; charset=latin-1"})
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert "'latin-1' is not supported" in error and "UTF-8" in error and "not valid JSON" not in error
    # Declared, but ASCII (which every such charset shares with UTF-8): read as it is.
    ascii_body = b'{"action": "PING"}'
    ascii_headers = {"Content-Type": "application/json; charset=latin-1"}
    assert client.post("/webhook", data=ascii_body, headers=ascii_headers).status_code == 200


@pytest.mark.parametrize("path, body", SUBMITS, ids=["propagate", "webhook"])
def test_every_worker_without_redis_says_why_a_token_setup_sends_is_not_used(images, path, body):
    # /setup reaches one gunicorn worker, which refused its token; the others said "connect
    # this backend" to a user who just had.
    config = Settings.from_env({}, model="standin", local_roots=(images,), precompute_on_open=False)
    jobs = _RecordingJobs()
    other = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter()), jobs,
                       processes=2).test_client()
    resp = other.post(path, json=body)
    assert resp.status_code == 503
    error = resp.get_json()["error"]
    assert "a token Label Studio's /setup sends is not used, as with 2 worker processes and no REDIS_URL it " \
           "would reach one of them only; set LABEL_STUDIO_API_KEY, or REDIS_URL so the workers share it" in error
    assert jobs.payloads == []


def test_the_no_key_refusal_says_the_log_has_why_a_connected_backend_has_none(images):
    # With REDIS_URL the worker that answered /setup knows why its token was not used; the
    # one answering this request may not: the log (every worker's) says it.
    client, _ = _recording_app(images)
    error = client.post("/propagate", json={"project": 1, "clip": "c", "frame": 0}).get_json()["error"]
    assert error.endswith("(if you connected it, samvid's log says why the token it sent was not used)")


@pytest.mark.redis
@pytest.mark.parametrize("path, body", SUBMITS, ids=["propagate", "webhook"])
def test_a_token_redis_refused_to_read_is_refused_with_its_reply_not_as_an_outage(
        images, redis_server, path, body):
    import redis

    redis.Redis.from_url(redis_server.url).acl_setuser(
        "limited", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-get"])
    client, jobs = _recording_app(images, redis_url=redis_server.url.replace("redis://", "redis://limited:pw@"))
    resp = client.post(path, json=body)
    assert resp.status_code == 503
    error = resp.get_json()["error"]
    assert error.startswith("cannot read Label Studio's token from Redis: Redis refused the read "
                            "(NoPermissionError: ")
    assert "check that Redis runs" not in error and "pw" not in error.replace("permissions", "")
    assert jobs.payloads == []
