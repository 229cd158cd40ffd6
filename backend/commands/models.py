"""``samvid models list|pull``: which models exist, which are here, fetch one ahead of time.

For an air-gapped site: ``samvid models pull NAME --dir D`` on a connected machine,
copy ``D/<model>`` over, set ``SAMVID_MODEL`` to that folder. A pull takes only
safetensors and JSON files (never pickles), checks every file's size and hash
against the hub's own metadata, and lands in its final folder only when all files
match: an interrupted or corrupt download leaves nothing that looks usable.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Protocol

from samvid.commands.arguments import path_arg
from samvid.errors import ConfigError, ModelUnavailable, NotFound
from samvid.models.registry import MODELS, ModelInfo, looks_like_a_path
from samvid.settings import studio_url_problem

log = logging.getLogger(__name__)

PATTERNS = ("*.safetensors", "*.json")  # weights and configs; no pickles, no README
MANIFEST = "samvid-model.json"  # written last into a pulled folder: what was verified
# A download's OSError that is the disk's, not the hub's, even without a file name.
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
NO_WEIGHTS = {"classic", "standin"}
OFFLINE_VALUES = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class FileSpec:
    """One file of a model as the hub describes it."""

    name: str
    size: int
    sha256: str | None = None  # LFS files (the weights)
    git_sha1: str | None = None  # small files: the git blob id


class Hub(Protocol):
    """What pulling needs of a model hub (``HfHub``; tests use a local folder)."""

    def files(self, name: str, revision: str | None) -> tuple[str, list[FileSpec]]: ...
    def download(self, name: str, revision: str, patterns: list[str], dest: Path | None) -> Path: ...


class HfHub:
    """The Hugging Face hub through ``huggingface_hub``; every failure is ModelUnavailable."""

    def __init__(self, endpoint: str | None = None, timeout: float = 15.0) -> None:
        from_env = os.environ.get("HF_ENDPOINT")
        self.endpoint = endpoint or from_env or "https://huggingface.co"
        self.given_as = (f"--endpoint {endpoint!r}" if endpoint else f"HF_ENDPOINT={from_env!r}" if from_env
                         else repr(self.endpoint))
        self.timeout = timeout

    def check_endpoint(self) -> None:
        """Refuse a hub URL without http:// or https:// before asking it: httpx's "missing an
        'http://' or 'https://' protocol" was said as a hub that cannot be reached, with the
        advice to pull on a connected machine."""
        if problem := studio_url_problem(self.endpoint, "https://huggingface.co"):
            raise ConfigError(f"{self.given_as}, the model hub to pull from: {problem}")

    def files(self, name: str, revision: str | None) -> tuple[str, list[FileSpec]]:
        from huggingface_hub import HfApi

        self.check_endpoint()
        try:
            info = HfApi(endpoint=self.endpoint).model_info(
                name, revision=revision, files_metadata=True, timeout=self.timeout)
        except Exception as exc:
            raise self._explain(name, exc, revision) from exc
        specs = [FileSpec(s.rfilename, int(s.size or 0), s.lfs.sha256 if s.lfs else None,
                          None if s.lfs else s.blob_id) for s in info.siblings or []]
        return str(info.sha), specs

    def download(self, name: str, revision: str, patterns: list[str], dest: Path | None) -> Path:
        from huggingface_hub import snapshot_download

        self.check_endpoint()
        try:
            return Path(snapshot_download(name, revision=revision, allow_patterns=patterns,
                                          local_dir=dest, endpoint=self.endpoint))
        except Exception as exc:
            raise self._explain(name, exc) from exc

    def _explain(self, name: str, exc: Exception, revision: str | None = None) -> ModelUnavailable:
        kind = type(exc).__name__
        if kind == "RevisionNotFoundError" and revision is not None:
            # Not "the model is not there": it is, without that branch, tag or commit.
            return ModelUnavailable(f"{name!r} has no revision {revision!r} on {self.endpoint}: give one "
                                    "of its branches, tags or commits, or leave --revision out for main")
        if kind in ("RepositoryNotFoundError", "RevisionNotFoundError"):
            return ModelUnavailable(f"{name!r} is not on {self.endpoint} ({kind})")
        if kind == "GatedRepoError":
            return ModelUnavailable(f"{name!r} is gated: accept its licence on the hub and "
                                    "set HF_TOKEN")
        if kind == "OfflineModeIsEnabled":
            return offline_error(name)
        if kind == "HFValidationError":  # refused before any network: the hub was never asked
            hint = " (a local folder needs no pull: set SAMVID_MODEL to it)" if looks_like_a_path(name) else ""
            return ModelUnavailable(f"{name!r} is not a Hugging Face model id: give one such as "
                                    f"facebook/sam2.1-hiera-tiny (`samvid models list`){hint}")
        if isinstance(exc, OSError) and (exc.filename is not None or exc.errno in DISK_ERRNOS):
            # The disk's, not the hub's: a cache folder of another user, a full disk (whose
            # error names no file).
            where = exc.filename or "the download folder"
            return ModelUnavailable(f"cannot use {where} to pull {name!r}: {exc.strerror or exc}; "
                                    "give --dir a folder you can write to, with room for the model "
                                    "(or set HF_HOME to one)")
        return ModelUnavailable(
            f"cannot reach the model hub at {self.endpoint} to pull {name!r} ({kind}: "
            f"{str(exc)[:200]}). Pull on a connected machine with `samvid models pull {name} "
            "--dir D`, copy D over and set SAMVID_MODEL to the model's folder.")


def offline_error(name: str) -> ModelUnavailable:
    return ModelUnavailable(
        f"HF_HUB_OFFLINE is set: this machine may not download {name!r}. Pull it on a "
        f"connected machine (`samvid models pull {name} --dir D`), copy the folder here and "
        "set SAMVID_MODEL to it.")


# -- verification (pure but for reading files) ---------------------------------------------


def file_hashes(path: Path) -> tuple[str, str]:
    """(sha256, git blob sha1) of a file, read once in 1 MiB chunks."""
    size = path.stat().st_size
    sha256, sha1 = hashlib.sha256(), hashlib.sha1(f"blob {size}\0".encode())
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha256.update(chunk)
            sha1.update(chunk)
    return sha256.hexdigest(), sha1.hexdigest()


def verify(folder: Path, specs: list[FileSpec]) -> list[str]:
    """Problems of ``folder`` against ``specs`` (empty when every file matches)."""
    problems = []
    for spec in specs:
        path = folder / spec.name
        if not path.is_file():
            problems.append(f"{spec.name}: missing")
            continue
        size = path.stat().st_size
        if size != spec.size:
            problems.append(f"{spec.name}: {size} bytes, the hub says {spec.size}")
            continue
        sha256, sha1 = file_hashes(path)
        if spec.sha256 and sha256 != spec.sha256:
            problems.append(f"{spec.name}: sha256 {sha256[:12]}... differs from the hub's")
        elif spec.git_sha1 and sha1 != spec.git_sha1:
            problems.append(f"{spec.name}: git hash {sha1[:12]}... differs from the hub's")
    return problems


def wanted(specs: list[FileSpec]) -> list[FileSpec]:
    return [s for s in specs if any(fnmatch(Path(s.name).name, p) for p in PATTERNS)]


# -- pull ------------------------------------------------------------------------------------


def folder_name(name: str) -> str:
    """``facebook/sam2.1-hiera-tiny`` -> ``sam2.1-hiera-tiny``: the folder under ``--dir``."""
    return name.rstrip("/").rsplit("/", 1)[-1]


EMPTY_NAME = ("empty model name: give one such as facebook/sam2.1-hiera-tiny "
              "(`samvid models list` shows them)")


def model_name(text: str) -> str:
    """A ``pull`` NAME, without surrounding spaces. An empty one (``samvid models pull "$MODEL"``
    with MODEL unset) was told it is no Hugging Face id, or, offline, to run
    ``samvid models pull  --dir D``."""
    if not text.strip():
        raise argparse.ArgumentTypeError(EMPTY_NAME)
    return text.strip()  # pasted with a space: no hub id has one (as --project drops them)


def revision_name(text: str) -> str:
    """A --revision. An empty one (``--revision "$REV"`` with REV unset) was asked of the hub
    as the revision "" (not main), and told the model is not there."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty revision: give a branch, tag or commit, or leave "
                                         "--revision out for main")
    return text


def pull(name: str, dest_dir: Path | None, hub: Hub, revision: str | None = None) -> Path:
    """Download, verify, then publish; returns the model's folder.

    With ``dest_dir`` the files go to ``dest_dir/<model>.partial`` first and are renamed
    to ``dest_dir/<model>`` only once verified. Without it they go to the Hugging Face
    cache, where samvid finds them by name; bad files are deleted there.
    """
    if not name.strip():
        raise ModelUnavailable(EMPTY_NAME)
    if name in NO_WEIGHTS:
        raise NotFound(f"{name!r} has no weights to pull: it works as installed")
    if name not in MODELS and re.fullmatch(r"[\w.-]+", name) and name not in (".", ".."):
        # Every SAM checkpoint on the hub is org/name, and the backend loads no bare name but
        # the registry's: a bare name is a typo, not something to pull on another machine.
        raise ModelUnavailable(f"unknown model {name!r}: give one of {', '.join(n for n in MODELS if n not in NO_WEIGHTS)}, "
                               "or another Hugging Face id (org/name); `samvid models list` shows them")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in OFFLINE_VALUES:
        raise offline_error(name)
    final = None if dest_dir is None else dest_dir / folder_name(name)
    staging = None if final is None else final.with_name(final.name + ".partial")
    # --dir's own problems are said before the hub is asked: offline (an air-gapped site,
    # a hub that is down) they were said as an unreachable hub, and a working network only
    # revealed them one by one.
    made = [] if dest_dir is None else _make_dir(dest_dir)
    try:
        kept, blocked = None, None
        if dest_dir is not None and final is not None and staging is not None:
            kept = _place(final, name)
            blocked = _cannot_download_into(dest_dir, staging)
            # Where the model's folder holds files, the hub may say they are already here:
            # a read-only --dir (shared, another user's) or a stray file at the staging path
            # matter only to a download.
            if blocked is not None and not (final.is_dir() and any(final.iterdir())):
                raise blocked
        return _fetch(name, hub, revision, final, staging, kept, blocked)
    except BaseException:
        # A refused or failed pull leaves no empty folder behind (a --dir it made, an empty
        # staging folder): one of them named as SAMVID_MODEL reads as a model that is there.
        _remove_empty(made + ([staging] if staging is not None else []))
        raise


def _make_dir(dest_dir: Path) -> list[Path]:
    """Create ``dest_dir`` and its missing parents; returns the folders it created, outermost
    first. One at a time, each counted only where this mkdir made it: ``new/../old`` must not
    count an ``old`` the user had (a failed pull removes what it made)."""
    made: list[Path] = []
    for path in [*reversed(dest_dir.parents), dest_dir]:
        if path.is_dir():  # not asked: mkdir("/") is "Is a directory" on macOS, not "File exists"
            continue
        try:
            path.mkdir()
            made.append(path)
        except OSError as exc:  # a file, a dangling link, a folder this user cannot write in
            if path.is_dir():  # made meanwhile (another pull)
                continue
            _remove_empty(made)
            why = ("it is a link to nothing" if path.is_symlink() else "it is a file") \
                if isinstance(exc, FileExistsError) else exc.strerror or exc
            raise ConfigError(f"cannot create --dir {dest_dir}: {why}; give a folder you "
                              "can write to") from exc
    return made


def _remove_empty(folders: list[Path]) -> None:
    """Remove each of ``folders`` that is empty, innermost first: what a failed pull made."""
    for path in reversed(folders):
        try:
            path.rmdir()  # only when empty: a cut-short download's files stay for the next try
        except OSError:
            pass


def _file_in_the_way(folder: Path) -> ConfigError | None:
    """Why ``folder`` (the model's, or its staging folder) cannot be one: a file or a dangling
    link is where it goes; None otherwise."""
    if folder.is_symlink() and not folder.exists() or folder.exists() and not folder.is_dir():
        return ConfigError(f"{folder} is a file, where the model's folder goes: move it "
                           "away, or give another --dir")
    return None


def _cannot_download_into(dest_dir: Path, staging: Path) -> ConfigError | None:
    """Why a download cannot be staged in ``dest_dir``: the folder is read-only, or a file
    sits where the staging folder goes; None when it can."""
    in_the_way = _file_in_the_way(staging)
    if in_the_way is not None:
        return in_the_way
    try:
        tempfile.TemporaryFile(dir=dest_dir).close()  # an existing folder may be read-only
    except OSError as exc:
        return ConfigError(f"cannot create --dir {dest_dir}: {exc.strerror or exc}; "
                           "give a folder you can write to")
    return None


def _place(final: Path, name: str) -> list[FileSpec] | None:
    """Refuse a ``final`` the pull cannot use, from the folder alone; returns the files an
    earlier pull left in it as its manifest says (None: ``final`` is missing, empty, or
    holds files only the hub's list can judge)."""
    in_the_way = _file_in_the_way(final)
    if in_the_way is not None:
        raise in_the_way
    if not final.is_dir() or not any(final.iterdir()):
        return None
    # The pull replaces a folder it made, as it made it (an older revision); another one
    # would be deleted with its files: fine-tuned weights saved under the model's name,
    # or saved over a pulled folder (`save_pretrained` leaves the pull's manifest).
    # Files no pull of samvid's left as they are (no manifest, or changed since) are judged
    # once the hub answered, as are files beside an intact pull's (an adapter): the hub's
    # own files, as `huggingface-cli download --local-dir` puts them, are already here.
    return _intact(final)


def _not_ours(final: Path, name: str) -> ConfigError:
    theirs = ", ".join(_beside(final, _manifest_specs(final) or [])[:5])
    return ConfigError(f"{final} holds files no samvid pull put there, or changed since "
                       f"(weights saved over it?), which differ from {name!r}"
                       + (f" ({theirs})" if theirs else "") + ": move them away, or give another --dir")


def _fetch(name: str, hub: Hub, revision: str | None, final: Path | None, staging: Path | None,
           kept: list[FileSpec] | None, blocked: ConfigError | None = None) -> Path:
    """Ask the hub, download, verify and publish, once ``_place`` accepted the folders;
    ``blocked``: why no download can be staged, said where one is needed."""
    sha, specs = hub.files(name, revision)
    files = wanted(specs)
    if not any(s.name.endswith(".safetensors") for s in files):
        raise ModelUnavailable(f"{name!r} has no safetensors weights on the hub; samvid loads "
                               "no other format (pickled weights can run code)")
    total = sum(s.size for s in files)
    log.info("pulling %s@%s: %d files, %.1f MB", name, sha[:10], len(files), total / 1e6)
    # The same files as the intact pull there: already verified against its manifest.
    if final is not None and final.is_dir() and (set(files) == set(kept or ()) or not verify(final, files)):
        log.info("%s is already here and verified", final)
        return final
    if final is not None and final.is_dir() and any(final.iterdir()) and (kept is None or _beside(final, kept)):
        raise _not_ours(final, name)
    if blocked is not None:
        raise blocked
    folder = hub.download(name, sha, [s.name for s in files], staging)
    problems = verify(folder, files)
    if problems:
        _discard(folder, files, staging is not None)
        raise ModelUnavailable(f"the download of {name!r} is incomplete or corrupt, nothing "
                               f"was kept: {'; '.join(problems[:5])}. Run the pull again.")
    manifest = {"name": name, "revision": sha, "files": [asdict(s) for s in files]}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    if final is None or staging is None:
        return folder
    shutil.rmtree(folder / ".cache", ignore_errors=True)  # huggingface_hub's download state
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    return final


def _manifest_specs(folder: Path) -> list[FileSpec] | None:
    """The files a pull's manifest in ``folder`` lists; None when there is none, or it is
    unreadable or not a pull's."""
    try:
        return [FileSpec(**spec) for spec in json.loads((folder / MANIFEST).read_text())["files"]]
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _beside(folder: Path, specs: list[FileSpec]) -> list[str]:
    """The names at the top of ``folder`` that no pull of ``specs`` put there, sorted."""
    pulled = {Path(spec.name).parts[0] for spec in specs} | {MANIFEST, ".cache"}
    return sorted(path.name for path in folder.iterdir() if path.name not in pulled)


def _intact(folder: Path) -> list[FileSpec] | None:
    """The files of the pull ``folder`` holds as its manifest says it verified them; None when
    it has no manifest or they changed since (files beside them are not looked at)."""
    specs = _manifest_specs(folder)
    try:
        return specs if specs is not None and not verify(folder, specs) else None
    except OSError:  # a file that cannot be read: not as a pull left it
        return None


def _discard(folder: Path, files: list[FileSpec], whole: bool) -> None:
    if whole:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for spec in files:  # in the shared cache: only what this pull brought
        path = folder / spec.name
        target = path.resolve() if path.is_symlink() else None
        path.unlink(missing_ok=True)
        if target is not None:
            target.unlink(missing_ok=True)


# -- list ------------------------------------------------------------------------------------


def is_model_folder(folder: Path) -> bool:
    try:
        return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))
    except OSError:  # another user's folder in a shared --dir: not one this user can load
        return False


def cached_models() -> dict[str, Path]:
    """Models in the Hugging Face cache that have weights: repo id -> snapshot folder."""
    from huggingface_hub import scan_cache_dir

    try:
        cache = scan_cache_dir()
    except Exception:  # noqa: BLE001 - no cache folder yet, or an unreadable one
        return {}
    found = {}
    for repo in cache.repos:
        for rev in repo.revisions:
            if is_model_folder(Path(rev.snapshot_path)):
                found[repo.repo_id] = Path(rev.snapshot_path)
    return found


def model_rows(dirs: list[Path]) -> list[dict[str, Any]]:
    for d in dirs:
        try:
            if d.is_dir():
                next(d.iterdir(), None)
        except OSError as exc:  # a traceback; or, skipped, a list saying no model is there
            raise ConfigError(f"cannot read --dir {d}: {exc.strerror or exc}") from exc
    cache = cached_models()
    rows = []
    for info in MODELS.values():
        rows.append(_row(info, cache, dirs))
    for d in dirs:  # folders under --dir that are no registry model (fine-tuned, renamed)
        known = {folder_name(n) for n in MODELS}
        for sub in sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []:
            # <model>.partial: a pull cut short (or still running), its files unverified
            if sub.name not in known and not sub.name.endswith(".partial") and is_model_folder(sub):
                rows.append({"name": str(sub), "family": _family(sub), "params_m": None,
                             "size_mb": round(_bytes(sub) / 1e6, 1), "local": [str(sub)],
                             "note": "local folder"})
    return rows


def _row(info: ModelInfo, cache: dict[str, Path], dirs: list[Path]) -> dict[str, Any]:
    local = [str(d / folder_name(info.name)) for d in dirs if is_model_folder(d / folder_name(info.name))]
    if info.name in cache:
        local.append(str(cache[info.name]))
    # fp32 safetensors: 4 bytes per parameter (the hub's own files are this size)
    size = None if info.params_m is None else round(info.params_m * 4, 1)
    return {"name": info.name, "family": info.family, "params_m": info.params_m, "size_mb": size,
            "local": ["(no weights needed)"] if info.name in NO_WEIGHTS else local,
            "note": info.note}


def _family(folder: Path) -> str:
    from samvid.models.sam import family_of

    return family_of(str(folder))


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*") if p.is_file())


# -- command line ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="supported models, sizes, and which are here")
    ls.add_argument("--dir", type=path_arg, action="append", default=[], metavar="D",
                    help="also look in D/<model> (repeatable); the HF cache is always searched")
    ls.add_argument("--json", action="store_true", help="print JSON on stdout")
    get = sub.add_parser("pull", help="download a model's safetensors and configs, verified")
    get.add_argument("name", type=model_name, help="a model of `samvid models list`, or another hub id")
    get.add_argument("--dir", type=path_arg, metavar="D",
                     help="put it in D/<model> (default: the Hugging Face cache)")
    get.add_argument("--revision", type=revision_name, help="a branch, tag or commit (default: main)")
    get.add_argument("--endpoint", default=None,
                     help="hub URL (default: $HF_ENDPOINT or https://huggingface.co)")


def run(args: argparse.Namespace) -> int:
    if args.action == "pull":
        # Absolute: SAMVID_MODEL is read by a server started from anywhere, and a relative
        # folder that is not there reads as a hub id.
        dest = None if args.dir is None else args.dir.absolute()  # path_arg expanded ~
        folder = pull(args.name, dest, HfHub(args.endpoint), args.revision)
        print(f"{args.name}: verified in {folder}")
        if args.dir is not None:
            print(f"use it with: SAMVID_MODEL={folder}")
        return 0
    # As pull reads --dir: a quoted "~/models" ("$MODELS" set to it) is the home folder's.
    rows = model_rows(list(args.dir))  # path_arg expanded ~
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':34} {'family':8} {'params':>8} {'size':>9}  here")
    for r in rows:
        params = "-" if r["params_m"] is None else f"{r['params_m']:.1f}M"
        size = "-" if r["size_mb"] is None else f"{r['size_mb']:.0f} MB"
        here = ", ".join(r["local"]) or "no (samvid models pull NAME)"
        print(f"{r['name']:34} {r['family']:8} {params:>8} {size:>9}  {here}")
    return 0
