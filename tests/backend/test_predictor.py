"""The predictor: an image reference names the image of the Label Studio in use now."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import wait
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest
from PIL import Image
from services import http_server, wait_until

from samvid.core.prompts import Prompt
from samvid.errors import ModelUnavailable
from samvid.images import ImageSource
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings


def _serving(width: int, height: int) -> type[BaseHTTPRequestHandler]:
    buf = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(buf, "PNG")
    data = buf.getvalue()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _counting(fetched: list[str]) -> type[BaseHTTPRequestHandler]:
    """``_serving(40, 30)``, noting in ``fetched`` each path asked for."""

    class Counting(_serving(40, 30)):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:
            fetched.append(self.path)
            super().do_GET()

    return Counting


def _standin_predictor(label_studio_url: str) -> Predictor:
    config = Settings.from_env({}, model="standin", precompute_on_open=False, label_studio_url=label_studio_url)
    return Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))


def _latest_of(pictures: list[np.ndarray], slow: threading.Event, seconds: float) -> type[BaseHTTPRequestHandler]:
    """A server of ``pictures[-1]`` (a frame extracted again is appended) as it was when the
    request came; the request after ``slow`` is set answers ``seconds`` late."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            picture = pictures[-1]
            if slow.is_set() and self.path.endswith("frame_000010.png"):
                slow.clear()
                time.sleep(seconds)
            buf = io.BytesIO()
            Image.fromarray(picture).save(buf, "PNG")
            self.send_response(200)
            self.send_header("Content-Length", str(len(buf.getvalue())))
            self.end_headers()
            self.wfile.write(buf.getvalue())

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class _Keeping(StandInSegmenter):
    """The stand-in, whose embedding shows which picture it was made of (its grey)."""

    def embed(self, image: np.ndarray):  # type: ignore[no-untyped-def]
        found = super().embed(image)
        found.tensors["grey"] = image[:1, :1, 0].copy()
        return found


def test_a_reference_names_the_new_label_studios_image_once_its_address_changes() -> None:
    with http_server(_serving(40, 30)) as old, http_server(_serving(80, 60)) as new:
        config = Settings.from_env({}, model="standin", precompute_on_open=False, label_studio_url=old)
        predictor = Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))
        ref = "/data/upload/1/a.png"
        assert predictor.embedding(ref)[0].image_size == (30, 40)
        # What /setup does when it names another Label Studio (samvid.service).
        predictor.source = ImageSource.from_settings(Settings.from_env({}, label_studio_url=new))
        embedding, cached = predictor.embedding(ref)
        assert embedding.image_size == (60, 80) and not cached


def test_a_new_token_for_the_same_label_studio_keeps_what_its_references_named() -> None:
    # Label Studio sends /setup with its token whenever a task without predictions opens:
    # each one made the next click download and hash its image again.
    fetched: list[str] = []
    with http_server(_counting(fetched)) as url:
        predictor = _standin_predictor(url)
        predictor.embedding("/data/upload/1/a.png")
        for token in ("t1", "t2"):
            predictor.source = ImageSource.from_settings(Settings.from_env(
                {}, label_studio_url=url, label_studio_api_key=token))
            assert predictor.embedding("/data/upload/1/a.png")[1]  # cached
    assert len(fetched) == 1


def _frames(tmp_path, count: int) -> list[str]:
    """``count`` frames, frame ``i`` a picture of grey ``i``."""
    refs = []
    for i in range(count):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((30, 40, 3), i, np.uint8)).save(path)
        refs.append(str(path))
    return refs


class _Gated(StandInSegmenter):
    """The stand-in, whose encoder waits for ``gate`` and notes each frame's grey."""

    def __init__(self) -> None:
        super().__init__(radius=10)
        self.gate, self.embedded = threading.Event(), []

    def embed(self, image: np.ndarray):  # type: ignore[no-untyped-def]
        self.gate.wait(10)
        self.embedded.append(int(image[0, 0, 0]))
        return super().embed(image)


def _warming(folder) -> tuple[_Gated, Predictor]:
    """A predictor of local frames under ``folder`` that warms nothing on its own, and its
    gated encoder."""
    config = Settings.from_env({}, model="standin", precompute_on_open=False, local_roots=(folder,))
    segmenter = _Gated()
    return segmenter, Predictor.from_settings(config, segmenter=segmenter)


def test_tasks_opened_in_quick_succession_leave_the_encoder_to_the_frame_now_open(
    tmp_path, monkeypatch,
) -> None:
    # An annotator pressing "next" opens tasks faster than they embed: each opening queued
    # an encoder run, and the frames left behind held the encoder for minutes. The frame
    # open now is warmed first; frames left behind long enough are not warmed at all.
    import samvid.predictor

    monkeypatch.setattr(samvid.predictor, "PRECOMPUTE_MAX_WAIT", 1.0, raising=False)
    refs = _frames(tmp_path, 6)
    segmenter, predictor = _warming(tmp_path)
    futures = [predictor.precompute(ref) for ref in refs[:5]]  # the first's encoder runs meanwhile
    time.sleep(1.5)  # frames 1-4 left behind for longer than PRECOMPUTE_MAX_WAIT
    futures.append(predictor.precompute(refs[5]))
    segmenter.gate.set()
    for future in futures:
        if not future.cancelled():
            future.result(timeout=10)
    assert segmenter.embedded == [0, 5]  # the frame open now, and no run per frame left behind
    assert not futures[5].cancelled()


def test_two_annotators_opening_tasks_at_the_same_moment_both_get_their_frames_warmed(tmp_path) -> None:
    # One warm-up for the whole process: the second annotator's task cancelled the first's.
    refs = _frames(tmp_path, 3)  # 0: a task alice left; 1: alice's task now; 2: bob's
    segmenter, predictor = _warming(tmp_path)
    left_behind = predictor.precompute(refs[0])  # its encoder runs while the others are opened
    alice, bob = predictor.precompute(refs[1]), predictor.precompute(refs[2])
    segmenter.gate.set()
    for future in (left_behind, alice, bob):
        assert not future.cancelled()
        future.result(timeout=10)
    assert sorted(segmenter.embedded) == [0, 1, 2]
    assert predictor.embedding(refs[1])[1] and predictor.embedding(refs[2])[1]  # both cached


def test_the_task_just_opened_is_warmed_however_long_the_encoder_run_before_it_takes(
    tmp_path, monkeypatch,
) -> None:
    # One CPU run of SAM ViT-L or H outlasts PRECOMPUTE_MAX_WAIT: the task opened during it
    # was dropped, and its first click embedded it.
    import samvid.predictor

    monkeypatch.setattr(samvid.predictor, "PRECOMPUTE_MAX_WAIT", 0.5, raising=False)
    refs = _frames(tmp_path, 2)
    segmenter, predictor = _warming(tmp_path)
    earlier = predictor.precompute(refs[0])
    now_open = predictor.precompute(refs[1])
    time.sleep(1.0)  # the run before it goes on past the limit
    segmenter.gate.set()
    earlier.result(timeout=10)
    now_open.result(timeout=10)
    assert segmenter.embedded == [0, 1]


def test_tasks_left_behind_are_not_warmed_after_the_task_opened_last(tmp_path, monkeypatch) -> None:
    # Only the task opened last is warmed however long it waited: the next newest, left
    # behind while it was warmed, ran too, holding the encoder while task 4 was clicked.
    import samvid.predictor

    monkeypatch.setattr(samvid.predictor, "PRECOMPUTE_MAX_WAIT", 0.5, raising=False)
    refs = _frames(tmp_path, 5)
    segmenter, predictor = _warming(tmp_path)
    segmenter.gate.set()
    runs: list[int] = []
    embed = segmenter.embed

    def slow(image: np.ndarray):  # type: ignore[no-untyped-def]
        time.sleep(0.7)  # one CPU encoder run: longer than the limit
        runs.append(int(image[0, 0, 0]))
        return embed(image)

    monkeypatch.setattr(segmenter, "embed", slow)
    futures = [predictor.precompute(refs[0])]
    time.sleep(0.5)
    futures += [predictor.precompute(ref) for ref in refs[1:]]  # "next" pressed near the run's end
    assert not wait(futures, timeout=20).not_done
    assert runs == [0, 4]


def test_a_slow_read_does_not_bring_back_a_replaced_picture_after_the_remembered_references_were_cleared(
    monkeypatch,
) -> None:
    # The map of references is emptied at its bound: a read begun before a newer one, ending
    # after the clear, found nothing newer and brought the old picture back.
    pictures = [np.full((30, 40, 3), 10, np.uint8)]
    slow = threading.Event()
    with http_server(_latest_of(pictures, slow, 1.0)) as url:
        config = Settings.from_env({}, model="standin", precompute_on_open=False, label_studio_url=url)
        predictor = Predictor.from_settings(config, segmenter=_Keeping(radius=10))
        ref = "/data/upload/1/frame_000010.png"
        assert predictor.embedding(ref)[0].tensors["grey"][0, 0] == 10
        slow.set()
        old_read = threading.Thread(target=predictor.embedding, args=(ref,))
        monkeypatch.setattr("samvid.predictor.HTTP_REF_SECONDS", 0.0)
        old_read.start()  # a background read of the old picture, slow
        time.sleep(0.3)
        monkeypatch.setattr("samvid.predictor.HTTP_REF_SECONDS", 60.0)
        pictures.append(np.full((60, 80, 3), 200, np.uint8))  # extracted again
        predictor.predict(ref, Prompt(((40.0, 30.0),), (1,)), (80, 60))  # reads the new one
        monkeypatch.setattr("samvid.predictor.MAX_REMEMBERED_REF", 10**6)
        predictor._ref_keys.update({f"/x{i}": ("k", None, 0.0) for i in range(100_001)})  # a busy server's
        predictor.embedding("/data/upload/1/other.png")  # any read now empties the map
        old_read.join(10)
        time.sleep(1.2)  # the slow background read has ended
        assert predictor.embedding(ref)[0].tensors["grey"][0, 0] == 200


def test_a_slow_read_of_an_http_frame_does_not_bring_back_the_picture_a_later_read_replaced(monkeypatch) -> None:
    # A background read begun before the frame was extracted again finished after a click
    # had read the new picture, and was remembered over it: clicks went back to the old one.
    import samvid.predictor

    pictures = [np.full((30, 40, 3), 10, np.uint8)]
    slow = threading.Event()

    def grey() -> int:
        return int(predictor.embedding(ref)[0].tensors["grey"][0, 0])

    with http_server(_latest_of(pictures, slow, 1.5)) as url:
        config = Settings.from_env({}, model="standin", precompute_on_open=False, label_studio_url=url)
        predictor = Predictor.from_settings(config, segmenter=_Keeping(radius=10))
        ref = "/data/upload/1/frame_000010.png"
        assert grey() == 10
        monkeypatch.setattr(samvid.predictor, "HTTP_REF_SECONDS", 0.0, raising=False)
        slow.set()
        assert grey() == 10  # answered from the cache; a slow read of the old picture begins
        time.sleep(0.3)
        monkeypatch.setattr(samvid.predictor, "HTTP_REF_SECONDS", 60.0, raising=False)
        pictures.append(np.full((60, 80, 3), 200, np.uint8))  # extracted again, at another size
        predictor.predict(ref, Prompt(((40.0, 30.0),), (1,)), (80, 60))  # reads the new picture
        assert grey() == 200
        time.sleep(1.7)  # the slow read has ended
        assert grey() == 200


def test_an_http_frame_replaced_by_another_of_the_same_size_is_segmented_as_the_new_picture_once_read_again(
    monkeypatch,
) -> None:
    # No file stamp tells that an image over HTTP changed (cloud storage, a Label Studio on
    # another machine): the old picture's embedding was used until a restart. A click after
    # HTTP_REF_SECONDS is answered from the cached embedding and reads the image again in
    # the background: the clicks after that read segment the new picture.
    import samvid.predictor

    pictures = [np.full((30, 40, 3), 10, np.uint8)]
    with http_server(_latest_of(pictures, threading.Event(), 0.0)) as url:
        config = Settings.from_env({}, model="standin", precompute_on_open=False, label_studio_url=url)
        predictor = Predictor.from_settings(config, segmenter=_Keeping(radius=10))
        ref = "/data/upload/1/frame_000010.png"
        assert predictor.embedding(ref)[0].tensors["grey"][0, 0] == 10
        pictures.append(np.full((30, 40, 3), 200, np.uint8))  # extracted again: same name and size
        monkeypatch.setattr(samvid.predictor, "HTTP_REF_SECONDS", 0.0, raising=False)  # a while later
        wait_until(lambda: predictor.embedding(ref)[0].tensors["grey"][0, 0] == 200, timeout=10,
                   what="the new picture segmented")


@pytest.mark.parametrize("server", ["slow", "failing"])
def test_a_click_on_a_cached_http_frame_after_a_while_does_not_wait_for_label_studio(
    monkeypatch, server: str,
) -> None:
    # The image is read again after HTTP_REF_SECONDS (a frame replaced under its name):
    # the click waited for that download (seconds with a busy Label Studio), and one that
    # failed (a 502, a timeout) failed a click whose embedding was cached.
    import samvid.predictor

    answer = _serving(40, 30)
    released, asked = threading.Event(), threading.Event()

    class Busy(answer):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:
            if asked.is_set():  # the reads after the first
                released.wait(10)
                if server == "failing":
                    self.send_response(502)
                    self.end_headers()
                    return
            asked.set()
            super().do_GET()

    with http_server(Busy) as url:
        config = Settings.from_env({"SAMVID_REQUEST_TIMEOUT": "5"}, model="standin", precompute_on_open=False,
                                   label_studio_url=url)
        predictor = Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))
        ref = "/data/upload/1/frame.png"
        predictor.embedding(ref, timeout=5)
        monkeypatch.setattr(samvid.predictor, "HTTP_REF_SECONDS", 0.0, raising=False)  # a while later
        try:
            for _ in range(2):
                started = time.perf_counter()
                timed = predictor.predict(ref, Prompt(((20.0, 15.0),), (1,)), (40, 30))
                assert time.perf_counter() - started < 1.0 and timed.embed_cached
                assert timed.prediction.mask[15, 20]
        finally:
            released.set()


def test_a_mask_for_an_image_shown_at_another_resolution_is_the_size_read_with_the_click_on_it(tmp_path) -> None:
    # The brush writer brings it to the size Label Studio shows (tests/backend/test_predict.py);
    # a polygon, in percent, needs no resizing.
    Image.fromarray(np.full((100, 200, 3), 90, np.uint8)).save(tmp_path / "a.png")
    config = Settings.from_env({}, model="standin", precompute_on_open=False, local_roots=(tmp_path,))
    predictor = Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))
    shown = (400, 200)  # the same picture at twice the resolution
    mask = predictor.predict(str(tmp_path / "a.png"), Prompt(((300.0, 100.0),), (1,)), shown).prediction.mask
    assert mask.shape == (100, 200)
    ys, xs = np.nonzero(mask)
    assert abs(xs.mean() - 150) < 1 and abs(ys.mean() - 50) < 1


def _without_weights(monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    """``model`` loads as a hub model whose weights are neither here nor to be had."""
    import samvid.models
    from samvid.models.sam import WeightsUnavailable

    real = samvid.models.load_segmenter

    def load(name: str, **kwargs):
        if name == model:
            raise WeightsUnavailable.of(name, "ConnectError")
        return real(name, **kwargs)

    monkeypatch.setattr(samvid.models, "load_segmenter", load)


def test_a_worker_falling_back_for_want_of_weights_does_not_send_the_admin_to_the_fallback_flag(monkeypatch, caplog) -> None:
    # The model's own message ends "or run with `--fallback classic`": said by a worker that
    # already runs with SAMVID_FALLBACK=classic, it sent the admin to a flag it has no use for.
    from samvid.predictor import load_configured_segmenter

    _without_weights(monkeypatch, "facebook/sam-vit-base")
    settings = Settings.from_env({"SAMVID_MODEL": "facebook/sam-vit-base", "SAMVID_FALLBACK": "classic"})
    with caplog.at_level("WARNING", logger="samvid.predictor"):
        segmenter, loaded = load_configured_segmenter(settings)
    assert "classic" in segmenter.version
    assert "--fallback" not in caplog.text
    assert "falling back to 'classic', the fallback model" in caplog.text
    assert "give their folder as the model" in caplog.text


def test_a_fallback_is_loaded_by_settings_of_its_own(monkeypatch) -> None:
    # Several gunicorn workers each load the model from the settings the server hands them:
    # given the configured model's, each would ask the hub again before falling back.
    from samvid.predictor import load_configured_segmenter

    _without_weights(monkeypatch, "facebook/sam-vit-base")
    settings = Settings.from_env({"SAMVID_MODEL": "facebook/sam-vit-base", "SAMVID_FALLBACK": "classic"})
    _, loaded = load_configured_segmenter(settings)
    assert (loaded.model, loaded.fallback) == ("classic", "")
    assert load_configured_segmenter(Settings.from_env({"SAMVID_MODEL": "classic"}))[1].model == "classic"


def test_a_fallback_is_said_with_the_settings_the_caller_names(monkeypatch, caplog) -> None:
    from samvid.predictor import ModelNamed, load_configured_segmenter

    _without_weights(monkeypatch, "facebook/sam-vit-base")
    settings = Settings.from_env({"SAMVID_MODEL": "facebook/sam-vit-base", "SAMVID_FALLBACK": "classic"})
    named = ModelNamed(model="SAMVID_MODEL", folder="SAMVID_MODEL", fallback="SAMVID_FALLBACK")
    with caplog.at_level("WARNING", logger="samvid.predictor"):
        load_configured_segmenter(settings, named)
    said = caplog.records[-1].getMessage()
    assert said.startswith("SAMVID_MODEL: no weights for 'facebook/sam-vit-base'"), said
    assert "falling back to 'classic' as SAMVID_FALLBACK asks" in said
    assert "`samvid models pull facebook/sam-vit-base` and give their folder as SAMVID_MODEL" in said
    assert "--fallback" not in said


def test_no_fallback_is_refused_with_the_settings_the_caller_names_else_in_the_models_own_words(monkeypatch) -> None:
    from samvid.models.sam import WeightsUnavailable
    from samvid.predictor import ModelNamed, load_configured_segmenter

    _without_weights(monkeypatch, "facebook/sam-vit-base")
    settings = Settings.from_env({"SAMVID_MODEL": "facebook/sam-vit-base"})
    with pytest.raises(ModelUnavailable) as named:
        load_configured_segmenter(settings, ModelNamed(model="--model", folder="--model", fallback="--fallback"))
    assert named.value.message.startswith("--model: no weights for 'facebook/sam-vit-base'")
    assert "give their folder as --model, or run with --fallback classic (SAMVID_FALLBACK=classic)" \
        in named.value.message
    with pytest.raises(WeightsUnavailable) as unnamed:  # a caller that knows no settings adds nothing
        load_configured_segmenter(settings)
    assert unnamed.value.message == WeightsUnavailable.of("facebook/sam-vit-base", "ConnectError").message


def test_a_long_signed_link_is_remembered_and_told_from_another_that_differs_only_at_its_end() -> None:
    # Long references are held as their digest (100,000 signed links of 4 KB held 418 MiB
    # outside the cache's budget): one must still name its image, and another link its own.
    fetched: list[str] = []
    with http_server(_counting(fetched)) as url:
        predictor = _standin_predictor(url)
        first, second = (f"/data/upload/1/a.png?X-Amz-Signature={'s' * 3000}{end}" for end in "12")
        assert not predictor.embedding(first)[1]
        assert predictor.embedding(first)[1]  # remembered: no second read
        predictor.embedding(second)
    assert len(fetched) == 2  # the second link was read: not taken for the first
