"""samvid.studio.importer against the session's real Label Studio: tasks, frame indices,
timestamps, served images, idempotence, resume, uploads, frame folders, the ML backend."""

from __future__ import annotations

import errno
import os
import re
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import av
import cv2
import numpy as np
import PIL.Image
import pytest
import requests
from clipgen import level, write_clip
from services import ServedApp

from samvid.errors import ConfigError, StudioError, VideoError
from samvid.studio.client import Project, Studio, Task
from samvid.studio.configs import load_config
from samvid.studio.import_plan import ImportOptions, plan_clips
from samvid.studio.importer import (
    ImportSummary,
    check_frames_root,
    check_project_config,
    import_videos,
    keys_frame_tasks_lack,
    ranges,
)
from samvid.studio.sources import clip_name, find_sources

pytestmark = pytest.mark.studio


def fetch_image(label_studio, url: str) -> np.ndarray:
    reply = requests.get(f"{label_studio.url}{url}", headers=label_studio.headers, timeout=10)
    assert reply.status_code == 200, (url, reply.status_code)
    image = cv2.imdecode(np.frombuffer(reply.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


# -- pure functions ---------------------------------------------------------------------------


def test_ranges_and_clip_names(tmp_path: Path) -> None:
    assert ranges([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10"
    a = write_clip(tmp_path / "vidéo à tester.mp4", [0.0, 0.1])
    name = clip_name(a)
    assert name.startswith("video_a_tester-") and name.isascii() and " " not in name
    assert clip_name(a) == name  # stable
    (tmp_path / "other").mkdir()
    b = write_clip(tmp_path / "other" / "vidéo à tester.mp4", [0.0, 0.2, 0.4])
    assert clip_name(b) != name  # same file name, other content


def test_a_folder_given_as_dot_or_dotdot_is_named_after_the_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bear_frames"
    (folder / "sub").mkdir(parents=True)
    cv2.imwrite(str(folder / "0.png"), np.zeros((6, 8, 3), np.uint8))
    name = clip_name(folder)
    assert name.startswith("bear_frames-")
    monkeypatch.chdir(folder)
    assert clip_name(Path(".")) == clip_name(Path("./")) == clip_name(Path("sub/..")) == name
    monkeypatch.chdir(folder / "sub")
    assert clip_name(Path("..")) == name


def test_two_inputs_whose_names_differ_in_case_only_are_planned_once(tmp_path: Path) -> None:
    # On macOS's or Windows' disk `Dog.mp4` and `dog.mp4` are one file, their frame folders
    # one folder: the same video spelled twice is imported once.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_clip(tmp_path / "a" / "Dog.mp4", [0.0, 0.1])
    (tmp_path / "b" / "dog.mp4").write_bytes((tmp_path / "a" / "Dog.mp4").read_bytes())
    plans = plan_clips([tmp_path / "a" / "Dog.mp4", tmp_path / "b" / "dog.mp4"],
                       ImportOptions(project="p", label_config=""))
    assert [plan.source for plan in plans] == [tmp_path / "a" / "Dog.mp4"]


@pytest.mark.parametrize("name", ["....mp4", "-.mp4", "#?%.mp4", "___.mp4", "...", ". .mp4"])
def test_a_name_with_nothing_left_after_sanitising_gives_a_clip_named_clip(
        tmp_path: Path, name: str) -> None:
    if name == "...":  # a frame folder so named
        source = tmp_path / name
        source.mkdir()
        cv2.imwrite(str(source / "0.png"), np.zeros((6, 8, 3), np.uint8))
    else:
        source = write_clip(tmp_path / name, [0.0, 0.1])
    clip = clip_name(source)
    assert re.fullmatch(r"clip-[0-9a-f]{8}", clip), clip


def test_find_sources(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ["b10.mp4", "b9.mp4"]:
        write_clip(videos / name, [0.0])
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "0.png"), np.zeros((4, 4, 3), np.uint8))
    assert find_sources([videos, frames]) == [videos / "b9.mp4", videos / "b10.mp4", frames]
    with pytest.raises(VideoError, match="no such file"):
        find_sources([tmp_path / "nope.mp4"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no videos and no images"):
        find_sources([tmp_path / "empty"])


def test_a_folder_of_frame_folders_is_refused_saying_to_give_its_subfolders(tmp_path: Path) -> None:
    # DAVIS's JPEGImages/480p/<sequence>/: "folder holds no videos and no images" alone
    # read as if the images were not found.
    for sequence in ("bear", "car"):
        (tmp_path / "480p" / sequence).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "480p" / sequence / "00000.jpg"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(VideoError, match="no videos and no images; its 2 subfolders are not "
                       "searched: give them instead, e.g. .*480p/\\*"):
        find_sources([tmp_path / "480p"])
    assert find_sources([tmp_path / "480p" / "bear", tmp_path / "480p" / "car"]) == [
        tmp_path / "480p" / "bear", tmp_path / "480p" / "car"]


def test_a_frames_root_with_a_backslash_is_refused_before_label_studio_is_touched(tmp_path: Path) -> None:
    # Label Studio reads a backslash as "/": its storage was refused after the project was made,
    # with "Absolute local path .../back/slash does not exist" for a folder that exists.
    options = ImportOptions(project="p", label_config="", document_root=tmp_path,
                            frames_root=tmp_path / "back\\slash")
    with pytest.raises(StudioError, match="backslash .* choose a folder without one"):
        check_frames_root(options)
    assert not (tmp_path / "back\\slash").exists()


@pytest.mark.parametrize("fails", ["write", "fsync"])
def test_a_frames_root_on_a_full_disk_is_refused_before_label_studio_is_touched(
        fails: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty probe file fit on a full disk: the project was made, then the first frame
    # failed (a delayed-allocation filesystem says so only when the data is flushed).
    def disk_full(*args: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, fails, disk_full)
    options = ImportOptions(project="p", label_config="", document_root=tmp_path,
                            frames_root=tmp_path / "frames")
    with pytest.raises(StudioError, match="cannot write frames to --frames-root .*No space left"):
        check_frames_root(options)
    monkeypatch.undo()
    assert list((tmp_path / "frames").iterdir()) == []  # no probe file left behind
    assert check_frames_root(options) == tmp_path / "frames"


# -- against Label Studio ---------------------------------------------------------------------


def test_hidden_files_in_a_folder_of_videos_are_not_clips(tmp_path: Path) -> None:
    # macOS writes "._name" metadata files beside what it copies to a foreign disk.
    videos = tmp_path / "videos"
    videos.mkdir()
    write_clip(videos / "clip.mp4", [0.0, 0.1])
    (videos / "._clip.mp4").write_bytes(b"\x00\x05\x16\x07" + bytes(4000))
    (videos / ".hidden.mkv").write_bytes(bytes(100))
    assert find_sources([videos]) == [videos / "clip.mp4"]


def test_import_bedroom_then_again(media: Path, studio: Studio, options: ImportOptions,
                                   label_studio) -> None:
    options = replace(options, stride=40, jpeg_quality=80)
    summary = import_videos(studio, [media / "bedroom.mp4"], options)
    assert summary.project_created and summary.tasks_created == 5
    tasks = studio.list_tasks(summary.project_id)
    assert [t.data["frame"] for t in tasks] == [0, 40, 80, 120, 160]  # in id order
    for task in tasks:
        data = task.data
        assert set(data) == {"image", "video", "frame", "time", "clip"}
        assert data["time"] == pytest.approx(data["frame"] / 30, abs=1e-9)
        assert data["video"] == str((media / "bedroom.mp4").resolve())
        assert data["clip"] == summary.clips[0].clip
    assert fetch_image(label_studio, tasks[2].data["image"]).shape == (540, 960, 3)
    anonymous = requests.get(f"{label_studio.url}{tasks[0].data['image']}", timeout=10)
    assert anonymous.status_code in (401, 403)

    # the same video twice (and again): one clip, nothing added
    again = import_videos(studio, [media / "bedroom.mp4", media / "bedroom.mp4"], options)
    assert len(again.clips) == 1
    assert not again.project_created and again.tasks_created == 0
    assert again.tasks_existing == 5
    assert len(studio.list_tasks(summary.project_id)) == 5


def test_generated_clips_vfr_rotated_and_png(tmp_path: Path, studio: Studio,
                                             options: ImportOptions, label_studio) -> None:
    times = [0.0, 0.04, 0.1, 0.5, 0.52, 0.9]
    folder = tmp_path / "clips folder"
    folder.mkdir()
    write_clip(folder / "a vfr.mp4", times)
    write_clip(folder / "b phone.mp4", [0.0, 1 / 30, 2 / 30], (64, 48), rotation=90)
    summary = import_videos(studio, [folder], replace(options, image_format="png"))
    vfr, phone = summary.clips
    assert (vfr.created, phone.created) == (6, 3)
    assert (phone.width, phone.height) == (48, 64)  # upright
    tasks = studio.list_tasks(summary.project_id)
    by_clip = {c.clip: [t.data for t in tasks if t.data["clip"] == c.clip] for c in summary.clips}
    assert [d["time"] for d in by_clip[vfr.clip]] == pytest.approx(times, abs=1e-9)
    for data in by_clip[vfr.clip]:
        assert data["image"].endswith(".png")
        image = fetch_image(label_studio, data["image"])
        assert image.mean() == pytest.approx(level(data["frame"]), abs=3)
    assert fetch_image(label_studio, by_clip[phone.clip][0]["image"]).shape == (64, 48, 3)


def test_interrupted_import_resumes(tmp_path: Path, studio: Studio,
                                    options: ImportOptions) -> None:
    clip = write_clip(tmp_path / "long.mp4", [i / 30 for i in range(14)])
    options = replace(options, batch=4)

    def interrupt(clip: str, done: int, total: int) -> None:
        if done == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_videos(studio, [clip], options, interrupt)
    project = studio.find_project(options.project)
    assert project is not None
    assert [t.data["frame"] for t in studio.list_tasks(project.id)] == [0, 1, 2, 3]

    summary = import_videos(studio, [clip], options)
    assert (summary.tasks_created, summary.tasks_existing) == (10, 4)
    assert [t.data["frame"] for t in studio.list_tasks(project.id)] == list(range(14))


def imports_at_once(runs: list[tuple[Studio, Path]], options: ImportOptions) -> list[ImportSummary]:
    """``import_videos`` of each clip through its own client, each started 0.3 s after the
    one before and all running at once; their summaries, in that order."""
    got: list[object] = [None] * len(runs)

    def run(k: int, studio: Studio, clip: Path) -> None:
        try:
            got[k] = import_videos(studio, [clip], options)
        except Exception as exc:  # noqa: BLE001 - the assertion below names it
            got[k] = exc

    threads = [threading.Thread(target=run, args=(k, studio, clip)) for k, (studio, clip) in enumerate(runs)]
    for thread in threads:
        thread.start()
        time.sleep(0.3)
    for thread in threads:
        thread.join()
    assert all(isinstance(s, ImportSummary) for s in got), got
    return got  # type: ignore[return-value]


def test_two_imports_of_one_clip_at_once_give_each_frame_one_task(
        tmp_path: Path, options: ImportOptions, label_studio, monkeypatch: pytest.MonkeyPatch) -> None:
    # Overlapping runs of one script (cron, a retried job): each listed the project's tasks
    # before the other made any, and every frame got a task per run.
    clip = write_clip(tmp_path / "twice.mp4", [i / 30 for i in range(6)])
    options = replace(options, project="one clip imported twice at once")
    first, second = (Studio(label_studio.url, label_studio.token) for _ in range(2))
    first.get_or_create_project(options.project, options.label_config)
    create_tasks = first.create_tasks

    def slow_create_tasks(*args, **kwargs):  # the second run lists the project meanwhile
        time.sleep(1.5)
        return create_tasks(*args, **kwargs)

    monkeypatch.setattr(first, "create_tasks", slow_create_tasks)
    got = imports_at_once([(first, clip), (second, clip)], options)
    project = second.find_project(options.project)
    assert project is not None
    assert sorted(t.data["frame"] for t in second.list_tasks(project.id)) == list(range(6))
    assert sorted(s.tasks_created for s in got) == [0, 6]


def test_two_imports_of_one_clip_into_two_projects_at_once_write_each_frame_whole(
        tmp_path: Path, options: ImportOptions, label_studio, monkeypatch: pytest.MonkeyPatch) -> None:
    # Both wrote the clip's frames into its one folder through one temp file: a frame got
    # bytes of both writes, and one run failed to rename the file the other had renamed.
    clip = write_clip(tmp_path / "shared.mp4", [i / 10 for i in range(3)])
    write_bytes = Path.write_bytes

    writing: dict[str, int] = {}
    most = [0]  # writers of one frame at once, at most (each writes a temp file of its own)

    def slow_write(path: Path, data: bytes) -> int:  # a slow disk: the other run writes meanwhile
        frame = path.name.removeprefix(".").rsplit(".", 2)[0] if path.suffix == ".part" else path.name
        writing[frame] = writing.get(frame, 0) + 1
        most[0] = max(most[0], writing[frame])
        try:
            with path.open("wb") as fh:
                fh.write(data[:len(data) // 2])
                fh.flush()
                time.sleep(0.8)
                fh.write(data[len(data) // 2:])
        finally:
            writing[frame] -= 1
        return len(data)

    monkeypatch.setattr(Path, "write_bytes", slow_write)
    got: list[object] = [None, None]

    def run(k: int) -> None:
        try:
            got[k] = import_videos(Studio(label_studio.url, label_studio.token), [clip],
                                   replace(options, project=f"one clip, project {k}"))
        except Exception as exc:  # noqa: BLE001 - the assertion below names it
            got[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.3)
    for thread in threads:
        thread.join()
    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    summaries = [s for s in got if isinstance(s, ImportSummary)]
    assert [s.tasks_created for s in summaries] == [3, 3], got
    assert most[0] == 1  # both runs encode a frame alike: mixed bytes would still decode
    for task in Studio(label_studio.url, label_studio.token).list_tasks(summaries[0].project_id):
        assert fetch_image(label_studio, task.data["image"]).shape[:2] == (48, 64)


def test_two_imports_into_one_project_at_once_add_one_storage(
        tmp_path: Path, options: ImportOptions, label_studio, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each listed the project's storages before the other added one, and each added one.
    clips = [write_clip(tmp_path / f"{k}.mp4", [0.0, 0.1 * (k + 1)]) for k in range(2)]
    options = replace(options, project="two imports, one storage")
    first, second = (Studio(label_studio.url, label_studio.token) for _ in range(2))
    project, _ = first.get_or_create_project(options.project, options.label_config)
    create = first.sdk.import_storage.local.create

    def slow_create(**kwargs):  # the second import lists the storages meanwhile
        time.sleep(1.5)
        return create(**kwargs)

    monkeypatch.setattr(first.sdk.import_storage.local, "create", slow_create)
    imports_at_once([(first, clips[0]), (second, clips[1])], options)
    assert len(list(second.sdk.import_storage.local.list(project=project.id))) == 1
    assert len(second.list_tasks(project.id)) == 4  # both clips, two frames each


def test_frames_folder_upload_and_time_window(tmp_path: Path, studio: Studio,
                                              options: ImportOptions, label_studio) -> None:
    frames = tmp_path / "extracted"
    frames.mkdir()
    for i in [1, 2, 10, 11]:
        cv2.imwrite(str(frames / f"img{i}.png"), np.full((6, 10, 3), 10 * i, np.uint8))
    options = replace(options, upload=True, start=1 / 30, end=3.5 / 30)
    summary = import_videos(studio, [frames], options)
    tasks = studio.list_tasks(summary.project_id)
    assert [t.data["frame"] for t in tasks] == [1, 2, 3]  # img2, img10, img11
    assert all(t.data["image"].startswith("/data/upload/") for t in tasks)
    image = fetch_image(label_studio, tasks[1].data["image"])
    assert image.shape == (6, 10, 3) and int(image.mean()) == 100
    assert summary.storage_id is None


def test_frame_folders_of_same_sizes_are_two_clips(tmp_path: Path, studio: Studio,
                                                   options: ImportOptions,
                                                   label_studio) -> None:
    # Two cameras' BMP frames: same folder name, file names and sizes, other pictures.
    folders = []
    for camera, value in (("cam1", 40), ("cam2", 200)):
        folder = tmp_path / camera / "frames"
        folder.mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(folder / f"{i:04d}.bmp"), np.full((8, 8, 3), value, np.uint8))
        folders.append(folder)
    assert clip_name(folders[0]) != clip_name(folders[1])

    first = import_videos(studio, [folders[0]], options)
    second = import_videos(studio, [folders[1]], options)
    assert (second.tasks_created, second.tasks_existing) == (3, 0)
    tasks = [t for t in studio.list_tasks(second.project_id)
             if t.data["clip"] == second.clips[0].clip]
    assert len(tasks) == 3 and second.clips[0].clip != first.clips[0].clip
    assert int(fetch_image(label_studio, tasks[0].data["image"]).mean()) == 200


def test_import_into_a_video_project_is_refused(tmp_path: Path, studio: Studio,
                                                options: ImportOptions) -> None:
    # An existing project keeps its config: one that shows no $image cannot show frames.
    project, _ = studio.get_or_create_project(options.project,
                                              load_config("video_boxes").render(["car"]))
    clip = write_clip(tmp_path / "clip.mp4", [0.0, 0.1])
    with pytest.raises(ConfigError, match=r"no <Image value=\"\$image\">.*another --project"):
        import_videos(studio, [clip], options)
    assert studio.list_tasks(project.id) == []


def test_the_refusal_of_a_project_without_frames_names_no_flag_samvid_up_lacks() -> None:
    # `samvid up --project "my video project"` said "(a new one is created with --config)",
    # and `samvid up --config` is refused as an unknown argument.
    video = Project(3, "my video project", load_config("video_boxes").render(["car"]))
    with pytest.raises(ConfigError, match=r"no <Image value=\"\$image\">.*another --project") as refused:
        check_project_config(video)
    assert "--config" not in str(refused.value)


def test_a_project_whose_config_shows_a_key_frame_tasks_lack_is_refused_saying_which() -> None:
    # Label Studio refused every task after the frames were written, with
    # '"caption" key is expected in task data' and no word on what to do.
    config = ('<View><Image name="image" value="$image"/><Text name="note" value="$caption"/>'
              '<BrushLabels name="tag" toName="image"><Label value="car"/></BrushLabels></View>')
    with pytest.raises(ConfigError, match=r"also shows \$caption, which frame tasks do not have.*"
                                          r"remove those tags"):
        check_project_config(Project(4, "with captions", config))
    header = config.replace('<Text name="note"', '<Header')  # shows no task data: accepted
    check_project_config(Project(5, "with a header", header))


@pytest.mark.parametrize("shown", [
    '<Choices name="c" toName="image" value="$options"/>',  # dynamic choices: a control asks too
    '<TextArea name="t" toName="image" value="$note"/>',
    '<Text name="t" value="Caption: $caption"/>',  # the first $key inside a value
])
def test_every_named_tag_asking_for_a_key_frame_tasks_lack_is_refused_as_label_studio_would(shown: str) -> None:
    config = ('<View><Image name="image" value="$image"/>' + shown +
              '<BrushLabels name="tag" toName="image"><Label value="car"/></BrushLabels></View>')
    assert keys_frame_tasks_lack(config).startswith("$")
    for name in ("brush", "polygon", "multi_object", "attributes"):
        assert keys_frame_tasks_lack(load_config(name).render(["a"])) == ""
    # Label Studio asks nothing of a tag with an empty name, nor of the root.
    for accepted in ('<Text name="" value="$caption"/>', ''):
        root = '<View name="v" value="$foo">' if not accepted else '<View>'
        assert keys_frame_tasks_lack(root + '<Image name="image" value="$image"/>' + accepted + '</View>') == ""


def test_a_script_importing_with_a_config_showing_a_key_frame_tasks_lack_makes_no_project(tmp_path: Path) -> None:
    # Checked only for `samvid import --config` and existing projects: a script's new
    # project was made, its frames written, then every task refused.
    class NoStudio:
        def check(self) -> None:
            raise AssertionError("Label Studio was reached")

    video = write_clip(tmp_path / "c.mp4", [i / 10 for i in range(4)])
    config = ('<View><Image name="image" value="$image"/><Text name="t" value="$caption"/>'
              '<BrushLabels name="tag" toName="image"><Label value="car"/></BrushLabels></View>')
    with pytest.raises(ConfigError, match=r"also shows \$caption"):
        import_videos(NoStudio(), [video], ImportOptions(project="captions", label_config=config, upload=True))


def test_an_import_answered_without_task_ids_reads_the_clips_tasks_back_for_its_summary(
        tmp_path: Path, studio: Studio, options: ImportOptions, monkeypatch) -> None:
    # Editions that import in the background answer no ids: samvid up then found "no task
    # for the clip" and stopped.
    create = Studio.create_tasks
    monkeypatch.setattr(Studio, "create_tasks", lambda self, *args, **kwargs: create(self, *args, **kwargs) and [])
    video = write_clip(tmp_path / "quiet.mp4", [i / 10 for i in range(3)])
    summary = import_videos(studio, [video], replace(options, project="no ids answered"))
    tasks = {t.id: t.data["frame"] for t in studio.list_tasks(summary.project_id, summary.clips[0].clip)}
    assert [tasks[i] for i in summary.clips[0].task_ids] == [0, 1, 2]
    assert summary.clips[0].created == 3  # said as added, not "0 tasks added"


def test_an_import_config_showing_a_key_frame_tasks_lack_is_refused_before_a_project_is_made(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # The project was made, then Label Studio refused every task: an empty project was left.
    from samvid.cli import main

    config = tmp_path / "captions.xml"
    config.write_text('<View><Image name="image" value="$image"/><Text name="note" value="$caption"/>'
                      '<BrushLabels name="tag" toName="image"><Label value="car"/></BrushLabels></View>')
    code = main(["import", str(tmp_path / "any.mp4"), "--project", "with captions", "--config", str(config),
                 "--url", "http://127.0.0.1:9", "--api-key", "k", "--upload", "--no-backend"])
    assert code == 2
    assert "--config captions: it also shows $caption, which frame tasks do not have" in capsys.readouterr().err


def test_frame_folder_of_two_sizes_is_refused(tmp_path: Path, studio: Studio,
                                             options: ImportOptions) -> None:
    # Tracking skips frames of another size than the first: their tasks would get no mask.
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, (width, height) in enumerate([(64, 48), (64, 48), (128, 96)]):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((height, width, 3), 50, np.uint8))
    with pytest.raises(VideoError, match=r"2\.png: 128x96, but 0\.png is 64x48"):
        import_videos(studio, [frames], options)
    assert studio.find_project(options.project) is None  # refused before anything was made

    # Phone photos turned by EXIF orientation are one size as decoded: accepted.
    phone = tmp_path / "phone"
    phone.mkdir()
    for i in range(2):
        exif = PIL.Image.Exif()
        exif[0x0112] = 6  # rotate 90: stored 64x48, shown 48x64
        PIL.Image.fromarray(np.full((48, 64, 3), 80, np.uint8)).save(phone / f"{i}.jpg", exif=exif)
    summary = import_videos(studio, [phone], options)
    assert (summary.tasks_created, summary.clips[0].width, summary.clips[0].height) == (2, 48, 64)


def test_folder_of_older_import_resumes_its_clip(tmp_path: Path, studio: Studio,
                                                options: ImportOptions) -> None:
    # Imported (2 of 3 frames) when a folder's clip name hashed file names and sizes only:
    # the rerun completes that clip rather than importing all 3 frames again.
    from samvid.studio.sources import names_only_clip_name  # new with the content hash

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.bmp"), np.full((8, 8, 3), 30 * i, np.uint8))
    older = names_only_clip_name(frames)
    assert older != clip_name(frames)
    project, _ = studio.get_or_create_project(options.project, options.label_config)
    studio.create_tasks(project.id, [{"image": f"/data/local-files/?d=x/{i}.jpg", "frame": i,
                                      "clip": older, "video": str(frames.resolve())}
                                     for i in range(2)])
    summary = import_videos(studio, [frames], options)
    assert (summary.tasks_created, summary.tasks_existing) == (1, 2)
    assert {t.data["clip"] for t in studio.list_tasks(project.id)} == {older}


@pytest.mark.parametrize("given", ["dot", "path"])
def test_old_clip_of_a_dot_import_resumes(
        given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, studio: Studio,
        options: ImportOptions) -> None:
    # `samvid import .` named a folder "clip-<hash>" (2 of its 3 frames imported): a rerun,
    # given as `.` or as the folder's path, completes that clip rather than import all again.
    frames = tmp_path / "bear_frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((6, 8, 3), 40 * i, np.uint8))
    older = "clip-" + clip_name(frames).rsplit("-", 1)[1]  # the folder's hash, named "clip"
    project, _ = studio.get_or_create_project(options.project, options.label_config)
    studio.create_tasks(project.id, [{"image": f"/data/local-files/?d=x/{i}.jpg", "frame": i,
                                      "clip": older, "video": str(frames.resolve())}
                                     for i in range(2)])
    monkeypatch.chdir(frames)
    summary = import_videos(studio, [Path(".") if given == "dot" else frames], options)
    assert (summary.tasks_created, summary.tasks_existing) == (1, 2)
    assert {t.data["clip"] for t in studio.list_tasks(project.id)} == {older}


@pytest.mark.parametrize("how", ["in another case", "through a hard link"])
def test_a_video_imported_again_under_another_name_of_its_file_resumes_its_clip(
        how: str, tmp_path: Path, studio: Studio, options: ImportOptions) -> None:
    # macOS: `samvid import Dog.mp4`, later `samvid import dog.mp4` of the same file. Its
    # frames went to one folder (the disk ignores case) and every frame got a second task.
    # A hard link is one file by a path that resolves apart: found by the resolved path
    # alone, it was a second clip.
    (tmp_path / "other").mkdir()
    first = write_clip(tmp_path / "Dog.mp4", [i / 10 for i in range(3)])
    if how == "in another case":
        second = tmp_path / "other" / "dog.mp4"
        second.write_bytes(first.read_bytes())
    else:
        second = tmp_path / "other" / "cat.mp4"
        os.link(first, second)
    options = replace(options, project=f"clip {how}")
    summary = import_videos(studio, [first], options)
    again = import_videos(studio, [second], options)
    assert (again.tasks_created, again.tasks_existing) == (0, 3)
    assert again.clips[0].clip == summary.clips[0].clip
    assert {t.data["clip"] for t in studio.list_tasks(summary.project_id)} == {summary.clips[0].clip}


def test_a_video_renamed_and_imported_again_is_its_clip_not_a_second_one(
        tmp_path: Path, studio: Studio, options: ImportOptions) -> None:
    # `mv take1.mp4 dog.mp4`, import again: every frame got a second task, as a second clip.
    first = write_clip(tmp_path / "take1.mp4", [i / 10 for i in range(3)])
    options = replace(options, project="clip renamed and imported again")
    summary = import_videos(studio, [first], options)
    second = first.rename(tmp_path / "dog.mp4")
    again = import_videos(studio, [second], options)
    assert (again.tasks_created, again.tasks_existing) == (0, 3)
    assert again.clips[0].clip == summary.clips[0].clip
    assert {t.data["clip"] for t in studio.list_tasks(summary.project_id)} == {summary.clips[0].clip}


def test_a_copy_under_another_name_beside_its_original_is_a_clip_of_its_own(
        tmp_path: Path, studio: Studio, options: ImportOptions) -> None:
    # Telling a copy from another video of the same content hash would read both files whole
    # at every run: the name the user gave it decides.
    first = write_clip(tmp_path / "take1.mp4", [i / 10 for i in range(3)])
    options = replace(options, project="clip copied and imported")
    summary = import_videos(studio, [first], options)
    second = tmp_path / "dog.mp4"
    second.write_bytes(first.read_bytes())
    again = import_videos(studio, [second], options)
    assert (again.tasks_created, again.tasks_existing) == (3, 0)
    assert again.clips[0].clip != summary.clips[0].clip


def test_a_frame_folder_still_there_is_not_read_as_renamed() -> None:
    # os.path.isfile is False for a folder: a same-hash folder still there was merged by
    # frame count, and said "renamed or moved".
    from samvid.studio.importer import _same_content

    here = str(Path(__file__).parent)
    tasks = [Task(1 + f, {"clip": "takeA-deadbeef", "frame": f, "video": here}) for f in range(3)]
    plan = SimpleNamespace(source=Path("takeB"), selected=[0, 1, 2], frames=3)
    assert _same_content({"takeA-deadbeef": tasks}, plan) is None  # type: ignore[arg-type]


def write_uncompressed(path: Path, middle: int, frames: int = 4) -> Path:
    """An uncompressed AVI of black first and last frames and ``middle``-grey ones between,
    each frame bigger than the MiB the content hash reads at either end."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1024, 512, "rgb24"
        for i in range(frames):
            image = np.full((512, 1024, 3), middle if 0 < i < frames - 1 else 0, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


def test_two_uncompressed_videos_alike_at_both_ends_are_two_clips(
        tmp_path: Path, studio: Studio, options: ImportOptions) -> None:
    # Same size, same first and last MiB, other frames between: one content hash, and the
    # second was imported as the first's clip (its frames never imported, exit 0).
    first = write_uncompressed(tmp_path / "camA_take.avi", 50)
    second = write_uncompressed(tmp_path / "camB_other.avi", 200)
    assert clip_name(first).rpartition("-")[2] == clip_name(second).rpartition("-")[2]
    options = replace(options, project="alike at both ends")
    summary = import_videos(studio, [first], options)
    again = import_videos(studio, [second], options)
    assert (again.tasks_created, again.tasks_existing) == (4, 0)
    assert again.clips[0].clip == clip_name(second) != summary.clips[0].clip
    # Renamed since (its recorded file gone), the second still resumes its own clip.
    second.rename(tmp_path / "camB_renamed.avi")
    renamed = import_videos(studio, [tmp_path / "camB_renamed.avi"], options)
    assert (renamed.tasks_created, renamed.tasks_existing) == (0, 4)
    assert renamed.clips[0].clip == again.clips[0].clip


@pytest.mark.parametrize("first", ["dot", "link"])
def test_a_frame_folder_as_dot_inside_its_symlink_and_as_the_links_path_is_one_clip(
        first: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, studio: Studio,
        options: ImportOptions) -> None:
    # `cd link; samvid import .` named the folder after the link's target, `samvid import
    # link` after the link: two clips of one folder, each frame twice.
    frames = tmp_path / "real_frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((6, 8, 3), 40 * i, np.uint8))
    link = tmp_path / "link"
    link.symlink_to(frames)
    monkeypatch.chdir(link)
    given = [Path("."), link] if first == "dot" else [link, Path(".")]
    options = replace(options, project=f"symlinked frames, {first} first")
    summary = import_videos(studio, [given[0]], options)
    again = import_videos(studio, [given[1]], options)
    assert (again.tasks_created, again.tasks_existing) == (0, 3)
    assert {t.data["clip"] for t in studio.list_tasks(summary.project_id)} == {summary.clips[0].clip}


def test_frames_under_a_root_named_with_url_characters_are_served(
        tmp_path: Path, studio: Studio, options: ImportOptions, label_studio) -> None:
    # Label Studio reads ?d= decoded once ("+" as a space, "%41" as "A", "#" ends the URL).
    root = label_studio.files_root / "fr #1 ?x=%41+b&c é"
    video = write_clip(tmp_path / "v #2 ?%41+.mp4", [0.0, 0.1])
    summary = import_videos(studio, [video], replace(options, frames_root=root,
                                                     project="frames root with URL characters"))
    images = [t.data["image"] for t in studio.list_tasks(summary.project_id)]
    assert len(images) == 2
    for url in images:
        assert fetch_image(label_studio, url).shape[:2] == (48, 64)


def test_truncated_video_imports_what_decodes(tmp_path: Path, studio: Studio,
                                              options: ImportOptions) -> None:
    whole = write_clip(tmp_path / "whole.mp4", [i / 30 for i in range(40)], (160, 120),
                       faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    summary = import_videos(studio, [cut], options)
    clip = summary.clips[0]
    assert 0 < clip.created < 40
    assert clip.created + len(clip.undecodable) + clip.missing_tail == 40
    assert summary.undecodable == 40 - clip.created


@pytest.mark.parametrize("suffix", [".mkv", ".ts"])
def test_a_truncated_mkv_or_mpeg_ts_with_b_frames_imports_each_frame_under_its_own_number(
        tmp_path: Path, studio: Studio, options: ImportOptions, label_studio, suffix: str) -> None:
    # Frames stored out of display order: the cut loses frames before some it keeps, which
    # were imported under the lost frames' numbers (frame 22 showing frame 24), exit 0.
    whole = write_clip(tmp_path / f"whole{suffix}", [i / 30 for i in range(40)], (160, 120))
    with av.open(str(whole)) as check:
        pts = [p.pts for p in check.demux(check.streams.video[0]) if p.size]
    assert pts != sorted(pts)  # B-frames, the case under test
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) * 6 // 10 // 188 * 188 + 100])  # part-way into a packet
    summary = import_videos(studio, [cut], replace(options, project=f"truncated b-frames {suffix}"))
    clip = summary.clips[0]
    assert 0 < clip.created < 40 and clip.missing_tail > 0
    for task in studio.list_tasks(summary.project_id):
        image = fetch_image(label_studio, task.data["image"])
        assert abs(float(image.mean()) - level(task.data["frame"])) < 4, task.data["frame"]


def test_ml_backend_is_connected_once(tmp_path: Path, studio: Studio,
                                      options: ImportOptions) -> None:
    calls: list[str] = []

    def backend(environ, start_response):  # the two routes LS calls on connect
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status": "UP", "model_version": "stub"}']

    clip = write_clip(tmp_path / "c.mp4", [0.0, 0.1])
    with ServedApp(backend) as served:
        options = replace(options, backend_url=served.url, backend_user="u",
                          backend_password="p")
        first = import_videos(studio, [clip], options)
        second = import_videos(studio, [clip], options)
    assert first.backend_id is not None and first.backend_id == second.backend_id
    assert "/health" in calls and "/setup" in calls
    backends = studio.sdk.ml.list(project=first.project_id)
    assert len(backends) == 1 and backends[0].is_interactive
    assert backends[0].auth_method == "BASIC_AUTH"
    hooks = studio.request("GET", "/api/webhooks/", "list", params={"project": first.project_id})
    [hook] = [h for h in hooks if h["url"] == f"{served.url}/webhook"]
    assert hook["headers"]["Authorization"] == "Basic dTpw"  # base64("u:p")


def test_unreachable_backend_leaves_no_project(tmp_path: Path, studio: Studio,
                                               options: ImportOptions) -> None:
    clip = write_clip(tmp_path / "c.mp4", [0.0])
    with pytest.raises(StudioError, match="connect the ML backend"):
        import_videos(studio, [clip], replace(options, backend_url="http://127.0.0.1:9"))
    assert studio.find_project(options.project) is None


def test_a_half_made_project_label_studio_will_not_delete_leaves_the_imports_own_error(
        tmp_path: Path, studio: Studio, options: ImportOptions, caplog: pytest.LogCaptureFixture) -> None:
    class Refusing(Studio):
        def delete_project(self, project_id: int) -> None:
            raise StudioError("Label Studio refused to delete the project (500: database is locked)")

    refusing = Refusing(studio.url, studio.api_key)
    clip = write_clip(tmp_path / "c.mp4", [0.0])
    title = "half made, kept"
    with pytest.raises(StudioError, match="connect the ML backend"):
        import_videos(refusing, [clip], replace(options, project=title, backend_url="http://127.0.0.1:9"))
    left = studio.find_project(title)
    assert left is not None and f"id {left.id}" in caplog.text and "remove it in Label Studio" in caplog.text
    studio.delete_project(left.id)


def test_predictions_round_trip(tmp_path: Path, studio: Studio, options: ImportOptions) -> None:
    summary = import_videos(studio, [write_clip(tmp_path / "c.mp4", [0.0])], options)
    task = studio.list_tasks(summary.project_id)[0]
    result = [{"from_name": "box", "to_name": "image", "type": "rectanglelabels",
               "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rotation": 0,
                         "rectanglelabels": ["car"]}}]
    pid = studio.create_prediction(task.id, result, score=0.5, model_version="t")
    assert [p.id for p in studio.list_predictions(task.id)] == [pid]
    studio.delete_prediction(pid)
    assert studio.list_predictions(task.id) == []


def test_an_import_lists_each_clips_tasks_once(tmp_path: Path, studio: Studio, options: ImportOptions,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # A frame folder's clip was listed up to three times per import (whether it was imported
    # under its older name, then its frames): each a filtered listing of the whole project.
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((8, 8, 3), 30 * i, np.uint8))
    listings: list[str] = []
    request = studio.request

    def counted(method: str, path: str, what: str, **kwargs):
        if (method, path) == ("GET", "/api/tasks"):
            listings.append(what)
        return request(method, path, what, **kwargs)

    monkeypatch.setattr(studio, "request", counted)
    first = import_videos(studio, [frames], options)
    assert first.tasks_created == 3
    assert len(listings) == 2  # its clip, then the older names it may have been imported under
    listings.clear()
    again = import_videos(studio, [frames], options)
    assert (again.tasks_created, again.tasks_existing) == (0, 3)
    assert len(listings) == 1


def test_frames_whose_tasks_hold_the_index_as_text_or_a_float_are_not_imported_again(
        tmp_path: Path, studio: Studio, options: ImportOptions) -> None:
    # A CSV round trip makes every value a string ("0"), a script's JSON may write 1.0; the
    # backend reads both as frames, and each re-import gave such frames a second task.
    clip = write_clip(tmp_path / "c.mp4", [i / 30 for i in range(4)])
    options = replace(options, project="frames as text or floats")
    project, _ = studio.get_or_create_project(options.project, options.label_config)
    studio.create_tasks(project.id, [
        {"image": "/data/local-files/?d=x/0.jpg", "frame": "0", "clip": clip_name(clip), "video": str(clip)},
        {"image": "/data/local-files/?d=x/1.jpg", "frame": 1.0, "clip": clip_name(clip), "video": str(clip)}])
    summary = import_videos(studio, [clip], options)
    assert (summary.tasks_created, summary.tasks_existing) == (2, 2)
    assert len(studio.list_tasks(project.id)) == 4


def test_the_summary_names_every_task_of_the_clip_in_frame_order_those_there_before_too(
        tmp_path: Path, studio: Studio, options: ImportOptions) -> None:
    # What `samvid up` opens (frame 0) and lists, without listing the clip again: frames an
    # earlier --stride import skipped get their tasks later, with higher ids.
    clip = write_clip(tmp_path / "c.mp4", [i / 30 for i in range(6)])
    options = replace(options, project="task ids in frame order")
    import_videos(studio, [clip], replace(options, stride=2))
    summary = import_videos(studio, [clip], options)
    frame_of = {t.id: t.data["frame"] for t in studio.list_tasks(summary.project_id)}
    assert [frame_of[i] for i in summary.clips[0].task_ids] == list(range(6))
    again = import_videos(studio, [clip], options)  # nothing added: the same tasks
    assert again.clips[0].task_ids == summary.clips[0].task_ids
    assert "task_ids" not in again.to_json()["clips"][0]  # thousands for a long clip
