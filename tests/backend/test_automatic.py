"""Automatic masks ("segment everything"): filtering, stability and NMS on known masks,
the whole pipeline with an oracle point decoder on a synthetic frame (exact masks), and
the SAM batched decoder with random weights (shapes only: its masks are noise)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import transformers as tf
from small_models import TINY_SAM

from samvid.automatic import (
    AutoConfig,
    AutoRegionsCache,
    Candidates,
    NoEverythingMode,
    automatic_regions,
    finish_masks,
    keep_candidates,
    mask_nms,
    point_grid,
    sam_decode_points,
    segment_everything,
    stability_score,
)
from samvid.core.segmenter import Embedding, MaskPrediction, Segmenter
from samvid.embeddings import EmbeddingCache, MemoryCache
from samvid.images import ImageSource
from samvid.models.sam import SamSegmenter
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings
from samvid.studio.protocol import MaskTarget
from samvid.studio.results import decode_brush, object_region_id

TARGET = MaskTarget("image", "image", False, "mask", "brushlabels", ("Object",))


def square(h: int, w: int, y0: int, x0: int, size: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y0 + size, x0:x0 + size] = True
    return m


# -- pure parts -----------------------------------------------------------------------------


def test_point_grid_puts_one_click_at_each_cell_centre():
    assert point_grid(2, 4, 4).tolist() == [[1, 1], [3, 1], [1, 3], [3, 3]]
    assert point_grid(32, 640, 480).shape == (1024, 2)


def test_stability_is_the_area_ratio_of_tight_and_loose_masks():
    logits = np.array([[[3.0, 3.0], [0.5, -3.0]], [[0.2, -0.2], [0.1, 0.0]], [[-5, -5], [-5, -5]]])
    assert stability_score(logits).tolist() == pytest.approx([2 / 3, 0.0, 0.0])


def test_mask_nms_keeps_the_best_of_duplicates_and_all_disjoint_masks():
    a = square(20, 20, 0, 0, 8)
    masks = np.stack([a, a, square(20, 20, 10, 10, 8), a & ~square(20, 20, 0, 0, 2)])
    assert mask_nms(masks, np.array([0.8, 0.9, 0.7, 0.95]), 0.7) == [3, 2]
    assert mask_nms(masks, np.array([0.8, 0.9, 0.7, 0.95]), 0.99) == [3, 1, 2]


def test_person_on_a_bicycle_both_survive_mask_nms():
    person, bike = square(40, 40, 0, 10, 20), square(40, 40, 20, 5, 30)  # boxes overlap, masks barely
    assert sorted(mask_nms(np.stack([person, bike]), np.array([0.9, 0.8]), 0.5)) == [0, 1]


def test_thresholds_drop_unsure_and_unstable_candidates():
    sure = np.where(square(10, 10, 2, 2, 4), 8.0, -8.0)
    blurry = np.where(square(10, 10, 5, 5, 4), 0.5, -0.5)  # moves with the threshold
    cands = Candidates(np.stack([sure, sure, blurry]), np.array([0.95, 0.5, 0.99]),
                       stability_score(np.stack([sure, sure, blurry])))
    kept = keep_candidates(cands, AutoConfig())
    assert len(kept) == 1 and kept.pred_iou.tolist() == [pytest.approx(0.95)]


def test_small_islands_and_holes_are_removed():
    mask = square(30, 30, 5, 5, 15)
    mask[0, 0] = True  # an island of 1 px
    mask[10, 10] = False  # a hole of 1 px
    cands = Candidates(np.where(mask, 1.0, -1.0)[None], np.array([0.9]), np.array([0.9]))
    (kept,) = finish_masks(cands, (30, 30), AutoConfig(min_area=4 / 900))
    assert (kept.mask == square(30, 30, 5, 5, 15)).all()


def test_masks_apart_at_the_decoder_resolution_but_one_at_the_image_size_are_kept_once():
    # At 40 x 40 the left half and its left 12 columns overlap by 0.6 (under NMS's 0.7);
    # on a 2 x 2 image both are the left column: one region, not two.
    half, strip = np.full((40, 40), -1.0), np.full((40, 40), -1.0)
    half[:, :20], strip[:, :12] = 1.0, 1.0
    cands = Candidates(np.stack([half, strip]), np.array([0.95, 0.9]), np.array([0.99, 0.99]))
    assert len(keep_candidates(cands, AutoConfig())) == 2
    (kept,) = finish_masks(keep_candidates(cands, AutoConfig()), (2, 2), AutoConfig())
    assert kept.mask.tolist() == [[True, False], [True, False]]
    assert kept.score == pytest.approx(0.95)


def test_an_automatic_mask_scores_within_0_and_1_when_sams_iou_strays_past_1():
    mask = square(30, 30, 5, 5, 15)
    cands = Candidates(np.where(mask, 1.0, -1.0)[None], np.array([1.03]), np.array([0.99]))
    (kept,) = finish_masks(cands, (30, 30), AutoConfig())
    assert kept.score == 1.0


# -- the pipeline with an oracle decoder ------------------------------------------------------


def synthetic_frame() -> tuple[np.ndarray, list[np.ndarray]]:
    """A 96x128 label map: three objects of known shape, one too small to keep."""
    h, w = 96, 128
    ys, xs = np.mgrid[0:h, 0:w]
    objects = [square(h, w, 10, 10, 30), (xs - 90) ** 2 + (ys - 60) ** 2 <= 20**2,
               square(h, w, 70, 20, 3)]  # 9 px < 0.1 % of 12288
    labels = np.zeros((h, w), np.int32)
    for i, obj in enumerate(objects, start=1):
        labels[obj] = i
    return labels, objects


def oracle_decoder(labels: np.ndarray):
    """What a perfect SAM would answer: the clicked object (sure), the object minus a
    sliver (a near duplicate) and the whole frame (unsure); the background is unsure."""

    def decode(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = labels.shape
        logits, scores = [], []
        for x, y in points:
            obj = labels[min(int(y), h - 1), min(int(x), w - 1)]
            region = labels == obj
            sliver = region.copy()
            sliver[np.argwhere(region)[0][0]] = False  # drop the object's first row
            whole = np.ones_like(region)
            logits.append([np.where(m, 6.0, -6.0) for m in (region, sliver, whole)])
            scores.append([0.97 if obj else 0.4, 0.93 if obj else 0.4, 0.6])
        return np.asarray(logits, np.float32), np.asarray(scores, np.float32)

    return decode


def test_everything_finds_each_object_once_and_drops_small_ones():
    labels, objects = synthetic_frame()
    masks = segment_everything(oracle_decoder(labels), labels.shape, AutoConfig(grid=16, batch=40))
    assert len(masks) == 2
    found = sorted(masks, key=lambda m: m.mask.argmax())
    for auto, truth in zip(found, objects[:2], strict=True):
        assert (auto.mask == truth).all()
        assert auto.score == pytest.approx(0.97)


class OracleSegmenter(Segmenter):
    """A segmenter with an everything mode whose answers are the synthetic label map."""

    version = "oracle"
    supports_everything = True

    def __init__(self, labels: np.ndarray) -> None:
        self.decode_points = lambda emb, points: oracle_decoder(labels)(points)

    def embed(self, image: np.ndarray) -> Embedding:
        return Embedding(self.version, image.shape[:2])

    def segment(self, embedding: Embedding, prompt) -> MaskPrediction:
        raise NotImplementedError


def make_predictor(segmenter: Segmenter, root) -> Predictor:
    source = ImageSource.from_settings(Settings.from_env({}, local_roots=(root,)))
    return Predictor(segmenter, EmbeddingCache(MemoryCache(1 << 28)), source)


def test_automatic_regions_are_brush_regions_with_the_default_label(tmp_path):
    from PIL import Image

    labels, objects = synthetic_frame()
    path = tmp_path / "frame.png"
    Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").save(path)
    predictor = make_predictor(OracleSegmenter(labels), tmp_path)
    regions = automatic_regions(predictor, str(path), 7, TARGET, "Object")
    assert len(regions) == 2
    for region in regions:
        assert region["type"] == "brushlabels" and region["value"]["brushlabels"] == ["Object"]
        assert any((decode_brush(region) == obj).all() for obj in objects)


def test_an_automatic_mask_in_two_parts_is_one_object_in_a_polygon_project(tmp_path):
    # An object behind a pole: one label, two pieces. Its polygons are <id> and <id>~2, so
    # accepted they are one object to propagation and the exports.
    from PIL import Image

    h, w = 96, 128
    labels = np.zeros((h, w), np.int32)
    labels[20:60, 10:50] = 1
    labels[20:60, 70:110] = 1
    path = tmp_path / "parts.png"
    Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").save(path)
    polygon = MaskTarget("frame", "frame", False, "mask", "polygonlabels", ("Object",))
    regions = automatic_regions(make_predictor(OracleSegmenter(labels), tmp_path), str(path), 7,
                                polygon, "Object")
    assert [r["type"] for r in regions] == ["polygonlabels"] * 2
    assert len({r["id"] for r in regions}) == 2
    assert len({object_region_id(r["id"]) for r in regions}) == 1


def test_on_open_cache_answers_at_once_and_computes_in_the_background(tmp_path):
    from PIL import Image

    labels, _ = synthetic_frame()
    Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").save(tmp_path / "f.png")
    predictor = make_predictor(OracleSegmenter(labels), tmp_path)
    cache = AutoRegionsCache()
    ref = str(tmp_path / "f.png")
    assert cache.get_or_queue(predictor, ref, 1, TARGET, "Object") is None  # queued
    deadline = time.monotonic() + 30
    while (regions := cache.get_or_queue(predictor, ref, 1, TARGET, "Object")) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(regions) == 2
    with pytest.raises(NoEverythingMode):
        cache.get_or_queue(make_predictor(StandInSegmenter(), tmp_path), ref, 1, TARGET, "Object")


def test_on_open_cache_keeps_brush_and_polygon_projects_on_the_same_image_apart(tmp_path):
    from PIL import Image

    labels, _ = synthetic_frame()
    Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").save(tmp_path / "f.png")
    predictor, cache, ref = make_predictor(OracleSegmenter(labels), tmp_path), AutoRegionsCache(), str(tmp_path / "f.png")
    # Same control name and label, another mask type and Image name: another project's
    # config, or this one's after switching from brush to polygon.
    polygon = MaskTarget("frame", "frame", False, "mask", "polygonlabels", ("Object",))
    for target in (TARGET, polygon):
        deadline = time.monotonic() + 30
        while (regions := cache.get_or_queue(predictor, ref, 1, target, "Object")) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert {(r["type"], r["to_name"]) for r in regions} == {(target.mask_type, target.image_name)}


def test_a_frame_evicted_by_the_worker_while_a_request_reads_it_is_no_error(tmp_path):
    from PIL import Image

    class EvictedWhileRead(dict):
        """The worker, storing another frame in a full cache, evicts this one at the very
        moment a request has found it."""

        def __contains__(self, key) -> bool:
            found = super().__contains__(key)
            self.pop(key, None)
            return found

    labels, _ = synthetic_frame()
    Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").save(tmp_path / "f.png")
    predictor, cache, ref = make_predictor(OracleSegmenter(labels), tmp_path), AutoRegionsCache(), str(tmp_path / "f.png")
    deadline = time.monotonic() + 30
    while cache.get_or_queue(predictor, ref, 1, TARGET, "Object") is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cache._done = EvictedWhileRead(cache._done)
    regions = cache.get_or_queue(predictor, ref, 1, TARGET, "Object")  # no KeyError: a 500 on /predict
    assert regions is None or len(regions) == 2


def test_segmenters_without_everything_mode_say_so_before_fetching(tmp_path):
    predictor = make_predictor(StandInSegmenter(), tmp_path)
    with pytest.raises(NoEverythingMode, match="no automatic"):
        automatic_regions(predictor, str(tmp_path / "never-fetched.png"), 1, TARGET, "Object")


# -- over HTTP, as Label Studio 1.23 calls it (ml/models.py) ---------------------------------


def _auto_client(root, labels: np.ndarray):
    from samvid.app import create_app

    settings = Settings.from_env({}, model="standin", local_roots=(root,), precompute_on_open=False,
                                 auto=True, auto_grid=4)
    return create_app(settings, Predictor.from_settings(settings, segmenter=OracleSegmenter(labels))).test_client()


def _opened(frames: list[str]) -> dict:
    from ls_requests import BRUSH_CONFIG

    return {"tasks": [{"id": i + 1, "data": {"image": f}} for i, f in enumerate(frames)],
            "project": "1.1700000000", "label_config": BRUSH_CONFIG, "params": {"context": None}}


def test_auto_batch_of_60_tasks_gets_60_entries(tmp_path):
    # Label Studio stores nothing at all when the counts differ; past the batch cap a task
    # gets an entry that stores no prediction, so it is asked for again when opened.
    from PIL import Image

    labels, _ = synthetic_frame()
    frames = []
    for i in range(60):
        Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").save(tmp_path / f"f{i}.png")
        frames.append(str(tmp_path / f"f{i}.png"))
    results = _auto_client(tmp_path, labels).post("/predict", json=_opened(frames)).get_json()["results"]
    assert len(results) == 60
    assert all(entry == [] for entry in results[50:])


def test_a_task_whose_masks_are_queued_stores_no_prediction_and_gets_them_when_reopened(tmp_path):
    # Label Studio asks again only for tasks without a prediction: an empty prediction
    # stored while the masks are computed would keep them from ever showing.
    from PIL import Image

    labels, _ = synthetic_frame()
    Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").save(tmp_path / "f.png")
    client, body = _auto_client(tmp_path, labels), _opened([str(tmp_path / "f.png")])
    assert client.post("/predict", json=body).get_json()["results"] == [[]]  # queued
    deadline = time.monotonic() + 30
    while (entry := client.post("/predict", json=body).get_json()["results"][0]) == []:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(entry["result"]) == 2 and entry["model_version"].endswith("oracle")


def test_auto_on_open_gives_a_task_without_an_image_no_prediction_and_still_answers_the_others(tmp_path):
    from PIL import Image

    labels, _ = synthetic_frame()
    Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").save(tmp_path / "f.png")
    client, body = _auto_client(tmp_path, labels), _opened([str(tmp_path / "f.png")] * 2)
    body["tasks"][1]["data"] = {"text": "imported without an image"}
    deadline = time.monotonic() + 30
    while (resp := client.post("/predict", json=body)).status_code == 200 and resp.get_json()["results"][0] == []:
        assert time.monotonic() < deadline  # the first task's masks are computed meanwhile
        time.sleep(0.05)
    assert resp.status_code == 200, resp.get_json()
    first, second = resp.get_json()["results"]
    assert len(first["result"]) == 2 and second == []


# -- SAM with random weights ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_sam() -> SamSegmenter:
    torch.manual_seed(0)
    config = tf.SamConfig(**TINY_SAM)
    model = tf.SamModel(config).eval()
    return SamSegmenter(model, "sam", "tiny-sam@random-weights", "cpu", torch.float32)


def test_sam_batched_decoding_reuses_one_embedding(tiny_sam):
    emb = tiny_sam.embed(np.zeros((60, 100, 3), np.uint8))
    points = point_grid(3, 100, 60)
    logits, scores = sam_decode_points(tiny_sam, emb, points)
    assert scores.shape == (9, 3)
    assert logits.shape == (9, 3, 154, 256)  # the 60x100 image area of the 256 grid, padding cut
    # One click in a batch decodes as it does alone.
    single, _ = sam_decode_points(tiny_sam, emb, points[4:5])
    assert np.allclose(single[0], logits[4], atol=1e-3)


def test_sam_everything_runs_end_to_end_with_open_thresholds(tiny_sam):
    emb = tiny_sam.embed(np.zeros((60, 100, 3), np.uint8))
    config = AutoConfig(grid=4, batch=8, pred_iou=-1e9, stability=0.0, min_area=0.0)
    masks = segment_everything(lambda p: sam_decode_points(tiny_sam, emb, p), (60, 100), config)
    assert masks and all(m.mask.shape == (60, 100) and m.mask.dtype == bool for m in masks)


def test_automatic_masks_of_an_image_smaller_than_the_grid_are_each_found_once(tiny_sam):
    # 8 x 8 clicks on 6 x 6 pixels: several clicks share a pixel, and masks that the
    # decoder's 256 x 256 logits tell apart coincide at the image size.
    emb = tiny_sam.embed(np.random.default_rng(0).integers(0, 255, (6, 6, 3), dtype=np.uint8))
    config = AutoConfig(grid=8, batch=64, pred_iou=-1e9, stability=0.0, min_area=0.0)
    masks = segment_everything(lambda p: sam_decode_points(tiny_sam, emb, p), (6, 6), config)
    flat = np.stack([m.mask.ravel() for m in masks]).astype(np.float32)
    inter = flat @ flat.T
    union = flat.sum(axis=1)[:, None] + flat.sum(axis=1)[None, :] - inter
    iou = inter / np.maximum(union, 1)
    np.fill_diagonal(iou, 0.0)
    assert iou.max() <= config.nms_iou


def test_on_open_cache_computes_a_frame_again_when_its_file_was_replaced(tmp_path):
    """A frame extracted again under the same path gets the new picture's regions, not
    the ones remembered for the old picture."""
    import os

    from PIL import Image

    labels, _ = synthetic_frame()
    path = tmp_path / "f.png"
    Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").save(path)
    predictor, cache, ref = make_predictor(OracleSegmenter(labels), tmp_path), AutoRegionsCache(), str(path)

    def regions_when_done() -> list:
        deadline = time.monotonic() + 30
        while (regions := cache.get_or_queue(predictor, ref, 1, TARGET, "Object")) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return regions

    h, w = labels.shape
    assert {r["original_width"] for r in regions_when_done()} == {w}
    Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").resize((w // 2, h // 2)).save(path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # coarse clocks
    assert {r["original_width"] for r in regions_when_done()} == {w // 2}


def test_on_open_cache_computes_a_frame_again_after_setup_points_to_another_label_studio(tmp_path):
    """/data/upload/1/a.png on the new Label Studio is another picture: its regions, not
    the ones remembered from the former server."""
    import dataclasses
    import io

    from PIL import Image

    labels, _ = synthetic_frame()
    h, w = labels.shape

    @dataclasses.dataclass(frozen=True)
    class Server(ImageSource):
        width: int = w

        def fetch(self, ref: str, task_id: int | None = None) -> bytes:
            buf = io.BytesIO()
            picture = Image.fromarray((labels * 60).astype(np.uint8))
            picture.resize((self.width, self.width * h // w)).save(buf, "PNG")
            return buf.getvalue()

    predictor = Predictor(OracleSegmenter(labels), EmbeddingCache(MemoryCache(1 << 28)),
                          Server("http://ls-a:8080"))
    cache = AutoRegionsCache()

    def widths_when_done() -> set[int]:
        deadline = time.monotonic() + 30
        while (regions := cache.get_or_queue(predictor, "/data/upload/1/a.png", 1, TARGET, "Object")) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return {r["original_width"] for r in regions}

    assert widths_when_done() == {w}
    predictor.source = Server("http://ls-b:8080", width=w // 2)
    assert widths_when_done() == {w // 2}


def test_a_64_by_64_grid_on_a_busy_frame_holds_no_more_candidates_than_a_16_by_16_one():
    # A crowd: every click finds a mask of its own, so no batch's survivors are duplicates.
    # Kept to the end, they grew with the grid (SAMVID_AUTO_GRID=64 on a 720p frame: 1.6 GB).
    import tracemalloc

    def busy(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(int(points[0, 0] * 7 + points[0, 1]))
        # 32 x 32 noise masks: any two overlap by about 1/3 (no duplicates), and a 64 x 64
        # grid's, if kept to the end, peak at ~9x a 16 x 16 grid's (77 against 8 MB).
        logits = np.where(rng.random((len(points), 3, 32, 32)) < 0.5, 6.0, -6.0).astype(np.float32)
        return logits, np.full((len(points), 3), 0.95, np.float32)

    def peak(grid: int) -> int:
        tracemalloc.start()
        try:
            segment_everything(busy, (32, 32), AutoConfig(grid=grid, min_area=0.0, max_masks=1))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak(64) < 2 * peak(16)


def test_the_log_line_of_failed_automatic_masks_keeps_an_image_urls_secrets_out(tmp_path, caplog):
    import logging

    labels, _ = synthetic_frame()
    predictor = Predictor(OracleSegmenter(labels), EmbeddingCache(MemoryCache(1 << 26)),
                          ImageSource("http://127.0.0.1:9", allowed_hosts=("127.0.0.1",)))
    url = "http://annotator:s3cret-pw@127.0.0.1:1/f.png?X-Amz-Signature=SIGNATURE-SECRET"
    caplog.set_level(logging.WARNING, logger="samvid")
    assert AutoRegionsCache().get_or_queue(predictor, url, 1, TARGET, "Object") is None
    deadline = time.monotonic() + 30
    while "automatic masks of" not in caplog.text:  # the background worker's fetch fails
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "127.0.0.1:1/f.png" in caplog.text
    assert "s3cret-pw" not in caplog.text and "SIGNATURE-SECRET" not in caplog.text


def test_on_open_cache_forgets_its_oldest_frames_past_its_byte_budget(tmp_path):
    # A frame's brush regions hold ~1 MB at 720p: 2000 frames kept by count alone grew a
    # long-running server by gigabytes. A budget that fits one frame keeps the newest.
    from PIL import Image

    labels, _ = synthetic_frame()
    for name in ("a.png", "b.png"):
        Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").save(tmp_path / name)
    predictor = make_predictor(OracleSegmenter(labels), tmp_path)
    cache = AutoRegionsCache(max_bytes=6_000)  # a frame: two small brush regions, ~5 KB in memory

    def done(name: str) -> list:
        deadline = time.monotonic() + 30
        while (regions := cache.get_or_queue(predictor, str(tmp_path / name), 1, TARGET, "Object")) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return regions

    assert len(done("a.png")) == 2 and len(done("b.png")) == 2
    assert cache.get_or_queue(predictor, str(tmp_path / "b.png"), 1, TARGET, "Object") is not None
    assert cache.get_or_queue(predictor, str(tmp_path / "a.png"), 1, TARGET, "Object") is None  # forgotten
