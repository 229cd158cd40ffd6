"""A task's ``video`` in an export: exported datasets are shared, so a presigned URL's
signing parameters, its fragment and ``user:password@`` stay out of every file and folder
name, and the rest of its query stays; a local path is written as it is. A task without
``clip`` is placed in the clip of its video's URL without what signs it: two signatures of
one object are one clip, two objects two clips, even where only the query tells them apart."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from export_studio import StoredProject, disk, region

from samvid.export import FORMATS, export
from samvid.export.frames import ExportFrame, FrameMasks, Problems
from samvid.export.reader import ProjectReader

SECRETS = ("S3CRET", "X-Amz", "AKIA", "PASSW")
BARE = "https://bucket.s3.amazonaws.com/videos/v.mp4"


def presigned(url: str = BARE, signature: str = "SIG_S3CRET_1") -> str:
    """``url`` as a presigned link, with credentials and a fragment for good measure."""
    scheme, rest = url.split("://", 1)
    return (f"{scheme}://AKIA_USER:PASSW_S3CRET@{rest}?X-Amz-Credential=AKIA_S3CRET_2"
            f"&X-Amz-Signature={signature}#t=1")


def car(frame: int, video: str, **data: object) -> tuple[dict, list]:
    return {"video": video, "frame": frame, "image": f"/nowhere/{frame}.jpg", **data}, region(
        disk(20 + frame, 20, 6), "car", object_id=1)


def exported(fmt: str, tasks: list[tuple[dict, list]], out: Path) -> list[ExportFrame]:
    """Export ``tasks`` in ``fmt`` into ``out`` (no images: none is reachable); its frames loaded back."""
    problems = Problems()
    reader = ProjectReader(StoredProject(tasks), 1, problems=problems)
    writer_class, load = FORMATS[fmt]
    summary = export(reader, writer_class(out, reader.categories, problems))
    assert summary.frames == len(tasks)
    return list(load(out))


def written_text(out: Path) -> str:
    """Every name under ``out`` and the text of every file that is not an image."""
    parts = []
    for path in sorted(out.rglob("*")):
        parts.append(str(path.relative_to(out)))
        if path.is_file() and path.suffix not in (".png", ".jpg"):
            parts.append(path.read_text())
    return "\n".join(parts)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_no_file_of_an_export_holds_the_query_or_credentials_of_a_presigned_video(fmt, tmp_path: Path):
    tasks = [car(f, presigned(), clip="cloud") for f in range(2)]
    loaded = exported(fmt, tasks, tmp_path)
    text = written_text(tmp_path)
    assert not [s for s in SECRETS if s in text], text
    assert "#t=1" not in text
    assert {(f.clip, f.video) for f in loaded} == {("cloud", BARE)}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_task_without_clip_is_in_the_clip_of_its_video_without_the_signature(fmt, tmp_path: Path):
    loaded = exported(fmt, [car(f, presigned()) for f in range(2)], tmp_path)
    text = written_text(tmp_path)
    assert not [s for s in SECRETS if s in text], text
    assert [(f.clip, f.frame, f.video) for f in loaded] == [(BARE, 0, BARE), (BARE, 1, BARE)]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_two_signatures_of_one_video_are_one_clip_and_two_videos_two(fmt, tmp_path: Path):
    other = BARE.replace("v.mp4", "w.mp4")
    tasks = [car(0, presigned(signature="SIG_S3CRET_A")), car(1, presigned(signature="SIG_S3CRET_B")),
             car(0, presigned(other, signature="SIG_S3CRET_A")), car(2, other)]
    loaded = exported(fmt, tasks, tmp_path)
    frames: dict[str, list[int]] = defaultdict(list)
    for f in loaded:
        frames[f.clip].append(f.frame)
    assert frames == {BARE: [0, 1], other: [0, 2]}
    assert not [s for s in SECRETS if s in written_text(tmp_path)]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("video", ["/data/videos/take?1.mp4", "clips/my video.mp4", r"C:\videos\v.mp4",
                                   "data:video/mp4;base64,AAAA"])
def test_a_video_that_is_no_url_is_written_as_it_is(fmt, video, tmp_path: Path):
    loaded = exported(fmt, [car(0, video), car(1, video, clip="named")], tmp_path)
    assert sorted((f.clip, f.video) for f in loaded) == sorted([(video, video), ("named", video)])


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_an_export_whose_clip_is_a_presigned_url_still_loads(fmt, tmp_path: Path):
    # What exports made before the fix hold for a task without clip: the whole URL as the
    # clip, its folder named from it. Loading finds each frame's files by that clip.
    clip = presigned()
    frames = [ExportFrame(clip=clip, frame=f, masks=FrameMasks.empty(f, 48, 64), labels=(),
                          video=clip) for f in range(2)]
    writer = FORMATS[fmt][0](tmp_path, [], Problems())
    for frame in frames:
        writer.add(frame)
    writer.close()
    loaded = list(FORMATS[fmt][1](tmp_path))
    assert [(f.clip, f.frame) for f in loaded] == [(clip, 0), (clip, 1)]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("base", ["http://localhost:8080/data/local-files/?d=videos/",  # Label Studio's local files
                                  "https://www.youtube.com/watch?v=",
                                  "https://cdn.example/get?key=videos/"])  # "key" names the object, no API key
def test_two_videos_told_apart_only_by_their_query_are_two_clips(fmt, base, tmp_path: Path):
    a, b = f"{base}a.mp4", f"{base}b.mp4"
    loaded = exported(fmt, [car(0, a), car(1, a), car(0, b), car(1, b)], tmp_path)
    frames: dict[tuple[str, str], list[int]] = defaultdict(list)
    for f in loaded:
        frames[(f.clip, f.video)].append(f.frame)
    assert frames == {(a, a): [0, 1], (b, b): [0, 1]}


SIGNED = {  # each provider's presigned link to one object; what stays of it
    "s3": ("https://b.s3.amazonaws.com/v.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA_S3CRET"
           "&X-Amz-Date=20261207T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
           "&x-amz-security-token=S3CRET_T&X-Amz-Signature=S3CRET_SIG&part=2", "https://b.s3.amazonaws.com/v.mp4?part=2"),
    "s3 v2": ("https://b.s3.amazonaws.com/v.mp4?AWSAccessKeyId=AKIA_S3CRET&Expires=1700000000"
              "&Signature=S3CRET%2Bsig%3D", "https://b.s3.amazonaws.com/v.mp4"),
    "gcs": ("https://storage.googleapis.com/b/v.mp4?x-goog-algorithm=GOOG4-RSA-SHA256"
            "&X-Goog-Credential=sa%40p.iam.gserviceaccount.com%2F20261207%2Fauto%2Fstorage%2Fgoog4_request"
            "&X-Goog-Date=20261207T000000Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host&X-Goog-Signature=S3CRET",
            "https://storage.googleapis.com/b/v.mp4"),
    "gcs v2": ("https://storage.googleapis.com/b/v.mp4?GoogleAccessId=sa%40S3CRET&Expires=1700000000"
               "&Signature=S3CRET", "https://storage.googleapis.com/b/v.mp4"),
    "azure": ("https://acct.blob.core.windows.net/c/v.mp4?sp=r&st=2026-12-07T00:00:00Z&se=2026-12-08T00:00:00Z"
              "&spr=https&sv=2022-11-02&sr=b&skoid=S3CRET_O&sktid=S3CRET_T&sig=S3CRET%2Bsig%3D",
              "https://acct.blob.core.windows.net/c/v.mp4"),
    "cloudfront": ("https://d111.cloudfront.net/v.mp4?t=30&Policy=S3CRET_P&Signature=S3CRET~sig__"
                   "&Key-Pair-Id=K2JCJMDEHXQW5F", "https://d111.cloudfront.net/v.mp4?t=30"),
    "token": ("https://cdn.example/v.mp4?token=S3CRET&access_token=S3CRET_A&v=3", "https://cdn.example/v.mp4?v=3"),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("provider", sorted(SIGNED))
def test_a_presigned_url_of_each_provider_loses_its_signature_and_keeps_its_other_parameters(
        fmt, provider, tmp_path: Path):
    url, bare = SIGNED[provider]
    loaded = exported(fmt, [car(0, url), car(1, url, clip="named")], tmp_path)
    text = written_text(tmp_path)
    assert not [s for s in (*SECRETS, "K2JCJ", "X-Goog", "x-goog", "GoogleAccessId", "sig=") if s in text], text
    assert sorted((f.clip, f.video) for f in loaded) == sorted([(bare, bare), ("named", bare)])


def test_an_azure_like_short_name_without_a_sas_signature_is_no_signature(tmp_path: Path):
    # ?st=, ?sp= are a SAS's only beside its "sig"; elsewhere they may say which video.
    a, b = "https://cdn.example/v.mp4?st=0", "https://cdn.example/v.mp4?st=30"
    loaded = exported("coco", [car(0, a), car(0, b)], tmp_path)
    assert sorted(f.clip for f in loaded) == [a, b]
