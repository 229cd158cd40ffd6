"""``samvid import`` end to end through the CLI dispatcher, against the session's real
Label Studio: every bad input gives one clear line on stderr, exit 2, and no project."""

from __future__ import annotations

import errno
import json
import os
import resource
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import requests
from services import LabelStudio

from samvid.cli import main
from samvid.studio.client import Studio

pytestmark = pytest.mark.studio


def write_clip(path: Path, times: list[float], size: tuple[int, int] = (64, 48),
               rotation: int | None = None, codec: str = "libx264",
               pix_fmt: str = "yuv420p") -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix_fmt
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for i, t in enumerate(times):
            image = np.full((size[1], size[0], 3), 20 + 8 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(image)
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


@pytest.fixture
def env(label_studio, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    monkeypatch.setenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", str(label_studio.files_root))
    return label_studio


def samvid_import(*args: str | Path) -> int:
    return main(["import", *map(str, args)])


def test_tricky_but_valid_videos(env, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "vidéos à importer"
    folder.mkdir()
    write_clip(folder / "01 vfr.mp4", [0.0, 0.04, 0.1, 0.5])
    write_clip(folder / "02 phone ü.mp4", [0.0, 0.1], rotation=-90)
    write_clip(folder / "03 odd.mkv", [0.0, 0.1, 0.2], (65, 37), codec="ffv1",
               pix_fmt="yuv444p")
    rc = samvid_import(folder, "--project", "cli tricky", "--labels", "car,person",
                       "--no-backend", "--json")
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    clips = summary["clips"]
    assert [c["created"] for c in clips] == [4, 2, 3]
    assert (clips[1]["width"], clips[1]["height"]) == (48, 64)
    assert (clips[2]["width"], clips[2]["height"]) == (65, 37)
    assert samvid_import(folder, "--project", "cli tricky", "--no-backend") == 0
    assert "nothing added" in capsys.readouterr().out


def make_bad(kind: str, tmp: Path) -> Path:
    if kind == "empty":
        (tmp / "empty.mp4").write_bytes(b"")
        return tmp / "empty.mp4"
    if kind == "text":
        (tmp / "notes.mp4").write_text("not a video\n" * 50)
        return tmp / "notes.mp4"
    if kind == "codec":
        data = write_clip(tmp / "h264.mkv", [0.0, 0.1]).read_bytes()
        (tmp / "odd codec.mkv").write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_SAMVID/NOCODE"))
        return tmp / "odd codec.mkv"
    return tmp / "missing.mp4"


BAD = [
    ("missing", [], "missing.mp4: no such file"),
    ("empty", [], "empty.mp4: empty file (0 bytes)"),
    ("text", [], "notes.mp4: not a video"),
    ("codec", [], "unsupported codec"),
    ("ok", ["--start", "50"], "no frame from --start 50.0 on (the clip is"),
    ("ok", ["--stride", "0"], "--stride 0: must be 1 or more"),
    ("ok", ["--fps", "inf"], "--fps inf: must be a number of frames per second"),
    ("ok", ["--fps", "nan"], "--fps nan: must be a number of frames per second"),
    ("ok", ["--labels", "car,,bus"], "empty label name"),
    ("ok", ["--config", "nope"], "unknown labeling config 'nope'"),
    ("ok", ["--config", "video_boxes"], "has no <Image"),
    ("ok", ["--frames-root", "/tmp"], "must be a subfolder of Label Studio's"),
    ("ok", ["--url", "http://127.0.0.1:9"], "cannot reach Label Studio at http://127.0.0.1:9"),
    ("ok", ["--api-key", "0" * 40], "refused the API key (401): check the key given (a command's --api-key"),
]


@pytest.mark.parametrize(("kind", "extra", "message"), BAD, ids=[b[2][:24] for b in BAD])
def test_bad_input(env, tmp_path: Path, capsys: pytest.CaptureFixture, kind: str,
                   extra: list[str], message: str) -> None:
    video = write_clip(tmp_path / "ok.mp4", [0.0, 0.1]) if kind == "ok" else make_bad(kind, tmp_path)
    title = f"cli bad {kind} {' '.join(extra)}"[:50]  # Label Studio's longest title
    rc = samvid_import(video, "--project", title, "--no-backend", *extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("samvid import: error: "), err
    assert message in err[0]
    assert Studio(env.url, env.token).find_project(title) is None  # nothing half-created


def test_truncated_video_imports_what_decodes(env, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height = 160, 120
        for i in range(40):  # noise: every frame costs about the same, so a cut keeps some
            image = np.random.default_rng(i).integers(0, 255, (120, 160, 3), np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image)))
        out.mux(stream.encode())
    cut = tmp_path / "cut clip.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    rc = samvid_import(cut, "--project", "cli truncated", "--no-backend")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "cut clip.mp4 is corrupt or truncated" in err[0] and "decode are imported" in err[0]


def test_no_api_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                    capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    rc = samvid_import(tmp_path / "x.mp4", "--project", "no key", "--no-backend")
    assert rc == 2 and "no Label Studio API key" in capsys.readouterr().err


def test_help_lists_configs(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    assert "multi_object" in capsys.readouterr().out


def test_help_lists_only_the_configs_import_can_use(capsys: pytest.CaptureFixture) -> None:
    # video_boxes (one <Video> task per video) was listed, and import refuses it every time.
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    assert "video_boxes" not in capsys.readouterr().out


def test_a_video_given_as_a_url_is_said_to_need_a_download(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Read as a path it was "https:/example.com/a.mp4: no such file or folder".
    with pytest.raises(SystemExit) as raised:
        samvid_import("https://example.com/a.mp4", "--project", "from a url", "--no-backend",
                      "--url", "http://127.0.0.1:9", "--api-key", "k")
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "https://example.com/a.mp4 is a URL" in err and "download it first" in err


@pytest.mark.parametrize("limit,value,words", [
    ("SAMVID_MAX_VIDEO_SECONDS", "0.2", "over the 0 s limit"),
    ("SAMVID_MAX_VIDEO_PIXELS", "1000", "over the 1000 pixel limit"),
])
def test_videos_over_the_limits_are_refused_before_anything_is_made(
        env, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
        limit: str, value: str, words: str) -> None:
    monkeypatch.setenv(limit, value)
    clip = write_clip(tmp_path / "long.mp4", [0.0, 0.1, 0.2, 0.3, 0.4])
    assert samvid_import(clip, "--project", f"cli limit {limit}", "--no-backend") == 2
    assert words in capsys.readouterr().err
    assert Studio(env.url, env.token).find_project(f"cli limit {limit}") is None


def test_a_window_of_a_video_over_the_length_limit_can_be_imported(
        env, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMVID_MAX_VIDEO_SECONDS", "0.25")
    clip = write_clip(tmp_path / "long.mp4", [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    rc = samvid_import(clip, "--project", "cli limit window", "--start", "0.1", "--end", "0.3",
                       "--no-backend", "--json")
    assert rc == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["tasks_created"] == 2  # frames at 0.1 and 0.2
    # the limit still holds for a window that is too long
    rc = samvid_import(clip, "--project", "cli limit window", "--start", "0.1", "--no-backend")
    assert rc == 2 and "over the 0 s limit" in capsys.readouterr().err


def open_files() -> int:
    return len(os.listdir("/dev/fd"))


def test_import_of_a_folder_of_many_clips_keeps_one_video_open_at_a_time(
        env, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for k in range(40):  # each its own content (one frame later), so none is skipped as a copy
        write_clip(folder / f"clip {k}.mp4", [0.0, 0.1 * (k + 1)])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Room for a few videos, Label Studio's connections and frame files, not for 40 videos.
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_files() + 25, hard))
    try:
        rc = samvid_import(folder, "--project", "cli many clips", "--stride", "2",
                           "--no-backend", "--json")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert rc == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["clips"]) == 40 and summary["tasks_created"] == 40


def test_import_into_an_unwritable_frames_root_says_so_and_creates_no_project(
        env, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clip = write_clip(tmp_path / "ok.mp4", [0.0, 0.1])
    blocker = env.files_root / "unwritable-frames-root"  # a file where a folder must go:
    blocker.write_text("not a folder")  # mkdir fails for root too, unlike chmod
    try:
        rc = samvid_import(clip, "--project", "cli unwritable root", "--no-backend",
                           "--frames-root", blocker / "samvid")
    finally:
        blocker.unlink()
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "cannot write frames to --frames-root" in err[0], err
    assert Studio(env.url, env.token).find_project("cli unwritable root") is None


def test_a_frame_that_cannot_be_written_stops_the_import_with_one_line(
        env, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from samvid.studio.sources import clip_name

    clip = write_clip(tmp_path / "ok.mp4", [0.0, 0.1])
    frames_root = env.files_root / "frame-write-fails"
    # The frame's write fails as on a full disk. (Not a real `ulimit -f` in this process: it
    # also cut the .pyc files of modules first imported meanwhile, and pytest's log output.)
    write_bytes = Path.write_bytes

    def disk_full(path: Path, data: bytes) -> int:
        if path.name.endswith(".part"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    rc = samvid_import(clip, "--project", "cli frame write fails", "--no-backend",
                       "--frames-root", frames_root)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "cannot write" in err[0] and "000000.jpg" in err[0], err
    assert "run the same import again to resume" in err[0]
    assert list((frames_root / clip_name(clip)).iterdir()) == []  # no partial frame left


def test_a_frame_folder_given_as_dot_and_as_its_path_is_one_clip(
        env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "bear_frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((6, 8, 3), 40 * i, np.uint8))
    monkeypatch.chdir(folder)
    assert samvid_import(".", "--project", "cli dot folder", "--no-backend") == 0
    assert samvid_import(folder, "--project", "cli dot folder", "--no-backend") == 0
    assert "nothing added" in capsys.readouterr().out
    studio = Studio(env.url, env.token)
    project = studio.find_project("cli dot folder")
    assert project is not None
    tasks = studio.list_tasks(project.id)
    assert len(tasks) == 3
    assert {t.data["clip"] for t in tasks} == {tasks[0].data["clip"]}
    assert tasks[0].data["clip"].startswith("bear_frames-")


def test_import_of_a_pipe_says_it_needs_a_file(env, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    pipe = tmp_path / "video.mp4"
    os.mkfifo(pipe)  # as `samvid import <(curl ...)` gives; never opened, so nothing blocks
    rc = samvid_import(pipe, "--project", "cli pipe", "--no-backend")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "video.mp4: not a regular file or folder" in err[0], err
    assert Studio(env.url, env.token).find_project("cli pipe") is None


@pytest.mark.parametrize("title", ["ab", "  ab  ", "x" * 51])
def test_import_with_a_project_title_label_studio_refuses_says_so_up_front(
        tmp_path: Path, capsys: pytest.CaptureFixture, title: str) -> None:
    # No Label Studio and no video needed: the title is checked before either is touched.
    rc = samvid_import(tmp_path / "missing.mp4", "--project", title, "--no-backend",
                       "--url", "http://127.0.0.1:9", "--api-key", "k")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "Label Studio titles are 3-50 characters" in err[0], err


def test_frames_root_with_upload_is_refused_as_contradictory(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # --upload writes no frame files: a --frames-root beside it was silently ignored.
    video = write_clip(tmp_path / "ok.mp4", [0.0, 0.1])
    rc = samvid_import(video, "--project", "contradiction", "--no-backend", "--upload",
                       "--frames-root", tmp_path / "frames", "--url", "http://127.0.0.1:9",
                       "--api-key", "k")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "--frames-root" in err[0] and "contradict" in err[0], err
    assert not (tmp_path / "frames").exists()


def test_all_digit_project_title_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Refused: `samvid export --project 003` would read it as project id 3.
    rc = samvid_import(tmp_path / "missing.mp4", "--project", " 003 ", "--no-backend",
                       "--url", "http://127.0.0.1:9", "--api-key", "k")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "--project '003': a title of digits only" in err[0], err
    assert "read as a project id" in err[0] and "'project 003'" in err[0]


def test_a_one_digit_project_is_said_to_be_an_id_not_a_title_too_short(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # `--project 9` was "Label Studio titles are 3-50 characters, this one has 1".
    rc = samvid_import(tmp_path / "missing.mp4", "--project", "9", "--no-backend",
                       "--url", "http://127.0.0.1:9", "--api-key", "k")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "--project '9': a title of digits only" in err[0], err
    assert "samvid import takes a title" in err[0]
    assert "3-50" not in err[0] and "'project 9'" in err[0]


def test_a_project_id_given_for_the_title_names_that_projects_title(
        env, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    video = write_clip(tmp_path / "ok.mp4", [0.0, 0.1])
    assert samvid_import(video, "--project", "cli id given as title", "--no-backend") == 0
    project = Studio(env.url, env.token).find_project("cli id given as title")
    assert project is not None
    capsys.readouterr()
    rc = samvid_import(video, "--project", str(project.id), "--no-backend")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "takes a project title, not an id" in err[0], err
    assert f"project {project.id} is titled 'cli id given as title'" in err[0]
    assert "use --project 'cli id given as title'" in err[0]


def test_import_works_when_the_document_root_is_a_symlink(
        studio_under_a_symlink: LabelStudio, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ls = studio_under_a_symlink
    assert ls.files_root.resolve() != ls.files_root  # the root as LS has it is a symlinked path
    clip = write_clip(tmp_path / "ok.mp4", [0.0, 0.1])
    rc = samvid_import(clip, "--project", "cli symlinked root", "--no-backend", "--json",
                       "--url", ls.url, "--api-key", ls.token, "--document-root", ls.files_root)
    assert rc == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["tasks_created"] == 2
    for task in Studio(ls.url, ls.token).list_tasks(summary["project_id"]):
        reply = requests.get(ls.url + task.data["image"], headers=ls.headers, timeout=10)
        assert reply.status_code == 200 and reply.content[:2] == b"\xff\xd8"  # a JPEG, served


def test_a_frames_root_that_is_a_symlink_inside_the_document_root_is_accepted(
        env, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Label Studio checks the path as spelled, under its root; where it points is the disk's
    # business (frames on a bigger volume).
    (tmp_path / "bigger disk").mkdir()
    link = env.files_root / "frames on another disk"
    link.symlink_to(tmp_path / "bigger disk", target_is_directory=True)
    clip = write_clip(tmp_path / "ok.mp4", [0.0, 0.1])
    try:
        rc = samvid_import(clip, "--project", "cli symlinked frames root", "--no-backend",
                           "--json", "--frames-root", link)
        assert rc == 0, capsys.readouterr().err
        summary = json.loads(capsys.readouterr().out)
        assert summary["tasks_created"] == 2
        assert len(list((tmp_path / "bigger disk").rglob("*.jpg"))) == 2
        for task in Studio(env.url, env.token).list_tasks(summary["project_id"]):
            reply = requests.get(env.url + task.data["image"], headers=env.headers, timeout=10)
            assert reply.status_code == 200 and reply.content[:2] == b"\xff\xd8"
    finally:
        link.unlink()


@pytest.mark.parametrize("backend_url", ["localhost:9090", "ftp://samvid:9090"])
def test_a_backend_url_that_is_not_http_is_refused_up_front_naming_the_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture, backend_url: str) -> None:
    # Label Studio refused it only after the project was made, with a message about its
    # SSRF protection ("must not resolve to local or private network addresses").
    rc = samvid_import(tmp_path / "missing.mp4", "--project", "bad backend url",
                       "--backend-url", backend_url, "--url", "http://127.0.0.1:9", "--api-key", "k")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and f"--backend-url '{backend_url}'" in err[0], err
    assert "give an http:// or https:// URL such as http://localhost:9090" in err[0]


def test_an_api_key_pasted_with_typographic_quotes_is_one_line_saying_to_copy_it_again(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # A token copied from a document with its curly quotes crashed every command with a
    # UnicodeEncodeError traceback from deep inside httpx.
    video = write_clip(tmp_path / "ok.mp4", [0.0, 0.1])
    rc = samvid_import(video, "--project", "curly key", "--no-backend", "--url", "http://127.0.0.1:9",
                       "--api-key", "\u201c" + "0" * 40 + "\u201d")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "holds '\u201c'" in err[0] and "copy the token again" in err[0], err
