"""``samvid models``: listing, offline and unreachable pulls, verified pulls from a local
"hub" (a folder holding a tiny random-weight SAM saved by the test), and loading the
pulled folder as SAMVID_MODEL would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import transformers as tf

from samvid.commands.models import MANIFEST, FileSpec, file_hashes, folder_name, pull, verify, wanted
from samvid.core.prompts import Prompt
from samvid.errors import ConfigError, ModelUnavailable
from samvid.models import load_segmenter


@pytest.fixture(scope="module")
def tiny_sam_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hub") / "facebook" / "sam-vit-base"
    vision = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
              "global_attn_indexes": [1], "mlp_dim": 128}
    tf.SamModel(tf.SamConfig(vision_config=vision)).save_pretrained(folder)
    (folder / "pytorch_model.bin").write_bytes(b"a pickle samvid must never fetch")
    return folder


def specs_of(folder: Path) -> list[FileSpec]:
    """What the hub's metadata says about each file (LFS sha256 for weights)."""
    specs = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        sha256, sha1 = file_hashes(path)
        lfs = path.suffix in (".safetensors", ".bin")
        specs.append(FileSpec(path.name, path.stat().st_size, sha256 if lfs else None,
                              None if lfs else sha1))
    return specs


class FolderHub:
    """A hub whose one model is a local folder; ``damage`` corrupts what it delivers."""

    def __init__(self, folder: Path, damage: str = "") -> None:
        self.folder, self.damage, self.downloads = folder, damage, 0

    def files(self, name, revision):
        return "0123456789abcdef", specs_of(self.folder)

    def download(self, name, revision, patterns, dest):
        self.downloads += 1
        dest.mkdir(parents=True, exist_ok=True)
        for f in patterns:
            shutil.copy(self.folder / f, dest / f)
        weights = dest / "model.safetensors"
        if self.damage == "truncate":
            weights.write_bytes(weights.read_bytes()[:-100])
        elif self.damage == "flip":
            data = bytearray(weights.read_bytes())
            data[-1] ^= 0xFF
            weights.write_bytes(bytes(data))
        return dest


def samvid(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "samvid.cli", "models", *args], env=env, check=False,
                          capture_output=True, text=True, timeout=timeout)


def offline_env(tmp_path: Path, **extra: str) -> dict:
    import os

    return {**os.environ, "HF_HOME": str(tmp_path / "hf"), **extra}


def test_verify_names_missing_short_and_altered_files(tiny_sam_folder, tmp_path):
    specs = specs_of(tiny_sam_folder)
    copy = tmp_path / "copy"
    shutil.copytree(tiny_sam_folder, copy)
    assert verify(copy, specs) == []
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("6", "7"))
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[10] ^= 1
    weights.write_bytes(bytes(data))
    (copy / "pytorch_model.bin").unlink()
    problems = " | ".join(verify(copy, specs))
    assert "model.safetensors: sha256" in problems
    assert "config.json" in problems and "pytorch_model.bin: missing" in problems


def test_pull_takes_only_safetensors_and_json_and_the_folder_loads(tiny_sam_folder, tmp_path):
    hub = FolderHub(tiny_sam_folder)
    folder = pull("facebook/sam-vit-base", tmp_path / "models", hub)
    assert folder == tmp_path / "models" / "sam-vit-base"
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "model.safetensors", "samvid-model.json"]
    assert json.loads((folder / "samvid-model.json").read_text())["revision"] == "0123456789abcdef"
    # Pulled again: verified in place, nothing downloaded.
    assert pull("facebook/sam-vit-base", tmp_path / "models", hub) == folder
    assert hub.downloads == 1
    # SAMVID_MODEL=<folder>: the local-folder path of the loader, no network.
    segmenter = load_segmenter(str(folder), device="cpu")
    emb = segmenter.embed(np.zeros((40, 50, 3), np.uint8))
    result = segmenter.segment(emb, Prompt(points=((20.5, 20.5),), labels=(1,)))
    assert result.mask.shape == (40, 50)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_partial_or_corrupt_download_is_refused_and_removed(tiny_sam_folder, tmp_path, damage):
    with pytest.raises(ModelUnavailable, match="incomplete or corrupt"):
        pull("facebook/sam-vit-base", tmp_path / "models", FolderHub(tiny_sam_folder, damage))
    assert not (tmp_path / "models").exists()  # --dir too: this pull made it


def test_list_shows_sizes_and_what_is_here(tiny_sam_folder, tmp_path):
    models = tmp_path / "models"
    pull("facebook/sam-vit-base", models, FolderHub(tiny_sam_folder))
    shutil.copytree(tiny_sam_folder, models / "my-finetune")
    out = samvid("list", "--dir", str(models), "--json", env=offline_env(tmp_path))
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["facebook/sam-vit-base"]["local"] == [str(models / "sam-vit-base")]
    assert rows["facebook/sam2.1-hiera-tiny"]["local"] == []
    assert rows["facebook/sam2.1-hiera-tiny"]["size_mb"] == pytest.approx(155.6)
    assert rows["classic"]["local"] == ["(no weights needed)"]
    assert rows[str(models / "my-finetune")]["family"] == "sam"
    table = samvid("list", env=offline_env(tmp_path))
    assert "facebook/sam2.1-hiera-large" in table.stdout and "samvid models pull" in table.stdout


def test_offline_pull_fails_at_once_with_what_to_do(tmp_path):
    started = time.monotonic()
    out = samvid("pull", "facebook/sam2.1-hiera-tiny", "--dir", str(tmp_path / "m"),
                 env=offline_env(tmp_path, HF_HUB_OFFLINE="1"))
    assert out.returncode == 2
    assert "HF_HUB_OFFLINE" in out.stderr and "SAMVID_MODEL" in out.stderr
    assert out.stderr.count("\n") == 1  # one line, no traceback
    assert time.monotonic() - started < 20
    assert not (tmp_path / "m").exists()


def test_unreachable_hub_fails_at_once_with_what_to_do(tmp_path):
    from services import free_port

    started = time.monotonic()
    out = samvid("pull", "facebook/sam2.1-hiera-tiny", "--dir", str(tmp_path / "m"),
                 "--endpoint", f"http://127.0.0.1:{free_port()}", env=offline_env(tmp_path))
    assert out.returncode == 2
    assert "cannot reach the model hub" in out.stderr and "--dir D" in out.stderr
    assert time.monotonic() - started < 20
    assert not (tmp_path / "m").exists()


def test_weight_free_models_have_nothing_to_pull(tmp_path):
    out = samvid("pull", "classic", env=offline_env(tmp_path))
    assert out.returncode == 2 and "no weights to pull" in out.stderr
    assert folder_name("facebook/sam2.1-hiera-tiny") == "sam2.1-hiera-tiny"


def test_models_list_ignores_a_config_that_is_not_a_json_object(tmp_path):
    folder = tmp_path / "models" / "mine"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("[]")  # valid JSON, as malformed as broken JSON here
    (folder / "model.safetensors").write_bytes(b"")
    out = samvid("list", "--dir", str(tmp_path / "models"), "--json", env=offline_env(tmp_path))
    assert out.returncode == 0, out.stderr
    assert str(folder) in {r["name"] for r in json.loads(out.stdout)}


def test_models_list_does_not_offer_the_unverified_folder_of_a_pull_cut_short(tmp_path):
    models = tmp_path / "models"
    cut = models / "sam2.1-hiera-tiny.partial"  # where pull stages its files before verifying them
    cut.mkdir(parents=True)
    (cut / "config.json").write_text('{"model_type": "sam2"}')
    (cut / "model.safetensors").write_bytes(b"\0" * 100)  # half the weights
    out = samvid("list", "--dir", str(models), "--json", env=offline_env(tmp_path))
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert not [r for r in rows if str(cut) in r["name"] or str(cut) in r["local"]]


@pytest.mark.parametrize("name", ["./my-sam", "sam2.1 tiny", "facebook//sam-vit-base"])
def test_pulling_a_name_that_is_no_hub_id_says_so_not_that_the_hub_is_unreachable(tmp_path, name):
    out = samvid("pull", name, "--dir", str(tmp_path / "m"), env=offline_env(tmp_path))
    assert out.returncode == 2
    assert f"{name!r} is not a Hugging Face model id" in out.stderr, out.stderr
    assert "cannot reach the model hub" not in out.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("offline", ["1", "0"], ids=["offline", "hub-unreachable"])
def test_pulling_a_mistyped_bare_name_lists_the_models_not_to_pull_it_elsewhere(tmp_path, offline):
    # HF_ENDPOINT on a closed local port: were the hub asked, it would be unreachable.
    out = samvid("pull", "sam2-tiny", "--dir", str(tmp_path / "m"),
                 env=offline_env(tmp_path, HF_HUB_OFFLINE=offline, HF_ENDPOINT="http://127.0.0.1:9"))
    assert out.returncode == 2
    assert "unknown model 'sam2-tiny'" in out.stderr and "facebook/sam2.1-hiera-tiny" in out.stderr, out.stderr
    assert "samvid models pull sam2-tiny" not in out.stderr


def test_a_pull_into_a_relative_dir_names_the_folder_to_use_by_its_absolute_path(
        tiny_sam_folder, tmp_path, monkeypatch, capsys):
    from samvid.cli import main
    from samvid.commands import models

    monkeypatch.setattr(models, "HfHub", lambda endpoint=None: FolderHub(tiny_sam_folder))
    monkeypatch.chdir(tmp_path)
    assert main(["models", "pull", "facebook/sam-vit-base", "--dir", "models"]) == 0
    out = capsys.readouterr().out
    assert f"SAMVID_MODEL={tmp_path / 'models' / 'sam-vit-base'}\n" in out, out


def test_a_pull_into_a_dir_that_cannot_be_made_says_so_in_one_line(tiny_sam_folder, tmp_path, monkeypatch,
                                                                    capsys):
    from samvid.cli import main
    from samvid.commands import models

    monkeypatch.setattr(models, "HfHub", lambda endpoint=None: FolderHub(tiny_sam_folder))
    (tmp_path / "models").write_text("a file where the folder goes")  # as root ignores permissions
    assert main(["models", "pull", "facebook/sam-vit-base", "--dir", str(tmp_path / "models")]) == 2
    assert f"cannot create --dir {tmp_path / 'models'}" in capsys.readouterr().err
    # An existing folder this user cannot write to was said to be an unreachable hub.
    (tmp_path / "models").unlink()
    (tmp_path / "models").mkdir()

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(models.tempfile, "TemporaryFile", read_only)  # root ignores modes
    assert main(["models", "pull", "facebook/sam-vit-base", "--dir", str(tmp_path / "models")]) == 2
    assert f"cannot create --dir {tmp_path / 'models'}: Permission denied" in capsys.readouterr().err


@pytest.mark.parametrize("offline", ["1", "0"], ids=["offline", "hub-unreachable"])
@pytest.mark.parametrize("name", ["", "  "])
def test_pulling_an_empty_model_name_asks_for_one(tmp_path, monkeypatch, capsys, name, offline):
    from samvid.cli import main

    # `samvid models pull "$MODEL"` with MODEL unset; offline it was told `samvid models pull  --dir D`.
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(SystemExit) as exited:
        main(["models", "pull", name, "--dir", str(tmp_path / "m")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "empty model name: give one such as facebook/sam2.1-hiera-tiny" in err and "samvid models list" in err
    assert not (tmp_path / "m").exists()
    with pytest.raises(ModelUnavailable, match="empty model name"):
        pull(name, tmp_path / "m", hub=None)


@pytest.mark.parametrize("in_the_way", ["sam-vit-base", "sam-vit-base.partial"])
def test_a_pull_whose_model_folder_is_taken_by_a_file_says_so_before_downloading(
        tiny_sam_folder, tmp_path, monkeypatch, capsys, in_the_way):
    from samvid.cli import main
    from samvid.commands import models

    hub = FolderHub(tiny_sam_folder)
    monkeypatch.setattr(models, "HfHub", lambda endpoint=None: hub)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / in_the_way).write_text("not a model folder")
    # A traceback (NotADirectoryError, FileExistsError) after the whole download.
    assert main(["models", "pull", "facebook/sam-vit-base", "--dir", str(tmp_path / "models")]) == 2
    assert f"{tmp_path / 'models' / in_the_way} is a file" in capsys.readouterr().err
    assert hub.downloads == 0
    assert (tmp_path / "models" / in_the_way).read_text() == "not a model folder"


def test_list_says_a_dir_it_cannot_read_and_passes_over_unreadable_folders_in_one(tmp_path, monkeypatch,
                                                                                  capsys):
    import os

    from samvid.cli import main

    # As root ignores modes: what another user gets from a folder without r/x permission.
    closed = {str(tmp_path / "closed"), str(tmp_path / "shared" / "private")}
    for folder in closed:
        Path(folder).mkdir(parents=True)

    def denied(real, itself: bool):  # a closed folder can be stat'ed, not listed; nothing in it
        def call(path=".", *args, **kwargs):
            p = os.fspath(path)
            if (itself and p in closed) or any(p.startswith(c + os.sep) for c in closed):
                raise PermissionError(13, "Permission denied", p)
            return real(path, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "stat", denied(os.stat, itself=False))
    for name in ("listdir", "scandir"):
        monkeypatch.setattr(os, name, denied(getattr(os, name), itself=True))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert main(["models", "list", "--dir", str(tmp_path / "closed")]) == 2
    assert f"cannot read --dir {tmp_path / 'closed'}: Permission denied" in capsys.readouterr().err
    assert main(["models", "list", "--json", "--dir", str(tmp_path / "shared")]) == 0
    assert "facebook/sam-vit-base" in capsys.readouterr().out


@pytest.mark.parametrize("revision", ["", " "])
def test_pulling_an_empty_revision_is_refused_not_asked_of_the_hub(tiny_sam_folder, tmp_path, monkeypatch,
                                                                  capsys, revision):
    from samvid.cli import main
    from samvid.commands import models

    hub = FolderHub(tiny_sam_folder)
    monkeypatch.setattr(models, "HfHub", lambda endpoint=None: hub)
    # `--revision "$REV"` with REV unset: the hub was asked for revision "", not main.
    with pytest.raises(SystemExit) as exited:
        main(["models", "pull", "facebook/sam-vit-base", "--revision", revision, "--dir", str(tmp_path / "m")])
    assert exited.value.code == 2
    assert "empty revision: give a branch, tag or commit" in capsys.readouterr().err
    assert hub.downloads == 0 and not (tmp_path / "m").exists()


def test_pulling_a_revision_the_hub_lacks_names_the_revision_not_a_missing_model(tmp_path, monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from samvid.commands.models import HfHub

    class NoSuchRevision(BaseHTTPRequestHandler):  # the hub's answer to an unknown revision
        def do_GET(self):
            self.send_response(404)
            self.send_header("X-Error-Code", "RevisionNotFound")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "Invalid rev id: v9"}')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), NoSuchRevision)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        with pytest.raises(ModelUnavailable) as refused:
            pull("facebook/sam-vit-base", tmp_path / "m", HfHub(f"http://127.0.0.1:{server.server_port}"), "v9")
    finally:
        server.shutdown()
    assert "'facebook/sam-vit-base' has no revision 'v9'" in refused.value.message
    assert "is not on" not in refused.value.message


def test_a_pull_never_deletes_a_folder_of_the_same_name_that_no_pull_made(tiny_sam_folder, tmp_path,
                                                                          monkeypatch, capsys):
    from samvid.cli import main
    from samvid.commands import models

    hub = FolderHub(tiny_sam_folder)
    monkeypatch.setattr(models, "HfHub", lambda endpoint=None: hub)
    mine = tmp_path / "models" / "sam-vit-base"  # fine-tuned weights saved under the model's name
    mine.mkdir(parents=True)
    (mine / "config.json").write_text("{}")
    (mine / "model.safetensors").write_bytes(b"fine-tuned weights")
    assert main(["models", "pull", "facebook/sam-vit-base", "--dir", str(tmp_path / "models")]) == 2
    assert f"{mine} holds files no samvid pull put there" in capsys.readouterr().err
    assert (mine / "model.safetensors").read_bytes() == b"fine-tuned weights" and hub.downloads == 0
    # A folder a pull made, as it made it (an older revision), is still replaced.
    (mine / "model.safetensors").unlink()
    (mine / "config.json").unlink()
    pulled = pull("facebook/sam-vit-base", tmp_path / "models", hub)
    older = b"an older revision's weights"
    (pulled / "model.safetensors").write_bytes(older)
    manifest = json.loads((pulled / MANIFEST).read_text())
    for spec in manifest["files"]:
        if spec["name"] == "model.safetensors":
            spec["size"], (spec["sha256"], _) = len(older), file_hashes(pulled / "model.safetensors")
    (pulled / MANIFEST).write_text(json.dumps(manifest))
    assert pull("facebook/sam-vit-base", tmp_path / "models", hub) == pulled
    assert (pulled / "model.safetensors").read_bytes() != older
    # An adapter beside the hub's own revision, pulled: already here, nothing downloaded or deleted.
    (pulled / "adapter_model.safetensors").write_bytes(b"my adapter")
    downloads = hub.downloads
    assert pull("facebook/sam-vit-base", tmp_path / "models", hub) == pulled and hub.downloads == downloads
    # Files saved beside a pulled folder's of an older revision: the folder is not replaced, they are kept.
    (pulled / "adapter_model.safetensors").write_bytes(b"my adapter")
    (pulled / "model.safetensors").write_bytes(older)
    manifest["files"] = [dict(spec) for spec in manifest["files"]]
    (pulled / MANIFEST).write_text(json.dumps(manifest))
    assert main(["models", "pull", "facebook/sam-vit-base", "--dir", str(tmp_path / "models")]) == 2
    assert "(adapter_model.safetensors)" in capsys.readouterr().err  # which file, not a hunt for it
    assert (pulled / "adapter_model.safetensors").read_bytes() == b"my adapter"
    (pulled / "adapter_model.safetensors").unlink()
    assert pull("facebook/sam-vit-base", tmp_path / "models", hub) == pulled
    # Weights saved over a pulled folder (`save_pretrained` keeps the pull's manifest): kept.
    (pulled / "model.safetensors").write_bytes(b"fine-tuned over the pull")
    assert main(["models", "pull", "facebook/sam-vit-base", "--dir", str(tmp_path / "models")]) == 2
    assert "or changed since" in capsys.readouterr().err
    assert (pulled / "model.safetensors").read_bytes() == b"fine-tuned over the pull"


def test_list_finds_a_model_pulled_into_a_quoted_home_dir_where_pull_put_it(tiny_sam_folder, tmp_path,
                                                                            monkeypatch, capsys):
    from samvid.cli import main
    from samvid.commands import models

    monkeypatch.setattr(models, "HfHub", lambda endpoint=None: FolderHub(tiny_sam_folder))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    # `--dir "$MODELS"` with MODELS="~/models": no shell expands that ~, pull did
    assert main(["models", "pull", "facebook/sam-vit-base", "--dir", "~/models"]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--json", "--dir", "~/models"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "facebook/sam-vit-base")
    assert row["local"] == [str(tmp_path / "models" / "sam-vit-base")]


@pytest.mark.parametrize("error", [PermissionError(13, "Permission denied", "/srv/hf/hub/models--facebook--sam"),
                                   OSError(28, "No space left on device", "/srv/hf/hub/blobs/1a2b"),
                                   OSError(28, "No space left on device")])
def test_a_pull_the_disk_refuses_says_so_not_that_the_hub_is_unreachable(monkeypatch, error):
    import huggingface_hub

    from samvid.commands.models import HfHub

    def refused(*args, **kwargs):
        raise error

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refused)
    with pytest.raises(ModelUnavailable) as failed:
        HfHub("http://127.0.0.1:9").download("facebook/sam-vit-base", "0" * 40, ["config.json"], None)
    where = error.filename or "the download folder"  # a full disk's error names no file
    assert f"cannot use {where} to pull 'facebook/sam-vit-base': {error.strerror}" in failed.value.message
    assert "cannot reach the model hub" not in failed.value.message
    assert "--dir" in failed.value.message


def test_a_model_name_pasted_with_spaces_around_it_is_pulled(tiny_sam_folder, tmp_path, monkeypatch, capsys):
    from samvid.cli import main
    from samvid.commands import models

    monkeypatch.setattr(models, "HfHub", lambda endpoint=None: FolderHub(tiny_sam_folder))
    assert main(["models", "pull", " facebook/sam-vit-base ", "--dir", str(tmp_path / "m")]) == 0
    assert f"SAMVID_MODEL={tmp_path / 'm' / 'sam-vit-base'}\n" in capsys.readouterr().out


@pytest.mark.parametrize("given", [["--endpoint", "notaurl"], ["--endpoint", "huggingface.co"], []],
                         ids=["flag", "flag-without-scheme", "HF_ENDPOINT"])
def test_a_hub_url_without_http_is_refused_as_such_not_as_a_hub_that_cannot_be_reached(
        tmp_path, monkeypatch, capsys, given):
    from samvid.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "notaurl")
    # Was "cannot reach the model hub at notaurl ... Pull on a connected machine": this one is.
    assert main(["models", "pull", "facebook/sam2.1-hiera-tiny", "--dir", str(tmp_path / "m"), *given]) == 2
    err = capsys.readouterr().err
    shown = f"--endpoint {given[1]!r}" if given else "HF_ENDPOINT='notaurl'"
    assert f"{shown}, the model hub to pull from: give an http:// or https:// URL" in err
    assert "cannot reach" not in err
    assert not (tmp_path / "m").exists()


UNREACHABLE_HUB = "http://127.0.0.1:9"  # a closed local port: every hub call is refused


@pytest.mark.parametrize("problem", ["model-folder-is-a-file", "partial-folder-is-a-file", "dir-is-a-file",
                                     "dir-cannot-be-made"])
def test_a_pull_says_what_is_wrong_with_its_dir_before_asking_the_hub(tmp_path, monkeypatch, capsys, problem):
    from samvid.cli import main

    # Offline (an air-gapped site, a hub that is down) these were said as an unreachable hub,
    # and a working network only revealed them.
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE_HUB)
    models = tmp_path / "models"
    models.mkdir()
    dest, expected = models, ""
    if problem == "model-folder-is-a-file":
        (models / "sam2.1-hiera-tiny").write_text("not a model folder")
        expected = f"{models / 'sam2.1-hiera-tiny'} is a file, where the model's folder goes"
    elif problem == "partial-folder-is-a-file":
        (models / "sam2.1-hiera-tiny.partial").write_text("not a model folder")
        expected = f"{models / 'sam2.1-hiera-tiny.partial'} is a file, where the model's folder goes"
    elif problem == "dir-is-a-file":
        dest = tmp_path / "a-file"
        dest.write_text("not a folder")
        expected = f"cannot create --dir {dest}: "
    elif problem == "dir-cannot-be-made":
        dest = Path("/proc/samvid-pull-test")  # refused even to root
        expected = f"cannot create --dir {dest}: "
    before = sorted(p.name for p in models.iterdir())
    assert main(["models", "pull", "facebook/sam2.1-hiera-tiny", "--dir", str(dest)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "cannot reach" not in err, err
    assert sorted(p.name for p in models.iterdir()) == before  # nothing made, nothing moved


class ListingOnlyHub(FolderHub):
    """A hub that lists the model's files, then refuses the download (a dropped connection)."""

    def download(self, name, revision, patterns, dest):
        self.downloads += 1
        raise ModelUnavailable("cannot reach the model hub at a test hub")


def test_a_pull_the_hub_refuses_leaves_no_folder_it_made(tiny_sam_folder, tmp_path, monkeypatch):
    # --dir is made before the hub is asked; an empty folder left behind, named as
    # SAMVID_MODEL (`--dir /models/sam2.1-hiera-tiny`), reads as a model that is there.
    dest = tmp_path / "new" / "models"
    with pytest.raises(ModelUnavailable, match="cannot reach"):
        pull("facebook/sam-vit-base", dest, ListingOnlyHub(tiny_sam_folder))
    assert not (tmp_path / "new").exists()
    from samvid.commands.models import HfHub

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(ModelUnavailable, match="cannot reach"):
        pull("facebook/sam2.1-hiera-tiny", dest, HfHub(UNREACHABLE_HUB))
    assert not (tmp_path / "new").exists()
    # A --dir that was there stays, as does what it holds; only this pull's empty folders go.
    dest.mkdir(parents=True)
    (dest / "other-model").mkdir()
    with pytest.raises(ModelUnavailable, match="cannot reach"):
        pull("facebook/sam-vit-base", dest, ListingOnlyHub(tiny_sam_folder))
    assert sorted(p.name for p in dest.iterdir()) == ["other-model"]


def test_a_folder_holding_the_hubs_own_files_without_a_manifest_is_already_here(tiny_sam_folder, tmp_path):
    # As `huggingface-cli download --local-dir` leaves it: only the hub's list tells it from
    # fine-tuned weights, so it is judged once the hub answered, not refused before.
    hub = FolderHub(tiny_sam_folder)
    theirs = tmp_path / "models" / "sam-vit-base"
    theirs.mkdir(parents=True)
    for spec in wanted(specs_of(tiny_sam_folder)):
        shutil.copy(tiny_sam_folder / spec.name, theirs / spec.name)
    assert pull("facebook/sam-vit-base", tmp_path / "models", hub) == theirs and hub.downloads == 0


def test_a_read_only_dir_that_holds_the_model_is_already_here_and_an_empty_one_is_refused_at_once(
        tiny_sam_folder, tmp_path, monkeypatch):
    from samvid.commands import models

    hub = FolderHub(tiny_sam_folder)
    pulled = pull("facebook/sam-vit-base", tmp_path / "shared", hub)
    (tmp_path / "shared" / "sam-vit-base.partial").write_text("a stray file")  # matters to a download only

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")  # the tests run as root: chmod refuses nothing

    monkeypatch.setattr(models.tempfile, "TemporaryFile", read_only)
    assert pull("facebook/sam-vit-base", tmp_path / "shared", hub) == pulled and hub.downloads == 1
    listed = []
    monkeypatch.setattr(hub, "files", lambda *args: listed.append(args) or FolderHub.files(hub, *args))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="cannot create --dir .*Permission denied"):
        pull("facebook/sam-vit-base", tmp_path / "empty", hub)
    assert listed == [] and (tmp_path / "empty").is_dir()  # said before the hub; a folder it did not make stays


def test_a_failed_pull_removes_only_the_folders_it_made(tiny_sam_folder, tmp_path):
    (tmp_path / "existing").mkdir()  # empty, the user's: "new/../existing" must not count it as made
    with pytest.raises(ModelUnavailable):
        pull("facebook/sam-vit-base", tmp_path / "new" / ".." / "existing", ListingOnlyHub(tiny_sam_folder))
    assert (tmp_path / "existing").is_dir() and not (tmp_path / "new").exists()


def test_a_dir_under_folders_that_mkdir_refuses_as_existing_in_another_way_is_made(tiny_sam_folder, tmp_path,
                                                                                  monkeypatch):
    # macOS answers mkdir("/") with "Is a directory", not "File exists": every absolute --dir was refused.
    real = Path.mkdir

    def macos_mkdir(self, *args, **kwargs):
        if self.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", macos_mkdir)
    assert pull("facebook/sam-vit-base", tmp_path / "a" / "models", FolderHub(tiny_sam_folder)).is_dir()


def test_a_dir_that_is_a_link_to_nothing_is_said_as_such(tmp_path):
    (tmp_path / "models").symlink_to(tmp_path / "gone")
    with pytest.raises(ConfigError, match="cannot create --dir .*: it is a link to nothing"):
        pull("facebook/sam-vit-base", tmp_path / "models", FolderHub(tmp_path))
