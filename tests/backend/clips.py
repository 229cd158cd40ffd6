"""A synthetic clip with exact masks, imported into a real Label Studio as frame tasks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from samvid.studio.results import brush_result


@dataclass
class Clip:
    project: int
    name: str
    task_ids: list[int]  # in frame order
    masks: list[np.ndarray]  # ground truth of the moving object per frame


def disk_clip(n: int = 8, size=(192, 256), step: int = 4, radius: int = 28, seed: int = 0):
    """A textured disk moving ``step`` px/frame to the right over a textured background."""
    rng = np.random.default_rng(seed)
    h, w = size
    step = max(1, min(step, (w - 2 * radius - 32) // n))  # long clips move slower, stay inside
    background = rng.integers(40, 215, (h, w + n * step, 1), dtype=np.uint8).repeat(3, axis=2)
    # The object has its own look (warm stripes with noise) so its boundary is visible;
    # the background is grey-ish noise.
    ty, tx = np.mgrid[0 : 2 * radius + 1, 0 : 2 * radius + 1]
    stripes = (127 + 100 * np.sin(tx / 2.0 + ty / 3.0))[..., None] * np.array([1.0, 0.55, 0.2])
    texture = np.clip(stripes + rng.normal(0, 12, stripes.shape), 0, 255).astype(np.uint8)
    ys, xs = np.mgrid[0:h, 0:w]
    frames, masks = [], []
    for i in range(n):
        frame = background[:, i : i + w].copy()  # the camera pans slowly too
        cx, cy = radius + 2 + step * i, h // 2
        mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
        tex = np.zeros_like(frame)
        tex[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1] = texture
        frame[mask] = tex[mask]
        frames.append(frame)
        masks.append(mask)
    return frames, masks


def write_video(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    """Frames as a near-lossless H.264 file (CRF 10), as a camera clip would arrive."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame)))
        out.mux(stream.encode())
    return path


def import_clip(ls, config: str, name: str = "clip", n: int = 8, **shape) -> Clip:
    """``n`` frames of ``disk_clip(**shape)`` as frame tasks of a new project."""
    client = ls.client()
    project = client.projects.create(title=f"propagation {name}", label_config=config)
    folder = ls.files_root / f"p{project.id}-{name}"
    folder.mkdir(parents=True)
    frames, masks = disk_clip(n, **shape)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i:05d}.png")
    resp = requests.post(f"{ls.url}/api/storages/localfiles", headers=ls.headers, timeout=30, json={
        "project": project.id, "path": str(folder), "title": "frames", "use_blob_urls": False})
    resp.raise_for_status()
    data = [{"image": f"/data/local-files/?d={folder.name}/{i:05d}.png", "video": "synthetic.mp4",
             "frame": i, "time": i / 25, "clip": name} for i in range(n)]
    reply = requests.post(f"{ls.url}/api/projects/{project.id}/import", headers=ls.headers,
                          params={"return_task_ids": "true"}, json=data, timeout=60)
    reply.raise_for_status()
    return Clip(project.id, name, sorted(reply.json()["task_ids"]), masks)


def import_sparse_clip(ls, config: str, title: str, kept: list[int], n: int = 10) -> tuple[int, list[int], list[np.ndarray]]:
    """``disk_clip(n)`` written as a video, with frame tasks for the ``kept`` frames only (as
    ``samvid import --stride`` keeps them), each task naming the video: (project id, task
    ids in frame order, the true mask of every video frame)."""
    frames, masks = disk_clip(n, step=6)
    project = ls.client().projects.create(title=title, label_config=config)
    folder = ls.files_root / f"sparse{project.id}"
    folder.mkdir()
    video = write_video(folder / "source.mp4", frames)
    for i in kept:
        Image.fromarray(frames[i]).save(folder / f"{i:05d}.png")
    requests.post(f"{ls.url}/api/storages/localfiles", headers=ls.headers, timeout=30,
                  json={"project": project.id, "path": str(folder), "use_blob_urls": False}).raise_for_status()
    data = [{"image": f"/data/local-files/?d={folder.name}/{i:05d}.png", "video": str(video), "frame": i,
             "time": i / 25, "clip": "sparse"} for i in kept]
    reply = requests.post(f"{ls.url}/api/projects/{project.id}/import", headers=ls.headers,
                          params={"return_task_ids": "true"}, json=data, timeout=60)
    reply.raise_for_status()
    return project.id, sorted(reply.json()["task_ids"]), masks


def annotate(ls, task_id: int, mask: np.ndarray, label: str = "Car", region_id: str = "obj1",
             extras: list | None = None, from_name: str = "tag") -> int:
    region = brush_result(mask, from_name=from_name, to_name="image", labels=[label], region_id=region_id)
    region.pop("origin")
    resp = requests.post(f"{ls.url}/api/tasks/{task_id}/annotations", headers=ls.headers,
                         json={"result": [region, *(extras or [])]}, timeout=30)
    resp.raise_for_status()
    return int(resp.json()["id"])


def predictions(ls, task_id: int) -> list[dict]:
    resp = requests.get(f"{ls.url}/api/predictions", headers=ls.headers, params={"task": task_id}, timeout=30)
    resp.raise_for_status()
    return resp.json()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def studio_app(ls, **settings):
    """samvid's app (stand-in segmenter) talking to the real Label Studio ``ls``."""
    from samvid.app import create_app
    from samvid.models.standin import StandInSegmenter
    from samvid.predictor import Predictor
    from samvid.settings import Settings

    config = Settings.from_env(
        {}, model="standin", label_studio_url=ls.url, label_studio_api_key=ls.token,
        local_roots=(ls.files_root,), precompute_on_open=False, **settings,
    )
    return create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter()))


def box_tracking_client(root: Path):
    """A test client of samvid's app (stand-in segmenter, ``flow`` tracker) that reads videos
    under ``root``, with no Label Studio: video boxes are answered from the request alone."""
    from samvid.app import create_app
    from samvid.models.standin import StandInSegmenter
    from samvid.predictor import Predictor
    from samvid.settings import Settings

    settings = Settings.from_env({"SAMVID_TRACKER": "flow"}, model="standin", local_roots=(root,),
                                 precompute_on_open=False)
    return create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter())).test_client()
