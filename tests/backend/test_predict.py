"""POST /predict: smart keypoints and rectangles become masks Label Studio shows.

The stand-in segmenter draws a disk of radius 10 px around positive clicks and
fills boxes, so every pixel of the reply can be checked.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from ls_requests import (
    BRUSH_CONFIG,
    POLYGON_CONFIG,
    SHARED_ROW_CONFIG,
    keypoint,
    predict_body,
    rectangle,
    shared_row,
    write_png,
)
from services import wait_until

from samvid.app import create_app
from samvid.errors import ConfigError
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings
from samvid.studio.results import decode_brush, decode_polygon, object_region_id


def _disk(w, h, cx, cy, r=10):
    ys, xs = np.mgrid[0:h, 0:w]
    return (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= r * r


def _filled(w, h, x0, y0, x1, y1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def _only_result(resp):
    assert resp.status_code == 200, resp.get_json()
    results = resp.get_json()["results"]
    assert len(results) == 1
    return results[0]


@pytest.mark.parametrize("w,h", [(64, 48), (37, 91), (101, 33), (17, 17)])
def test_click_mask_lands_on_the_clicked_pixels_for_odd_and_portrait_sizes(client, images, w, h):
    path = write_png(images / f"img_{w}x{h}.png", w, h)
    cx, cy = w * 0.4 + 0.5, h * 0.6 + 0.5
    resp = client.post("/predict", json=predict_body(str(path), [keypoint(cx, cy, w, h)]))
    entry = _only_result(resp)
    (region,) = entry["result"]
    assert region["type"] == "brushlabels"
    assert (region["original_width"], region["original_height"]) == (w, h)
    assert region["value"]["brushlabels"] == ["Car"]
    np.testing.assert_array_equal(decode_brush(region), _disk(w, h, cx, cy))
    assert entry["model_version"].startswith("samvid-standin")


@pytest.mark.parametrize("row", ["labelled control", "shared row"])
def test_box_touching_the_border_gives_the_box(client, images, row):
    w, h = 80, 60
    path = write_png(images / "b.png", w, h)
    item = rectangle(0, 10, 80, 60, w, h, label="Person")
    items, config = ([item], BRUSH_CONFIG) if row == "labelled control" else (shared_row(item), SHARED_ROW_CONFIG)
    (region,) = _only_result(client.post("/predict", json=predict_body(str(path), items, config)))["result"]
    np.testing.assert_array_equal(decode_brush(region), _filled(w, h, 0, 10, 80, 60))
    assert region["value"]["brushlabels"] == ["Person"]


def test_all_clicks_of_the_context_are_used_together(client, images):
    w, h = 100, 100
    path = write_png(images / "c.png", w, h)
    items = [keypoint(30.5, 30.5, w, h), keypoint(70.5, 70.5, w, h), keypoint(35.5, 30.5, w, h, positive=False)]
    (region,) = _only_result(client.post("/predict", json=predict_body(str(path), items)))["result"]
    expected = (_disk(w, h, 30.5, 30.5) | _disk(w, h, 70.5, 70.5)) & ~_disk(w, h, 35.5, 30.5)
    np.testing.assert_array_equal(decode_brush(region), expected)


def test_clicks_from_a_shared_label_row_are_used_together_with_their_label(client, images):
    """The shipped configs: plain smart tools under one <Labels> row send "keypoint"
    results with a "labels" twin of each, which must not count as a second click."""
    w, h = 100, 100
    path = write_png(images / "shared.png", w, h)
    items = [*shared_row(keypoint(30.5, 30.5, w, h, label="Person")),
             *shared_row(keypoint(35.5, 30.5, w, h, label="Person", positive=False))]
    body = predict_body(str(path), items, config=SHARED_ROW_CONFIG)
    (region,) = _only_result(client.post("/predict", json=body))["result"]
    assert region["from_name"] == "tag" and region["value"]["brushlabels"] == ["Person"]
    np.testing.assert_array_equal(decode_brush(region),
                                  _disk(w, h, 30.5, 30.5) & ~_disk(w, h, 35.5, 30.5))


def test_rotated_box_is_answered_with_the_upright_box_around_it(client, images):
    """Label Studio's 3-point rectangle turns the box about its top-left corner."""
    w, h = 80, 60
    path = write_png(images / "turned.png", w, h)
    item = rectangle(40, 10, 60, 30, w, h)  # 20 x 20 px at (40, 10)
    item["value"]["rotation"] = 90  # clockwise: it now spans x 20..40, y 10..30
    (region,) = _only_result(client.post("/predict", json=predict_body(str(path), [item])))["result"]
    np.testing.assert_array_equal(decode_brush(region), _filled(w, h, 20, 10, 40, 30))


def test_polygon_config_gets_a_polygon_in_percent(client, images):
    w, h = 90, 70
    path = write_png(images / "p.png", w, h)
    body = predict_body(str(path), [rectangle(20, 10, 60, 50, w, h)], config=POLYGON_CONFIG)
    (region,) = _only_result(client.post("/predict", json=body))["result"]
    assert region["type"] == "polygonlabels"
    points = np.array(region["value"]["points"])
    assert points.min() >= 0 and points.max() <= 100
    expected = np.zeros((h, w), bool)
    expected[10:50, 20:60] = True
    np.testing.assert_array_equal(decode_polygon(region), expected)


def test_polygon_project_gets_a_polygon_for_each_part_of_the_mask(client, images):
    # Two clicks on the two sides of an occluder: a brush region holds both parts, and so
    # must the polygon answer (Label Studio polygons have one outline each).
    w, h = 100, 80
    path = write_png(images / "parts.png", w, h)
    clicks = [keypoint(20, 20, w, h), keypoint(80, 60, w, h)]
    brush = _only_result(client.post("/predict", json=predict_body(str(path), clicks)))["result"]
    answer = _only_result(client.post("/predict", json=predict_body(str(path), clicks, config=POLYGON_CONFIG)))
    polygons = answer["result"]
    assert [r["type"] for r in polygons] == ["polygonlabels"] * 2
    assert len({r["id"] for r in polygons}) == 2
    # One object in parts (<id>, <id>~2): accepted, propagation and the exports read one object.
    assert len({object_region_id(r["id"]) for r in polygons}) == 1
    union = decode_polygon(polygons[0]) | decode_polygon(polygons[1])
    assert abs(int(union.sum()) - int(decode_brush(brush[0]).sum())) <= 0.05 * union.sum()


# One mask control per class on one image (Label Studio accepts it): a mask goes to the
# control that has its label, whichever of them comes first in the config.
PER_CLASS_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <KeyPointLabels name="kp" toName="image" smart="true"><Label value="Car"/><Label value="Person"/></KeyPointLabels>
  <BrushLabels name="cars" toName="image"><Label value="Car"/></BrushLabels>
  <PEOPLE name="people" toName="image"><Label value="Person"/></PEOPLE>
</View>"""


@pytest.mark.parametrize("people", ["BrushLabels", "PolygonLabels"])
def test_a_click_labelled_with_another_mask_controls_label_gets_a_region_of_that_control(
    client, images, people
):
    w, h = 64, 48
    path = write_png(images / "classes.png", w, h)
    config = PER_CLASS_CONFIG.replace("PEOPLE", people)
    for label, control in (("Person", "people"), ("Car", "cars")):
        body = predict_body(str(path), [keypoint(30.5, 20.5, w, h, label=label)], config=config)
        (region,) = _only_result(client.post("/predict", json=body))["result"]
        kind = people.lower() if control == "people" else "brushlabels"
        assert (region["from_name"], region["type"]) == (control, kind)
        assert region["value"][kind] == [label]
        decode = decode_brush if kind == "brushlabels" else decode_polygon
        assert decode(region)[20, 30] and decode(region).sum() > 200


def test_a_click_whose_label_no_per_class_mask_control_has_is_refused_naming_the_controls(
    client, images
):
    """With a control per class, a label none of them has cannot be put anywhere: it is
    not silently painted as the first class."""
    w, h = 64, 48
    path = write_png(images / "unknown.png", w, h)
    config = PER_CLASS_CONFIG.replace("PEOPLE", "BrushLabels").replace(
        '<Label value="Person"/></KeyPointLabels>', '<Label value="Person"/><Label value="Dog"/></KeyPointLabels>')
    body = predict_body(str(path), [keypoint(30.5, 20.5, w, h, label="Dog")], config=config)
    resp = client.post("/predict", json=body)
    assert resp.status_code == 400
    assert "'Dog'" in resp.get_json()["error"] and "'people'" in resp.get_json()["error"]


def test_item_index_is_echoed_for_multi_image_tasks(client, images):
    w, h = 40, 30
    paths = [str(write_png(images / f"m{i}.png", w, h, seed=i)) for i in range(3)]
    config = BRUSH_CONFIG.replace('value="$image"', 'valueList="$images"')
    body = predict_body(None, [keypoint(20.5, 15.5, w, h, item_index=2)], config=config)
    body["tasks"][0]["data"] = {"images": paths}
    (region,) = _only_result(client.post("/predict", json=body))["result"]
    assert region["item_index"] == 2


def test_task_open_without_context_predicts_nothing(client, images):
    path = write_png(images / "o.png", 20, 20)
    resp = client.post("/predict", json=predict_body(str(path), None))
    assert resp.status_code == 200
    assert resp.get_json() == {"results": [[]]}  # one entry per task: no prediction


def test_second_click_on_a_frame_does_not_run_the_encoder_again(app, client, images):
    w, h = 50, 50
    path = write_png(images / "twice.png", w, h)
    predictor = app.extensions["samvid.predictor"]
    for x in (10.5, 20.5, 30.5):
        assert client.post("/predict", json=predict_body(str(path), [keypoint(x, 25.5, w, h)])).status_code == 200
    assert predictor.cache.encoder_runs == 1


def test_automatic_masks_with_a_segmenter_without_them_say_so(images):
    from samvid.app import create_app
    from samvid.models.standin import StandInSegmenter
    from samvid.predictor import Predictor
    from samvid.settings import Settings

    settings = Settings.from_env({}, model="standin", local_roots=(images,), auto=True, precompute_on_open=False)
    client = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter())).test_client()
    path = write_png(images / "auto.png", 20, 20)
    # An interactive call without a smart region is told; a task opened (no context) gets
    # the entry that stores nothing (tests/backend/test_http_edges.py).
    (entry,) = client.post("/predict", json=predict_body(str(path), [])).get_json()["results"]
    assert entry["result"] == [] and "no automatic" in entry["error"]


class SlowStandIn(StandInSegmenter):
    """The stand-in, with an encoder that takes ``seconds`` (a big model on a slow CPU)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(radius=10)
        self.seconds = seconds

    def embed(self, image):
        time.sleep(self.seconds)
        return super().embed(image)


def test_click_slower_than_the_request_limit_gets_504_and_the_next_click_is_fast(images):
    settings = Settings.from_env(
        {"SAMVID_REQUEST_TIMEOUT": "0.3"}, model="standin", local_roots=(images,), precompute_on_open=False
    )
    predictor = Predictor.from_settings(settings, segmenter=SlowStandIn(seconds=3.0))
    client = create_app(settings, predictor).test_client()
    w, h = 40, 30
    body = predict_body(str(write_png(images / "slow.png", w, h)), [keypoint(20.5, 15.5, w, h)])
    started = time.perf_counter()
    first = client.post("/predict", json=body)
    assert first.status_code == 504
    assert "SAMVID_REQUEST_TIMEOUT" in first.get_json()["error"]
    assert time.perf_counter() - started < 2.0  # answered at the limit, not after the encoder (3 s)
    # the encoder goes on in the background and caches the frame
    wait_until(lambda: len(predictor.cache.local) == 1, timeout=30, what="the frame cached")
    second = client.post("/predict", json=body)
    assert second.status_code == 200
    assert second.headers["X-Samvid-Embedding"] == "cached"
    assert predictor.cache.encoder_runs == 1


def test_a_cached_frame_is_said_cached_while_another_frame_is_encoded(images):
    """The X-Samvid-Embedding header, the log's "cold" and bench_load's hit rate read it."""
    import threading

    from samvid.embeddings import EmbeddingCache, MemoryCache
    from samvid.images import ImageSource

    looking, other_encoded = threading.Event(), threading.Event()

    class PausingCache(EmbeddingCache):
        def peek(self, key):  # the cached frame's lookup waits for the other frame's encoder
            found = super().peek(key)
            if found is not None and threading.current_thread().name == "cached":
                looking.set()
                other_encoded.wait(10)
            return found

    predictor = Predictor(StandInSegmenter(), PausingCache(MemoryCache(1 << 26)),
                          ImageSource("http://127.0.0.1:1", "", local_roots=(images,)))
    seen, new = str(write_png(images / "seen.png", 20, 20)), str(write_png(images / "new.png", 30, 20))
    assert predictor.embedding(seen)[1] is False
    predictor._ref_keys.clear()  # another worker's first sight of the reference
    said: list[bool] = []
    lookup = threading.Thread(target=lambda: said.append(predictor.embedding(seen)[1]), name="cached")
    lookup.start()
    assert looking.wait(10)
    assert predictor.embedding(new)[1] is False
    other_encoded.set()
    lookup.join(30)
    assert said == [True]


@pytest.mark.parametrize("value", ["0", "-5", "nan", "soon"])
def test_request_limit_that_is_not_a_positive_number_is_refused_at_start(value):
    with pytest.raises(ConfigError, match="SAMVID_REQUEST_TIMEOUT"):
        Settings.from_env({"SAMVID_REQUEST_TIMEOUT": value})


def test_a_click_on_the_edge_of_an_image_of_another_size_stays_on_the_edge():
    from samvid.core.prompts import Prompt
    from samvid.predictor import _rescale

    for made_on in range(600, 700):
        for decoded in (made_on - 3, made_on - 1, made_on + 1, made_on + 3):
            prompt = Prompt(points=((float(made_on), float(made_on)),), labels=(1,),
                            box=(0.0, 0.0, float(made_on), float(made_on)))
            _rescale(prompt, (made_on, made_on), (decoded, decoded)).validate_inside(decoded, decoded)


@pytest.mark.parametrize("config", ["brush", "polygon"])
def test_a_click_that_finds_nothing_suggests_no_region(images, config):
    from PIL import Image

    from samvid.studio.configs import load_config

    Image.new("RGB", (64, 48), (90, 90, 90)).save(images / "flat.png")  # nothing to tell apart
    settings = Settings.from_env({}, model="classic", local_roots=(images,), precompute_on_open=False)
    client = create_app(settings, Predictor.from_settings(settings)).test_client()
    body = predict_body(str(images / "flat.png"), shared_row(keypoint(30, 20, 64, 48, label="Object")),
                        config=load_config(config).render(["Object"]))
    reply = client.post("/predict", json=body)
    assert reply.status_code == 200 and reply.get_json()["results"][0]["result"] == []


def test_clicks_of_two_labels_on_one_image_are_two_objects_each_with_its_label(client, images):
    """Label Studio sends every smart click still on the image: a car clicked, then a
    person clicked with "Person" picked, before accepting, are two masks, not one."""
    w, h = 100, 100
    path = write_png(images / "two.png", w, h)
    items = [keypoint(20.5, 20.5, w, h, label="Car"), keypoint(70.5, 70.5, w, h, label="Person"),
             keypoint(75.5, 70.5, w, h, label="Person", positive=False)]
    regions = _only_result(client.post("/predict", json=predict_body(str(path), items)))["result"]
    masks = {r["value"]["brushlabels"][0]: decode_brush(r) for r in regions}
    assert sorted(masks) == ["Car", "Person"]
    np.testing.assert_array_equal(masks["Car"], _disk(w, h, 20.5, 20.5))
    np.testing.assert_array_equal(masks["Person"], _disk(w, h, 70.5, 70.5) & ~_disk(w, h, 75.5, 70.5))


def test_an_alt_click_made_with_another_label_picked_still_cuts_the_object(client, images):
    w, h = 100, 100
    path = write_png(images / "cut.png", w, h)
    items = [keypoint(30.5, 30.5, w, h, label="Car"), keypoint(35.5, 30.5, w, h, label="Person", positive=False)]
    (region,) = _only_result(client.post("/predict", json=predict_body(str(path), items)))["result"]
    assert region["value"]["brushlabels"] == ["Car"]
    np.testing.assert_array_equal(decode_brush(region), _disk(w, h, 30.5, 30.5) & ~_disk(w, h, 35.5, 30.5))


def test_a_box_with_a_negative_width_is_the_box_left_of_its_corner(client, images):
    """A rectangle whose width (or height) is negative extends left of (above) its x (y):
    the same box as the upright one, not a box of zero area."""
    w, h = 80, 60
    path = write_png(images / "neg.png", w, h)
    item = rectangle(50, 40, 20, 10, w, h)  # x 50 %, width -30 px: spans x 20..50, y 10..40
    (region,) = _only_result(client.post("/predict", json=predict_body(str(path), [item])))["result"]
    np.testing.assert_array_equal(decode_brush(region), _filled(w, h, 20, 10, 50, 40))


def test_a_frame_replaced_under_the_same_url_by_an_image_of_another_size_is_read_again(client, images):
    """A click on an image whose file was replaced (a frame extracted again) is segmented
    on the new picture, not refused for the old one's size."""
    path = write_png(images / "again.png", 64, 48)
    assert client.post("/predict", json=predict_body(str(path), [keypoint(20.5, 20.5, 64, 48)])).status_code == 200
    write_png(path, 48, 64, seed=1)
    body = predict_body(str(path), [keypoint(24.5, 32.5, 48, 64)])
    (region,) = _only_result(client.post("/predict", json=body))["result"]
    assert (region["original_width"], region["original_height"]) == (48, 64)
    np.testing.assert_array_equal(decode_brush(region), _disk(48, 64, 24.5, 32.5))


ONE_MASK_LABEL_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <BrushLabels name="tag" toName="image"><Label value="Object"/></BrushLabels>
  <KeyPointLabels name="kp" toName="image" smart="true"><Label value="Click"/></KeyPointLabels>
  <RectangleLabels name="rect" toName="image" smart="true"><Label value="Box"/></RectangleLabels>
</View>"""


def test_a_box_and_clicks_whose_smart_rows_are_named_otherwise_refine_one_mask(client, images):
    """With one mask label, every smart row gives that label: a box and the Alt+click that
    refines it are one object (grouped by their rows' own names they were two masks, and
    the Alt+click cut neither)."""
    w, h = 100, 80
    path = write_png(images / "onemask.png", w, h)
    items = [rectangle(10, 10, 50, 40, w, h, label="Box"), keypoint(60.5, 25.5, w, h, label="Click"),
             keypoint(20.5, 20.5, w, h, label="Click", positive=False)]
    (region,) = _only_result(client.post("/predict", json=predict_body(str(path), items,
                                                                       ONE_MASK_LABEL_CONFIG)))["result"]
    assert region["value"]["brushlabels"] == ["Object"]
    assert not decode_brush(region)[20, 20]


def test_an_image_served_over_http_and_replaced_by_another_size_is_read_again_once(images):
    """No file stamp over HTTP: a size Label Studio reports that the cached image does not
    have reads the image again, once: a size that stays odd is no replaced file."""
    import http.server

    from ls_requests import png_bytes
    from services import http_server

    served = {"png": png_bytes(np.zeros((48, 64, 3), np.uint8)), "gets": 0}

    class Image(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            served["gets"] += 1
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(served["png"])))
            self.end_headers()
            self.wfile.write(served["png"])

        def log_message(self, *args):
            pass

    with http_server(Image) as url:
        settings = Settings.from_env({"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": "t"}, model="standin",
                                     precompute_on_open=False)
        client = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter(radius=10))
                            ).test_client()
        ref = "/data/upload/1/frame.png"
        assert client.post("/predict", json=predict_body(ref, [keypoint(20.5, 20.5, 64, 48)])).status_code == 200
        served["png"] = png_bytes(np.zeros((64, 48, 3), np.uint8))
        (region,) = _only_result(client.post("/predict", json=predict_body(ref, [keypoint(24.5, 32.5, 48, 64)])))[
            "result"]
        assert (region["original_width"], region["original_height"]) == (48, 64)
        gets = served["gets"]
        for _ in range(3):  # a size reported twice the image's, click after click
            assert client.post("/predict", json=predict_body(ref, [keypoint(48.5, 64.5, 96, 128)])).status_code == 200
        assert served["gets"] - gets == 1


def test_a_frame_replaced_under_the_same_path_by_another_picture_of_its_size_is_embedded_again(
        client, images):
    import os

    path = write_png(images / "same.png", 40, 30, seed=0)
    body = predict_body(str(path), [keypoint(20.5, 15.5, 40, 30)])
    assert client.post("/predict", json=body).headers["X-Samvid-Embedding"] == "computed"
    assert client.post("/predict", json=body).headers["X-Samvid-Embedding"] == "cached"
    write_png(path, 40, 30, seed=1)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # coarse clocks
    assert client.post("/predict", json=body).headers["X-Samvid-Embedding"] == "computed"


def test_a_click_on_a_task_whose_image_is_a_base64_data_uri_gets_its_mask(client):
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 32), (9, 9, 9)).save(buf, "PNG")
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    body = predict_body(uri, [keypoint(20.5, 16.5, 40, 32)])
    for _ in range(2):  # the second click is answered the same (the URI itself is not kept)
        (region,) = _only_result(client.post("/predict", json=body))["result"]
        np.testing.assert_array_equal(decode_brush(region), _disk(40, 32, 20.5, 16.5))


def _shown_client(images, **settings):
    config = Settings.from_env({}, model="standin", local_roots=(images,), precompute_on_open=False, **settings)
    return create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))).test_client()


def test_a_brush_for_an_image_shown_at_another_resolution_comes_back_at_the_size_shown(client, images):
    # Label Studio decodes a brush into the image it shows (the original_width/height it
    # sent): a mask at the size samvid read wrapped its rows there, away from the click.
    path = write_png(images / "half.png", 200, 100)  # shown at twice its resolution
    (region,) = _only_result(client.post("/predict", json=predict_body(str(path), [keypoint(300, 100, 400, 200)])))[
        "result"]
    assert (region["original_width"], region["original_height"]) == (400, 200)
    ys, xs = np.nonzero(decode_brush(region))
    assert abs(xs.mean() - 300) < 2 and abs(ys.mean() - 100) < 2


def test_a_thin_object_of_an_image_shown_smaller_keeps_its_brush(client, images):
    # Shown at a quarter of the size read, a pole 2 px wide fell between the pixels kept.
    path = write_png(images / "large.png", 800, 600)
    pole = rectangle(100.25, 25, 100.75, 125, 200, 150)  # x 401..403, y 100..500 as read
    (region,) = _only_result(client.post("/predict", json=predict_body(str(path), [pole])))["result"]
    assert (region["original_width"], region["original_height"]) == (200, 150)
    np.testing.assert_array_equal(decode_brush(region), _filled(200, 150, 100, 25, 101, 125))


def test_a_brush_for_an_image_shown_over_the_pixel_limit_is_refused_saying_what_to_do(images):
    client = _shown_client(images, max_image_pixels=100_000)
    path = write_png(images / "small.png", 200, 100)
    reply = client.post("/predict", json=predict_body(str(path), [keypoint(400, 200, 800, 400)]))
    assert reply.status_code == 413
    assert "800x400" in reply.get_json()["error"] and "SAMVID_MAX_IMAGE_PIXELS" in reply.get_json()["error"]


def test_a_polygon_for_an_image_shown_larger_is_the_polygon_of_the_image_read(client, images):
    # Percent coordinates need no resizing: an enlarged mask only added staircase vertices.
    path = write_png(images / "poly.png", 120, 90)
    polygons = []
    for scale in (1, 4):
        items = [keypoint(60 * scale, 45 * scale, 120 * scale, 90 * scale)]  # a disk: a curved outline
        (region,) = _only_result(client.post("/predict", json=predict_body(str(path), items, config=POLYGON_CONFIG)))[
            "result"]
        polygons.append(region["value"]["points"])
    assert polygons[1] == polygons[0]
