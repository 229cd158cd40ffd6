"""Memory-based propagation with SAM 2.1 and EdgeTAM video models (``transformers.Sam2VideoModel``).

The model keeps a memory of the frames it has seen (the conditioning frames the user
gave, the last few tracked ones) and segments each new frame against it, so several
objects at once, corrections on any frame (a corrected frame becomes a new
conditioning frame) and objects that leave and come back are handled by the model.

Frames are streamed into the inference session one at a time and everything older
than the model's memory window is dropped after each step: memory stays flat however
long the video. Frames are preprocessed by hand (resize + ImageNet normalisation)
because the ``transformers`` video processor needs torchvision.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from samvid.core.errors import ModelUnavailable
from samvid.core.prompts import Prompt, encoder_points
from samvid.tracker.engine import Engine, ObjectResult, TrackState, object_id

log = logging.getLogger(__name__)

INPUT_SIZE = 1024
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
KEEP_FRAMES = 16  # tracked frames kept per object: the model reads the last 6 (num_maskmem 7)


def _video_classes(name: str) -> tuple[Any, Any, Any]:
    """(model class, config class, inference session class) of ``name``'s family."""
    import transformers as tf

    from samvid.models.sam import family_of

    if family_of(name) == "edgetam":
        return tf.EdgeTamVideoModel, tf.EdgeTamVideoConfig, tf.EdgeTamVideoInferenceSession
    return tf.Sam2VideoModel, tf.Sam2VideoConfig, tf.Sam2VideoInferenceSession


def load_video_model(name: str = "facebook/sam2.1-hiera-tiny", random_weights: bool = False) -> Any:
    """A SAM 2.1 (``Sam2VideoModel``) or EdgeTAM video model, fp32 on the CPU: pretrained
    (hub cache or a local folder) or random weights."""
    from samvid.models.registry import model_path, no_model_folder
    from samvid.models.sam import check_random_name, family_of, sized_sam2_config

    model_cls, config_cls, _ = _video_classes(name)
    try:
        if random_weights:
            check_random_name(name)  # else a typo, or another size, gave the tiny model
            config = config_cls() if family_of(name) == "edgetam" else sized_sam2_config(config_cls(), name)
            return model_cls(config).eval()
        if no_model_folder(name):  # transformers reads a file as a config: a TypeError from its JSON
            raise ModelUnavailable(_no_model(name, FileNotFoundError(name)))
        source = str(model_path(name)) if model_path(name).is_dir() else name
        return model_cls.from_pretrained(source, local_files_only=True, use_safetensors=True).eval()
    except ImportError as exc:  # EdgeTAM's backbone comes through timm
        raise ModelUnavailable(f"{name!r} needs a library that is not installed here: {exc}. "
                               "Install it (pip install timm torchvision) or choose another model.") from exc
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(_no_model(name, exc)) from exc


def _no_model(name: str, exc: Exception) -> str:
    """Why ``name`` gave no video model, and what to do. Worded for every caller: naming the
    setting one caller takes the engine from sent the others to a setting they never made.
    A folder needs no pull (``samvid models pull`` refuses a path): it lacks files."""
    from samvid.models.registry import model_path, no_model_folder

    pulled = "`samvid models pull facebook/sam2.1-hiera-tiny --dir D` on a connected machine leaves them in a folder of D"
    if model_path(name).is_dir():
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        return (f"the folder {name} holds no video model that loads ({detail}): it needs the model's "
                f"config.json and safetensors weights ({pulled}), or use the model-free engine flow")
    if problem := no_model_folder(name):  # a checkpoint file, or a path to nothing
        return f"{problem} ({pulled}), or use the model-free engine flow"
    return (f"no weights for {name!r} on this machine: `samvid models pull {name}` on a connected "
            "machine, or use the model-free engine flow")


class MemoryEngine(Engine):
    """SAM 2.1 / EdgeTAM video propagation. ``add_prompt`` takes clicks or a box, ``add_mask`` a mask."""

    name = "sam2"
    has_model = True

    def __init__(self, model: Any, device: str = "cpu", dtype: Any = None) -> None:
        """``model`` runs as given when ``dtype`` is None (already cast or quantized, e.g. by
        ``samvid.models.precision.apply_precision``); otherwise it is cast to ``dtype``.
        The inference session keeps its state in the model's floating dtype. ``device`` is
        auto, cpu, cuda, cuda:N or mps; one this machine lacks raises ``UnsupportedDevice``."""
        device = _usable_device(device)
        self.model = model.to(device)
        self.device = device
        if dtype is not None:
            self.model.to(dtype)
        self.dtype = dtype or _float_dtype(self.model)
        self.session_cls = _session_class(model)

    def add_prompt(self, state: TrackState, frame: int, obj_id: int, prompt: Prompt) -> None:
        """Clicks and/or a box for ``obj_id`` on ``frame`` (pixels of the original frame)."""
        self._check_frame(state, frame)
        prompt.validate_inside(state.width, state.height)
        # The walk hands the prompt to the run on that frame, like a given mask.
        # TrackState holds masks; only this engine's runs also take prompts (hence the ignore).
        state.inputs.setdefault(frame, {})[object_id(obj_id)] = prompt  # type: ignore[assignment]

    def _new_run(self, state: TrackState) -> _MemoryRun:
        return _MemoryRun(self, state)


def _usable_device(device: str) -> str:
    """``device`` resolved (auto) and checked, as the engine loader does: a GPU this machine
    lacks was torch's "Torch not compiled with CUDA enabled" assertion at ``.to()``."""
    from samvid.models.sam import UnsupportedDevice, check_device, pick_device

    resolved = pick_device(str(device))  # a torch.device too, as .to() took it
    try:
        check_device(resolved)
    except UnsupportedDevice as exc:
        # Given to the constructor, not as SAMVID_DEVICE: naming the variable sent the
        # reader looking for a setting they never made.
        raise UnsupportedDevice(exc.message.replace("SAMVID_DEVICE=", "device=", 1)) from None
    return resolved


def _float_dtype(model: Any) -> Any:
    """The dtype of the model's floating parameters (a quantized model keeps fp32 ones)."""
    import torch

    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def _session_class(model: Any) -> Any:
    import transformers as tf

    return tf.EdgeTamVideoInferenceSession if isinstance(model, tf.EdgeTamVideoModel) else tf.Sam2VideoInferenceSession


class _MemoryRun:
    def __init__(self, engine: MemoryEngine, state: TrackState) -> None:
        import torch

        self.engine, self.state = engine, state
        self.session = engine.session_cls(
            video_height=state.height, video_width=state.width, inference_device=engine.device,
            inference_state_device=engine.device, video_storage_device=engine.device,
            dtype=engine.dtype,
        )
        self.last_index: int | None = None
        # ImageNet's mean and spread in 0-255 units, on the device once rather than every frame.
        self.mean = torch.from_numpy(MEAN * 255).to(engine.device).view(1, 3, 1, 1)
        self.std = torch.from_numpy(STD * 255).to(engine.device).view(1, 3, 1, 1)

    def _pixels(self, image: np.ndarray) -> Any:  # a torch tensor (torch is imported lazily)
        """The frame resized to the model's input and normalised, on the model's device.

        Done in torch after sending the uint8 frame, so a quarter of the bytes cross to a GPU
        and the GPU does the work: on an H200 this took a frame from 72-96 ms to 26-41 ms.
        On a CPU it costs what NumPy did (measured: docs/models.md)."""
        import torch

        # Frames may come read-only (a decoded-frame cache); torch wants memory it may write.
        frame = torch.from_numpy(np.require(image, requirements=("C", "W"))).to(self.engine.device)
        x = frame.permute(2, 0, 1)[None].float()
        x = torch.nn.functional.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return ((x - self.mean) / self.std)[0].to(self.engine.dtype)

    def _give(self, index: int, obj_id: int, given: Any) -> None:
        import torch

        session = self.session
        obj_idx = session.obj_id_to_idx(obj_id)
        if isinstance(given, Prompt):
            sx, sy = INPUT_SIZE / self.state.width, INPUT_SIZE / self.state.height
            coords = [tuple(p) for p in encoder_points(given.points, sx, sy).tolist()]
            labels = list(given.labels)
            if given.box is not None:  # SAM 2 encodes a box as two corner points, labels 2 and 3
                x0, y0, x1, y1 = given.box
                coords = [(x0 * sx, y0 * sy), (x1 * sx, y1 * sy), *coords]
                labels = [2, 3, *labels]
            session.add_point_inputs(obj_idx, index, {
                "point_coords": torch.tensor([[coords]], dtype=torch.float32),
                "point_labels": torch.tensor([[labels]], dtype=torch.int32),
            })
            session.remove_mask_inputs(obj_idx, index)
        else:
            mask = torch.from_numpy(np.ascontiguousarray(given, dtype=np.float32))[None, None]
            mask = torch.nn.functional.interpolate(mask, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                                                   align_corners=False, antialias=True)
            kept = mask >= 0.5
            if not kept.any():  # a speck or a thread of a large frame: kept where it is, not lost
                kept = mask > 0
            session.add_mask_inputs(obj_idx, index, kept.float())
            session.remove_point_inputs(obj_idx, index)

    def step(self, index: int, image: np.ndarray, given: dict[int, Any]) -> dict[int, ObjectResult]:
        import torch

        reverse = self.last_index is not None and index < self.last_index
        self.last_index = index
        for obj_id, value in given.items():
            self._give(index, obj_id, value)
        if given:
            self.session.obj_with_new_inputs = list(given)
        if not self.session.obj_ids:
            return {}
        with torch.inference_mode():
            pixels = self._pixels(image)
            out = self.engine.model(inference_session=self.session, frame=pixels, frame_idx=index, reverse=reverse)
            if given and len(self.session.obj_ids) > len(given):
                out = self._retrack_the_others(index, pixels, reverse)
            logits = torch.nn.functional.interpolate(out.pred_masks.float(), size=(self.state.height, self.state.width),
                                                     mode="bilinear", align_corners=False)[:, 0]
            present = out.object_score_logits.float().reshape(-1)
        masks = (logits > 0).cpu().numpy()
        scores = torch.sigmoid(present).cpu().numpy()
        results = {}
        for k, obj_id in enumerate(out.object_ids):
            visible = bool(present[k] > 0) and bool(masks[k].any())
            results[int(obj_id)] = ObjectResult(masks[k] if visible else np.zeros_like(masks[k]),
                                                float(scores[k]), visible)
        for obj_id, value in given.items():
            # A person's mask is the answer on its frame: the model's is a 256x256 copy of it,
            # which loses thin parts and specks (as the guided engine, score 1).
            if not isinstance(value, Prompt):
                results[obj_id] = ObjectResult(np.asarray(value, bool), 1.0, True)
        self._forget(index)
        return results

    def _retrack_the_others(self, index: int, pixels: Any, reverse: bool) -> Any:
        """The model's output on ``index`` with the objects given nothing there tracked as
        SAM 2 tracks them, each from its own memory alone.

        transformers' ``Sam2VideoModel.forward`` (5.x) gets two things wrong for the other
        objects of a frame where one is given clicks or a mask: it sets its one ``reverse`` to
        False at the given object (``if is_init_cond_frame: reverse = False``), so in a
        backward walk every object after it was tracked forward there, its memory read from
        the wrong side; and it encodes every object's memory of that frame from a binarised
        mask (``is_mask_from_pts`` is any() over the objects), not from its own mask scores,
        which changed the other objects on every later frame. EdgeTAM's forward has the first
        (it encodes each object's memory on its own), so there the second call matters in
        backward walks and costs a little in forward ones. A second call, with
        no new inputs left, takes the given objects' conditioning outputs as they are and
        tracks the others again (the frame's image features are cached)."""
        return self.engine.model(inference_session=self.session, frame=pixels, frame_idx=index, reverse=reverse)

    def _forget(self, index: int) -> None:
        """Drop what the model will not read again: the frame itself, old tracked outputs."""
        session = self.session
        session.processed_frames.pop(index, None)
        for outputs in session.output_dict_per_obj.values():
            for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
                # The full-size mask fed this frame's memory, in the step that made it; kept,
                # it was 4 MB a frame and object, most of what a run held.
                outputs[kind].get(index, {}).pop("high_res_masks", None)
            old = [f for f in outputs["non_cond_frame_outputs"] if abs(f - index) > KEEP_FRAMES]
            for f in old:
                del outputs["non_cond_frame_outputs"][f]

