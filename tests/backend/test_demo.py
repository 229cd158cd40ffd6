"""The demo clip ``samvid up`` imports when given no videos (samvid.demo)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import av
import pytest
from at_once import at_once, failures

from samvid.demo import DemoClip, render_frames, write_demo_clip
from samvid.errors import SamvidError


def test_a_demo_clip_whose_folder_cannot_be_made_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "demo").write_text("a file where the folder goes")  # as root ignores permissions
    with pytest.raises(SamvidError, match="cannot write the demo clip .*--data-dir"):
        write_demo_clip(tmp_path / "demo" / "demo.mp4", DemoClip(frames=2))


def test_a_demo_clip_is_written_once_and_kept(tmp_path: Path) -> None:
    path = write_demo_clip(tmp_path / "demo" / "demo.mp4", DemoClip(frames=2))
    written = path.read_bytes()
    assert written and write_demo_clip(path, DemoClip(frames=3)).read_bytes() == written
    assert [p.name for p in path.parent.iterdir()] == ["demo.mp4"]


def test_a_demo_clip_that_cannot_be_finished_leaves_no_partial_file(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    (folder / "demo.mp4").mkdir(parents=True)  # the clip's place taken: the rename fails
    with pytest.raises(SamvidError, match="cannot write the demo clip"):
        write_demo_clip(folder / "demo.mp4", DemoClip(frames=2))
    assert [p.name for p in folder.iterdir()] == ["demo.mp4"]


def test_two_samvid_up_writing_the_demo_clip_at_once_both_succeed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two `samvid up` on one --data-dir wrote one temp file: one renamed it while the other
    # still wrote it, and the other's rename found it gone ("cannot write the demo clip").
    path = tmp_path / "demo" / "demo.mp4"
    replace = os.replace
    both_written = threading.Barrier(2, timeout=30)

    def replace_when_both_have_written(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == path:
            both_written.wait()
        replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_when_both_have_written)
    outcomes = at_once(lambda: write_demo_clip(path, DemoClip(frames=4)))
    monkeypatch.undo()
    assert failures(outcomes) == []
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4
    assert [p.name for p in path.parent.iterdir()] == ["demo.mp4"]


def test_a_demo_clip_interrupted_while_written_leaves_no_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "demo" / "demo.mp4"
    replace = os.replace

    def interrupted(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == path:
            raise KeyboardInterrupt  # Ctrl-C once the clip is written, before it is in place
        replace(src, dst)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_demo_clip(path, DemoClip(frames=2))
    monkeypatch.undo()
    assert list(path.parent.iterdir()) == []  # each run's temp name is its own: none reused


@pytest.mark.parametrize("frames", [1, 2, 26, 27, 30, 100])
def test_a_demo_clip_of_any_length_keeps_the_whole_ball_in_view(frames: int) -> None:
    clip = DemoClip(frames=frames)
    images = render_frames(clip)
    assert len(images) == frames
    assert all(image.shape == (clip.height, clip.width, 3) for image in images)
    for index in range(frames):
        x, y = clip.ball_centre(index)
        assert clip.radius <= x < clip.width - clip.radius and clip.radius <= y < clip.height - clip.radius


def test_the_default_demo_clip_rolls_the_ball_as_before() -> None:
    # `samvid up` finds its imported demo clip again by content: the default must not change.
    clip = DemoClip()
    assert [clip.ball_centre(i) for i in range(clip.frames)] == [(80 + 8 * i, 120) for i in range(12)]


@pytest.mark.parametrize("clip", [dict(frames=0), dict(frames=-3), dict(fps=0), dict(width=40)])
def test_a_demo_clip_that_cannot_be_drawn_is_refused_where_it_is_made(clip: dict) -> None:
    with pytest.raises(ValueError, match="demo clip"):
        DemoClip(**clip)
