"""Thousands of generated requests against every route: never a 5xx, never a crash.

Bodies are arbitrary JSON, then Label-Studio-shaped payloads with every field
replaced by hostile values (NaN, huge numbers, unicode, empty and enormous lists),
and hostile images (truncated, zero-sized, 1x100000, CMYK, 16-bit, animated).
"""

from __future__ import annotations

import io
import resource

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ls_requests import BRUSH_CONFIG, keypoint, predict_body, rectangle
from PIL import Image

from samvid.core.prompts import MAX_POINTS

ROUTES = [("post", "/predict"), ("post", "/setup"), ("post", "/webhook"), ("post", "/propagate"),
          ("get", "/jobs/x"), ("delete", "/jobs/x"), ("get", "/health"), ("get", "/versions"),
          ("get", "/metrics")]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def _ok(resp) -> None:
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]
    if resp.status_code >= 400:
        assert "error" in resp.get_json()


@FUZZ
@given(route=st.sampled_from(ROUTES), body=json_values)
def test_arbitrary_json_on_every_route_is_never_a_5xx(client, route, body):
    method, path = route
    kwargs = {} if method == "get" else {"json": body}
    _ok(getattr(client, method)(path, **kwargs))


@FUZZ
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_are_never_a_5xx(client, raw):
    _ok(client.post("/predict", data=raw, content_type="application/json"))


def _mutations():
    """A valid interactive body with one field replaced by a hostile value."""
    paths = [("value", "x"), ("value", "y"), ("value", "width"), ("original_width",), ("original_height",),
             ("type",), ("is_positive",), ("value", "keypointlabels"), ("item_index",), ("value",)]
    return st.tuples(st.sampled_from(paths), json_values, st.booleans())


@FUZZ
@given(mutation=_mutations())
def test_hostile_fields_in_a_smart_prompt_are_never_a_5xx(client, images, mutation):
    path, value, as_rectangle = mutation
    from ls_requests import write_png

    frame = images / "fuzz.png"
    if not frame.exists():
        write_png(frame, 64, 48)
    item = rectangle(5, 5, 30, 30, 64, 48) if as_rectangle else keypoint(10.5, 10.5, 64, 48)
    target = item
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _ok(client.post("/predict", json=predict_body(str(frame), [item])))


# Every n past MAX_POINTS takes one path (the whole list parsed, then refused), and each example
# costs its n clicks of JSON: 300 examples were 370k clicks and ~10 s. Fewer random sizes, and the
# sizes where the answer changes, and the largest, always.
@settings(FUZZ, max_examples=50)
@given(n=st.integers(min_value=0, max_value=5000))
@example(n=0).via("no click")
@example(n=MAX_POINTS).via("the most accepted")
@example(n=MAX_POINTS + 1).via("the fewest refused")
@example(n=5000).via("the largest")
def test_click_lists_up_to_the_limit_are_answered_and_longer_ones_refused_naming_it(client, images, n):
    from ls_requests import write_png

    frame = images / "many.png"
    if not frame.exists():
        write_png(frame, 64, 48)
    items = [keypoint(10.5, 10.5, 64, 48)] * n
    resp = client.post("/predict", json=predict_body(str(frame), items))
    _ok(resp)
    # No click at all is a task with nothing to predict yet, not a bad request.
    assert resp.status_code == (400 if n > MAX_POINTS else 200), resp.get_data(as_text=True)[:300]
    if n > MAX_POINTS:
        assert f"at most {MAX_POINTS} clicks" in resp.get_json()["error"]


def _image(kind: str) -> bytes:
    buf = io.BytesIO()
    if kind == "truncated":
        Image.new("RGB", (64, 48)).save(buf, "PNG")
        return buf.getvalue()[:50]
    if kind == "tall":
        Image.new("L", (1, 100_000)).save(buf, "PNG")
    elif kind == "cmyk":
        Image.new("CMYK", (64, 48)).save(buf, "JPEG")
    elif kind == "16bit":
        Image.fromarray(np.full((48, 64), 40000, np.uint16)).save(buf, "PNG")
    elif kind == "animated":
        frames = [Image.new("RGB", (64, 48), (i * 40, 0, 0)) for i in range(3)]
        frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    elif kind == "empty":
        return b""
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["truncated", "tall", "cmyk", "16bit", "animated", "empty"])
def test_hostile_images_are_never_a_5xx(client, images, kind):
    path = images / f"{kind}.img"
    path.write_bytes(_image(kind))
    _ok(client.post("/predict", json=predict_body(str(path), [keypoint(0.5, 0.5, 64, 48)])))


def test_memory_returns_to_its_level_after_the_fuzzing(client, images):
    from ls_requests import write_png

    frame = str(write_png(images / "mem.png", 64, 48))
    body = predict_body(frame, [keypoint(10.5, 10.5, 64, 48)])
    for _ in range(50):  # warm caches and allocators first
        client.post("/predict", json=body)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in range(1000):
        client.post("/predict", json={"tasks": [{"data": {"image": "x" * (i % 50)}}], "label_config": BRUSH_CONFIG,
                                      "params": {"context": {"result": [{"type": "keypointlabels"}] * (i % 7)}}})
        client.post("/predict", json=body)
    growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert growth_mib < 50
