"""The wheel users get is complete: what ``pip install .`` (and the Docker image's
``RUN pip install .``) installs holds every module and data file of the source tree.

Every other test imports the editable install, which maps ``samvid`` onto the checkout's
folders, so a subpackage or data file left out of pyproject.toml's ``[tool.setuptools]``
tables works in every test and breaks every install. Here the wheel is built the way a
user's pip builds it (offline, from a copy of the checkout) and checked against the
source tree, then run from outside the checkout.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
# Folders that are never part of a source tree's files, whatever git says.
NOT_SOURCE = ("__pycache__", ".git")


def _pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def package_dirs() -> dict[str, str]:
    """pyproject.toml's package-dir: import name -> folder of the checkout."""
    return dict(_pyproject()["tool"]["setuptools"]["package-dir"])


def checkout_files() -> list[str]:
    """The files a clone of the working tree holds, relative and '/'-separated: tracked
    files and untracked ones git does not ignore (so uncommitted work counts, and build
    output or editor litter does not); every file outside NOT_SOURCE without git."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, capture_output=True, check=True).stdout.decode()
        names = [n for n in listed.split("\0") if n and (REPO / n).is_file()]
    except (OSError, subprocess.CalledProcessError):
        names = [p.relative_to(REPO).as_posix() for p in REPO.rglob("*") if p.is_file()]
    return sorted(n for n in names
                  if not set(PurePosixPath(n).parts) & set(NOT_SOURCE) and not n.endswith(".pyc"))


def expected_wheel_files(files: list[str]) -> dict[str, str]:
    """Where each file of the package folders lands in the wheel: wheel path -> source path.
    Every file counts, .py or data, so a new module or data file is covered unlisted."""
    expected: dict[str, str] = {}
    for name, folder in package_dirs().items():
        for source in files:
            if source.startswith(folder.rstrip("/") + "/"):
                inner = source[len(folder.rstrip("/")) + 1:]
                expected[f"{name.replace('.', '/')}/{inner}"] = source
    return expected


@dataclass(frozen=True)
class Wheel:
    path: Path
    names: frozenset[str]  # every entry of the archive
    source_files: list[str]  # the checkout's files the wheel was built from
    unpacked: Path

    @property
    def dist_info(self) -> str:
        (info,) = {n.split("/")[0] for n in self.names if n.split("/")[0].endswith(".dist-info")}
        return info

    def read(self, name: str) -> str:
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(name).decode()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    """The wheel `pip install .` builds, built once: from a copy of the checkout, since an
    in-place build writes build/ and *.egg-info into the checkout, and a stale build/lib
    there would put modules deleted from the source into the wheel."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("building the wheel offline (--no-build-isolation) needs setuptools, "
                    "the build backend pyproject.toml names: pip install 'setuptools>=70.1'")
    root = tmp_path_factory.mktemp("packaging")
    source = root / "checkout"
    files = checkout_files()
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)

    # The user's pip settings (PIP_* and pip.conf: an index, a required virtualenv) are not the project's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--isolated", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-w", str(root / "dist"), "."],
        cwd=source, env=env, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (path,) = (root / "dist").glob("samvid-*.whl")

    unpacked = root / "site"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(unpacked)
        names = frozenset(n for n in archive.namelist() if not n.endswith("/"))
    return Wheel(path, names, files, unpacked)


def run_installed(wheel: Wheel, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Python with the unpacked wheel as its only samvid (other dependencies come from the
    environment), started outside the checkout so the checkout is not on sys.path."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "SAMVID_CONFIG_DIR", "PYTHONSAFEPATH")}
    env["PYTHONPATH"] = str(wheel.unpacked)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


# -- what the wheel holds ------------------------------------------------------------------------


def test_wheel_holds_every_file_of_the_package_folders_and_nothing_else(wheel: Wheel) -> None:
    expected = expected_wheel_files(wheel.source_files)
    # Sanity of the expectation itself: modules, typed marker, API spec and configs.
    assert {"samvid/cli.py", "samvid/tracker/__init__.py", "samvid/py.typed",
            "samvid/openapi.yaml", "samvid/labeling_configs/brush.xml"} <= set(expected)

    shipped = {n for n in wheel.names if not n.startswith(wheel.dist_info + "/")}
    missing = sorted(expected[n] for n in set(expected) - shipped)
    assert not missing, (f"left out of the wheel (pyproject.toml [tool.setuptools] packages / "
                         f"package-data): {missing}")
    assert shipped == set(expected), f"in the wheel but not in the source tree: {sorted(shipped - set(expected))}"


def test_wheel_ships_nothing_from_tests_or_bench(wheel: Wheel) -> None:
    # Only the samvid package and its metadata at the top: no stray top-level module or
    # package (bench/synthetic.py, a tests package) that would shadow another install's.
    assert {n.split("/")[0] for n in wheel.names} == {"samvid", wheel.dist_info}
    # Nor mapped into it: pyproject.toml's package-dir names no test or bench folder.
    mapped = sorted(s for s in expected_wheel_files(wheel.source_files).values()
                    if s.split("/")[0] in ("tests", "bench"))
    assert not mapped, mapped


def test_wheel_entry_point_is_the_cli(wheel: Wheel) -> None:
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel.read(f"{wheel.dist_info}/entry_points.txt"))
    assert dict(entry_points["console_scripts"]) == {"samvid": "samvid.cli:main"}


# -- the unpacked wheel runs outside the checkout ------------------------------------------------


def test_installed_cli_prints_its_help(wheel: Wheel, tmp_path: Path) -> None:
    ran = run_installed(wheel, tmp_path, "-m", "samvid.cli", "--help")
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.startswith("usage: samvid")
    for command in ("serve", "worker", "propagate", "export", "track"):
        assert re.search(rf"^\s+{command}\s", ran.stdout, re.MULTILINE), command


PROBE = """
import json, samvid, samvid.cli, samvid.tracker
from importlib.resources import files
from samvid.openapi import spec
from samvid.studio import configs
print(json.dumps({
    "modules": [samvid.__file__, samvid.cli.__file__, samvid.tracker.__file__, configs.__file__],
    "main_is_callable": callable(samvid.cli.main),
    "config_dir": str(configs.CONFIG_DIR),
    "configs": {c.name: c.data_keys for c in configs.list_configs()},
    "openapi": spec()["openapi"],
    "py_typed": files("samvid").joinpath("py.typed").is_file(),
}))
"""


def test_installed_package_finds_its_data_outside_the_checkout(wheel: Wheel, tmp_path: Path) -> None:
    ran = run_installed(wheel, tmp_path, "-c", PROBE)
    assert ran.returncode == 0, ran.stderr[-3000:]
    found = json.loads(ran.stdout)
    # The wheel's copy ran, not the editable one mapped onto the checkout.
    for path in [*found["modules"], found["config_dir"]]:
        assert Path(path).resolve().is_relative_to(wheel.unpacked.resolve()), path
    assert found["main_is_callable"]
    shipped_configs = sorted(PurePosixPath(f).stem for f in wheel.source_files
                             if f.startswith("labeling_configs/") and f.endswith(".xml"))
    assert sorted(found["configs"]) == shipped_configs and "brush" in shipped_configs
    assert all(found["configs"].values()), found["configs"]  # each reads some task data
    assert found["openapi"].startswith("3.1")
    assert found["py_typed"]


# -- the Docker image builds the same wheel -------------------------------------------------------


def dockerfile_steps() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [line for line in (REPO / "Dockerfile").read_text().splitlines()
             if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(word.upper(), " ".join(rest.split()))
            for word, _, rest in (line.strip().partition(" ") for line in joined.splitlines()
                                  if line.strip())]


def copied_before_install() -> dict[str, str]:
    """What the COPY steps before `RUN pip install .` put in the build folder: source in
    the build context -> path relative to that folder (WORKDIR)."""
    copied: dict[str, str] = {}
    for word, args in dockerfile_steps():
        if word == "RUN" and re.search(r"pip install (\S+ )*\.(\s|$)", args):
            return copied
        if word == "WORKDIR":
            copied.clear()  # a COPY before it put files elsewhere
        if word == "COPY":
            *sources, dest = [a for a in shlex.split(args) if not a.startswith("--")]
            for source in sources:
                name = source.rstrip("/")
                # A folder's contents go into dest; a file goes into dest/ (or becomes dest).
                into = (dest if (REPO / name).is_dir() or not dest.endswith("/")
                        else posixpath.join(dest, posixpath.basename(name)))
                copied[posixpath.normpath(name)] = posixpath.normpath(into)
    pytest.fail("the Dockerfile has no `RUN pip install .`")


def _docker_glob(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it: ``*`` and ``?`` stay within one path
    segment, ``**`` spans any number of them."""
    regex = ""
    for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
    return re.compile(regex)


def docker_ignores(path: str) -> bool:
    """Whether .dockerignore drops ``path`` from the build context: the last matching
    pattern wins (``!`` keeps), and a pattern matching a folder covers what is inside."""
    ignore = REPO / ".dockerignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for line in (raw.strip() for raw in lines):
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        glob = _docker_glob(posixpath.normpath(line.lstrip("!")).lstrip("/"))
        if any(glob.fullmatch(prefix) for prefix in prefixes):
            ignored = not keep
    return ignored


def test_docker_image_installs_from_what_the_wheel_was_built_from(wheel: Wheel) -> None:
    copied = copied_before_install()
    needed = ["pyproject.toml", "README.md", *package_dirs().values()]
    for path in needed:
        assert copied.get(posixpath.normpath(path)) == posixpath.normpath(path), (
            f"the Dockerfile must `COPY {path}` to ./{path} before `RUN pip install .`")
    # The build context keeps every file the wheel ships (a .dockerignore pattern such as
    # *.yaml would drop openapi.yaml from the image only).
    dropped = [s for s in [*expected_wheel_files(wheel.source_files).values(), "pyproject.toml", "README.md"]
               if docker_ignores(s)]
    assert not dropped, f".dockerignore drops files the wheel needs: {dropped}"
