"""The SAM 2.1 memory engine with random weights (none can be downloaded here):
the plumbing runs -- several objects, prompts and masks, corrections, both
directions, removal -- while mask content is not asserted."""

from __future__ import annotations

import dataclasses
import re
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from prompt_encoder import recorded_clicks

from samvid.core.errors import ModelUnavailable, TrackingError
from samvid.core.prompts import Prompt
from samvid.tracker.memory_engine import MemoryEngine, load_video_model


@pytest.fixture(scope="module")
def engine(small_video_model):
    # Shared: the tests below read the model, none casts, moves or changes it. Most walk the
    # same three pictures (``frames``): each is encoded once for the module, not per test.
    model = small_video_model()
    _encoding_each_picture_once(model)
    return MemoryEngine(model)


@pytest.fixture
def frames():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(3)]


def _disk(cx, cy, r=8, shape=(48, 64)):
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r


def test_two_objects_from_a_mask_and_a_click_keep_their_ids(engine, frames):
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 7, _disk(20, 20))
    engine.add_prompt(state, 0, 3, Prompt(points=((45.5, 30.5),), labels=(1,)))
    out = list(engine.propagate(state, start=0))
    assert [fm.frame for fm in out] == [0, 1, 2]
    for fm in out:
        assert fm.object_ids == (3, 7)
        assert fm.masks.shape == (2, 48, 64) and fm.masks.dtype == bool
        assert ((fm.masks.reshape(2, -1).any(axis=1)) <= fm.visible).all()  # invisible -> empty


def test_a_click_reaches_the_prompt_encoder_at_the_pixel_centre_it_names(engine, frames):
    # The encoder adds 0.5 itself (it takes pixel indices); a prompt's centres lie at
    # index + 0.5: the click landed half a model pixel down and to the right.
    with recorded_clicks(engine.model) as seen:
        state = engine.init_state(frames)
        engine.add_prompt(state, 0, 1, Prompt(points=((16.5, 12.5),), labels=(1,)))
        next(iter(engine.propagate(state, start=0)))
    # 64x48 frames resized to 1024x1024: the click scaled, nothing added.
    np.testing.assert_allclose(seen[0].reshape(-1, 2)[0].numpy(), [16.5 * 16, 12.5 * 1024 / 48], rtol=1e-6)


def test_a_correction_conditions_a_backward_walk_and_removal_drops_the_object(engine, frames):
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, _disk(20, 20))
    engine.add_prompt(state, 2, 2, Prompt(box=(30.0, 10.0, 60.0, 40.0)))
    engine.add_mask(state, 2, 1, _disk(26, 22))  # the user corrects object 1 on frame 2
    assert [fm.frame for fm in engine.propagate(state, start=2, reverse=True)] == [2, 1, 0]
    engine.remove_object(state, 2)
    (fm,) = list(engine.propagate(state, start=2, max_frames=1))
    assert fm.object_ids == (1,)


def _encoding_each_picture_once(model: torch.nn.Module) -> None:
    """``model``'s vision encoder answers a picture it has seen with what it said then. Its
    output depends on the picture alone; the memory, which the walks exercise, is untouched."""
    encode = model.vision_encoder.forward
    seen: list[tuple[torch.Tensor, Any]] = []  # few: a test's pictures

    def once(pixel_values: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        for pixels, out in seen:
            if pixels.shape == pixel_values.shape and torch.equal(pixels, pixel_values):
                return dataclasses.replace(out)  # a fresh record: transformers rewrites its fields
        out = encode(pixel_values, *args, **kwargs)
        seen.append((pixel_values.clone(), out))
        return dataclasses.replace(out)

    model.vision_encoder.forward = once


@pytest.fixture(scope="module")
def confident_model(small_video_model):
    """A model that scores objects present, shared by both walk directions (none changes it).
    Random weights often score an object absent: its masks are then a constant."""
    model = small_video_model()
    with torch.no_grad():
        model.mask_decoder.pred_obj_score_head.proj_out.bias += 5.0
    # The four walks (plain and corrected, each way) go over the same four pictures: each
    # is encoded once, not four times.
    _encoding_each_picture_once(model)
    return model


@pytest.mark.parametrize("reverse", [True, False], ids=["backward", "forward"])
def test_a_correction_on_one_object_leaves_what_the_model_says_of_the_others_as_it_was(
        frames, confident_model, reverse):
    # Each object has its own memory: clicks for object 1 on the walk's third frame may not
    # change what the model says of object 2. transformers tracked every object after a
    # given one (object 2 is given second) forward on that frame, reading its memory from the
    # wrong side, and encoded every object's memory there from a binarised mask.
    model = confident_model
    engine = MemoryEngine(model)
    video = frames + frames[:1]

    def object_2(correct: bool) -> tuple[dict[int, torch.Tensor], dict[int, tuple[np.ndarray, float]]]:
        said: dict[int, torch.Tensor] = {}  # the model's last word on each frame
        hook = model.register_forward_hook(lambda _, __, out: said.__setitem__(
            out.frame_idx, out.pred_masks[list(out.object_ids).index(2)].clone()))
        state = engine.init_state(video)
        start, walk = (3, [3, 2, 1, 0]) if reverse else (0, [0, 1, 2, 3])
        engine.add_mask(state, start, 1, _disk(20, 20))
        engine.add_mask(state, start, 2, _disk(45, 30))
        if correct:
            engine.add_prompt(state, walk[2], 1, Prompt(points=((24.5, 22.5),), labels=(1,)))
        try:
            yielded = {fm.frame: (fm.masks[fm.object_ids.index(2)], float(fm.scores[fm.object_ids.index(2)]))
                       for fm in engine.propagate(state, start=start, reverse=reverse)}
        finally:
            hook.remove()
        assert list(yielded) == walk
        return said, yielded

    (plain, plain_out), (corrected, corrected_out) = object_2(False), object_2(True)
    for frame in (3, 2, 1, 0):  # was off by up to 1e-4 from the corrected frame on (forward: after it)
        torch.testing.assert_close(corrected[frame], plain[frame], rtol=0, atol=1e-6, msg=f"frame {frame}")
        # What the engine reports, not only what the model said last.
        assert np.array_equal(corrected_out[frame][0], plain_out[frame][0]), frame
        assert corrected_out[frame][1] == pytest.approx(plain_out[frame][1], abs=1e-6), frame


def test_read_only_frames_are_tracked_without_a_warning_and_left_as_they_are(engine, frames):
    # torch warns once per process about a non-writable array, so run this file alone
    # to be sure it would catch a regression.
    for f in frames:
        f.setflags(write=False)
    before = [f.copy() for f in frames]
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, _disk(20, 20))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = list(engine.propagate(state, start=0))
    assert len(out) == 3
    assert not [w for w in caught if "not writable" in str(w.message)]
    assert all((f == b).all() for f, b in zip(frames, before, strict=True))


def test_prompts_outside_the_frame_are_refused(engine, frames):
    from samvid.errors import PromptError

    state = engine.init_state(frames)
    with pytest.raises(PromptError):
        engine.add_prompt(state, 0, 1, Prompt(points=((500.0, 5.0),), labels=(1,)))
    with pytest.raises(TrackingError):
        engine.add_prompt(state, 9, 1, Prompt(points=((5.0, 5.0),), labels=(1,)))


def test_bfloat16_on_the_cpu_runs_and_gives_frame_sized_masks(frames, small_video_model):
    engine = MemoryEngine(small_video_model(), dtype=torch.bfloat16)
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, _disk(20, 20))
    out = list(engine.propagate(state, start=0, max_frames=2))
    assert [fm.frame for fm in out] == [0, 1]
    assert out[1].masks.shape == (1, 48, 64) and out[1].masks.dtype == bool
    assert 0.0 <= float(out[1].scores[0]) <= 1.0


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: CI has none")


@needs_cuda
def test_on_cuda_auto_tracks_with_sam2_in_fp16_and_objects_keep_their_ids(frames):
    from samvid.tracker.engines import EngineOptions, make_engine, start_engine

    options = EngineOptions(random_weights=True)  # device and precision: auto
    assert start_engine("auto", "facebook/sam2.1-hiera-tiny", options) == "sam2:facebook/sam2.1-hiera-tiny"
    engine = make_engine("sam2", options)
    assert str(engine.device).startswith("cuda") and engine.dtype == torch.float16
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 7, _disk(20, 20))
    engine.add_prompt(state, 0, 3, Prompt(points=((45.5, 30.5),), labels=(1,)))
    out = list(engine.propagate(state, start=0))
    assert [fm.object_ids for fm in out] == [(3, 7)] * 3
    assert all(fm.masks.shape == (2, 48, 64) and fm.masks.dtype == bool for fm in out)
    assert all(((0.0 <= fm.scores) & (fm.scores <= 1.0)).all() for fm in out)


@needs_cuda
def test_on_cuda_gpu_memory_stays_flat_over_a_long_clip():
    """The engine forgets what SAM 2 will not read again, so a long clip does not fill the GPU:
    150 more frames may not add 4 MB (keeping them would add about 3 MB a frame)."""
    engine = MemoryEngine(load_video_model(random_weights=True), device="cuda", dtype=torch.float16)
    rng = np.random.default_rng(1)
    video = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(200)]
    state = engine.init_state(video)
    engine.add_mask(state, 0, 1, _disk(80, 60, r=20, shape=(120, 160)))
    held = {fm.frame: torch.cuda.memory_allocated() for fm in engine.propagate(state, start=0)
            if fm.frame in (49, 199)}
    grown = held[199] - held[49]
    assert grown < 4_000_000, f"GPU memory grew {grown / 1e6:.1f} MB over 150 frames ({held})"


def test_a_random_video_model_has_the_size_its_name_says_and_a_typo_is_refused() -> None:
    from samvid.errors import ModelUnavailable

    def millions(name: str) -> float:
        return sum(p.numel() for p in load_video_model(name, random_weights=True).parameters()) / 1e6

    # Every name built the tiny geometry: a bench of "large" timed the tiny model.
    assert millions("facebook/sam2.1-hiera-small") > millions("facebook/sam2.1-hiera-tiny") + 5
    with pytest.raises(ModelUnavailable, match="unknown model 'facebook/sam2.1-hiera-smal'"):
        load_video_model("facebook/sam2.1-hiera-smal", random_weights=True)


def test_a_mask_given_on_a_frame_comes_back_as_given_there_thin_parts_and_all(engine):
    # The model's own mask on the given frame is a 256x256 copy of the person's: a rope
    # 2 px wide on a 1080p frame came back empty and invisible on the very frame it was drawn.
    frame = np.random.default_rng(2).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    rope = np.zeros((1080, 1920), bool)
    rope[100:900, 1400:1402] = True
    disk = _disk(600, 500, r=150, shape=(1080, 1920))
    state = engine.init_state([frame])
    engine.add_mask(state, 0, 1, disk)
    engine.add_mask(state, 0, 2, rope)
    (fm,) = engine.propagate(state)
    assert fm.visible.all()
    np.testing.assert_array_equal(fm.mask_of(1), disk)
    np.testing.assert_array_equal(fm.mask_of(2), rope)


def test_a_speck_given_on_a_large_frame_reaches_the_model_as_a_mask_not_as_nothing(engine):
    # Brought down to the model's 1024x1024, a 2x2 speck of a 4000x3000 frame fell under
    # half a pixel and the model was told the object is absent: it was lost for the walk.
    fed = []
    hook = engine.model.mask_downsample.register_forward_pre_hook(lambda _, args: fed.append(args[0].detach()))
    speck = np.zeros((3000, 4000), bool)
    speck[1500:1502, 2000:2002] = True
    state = engine.init_state([np.full((3000, 4000, 3), 120, np.uint8)])
    engine.add_mask(state, 0, 1, speck)
    try:
        list(engine.propagate(state))
    finally:
        hook.remove()
    assert fed and all(bool((m > 0).any()) for m in fed)


def _live_tensor_bytes() -> int:
    import gc

    gc.collect()
    with warnings.catch_warnings():  # isinstance on torch.distributed's deprecated aliases warns
        warnings.simplefilter("ignore", FutureWarning)
        return sum(t.element_size() * t.nelement() for t in gc.get_objects() if isinstance(t, torch.Tensor))


def test_a_walk_keeps_under_3_mb_more_per_frame_and_object_in_its_memory_window(small_video_model, frames):
    # SAM 2 reads back a frame's memory features and object pointer; the walk also kept its
    # 1024x1024 float mask (4 MB), about 6 MB a frame and object over the 16-frame window.
    # Its own model: the shared engine's store of encoded pictures would count as held.
    engine = MemoryEngine(small_video_model())
    state = engine.init_state(frames + frames[:1])
    engine.add_mask(state, 0, 1, _disk(20, 20))
    held = {}
    for fm in engine.propagate(state):
        if fm.frame in (1, 3):
            held[fm.frame] = _live_tensor_bytes()
    per_frame = (held[3] - held[1]) / 2
    assert per_frame < 3_000_000, f"{per_frame / 1e6:.1f} MB more a frame"



@pytest.mark.parametrize("device, said", [
    ("cuda", "device=cuda: this machine has no CUDA GPU that this torch can use; use auto or cpu"),
    ("cuda:x", "device='cuda:x' is not a device; give auto, cpu, cuda, cuda:N or mps"),
])
def test_a_memory_engine_on_a_gpu_this_machine_lacks_is_refused_naming_the_device(device, said):
    from samvid.models.sam import UnsupportedDevice

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    # Was torch's "Torch not compiled with CUDA enabled" assertion at the model's .to().
    with pytest.raises(UnsupportedDevice, match=re.escape(said)):
        MemoryEngine(load_video_model(random_weights=True), device=device)


def test_a_memory_engine_on_auto_runs_where_this_machine_can():
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert MemoryEngine(load_video_model(random_weights=True), device="auto").device == expected


@pytest.mark.parametrize("device", ["cpu:0", torch.device("cpu:0")])
def test_a_memory_engine_on_cpu_spelled_as_torch_takes_it_tracks_on_the_cpu(device, frames, engine):
    # Taken before devices were checked (model.to("cpu:0") works), then refused as "not a device".
    # The shared model: on the cpu already, so .to() leaves it as it was for the other tests.
    on_cpu = MemoryEngine(engine.model, device=device)
    state = on_cpu.init_state(frames)
    on_cpu.add_mask(state, 0, 1, _disk(20, 20))
    assert on_cpu.device == "cpu" and [fm.frame for fm in on_cpu.propagate(state, start=0)] == [0, 1, 2]


def test_a_model_folder_without_a_model_is_said_to_lack_its_files_not_sent_to_a_pull(tmp_path):
    # `samvid models pull <folder>` refuses a path: the folder lacks config.json and weights.
    with pytest.raises(ModelUnavailable) as raised:
        load_video_model(str(tmp_path))
    message = raised.value.message
    assert f"the folder {tmp_path} holds no video model" in message and "config.json" in message
    assert f"samvid models pull {tmp_path}" not in message


def test_a_model_path_that_is_no_folder_is_said_to_be_none(tmp_path):
    with pytest.raises(ModelUnavailable, match=f"{tmp_path / 'typo'}: no such folder; give the folder that holds"):
        load_video_model(str(tmp_path / "typo"))


def test_a_checkpoint_file_given_as_the_model_is_said_to_be_a_file_not_a_missing_folder(tmp_path):
    # SAM 2's own .pt checkpoint was told "no such folder" though it is right there.
    checkpoint = tmp_path / "sam2.1_hiera_tiny.pt"
    checkpoint.write_bytes(b"\0" * 16)
    with pytest.raises(ModelUnavailable, match=f"{checkpoint} is a file, not a model folder: samvid loads a model in the Hugging Face"):
        load_video_model(str(checkpoint))


@pytest.mark.parametrize("name", ["example/sam2.1-not-here", "/no/such/folder"])
def test_a_video_model_without_weights_names_no_setting_the_engine_may_not_have_come_from(name):
    # The engine comes from --engine, SAMVID_TRACKER or a job: "SAMVID_TRACKER=flow" misled the first.
    with pytest.raises(ModelUnavailable) as raised:
        load_video_model(name)
    assert "use the model-free engine flow" in raised.value.message
    assert "SAMVID_TRACKER" not in raised.value.message
