"""The HTTP edge: which Label Studio /setup may point samvid at, and how requests are read."""

from __future__ import annotations

from samvid.app import create_app
from samvid.auth import basic_auth_header
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import DEFAULT_STUDIO_URL, Settings

AUTH = {"SAMVID_AUTH_USER": "ls", "SAMVID_AUTH_PASSWORD": "pw"}


def _app(env: dict[str, str]):
    config = Settings.from_env(env, model="standin", precompute_on_open=False)
    app = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10)))
    app.testing = True
    return app


def _setup(app, hostname: str, token: str = "t"):
    return app.test_client().post("/setup", json={"hostname": hostname, "access_token": token},
                                  headers={"Authorization": basic_auth_header("ls", "pw")})


def test_an_address_set_to_the_default_is_not_replaced_by_an_authenticated_setup() -> None:
    app = _app({**AUTH, "LABEL_STUDIO_URL": DEFAULT_STUDIO_URL})
    assert _setup(app, "http://10.0.0.5:8080").status_code == 200
    settings = app.extensions["samvid.service"].settings
    assert (settings.label_studio_url, settings.label_studio_api_key) == (DEFAULT_STUDIO_URL, "")


def test_an_address_set_to_the_default_still_takes_the_token_of_its_own_setup() -> None:
    app = _app({**AUTH, "LABEL_STUDIO_URL": DEFAULT_STUDIO_URL})
    assert _setup(app, DEFAULT_STUDIO_URL, "tok").status_code == 200
    settings = app.extensions["samvid.service"].settings
    assert (settings.label_studio_url, settings.label_studio_api_key) == (DEFAULT_STUDIO_URL, "tok")


def test_with_no_address_set_an_authenticated_setup_names_label_studio() -> None:
    app = _app(AUTH)
    assert _setup(app, "http://ls.example:8080").status_code == 200
    assert app.extensions["samvid.service"].settings.label_studio_url == "http://ls.example:8080"


def test_malformed_json_is_answered_with_where_it_breaks_not_as_a_non_object() -> None:
    client = _app({}).test_client()
    for body, said in [('{"tasks": [],}', "the request body is not valid JSON (Expecting property name"),
                       ("{'tasks': []}", "not valid JSON"), ("", "the request body is empty")]:
        resp = client.post("/predict", data=body, content_type="application/json")
        assert resp.status_code == 400 and said in resp.get_json()["error"]
    resp = client.post("/predict", data="[]", content_type="application/json")
    assert resp.get_json()["error"] == "the request body must be a JSON object"
