"""Bad input never crashes the server: each case gets a clear 4xx JSON error."""

from __future__ import annotations

import json

import pytest
from ls_requests import BRUSH_CONFIG, keypoint, predict_body, rectangle, write_png


@pytest.fixture
def frame(images):
    return str(write_png(images / "frame.png", 64, 48))


def _error(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in body["error"]
    return body["error"]


def test_malformed_json_returns_400(client):
    resp = client.post("/predict", data=b"{not json", content_type="application/json")
    assert "JSON object" in _error(resp, 400)


def test_body_that_is_not_an_object_returns_400(client):
    _error(client.post("/predict", json=[1, 2, 3]), 400)


def test_tasks_not_a_list_returns_400(client):
    _error(client.post("/predict", json={"tasks": "x", "label_config": BRUSH_CONFIG}), 400)


def test_config_without_a_mask_control_returns_400(client, frame):
    config = "<View><Image name='image' value='$image'/><KeyPointLabels name='kp' toName='image'><Label value='A'/></KeyPointLabels></View>"
    msg = _error(client.post("/predict", json=predict_body(frame, [keypoint(5, 5, 64, 48)], config=config)), 400)
    assert "BrushLabels" in msg


def test_invalid_config_xml_returns_400(client, frame):
    _error(client.post("/predict", json=predict_body(frame, [keypoint(5, 5, 64, 48)], config="<View><Image")), 400)


def test_click_outside_image_returns_400(client, frame):
    msg = _error(client.post("/predict", json=predict_body(frame, [keypoint(70, 5, 64, 48)])), 400)
    assert "outside" in msg


def test_zero_area_box_returns_400(client, frame):
    msg = _error(client.post("/predict", json=predict_body(frame, [rectangle(10, 10, 10, 30, 64, 48)])), 400)
    assert "zero area" in msg


def test_only_negative_clicks_returns_400(client, frame):
    _error(client.post("/predict", json=predict_body(frame, [keypoint(5, 5, 64, 48, positive=False)])), 400)


@pytest.mark.parametrize("bad", [float("nan"), "12", None, True, 1e308])
def test_non_numeric_or_absurd_coordinates_return_400(client, frame, bad):
    item = keypoint(5, 5, 64, 48)
    item["value"]["x"] = bad
    _error(client.post("/predict", json=predict_body(frame, [item])), 400)


@pytest.mark.parametrize("field", ["x", "original_width", "rotation"])
def test_integer_too_large_for_a_float_returns_400(client, frame, field):
    # JSON integers have no size limit; float() overflows past ~1.8e308.
    item = rectangle(10, 10, 30, 30, 64, 48) if field == "rotation" else keypoint(5, 5, 64, 48)
    (item if field == "original_width" else item["value"])[field] = 10**400
    raw = json.dumps(predict_body(frame, [item]))
    assert field in _error(client.post("/predict", data=raw, content_type="application/json"), 400)


@pytest.mark.parametrize("ref, named", [
    ("http://[::1/x.png", "http://[::1/x.png"),
    ("http://example.com:99999/x.png", "http://example.com:99999/x.png"),
    ("http://example.com:abc/x.png", "http://example.com:abc/x.png"),
    ("/tmp/a\x00b.png", "/tmp/a\\x00b.png"),
    ("file:///tmp/a%00b.png", "/tmp/a\\x00b.png"),
], ids=["unclosed-ipv6", "port-out-of-range", "port-not-a-number", "nul-in-path", "nul-in-file-url"])
def test_malformed_image_url_returns_422(client, ref, named):
    msg = _error(client.post("/predict", json=predict_body(ref, [keypoint(5, 5, 64, 48)])), 422)
    assert named in msg


@pytest.mark.parametrize("ref", ["/tmp/a\\ud800.png", "s3://bucket/a\\udc00.png", "data:image/png,\\ud800"],
                         ids=["local-path", "cloud-uri", "data-uri"])
def test_unpaired_surrogate_escape_returns_400(client, ref):
    # Valid JSON that Python parses into a str no encoder takes: it crashed the image readers.
    body = json.dumps(predict_body("REF", [keypoint(5, 5, 64, 48)])).replace("REF", ref)
    msg = _error(client.post("/predict", data=body, content_type="application/json"), 400)
    assert "surrogate" in msg


def test_raw_surrogate_bytes_in_a_utf8_body_return_400(client):
    # ED A0 80 is no UTF-8, yet the JSON parser decodes it (surrogatepass) into "\\ud800".
    body = json.dumps(predict_body("/tmp/aREF.png", [keypoint(5, 5, 64, 48)])).encode()
    resp = client.post("/predict", data=body.replace(b"REF", b"\xed\xa0\x80"), content_type="application/json")
    assert "surrogate" in _error(resp, 400)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_unpaired_surrogate_escape_in_a_utf16_or_utf32_body_returns_400(client, encoding):
    body = json.dumps(predict_body("REF", [keypoint(5, 5, 64, 48)])).replace("REF", "/tmp/a\\ud800.png")
    resp = client.post("/predict", data=body.encode(encoding), content_type="application/json")
    assert "surrogate" in _error(resp, 400)


def test_paired_surrogate_escape_is_one_character_and_read(client, images):
    # An emoji escaped as a pair is one character: the image is read, not refused.
    write_png(images / "cat\U0001f408.png", 64, 48)
    body = json.dumps(predict_body(str(images / "REF.png"), [keypoint(5, 5, 64, 48)]))
    body = body.replace("REF", "cat\\ud83d\\udc08")
    resp = client.post("/predict", data=body, content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)


@pytest.mark.parametrize("bad", [float("inf"), "90", True])
def test_box_rotation_that_is_not_a_number_returns_400(client, frame, bad):
    item = rectangle(10, 10, 30, 30, 64, 48)
    item["value"]["rotation"] = bad
    assert "rotation" in _error(client.post("/predict", json=predict_body(frame, [item])), 400)



@pytest.mark.parametrize("index", [1, 299])
def test_a_page_of_a_single_image_task_returns_400_naming_item_index(client, frame, index):
    # Label Studio adds item_index only for <Image valueList>: any other page is no image of
    # this task, and each one would be another mask to make.
    items = [keypoint(5, 5, 64, 48, item_index=i) for i in (0, index)]
    msg = _error(client.post("/predict", json=predict_body(frame, items)), 400)
    assert "item_index" in msg and str(index) in msg


def test_page_0_of_a_single_image_task_is_its_image(client, frame):
    resp = client.post("/predict", json=predict_body(frame, [keypoint(5, 5, 64, 48, item_index=0)]))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert len(resp.get_json()["results"][0]["result"]) == 1


def test_more_objects_than_the_limit_in_one_request_returns_400_naming_it(client, images):
    from samvid.core.prompts import MAX_OBJECTS

    # Pages of a multi-image task are real images, each one an object of its own.
    paths = [str(write_png(images / f"page{i}.png", 8, 8, seed=i)) for i in range(MAX_OBJECTS + 1)]
    config = BRUSH_CONFIG.replace('value="$image"', 'valueList="$images"')
    body = predict_body(None, [keypoint(4, 4, 8, 8, item_index=i) for i in range(MAX_OBJECTS + 1)], config=config)
    body["tasks"][0]["data"] = {"images": paths}
    msg = _error(client.post("/predict", json=body), 400)
    assert str(MAX_OBJECTS) in msg and "objects" in msg


@pytest.mark.parametrize("bad", ["false", "true", 0.0, [], 2])
def test_is_positive_that_is_not_a_boolean_returns_400(client, frame, bad):
    # "false" would be a truthy string: read as a positive click, it grows the mask it should cut.
    items = [keypoint(5, 5, 64, 48), keypoint(20, 20, 64, 48, positive=bad)]
    assert "is_positive" in _error(client.post("/predict", json=predict_body(frame, items)), 400)


@pytest.mark.parametrize("negative", [False, 0])
def test_is_positive_false_or_0_is_a_negative_click(negative):
    from samvid.studio.protocol import prompts_from_context

    items = [keypoint(5, 5, 64, 48), keypoint(20, 20, 64, 48, positive=negative), keypoint(9, 9, 64, 48, positive=1)]
    (prompt,) = prompts_from_context({"result": items})
    assert prompt.labels == (1, 0, 1)

def test_unknown_label_returns_400_naming_the_labels(client, frame):
    msg = _error(client.post("/predict", json=predict_body(frame, [keypoint(5, 5, 64, 48, label="Dog")])), 400)
    assert "Dog" in msg and "Car" in msg


def test_unreachable_image_returns_422(client):
    # The configured Label Studio (localhost:8080 by default) is trusted but not running.
    body = predict_body("/data/upload/1/nothing.png", [keypoint(5, 5, 64, 48)])
    body["tasks"][0]["data"]["image"] = "http://localhost:8080/data/upload/1/nothing.png"
    assert "cannot fetch" in _error(client.post("/predict", json=body), 422)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/x.png",          # loopback that is not Label Studio
    "http://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
    "http://10.1.2.3/x.png",             # private range
    "http://[::1]:8080/x.png",
])
def test_private_and_metadata_addresses_are_refused_with_403(client, url):
    assert "non-public" in _error(client.post("/predict", json=predict_body(url, [keypoint(5, 5, 64, 48)])), 403)


def test_corrupt_image_returns_422(client, images):
    path = images / "corrupt.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    assert "decoded" in _error(client.post("/predict", json=predict_body(str(path), [keypoint(5, 5, 64, 48)])), 422)


def test_local_path_outside_the_allowed_roots_returns_403(client, tmp_path):
    outside = write_png(tmp_path / "secret.png", 64, 48)
    _error(client.post("/predict", json=predict_body(str(outside), [keypoint(5, 5, 64, 48)])), 403)


def test_dot_dot_cannot_escape_the_allowed_roots(client, images, tmp_path):
    write_png(tmp_path / "escape.png", 64, 48)
    ref = str(images / ".." / "escape.png")
    _error(client.post("/predict", json=predict_body(ref, [keypoint(5, 5, 64, 48)])), 403)


def test_task_without_image_returns_400(client):
    body = predict_body("x", [keypoint(5, 5, 64, 48)])
    body["tasks"][0]["data"] = {}
    _error(client.post("/predict", json=body), 400)


def test_body_over_the_size_limit_returns_413_naming_the_setting(client):
    resp = client.post("/predict", data=b"{" + b" " * (17 * 1024 * 1024) + b"}", content_type="application/json")
    assert "SAMVID_MAX_REQUEST_BYTES" in _error(resp, 413)


def test_unknown_route_returns_json_404(client):
    _error(client.get("/nope"), 404)


def test_health_answers_with_the_model_version(client):
    body = client.get("/health").get_json()
    assert body["status"] == "UP" and body["model_version"].startswith("samvid-standin")


def test_setup_reports_the_model_version_of_propagated_masks(client):
    resp = client.post("/setup", json={"project": "1.1", "schema": BRUSH_CONFIG, "hostname": "http://localhost:8080"})
    assert resp.get_json()["model_version"].startswith("samvid-track:")


@pytest.mark.parametrize("data", [["clip", "frame"], "clip and frame"])
def test_a_task_opened_with_data_that_is_no_object_stores_nothing_and_is_not_a_500(images, data):
    from samvid.app import create_app
    from samvid.models.standin import StandInSegmenter
    from samvid.predictor import Predictor
    from samvid.settings import Settings

    # With an API key samvid may fill an opened frame's masks from Label Studio.
    settings = Settings.from_env({}, model="standin", local_roots=(images,), precompute_on_open=False,
                                 label_studio_api_key="token")
    client = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter())).test_client()
    body = {"tasks": [{"id": 1, "data": data}], "project": "3.1700000000", "label_config": BRUSH_CONFIG,
            "params": {"login": None, "password": None, "context": None}}
    resp = client.post("/predict", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {"results": [[]]}
