"""The OpenAPI description (backend/openapi.yaml, served at /openapi.json) is valid,
describes exactly the app's routes, and holds for requests schemathesis generates from it.

The schemathesis run answers only from 127.0.0.1: images come from a local root, the
Label Studio it may call is a stand-in on 127.0.0.1 that refuses everything (404), other
image hosts are refused before any DNS lookup (SAMVID_ALLOWED_HOSTS), and a guard on
``socket.getaddrinfo`` fails the run if anything tries to resolve another host.
"""

from __future__ import annotations

import collections
import json
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import schemathesis
from ls_requests import BRUSH_CONFIG, write_png
from openapi_spec_validator import validate
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from services import http_server

from samvid.app import create_app
from samvid.auth import basic_auth_header
from samvid.models.standin import StandInSegmenter
from samvid.openapi import spec
from samvid.predictor import Predictor
from samvid.settings import Settings

FLASK_BUILTIN = {"static"}  # Flask's static-file route; samvid has no static folder (404)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 40  # fuzzing phase; the examples and coverage phases add their own
SCHEMATHESIS = {
    "seed": 11,
    "generation": {
        "mode": "all",
        "max-examples": EXAMPLES_PER_OPERATION,
        "deterministic": True,
        "database": "none",
    },
    "phases": {"stateful": {"enabled": False}},
}


# --------------------------------------------------------------------------- the description
def test_the_description_is_valid_openapi():
    validate(spec())
    validate(spec(auth_required=True))


def _app_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in FLASK_BUILTIN:
            continue
        path = re.sub(r"<(?:[a-z]+:)?([A-Za-z_]+)>", r"{\1}", rule.rule)
        routes |= {(method.lower(), path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def _described_routes(doc: dict) -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(method, path) for path, item in doc["paths"].items() for method in item if method in methods}


def test_every_route_is_described_and_every_description_is_a_route(app):
    assert _app_routes(app) == _described_routes(spec())


def test_the_described_propagation_request_has_exactly_the_fields_the_backend_reads():
    # "additionalProperties: false": a field the backend reads but the description lacks is
    # one a client generated from it can never send (payload_version was missing).
    from samvid.jobs import PAYLOAD_VERSIONS, VERSION_KEY
    from samvid.propagation.request import JOB_KIND, REQUEST_KEYS

    described = spec()["components"]["schemas"]["PropagationRequest"]["properties"]
    assert set(described) == {*REQUEST_KEYS, VERSION_KEY}
    assert described[VERSION_KEY]["maximum"] == PAYLOAD_VERSIONS[JOB_KIND]


def test_the_served_description_is_the_packaged_one(client):
    resp = client.get("/openapi.json")
    assert resp.status_code == 200
    assert resp.get_json() == spec()
    assert resp.get_json()["security"] == [{}, {"basicAuth": []}]  # auth optional: none configured


@pytest.mark.redis
def test_health_with_redis_answers_as_described_whatever_redis_says(redis_server):
    import jsonschema
    import redis

    schema = spec()["components"]["schemas"]["Health"]

    def health() -> dict:
        config = Settings.from_env({}, model="standin", precompute_on_open=False, redis_url=redis_server.url)
        app = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10)))
        return app.test_client().get("/health").get_json()

    answers = [health()]
    redis.Redis.from_url(redis_server.url).config_set("requirepass", "x")
    answers.append(health())
    redis_server.stop()
    answers.append(health())
    assert [a["redis"] for a in answers] == ["ok", "password refused", "unreachable (ConnectionError)"]
    for answer in answers:
        jsonschema.validate(answer, schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.redis
def test_health_says_redis_refusing_the_read_as_described(redis_server):
    import jsonschema
    import redis

    redis.Redis.from_url(redis_server.url).acl_setuser(
        "limited", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-get"])
    url = redis_server.url.replace("redis://", "redis://limited:pw@")
    config = Settings.from_env({}, model="standin", precompute_on_open=False, redis_url=url)
    app = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10)))
    answer = app.test_client().get("/health").get_json()
    assert answer["redis"] == "refused (NoPermissionError)"  # Redis runs: it answered NOPERM
    jsonschema.validate(answer, spec()["components"]["schemas"]["Health"], cls=jsonschema.Draft202012Validator)


def _auth_app(images: Path):
    settings = Settings.from_env(
        {},
        model="standin",
        local_roots=(images,),
        precompute_on_open=False,
        auth_user="ls",
        auth_password="secret",
    )
    return create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter(radius=10)))


def test_the_description_needs_auth_when_auth_is_configured_and_then_requires_it(images):
    client = _auth_app(images).test_client()
    refused = client.get("/openapi.json")
    assert refused.status_code == 401 and "error" in refused.get_json()
    resp = client.get("/openapi.json", headers={"Authorization": basic_auth_header("ls", "secret")})
    assert resp.status_code == 200
    assert resp.get_json()["security"] == [{"basicAuth": []}]
    assert resp.get_json()["paths"]["/health"]["get"]["security"] == []  # still open


# --------------------------------------------------------------------------- schemathesis
class _RefusingStudio(BaseHTTPRequestHandler):
    """A Label Studio that answers 404 to everything, at once (no retries, no waiting)."""

    def _refuse(self) -> None:
        body = json.dumps({"detail": "Not found."}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _refuse

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def refusing_studio() -> Iterator[str]:
    with http_server(_RefusingStudio) as url:
        yield url


@pytest.fixture
def no_outbound(monkeypatch) -> Iterator[list[str]]:
    """Every name lookup of a host other than this machine is refused and recorded."""
    attempts: list[str] = []
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in LOCAL_HOSTS:
            attempts.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"test: no lookups of {name!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield attempts


@pytest.fixture
def requests_sent() -> collections.Counter:
    return collections.Counter()


@contextmanager
def _fuzzed_app(
    root: Path,
    studio_url: str,
    no_outbound: list[str],
    requests_sent: collections.Counter,
    minimum: int,
    **settings_overrides,
) -> Iterator:
    """The app as schemathesis meets it, and the checks of what the whole run did."""
    (root / "street").mkdir(parents=True)
    for i in range(2):  # the frames the description's examples point at
        write_png(root / "street" / f"frame_{i:06d}.png", 640, 480, seed=i)
    settings = Settings.from_env(
        {},
        model="standin",
        local_roots=(root,),
        allowed_hosts=("127.0.0.1",),
        label_studio_url=studio_url,
        label_studio_api_key="fuzz-token",  # so /setup never adopts a host
        precompute_on_open=False,
        fetch_timeout=2.0,
        **settings_overrides,
    )
    app = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter(radius=10)))
    yield app
    _wait_for_jobs(app.extensions["samvid.jobs"])  # they fail at once on the stand-in's 404
    assert not no_outbound, f"the app tried to reach other hosts: {sorted(set(no_outbound))[:10]}"
    # schemathesis leaves out the operation it read the schema from (GET /openapi.json)
    described = {f"{m.upper()} {p}" for m, p in _described_routes(spec())} - {"GET /openapi.json"}
    assert set(requests_sent) == described, "an operation got no request"
    assert min(requests_sent.values()) >= minimum, requests_sent


def _wait_for_jobs(jobs, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (states := jobs.states())["queued"] + states["running"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert states["queued"] + states["running"] == 0, states


@pytest.fixture
def api_schema(
    tmp_path: Path, refusing_studio: str, no_outbound: list[str], requests_sent: collections.Counter
):
    with _fuzzed_app(tmp_path / "media", refusing_studio, no_outbound, requests_sent, minimum=5) as app:
        yield schemathesis.openapi.from_wsgi(
            "/openapi.json", app, config=SchemathesisConfig.from_dict(SCHEMATHESIS)
        )


@pytest.fixture
def auth_api_schema(
    tmp_path: Path, refusing_studio: str, no_outbound: list[str], requests_sent: collections.Counter
):
    config = {
        **SCHEMATHESIS,
        "generation": {**SCHEMATHESIS["generation"], "max-examples": 5},
        "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": False}},  # the main run has it
        "auth": {"openapi": {"basicAuth": {"username": "ls", "password": "secret"}}},
    }
    with _fuzzed_app(
        tmp_path / "media",
        refusing_studio,
        no_outbound,
        requests_sent,
        minimum=1,
        auth_user="ls",
        auth_password="secret",
    ) as app:
        yield schemathesis.openapi.from_wsgi(
            "/openapi.json",
            app,
            config=SchemathesisConfig.from_dict(config),
            headers={"Authorization": basic_auth_header("ls", "secret")},
        )


schema = schemathesis.pytest.from_fixture("api_schema")
auth_schema = schemathesis.pytest.from_fixture("auth_api_schema")


@schema.parametrize()
def test_generated_requests_get_the_answers_the_description_promises(case, requests_sent):
    requests_sent[case.operation.label] += 1
    case.call_and_validate(checks=CHECKS)


@auth_schema.parametrize()
def test_with_basic_auth_configured_every_route_but_health_enforces_it(case, requests_sent):
    requests_sent[case.operation.label] += 1
    case.call_and_validate(checks=[*CHECKS, ignored_auth])


def test_every_route_but_health_answers_the_described_401_without_credentials(images):
    client = _auth_app(images).test_client()
    described = schemathesis.openapi.from_dict(spec(auth_required=True))
    for method, path in sorted(_described_routes(spec())):
        resp = getattr(client, method)(path.replace("{job_id}", "x"), json={})
        if path in ("/", "/health"):
            assert resp.status_code == 200, path
            continue
        assert resp.status_code == 401, (method, path)
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="samvid"'
        described[path][method.upper()].validate_response(resp)


# --------------------------------------------------------------------------- regressions
# 500s, now 4xx (or a 200 where the input is only ignored). Marked: what schemathesis found; the rest
# were found next to those, by reading the same functions.
def _video_box(value: object) -> dict:
    return {
        "tasks": [{"id": 1, "data": {"video": "/data/upload/1/clip.mp4"}}],
        "label_config": "<View/>",
        "params": {"context": {"result": [{"type": "videorectangle", "value": value}]}},
    }


KEYFRAME = {"frame": 1, "x": 10, "y": 10, "width": 20, "height": 20}


@pytest.mark.parametrize(
    "body",
    [
        _video_box([None, None]),  # found by schemathesis
        _video_box({"sequence": 5}),
        _video_box({"sequence": [KEYFRAME], "labels": 5}),
        {"tasks": [{}], "params": {"context": {"result": 5}}},
    ],
    ids=["value-a-list", "sequence-a-number", "labels-a-number", "result-a-number"],
)
def test_a_malformed_video_box_prompt_is_a_400(client, body):
    resp = client.post("/predict", json=body)
    assert resp.status_code == 400, resp.get_json()
    assert "error" in resp.get_json()


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/propagate", '{"project": 1, "clip": "c", "frame": Infinity}'),
        ("/propagate", '{"project": Infinity, "clip": "c", "frame": 0}'),
        (
            "/webhook",
            '{"action": "ANNOTATION_CREATED", "task": {"project": 1, "data": {"clip": "c", "frame": Infinity}}}',
        ),
    ],
)
def test_a_propagation_from_an_infinite_frame_is_a_400(client, path, raw):  # Python's JSON reads Infinity
    resp = client.post(path, data=raw, content_type="application/json")
    if path == "/webhook":  # a task whose frame is no index is no frame of a clip: nothing to do
        assert (resp.status_code, resp.get_json()["status"]) == (200, "ignored")
    else:
        assert resp.status_code == 400, resp.get_json()


def test_a_video_box_at_an_infinite_keyframe_is_a_400(client):
    raw = json.dumps(_video_box({"sequence": [{**KEYFRAME, "frame": float("inf")}]}))
    assert "Infinity" in raw
    assert client.post("/predict", data=raw, content_type="application/json").status_code == 400


@pytest.mark.parametrize("video", [False, True])
def test_a_label_config_that_is_not_a_string_is_a_400(client, video):  # found by schemathesis
    body = _video_box({"sequence": [KEYFRAME]}) if video else {"tasks": [{"id": 1, "data": {}}]}
    body["label_config"] = {"View": {}}  # truthy, and unhashable
    resp = client.post("/predict", json=body)
    assert resp.status_code == 400, resp.get_json()
    assert "label" in resp.get_json()["error"]


def test_setup_with_a_schema_that_is_not_a_string_still_answers_the_model_version(
    client,
):  # found by schemathesis
    resp = client.post("/setup", json={"project": "1.1700000000", "schema": {}})
    assert resp.status_code == 200
    assert list(resp.get_json()) == ["model_version"]
    assert resp.get_json()["model_version"].startswith("samvid-track:")


def test_a_webhook_whose_action_is_not_a_string_is_ignored(client):  # found by schemathesis
    task = {"id": 1, "project": 1, "data": {"clip": "c", "frame": 0}}
    resp = client.post("/webhook", json={"action": {}, "task": task})
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ignored"}


@pytest.mark.parametrize(
    "task",
    [
        {"total_annotations": "x", "data": {"image": "/x.png"}},
        {"total_annotations": 1, "cancelled_annotations": "x", "data": {"image": "/x.png"}},
        {"annotations": 5, "data": {"image": "/x.png"}},
    ],
    ids=["total-a-string", "cancelled-a-string", "annotations-a-number"],
)
def test_with_automatic_masks_malformed_annotation_counts_are_not_a_500(images, task):
    settings = Settings.from_env(
        {}, model="standin", local_roots=(images,), precompute_on_open=False, auto=True
    )
    client = create_app(
        settings, Predictor.from_settings(settings, segmenter=StandInSegmenter())
    ).test_client()
    resp = client.post(
        "/predict", json={"tasks": [task], "label_config": BRUSH_CONFIG, "params": {"context": None}}
    )
    assert resp.status_code == 200, resp.get_json()
    assert len(resp.get_json()["results"]) == 1
