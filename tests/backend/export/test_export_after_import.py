"""``samvid import`` then ``samvid export``: the frames and masks of a real video come back."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import av
import numpy as np
import pytest
from export_studio import disk

from samvid.cli import main
from samvid.export import davis
from samvid.studio.results import brush_result
from samvid.tracker.davis import JpegFolder

pytestmark = pytest.mark.studio
H, W = 48, 64


def write_clip(path: Path, n: int) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(n):
            image = np.full((H, W, 3), 30 + 20 * i, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image)))
        out.mux(stream.encode())
    return path


def test_imported_video_exports_with_its_frames_and_ids(label_studio, tmp_path, monkeypatch,
                                                        capsys):
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    monkeypatch.setenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", str(label_studio.files_root))
    video = write_clip(tmp_path / "street.mp4", 6)
    assert main(["import", str(video), "--project", "export after import", "--config",
                 "multi_object", "--labels", "car,person", "--png", "--no-backend",
                 "--json"]) == 0
    project = json.loads(capsys.readouterr().out)["project_id"]
    client = label_studio.client()
    tasks = sorted(client.tasks.list(project=project), key=lambda t: t.data["frame"])
    assert [t.data["frame"] for t in tasks] == list(range(6))

    masks = {}
    for task in tasks[1::2]:  # frames 1, 3, 5: two objects each, ids from the config's Number
        f = task.data["frame"]
        result = []
        for object_id, label, mask in ((4, "car", disk(10 + 4 * f, 20, 7)),
                                       (9, "person", disk(50, 10 + 4 * f, 6))):
            region = brush_result(mask, from_name="mask", to_name="image", labels=[label])
            number = {"id": region["id"], "from_name": "object_id", "to_name": "image",
                      "type": "number", "value": {"number": object_id}}
            result += [region, number]
            masks[(f, object_id)] = mask
        client.annotations.create(id=task.id, result=result)

    out = tmp_path / "davis"
    assert main(["export", "--project", "export after import", "--format", "davis",
                 str(out)]) == 0
    frames = list(davis.load(out))
    assert [f.frame for f in frames] == [1, 3, 5]
    for f in frames:
        assert f.object_ids == (4, 9) and f.labels == ("car", "person")
        for object_id in (4, 9):
            assert np.array_equal(f.masks.mask_of(object_id), masks[(f.frame, object_id)])
        assert f.time == pytest.approx(tasks[f.frame].data["time"])
        # the exported image is the very file Label Studio served for that task
        exported = (out / "JPEGImages" / f.image).read_bytes()
        relative = unquote(tasks[f.frame].data["image"].split("?d=", 1)[1])
        assert exported == (label_studio.files_root / relative).read_bytes()
        assert Path(f.image).name == Path(relative).name  # named as samvid import names frames
    # samvid track reads the export as it is: the imported frames are .png
    folder = (out / "JPEGImages" / frames[0].image).parent
    assert [p.name for p in JpegFolder.of(folder).files] == ["000001.png", "000003.png", "000005.png"]
