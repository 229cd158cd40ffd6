"""``samvid up`` as a library: Label Studio + the samvid backend as child processes.

Everything lives under one data dir, so a second run finds and reuses it:

    <data dir>/credentials.json   admin e-mail, password, API token (mode 600)
    <data dir>/label-studio/      LABEL_STUDIO_BASE_DATA_DIR (SQLite, uploads)
    <data dir>/files/             LOCAL_FILES_DOCUMENT_ROOT; frames go to files/samvid/
    <data dir>/demo/demo.mp4      the generated demo clip
    <data dir>/logs/              one log per child process
    <data dir>/ready.json         written when everything is up, removed when the children
                                  stop (kept by a run that started none: --no-backend)
    <data dir>/up.lock            locked by the run whose children use the data dir

Children run in their own sessions: Ctrl-C reaches ``samvid up`` only, which then stops
the backend and Label Studio in that order, each with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from samvid.core.errors import ModelUnavailable
from samvid.errors import BadRequest, ConfigError, StudioError
from samvid.homes import NoSuchHome, expand_home
from samvid.models.registry import MODELS, model_path, no_model_folder, standin_radius
from samvid.redact import server_url_for_messages
from samvid.settings import Settings, env_value, named_as_typed, studio_url_problem

if TYPE_CHECKING:  # imported where used: the client loads Label Studio's SDK
    from samvid.studio.client import Studio

log = logging.getLogger(__name__)

ADMIN = "admin@samvid.local"
LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    token: str = field(repr=False)

    @classmethod
    def load_or_create(cls, data_dir: Path) -> tuple[Credentials, bool]:
        """The admin of this data dir; (credentials, True) when they were just made.

        Label Studio stores the user and token on the first start of a data dir, so
        they must be the same on every later start: they are kept in the data dir.
        """
        path = data_dir / "credentials.json"
        if path.is_file():
            _make_private(path)
            # Where hard links fail, another run's file is there before it is written.
            return cls._load_when_written(path), False
        creds = cls(ADMIN, secrets.token_urlsafe(12), secrets.token_hex(20))
        data_dir.mkdir(parents=True, exist_ok=True)
        _remove_orphans(data_dir, f".{path.name}.")
        # Written whole under a name of its own, then linked in place: two runs started at once
        # on a fresh data dir must agree on one admin, and neither may read a half-written file.
        # Created with 600 from the start: the token is an admin's key.
        partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(asdict(creds), fh, indent=2)
            try:
                os.link(partial, path)
            except FileExistsError:  # the other run was first: its admin is this data dir's
                return cls._load(path), False
            except OSError:  # no hard links on this file system (FAT, some network mounts)
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:  # the other run was first; give it a moment to write it
                    return cls._load_when_written(path), False
                with os.fdopen(fd, "w") as fh:
                    json.dump(asdict(creds), fh, indent=2)
        finally:
            partial.unlink(missing_ok=True)
        return creds, True

    @classmethod
    def _load_when_written(cls, path: Path, seconds: float = 5.0) -> Credentials:
        """``_load`` of a file another run is writing: empty or half written until it is done."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                return cls._load(path)
            except ConfigError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    @classmethod
    def _load(cls, path: Path) -> Credentials:
        try:
            creds = cls(**json.loads(path.read_text()))
            # A hand-edited "token": 12345 would otherwise end in a traceback from Popen.
            if not all(isinstance(v, str) for v in (creds.username, creds.password, creds.token)):
                raise TypeError("username, password and token must be strings")
            return creds
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path} is unreadable ({exc}): restore it, or delete it together "
                              "with the data dir's Label Studio database to start afresh") from exc


def _owner_only(path: Path, refused: Callable[[OSError], None]) -> bool:
    """Drop the group and other bits of ``path``'s mode (a file's 600, a folder's 700);
    whether it had any and lost them. A chmod refused (another user's path) is handed to
    ``refused``, as each caller answers it in its own way."""
    mode = path.stat().st_mode
    if not mode & 0o077:
        return False
    try:
        path.chmod(mode & 0o700)
    except OSError as exc:
        refused(exc)
        return False
    return True


def _make_private(path: Path) -> None:
    """Mode 600 for a credentials file restored or copied readable by others (cp, a backup, an
    editor): it holds the admin's password and token."""
    def refused(exc: OSError) -> None:  # another user's file: said, as it is not ours to change
        log.warning("%s is readable by other users and cannot be made private (%s): its token "
                    "is the admin's; chmod 600 it", path, exc.strerror or exc)

    if _owner_only(path, refused):
        log.warning("%s was readable by other users; made it private (mode 600)", path)


def _make_logs_private(logs: Path) -> None:
    """Mode 700 for the logs folder of a data dir an earlier samvid made readable by all (its
    logs hold image URLs); where it cannot (another user's, or gone), left as it is, unsaid."""
    with contextlib.suppress(OSError):
        _owner_only(logs, lambda exc: None)


def _remove_orphans(folder: Path, prefix: str) -> None:
    """Remove ``<prefix><pid>.<hex>`` files whose process is gone: a run killed while it
    wrote its credentials left a copy of the admin's token there for good."""
    for leftover in folder.glob(f"{prefix}*"):
        pid = leftover.name[len(prefix):].partition(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


@dataclass(frozen=True)
class Layout:
    data_dir: Path

    @property
    def studio_data(self) -> Path:
        return self.data_dir / "label-studio"

    @property
    def studio_database(self) -> Path:
        return self.studio_data / "label_studio.sqlite3"

    @property
    def files_root(self) -> Path:
        return self.data_dir / "files"

    @property
    def frames_root(self) -> Path:
        return self.files_root / "samvid"

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def demo_clip(self) -> Path:
        return self.data_dir / "demo" / "demo.mp4"

    @property
    def ready_file(self) -> Path:
        return self.data_dir / "ready.json"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "up.lock"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "samvid"


# Names Label Studio reads, unprefixed as a fallback, that a shell often holds for something
# else. HOST (any prefix) makes it build its links, redirects and URL prefix from another
# address than the one samvid up serves it on (HOST=http://devbox:3000/app: every link under
# /app, log-in redirected to devbox); DEBUG=* (node's debug) or CI=woodpecker is no boolean and
# stops it at start; DJANGO_SETTINGS_MODULE of another Django project replaces its settings.
_NOT_FOR_STUDIO = ("HOST", "LABEL_STUDIO_HOST", "HEARTEX_HOST", "DEBUG", "CI", "DJANGO_SETTINGS_MODULE")


def studio_env(layout: Layout, creds: Credentials, base: dict[str, str] | None = None) -> dict[str, str]:
    """Label Studio's environment: every setting from the notes, set on every start
    (some only count on the first start of a data dir, and harm nothing later)."""
    env = dict(os.environ if base is None else base)
    for name in _NOT_FOR_STUDIO:
        env.pop(name, None)
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(layout.studio_data),
        # Label Studio reads LABEL_STUDIO_X before HEARTEX_X and X: a DATABASE_NAME or DJANGO_DB
        # in the user's shell would otherwise put the data dir's admin, token and projects in
        # another database (someone else's SQLite file, a Postgres server).
        LABEL_STUDIO_DJANGO_DB="sqlite",
        LABEL_STUDIO_DATABASE_NAME=str(layout.studio_database),
        LABEL_STUDIO_USERNAME=creds.username,
        LABEL_STUDIO_PASSWORD=creds.password,
        LABEL_STUDIO_USER_TOKEN=creds.token,
        # Without it every API call with the token answers 401.
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        # Without these, connecting a backend on 127.0.0.1 answers 403 (reserved address).
        ML_BLOCK_LOCAL_IP="false",
        SSRF_PROTECTION_ENABLED="false",
        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(layout.files_root),
        # Only the admin made above may log in; nobody signs up on a local demo.
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        COLLECT_ANALYTICS="false",
        # On by default, it asks pypi.org for a newer release on every start: an air-gapped
        # site waits on it, and the tests would reach outside the machine. Prefixed, it
        # outranks a LATEST_VERSION_CHECK the shell may hold.
        LABEL_STUDIO_LATEST_VERSION_CHECK="false",
    )
    return env


def backend_env(studio_url: str, api_key: str, files_root: Path | None,
                base: dict[str, str] | None = None) -> dict[str, str]:
    """The backend fetches frames from Label Studio (URL + token) or reads them from
    disk under the local-files root, and writes propagated predictions back.

    REDIS_URL is left out: with it the backend queues propagation for a ``samvid worker``,
    and ``samvid up`` starts none, so jobs would wait in Redis forever, silently. Without
    it the backend runs them itself, as a single-machine stack should."""
    env = dict(os.environ if base is None else base)
    if env.pop("REDIS_URL", None):
        log.info("REDIS_URL is set but not passed to the backend: samvid up starts no "
                 "worker, so the backend propagates itself")
    env.update(LABEL_STUDIO_URL=studio_url, LABEL_STUDIO_API_KEY=api_key)
    if files_root is not None:
        env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"] = str(files_root)
        env["SAMVID_LOCAL_ROOTS"] = str(files_root)
    return env


# -- ports and processes ------------------------------------------------------------------------


def bracketed(host: str) -> str:
    """``host`` as URLs and servers' ``host:port`` take it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def bind_address(host: str, port: int) -> str:
    """``host:port`` as servers parse it (``[::1]:9090``)."""
    return f"{bracketed(host)}:{port}"


def url_host(host: str) -> str:
    """Where a client reaches a server listening on ``host``: a wildcard is this machine."""
    return "127.0.0.1" if host in ("0.0.0.0", "::") else bracketed(host)


def port_in_use(host: str, port: int) -> bool:
    # An IPv6 address (::1) cannot be bound on an IPv4 socket. A name stays IPv4, as gunicorn
    # binds it (localhost: 127.0.0.1, even where it resolves to ::1 first).
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            # A host that does not resolve, or an address not of this machine: not a port
            # another process holds, and --port would not help.
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): check --host") from exc
    return False


def require_free_port(host: str, port: int, what: str, flag: str) -> None:
    if port_in_use(host, port):
        raise ConfigError(f"port {port} on {host} is already in use, so {what} cannot start "
                          f"there: stop what uses it (`ss -ltnp 'sport = :{port}'` shows it) "
                          f"or pass {flag} <another port>")


RUN_MARK = "--- samvid up started "  # the line each start writes into its child's log
# A child's log past this at a start is kept as ``<log>.1`` (the one before goes) and a new
# one begun: each start appended to one file for good, a line per request.
LOG_KEPT_BYTES = 50 * 1024**2


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` of ``path`` after its last start mark (``RUN_MARK``): the log is
    kept across runs, and an earlier run's error is not this one's. A log truncated since
    (logrotate's copytruncate) has lost the mark and holds only this run's output."""
    try:
        text = path.read_bytes().decode(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    marks = [i for i, line in enumerate(text) if line.startswith(RUN_MARK)]
    text = text[marks[-1] + 1:] if marks else text
    if not text:
        return "    (it wrote nothing)"
    return "\n".join("    " + line for line in text[-lines:])


@dataclass
class Child:
    """A child process in its own session, with its output in a log file."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    @classmethod
    def start(cls, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> Child:
        # Private: a log holds what its child logs (image URLs, a -v run's requests).
        log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # none yet, or not ours to move: appended to, as before
            if log_path.stat().st_size > LOG_KEPT_BYTES:
                os.replace(log_path, log_path.with_name(log_path.name + ".1"))
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as out:  # the child keeps its own handle
            out.write(f"\n{RUN_MARK}{name} at {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
            out.flush()
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        # The pid beside the log: whoever finds a stray process can tell whose it is.
        try:
            fd = os.open(log_path.with_suffix(".pid"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as pid_file:
                pid_file.write(str(proc.pid))
        except OSError:
            # Not yet the caller's child to stop: in a session of its own it would run on, holding its port.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        log.info("started %s (pid %d), log: %s", name, proc.pid, log_path)
        return cls(name, proc, log_path)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def died(self) -> str:
        return (f"{self.name} exited with code {self.proc.returncode}; the end of its log "
                f"({self.log_path}):\n{log_tail(self.log_path)}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the whole process group (Label Studio forks), SIGKILL if it lingers."""
        self.log_path.with_suffix(".pid").unlink(missing_ok=True)
        if self.proc.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout)
                log.info("stopped %s", self.name)
                return
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", self.name, timeout)
        self.proc.wait()


def listening(host: str, port: int, timeout: float = 5.0) -> bool:
    """Something listens on ``host:port`` (a name, or an address as ``url_host`` gives it).

    Asked with a socket bound to a port of its own first. A plain connect() to a port where
    nothing listens yet, in the kernel's ephemeral range (32768-60999 on Linux), may take that
    very port as its source and connect the socket to itself (TCP simultaneous open): polled
    every half second, it then holds the port, and leaves it in TIME-WAIT for a minute, so the
    server waited on cannot bind it ("That port is already in use")."""
    try:
        addresses = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except OSError:
        return False  # a name that does not resolve (yet): nothing to connect to
    for family, kind, proto, _, address in addresses:
        if (probe := _bound_socket(family, kind, proto)) is None:
            continue
        with probe:
            if probe.getsockname()[1] == port:
                continue  # it would connect to itself: never connected, so nothing lingers
            probe.settimeout(timeout)
            try:
                probe.connect(address)
            except OSError:
                continue
            if probe.getsockname()[:2] != probe.getpeername()[:2]:
                return True
            # Connected to itself after all: reset, not closed, so no TIME-WAIT holds the port.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return False


def _bound_socket(family: int, kind: int, proto: int) -> socket.socket | None:
    """A socket bound to a port of the kernel's choosing; None where it cannot be (no IPv6 here)."""
    try:
        sock = socket.socket(family, kind, proto)
    except OSError:
        return None
    try:
        sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
    except OSError:
        sock.close()
        return None
    return sock


def wait_until_up(url: str, child: Child | None, timeout: float, what: str,
                  headers: dict[str, str] | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early (with the log) if the child dies."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    # The proxy requests would use for this URL (HTTP_PROXY for http://, none where NO_PROXY
    # says so): every *_PROXY variable counted kept the probe off wherever one was set.
    proxied = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url)) is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise StudioError(f"{what} failed to start: {child.died()}")
        try:
            # A listener first: requests' own connect could connect to itself (``listening``).
            # Not through a proxy (HTTP_PROXY), the one way to some --backend-url: requests
            # connects to the proxy, never to that port here.
            if ((proxied or listening(host, port))
                    and requests.get(url, headers=headers, timeout=5).status_code == 200):
                return
        except requests.exceptions.InvalidSchema as exc:  # never answers: said now, not at the timeout
            raise StudioError(f"{what} cannot be reached at {server_url_for_messages(url)}: {exc} (the proxy in ALL_PROXY or "
                              "HTTP_PROXY: pip install 'requests[socks]', or add the host to NO_PROXY)") from None
        except requests.RequestException:
            pass  # not listening yet
        time.sleep(0.5)
    tail = (f"; the end of its log ({child.log_path}):\n{log_tail(child.log_path)}"
            if child else "")
    raise StudioError(f"{what} did not answer {server_url_for_messages(url)} within {timeout:.0f} s{tail}")


def label_studio_argv(host: str, port: int) -> list[str]:
    exe = shutil.which("label-studio") or str(Path(sys.executable).parent / "label-studio")
    if not Path(exe).exists():
        raise StudioError("the `label-studio` program is not installed: pip install "
                          "'samvid[studio]' (or attach to yours with --no-studio "
                          "--label-studio-url URL --api-key TOKEN)")
    # Django's runserver takes an IPv6 address in brackets only. --debug: without it, Label
    # Studio finding the port taken on 127.0.0.1 (whatever --internal-host is) moves to the next
    # free one by itself, and samvid up would wait on the asked one for --timeout, then fail.
    # With it, it listens where asked, or exits with "That port is already in use" in its log.
    # (Label Studio 1.23 reads --debug for that alone.)
    return [exe, "start", "--no-browser", "--internal-host", bracketed(host), "-p", str(port), "--debug"]


def serve_argv(host: str, port: int, model: str, device: str | None) -> list[str]:
    argv = [sys.executable, "-m", "samvid.cli", "serve", "--host", host, "--port", str(port),
            "--model", model]
    if model not in ("classic", "standin"):
        argv += ["--fallback", "classic"]  # a second net under the fast check of pick_model
    if device:
        argv += ["--device", device]
    return argv


def write_ready(path: Path, info: dict[str, object]) -> None:
    """What a script or test needs once everything is up (no secrets: those are in
    credentials.json; a ``user:password@`` given in a URL is written ``***@``)."""
    info = {k: server_url_for_messages(v) if k.endswith("_url") and isinstance(v, str) else v
            for k, v in info.items()}
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(info, indent=2))
    os.replace(partial, path)


# -- model ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    requested: str
    model: str  # what the backend is started with
    note: str = ""  # why it differs from the request, for the banner


def weights_present(name: str, given: str = "--model") -> bool:
    """True when ``name`` can be loaded without the network: a built-in model, a local
    folder with a config and safetensors weights, or a hub id whose config and safetensors are in the HF cache.
    Reads the cache index only (milliseconds); loading the model would take seconds. ``given``: the
    flag or variable the name came from, as a refusal names it."""
    if name in ("classic", "standin"):
        return True
    if is_weight_free(name):  # standin:R
        try:  # standin:abc: said now, as the backend would say it after Label Studio's start
            standin_radius(name)
        except ModelUnavailable as exc:
            raise ConfigError(f"{_as_given(given, name)}: {exc.message}") from None
        return True
    local = model_path(name)
    if local.is_dir():
        # A config without weights (a copy or download cut short) would be loaded by the
        # backend, fail, and fall back to classic with the reason in its log only.
        return (local / "config.json").is_file() and any(local.glob("*.safetensors"))
    if problem := no_model_folder(name):
        # Not a hub id either: falling back to classic would hide the typo.
        raise ConfigError(f"{_as_given(given, problem)}, or a Hugging Face id such as facebook/sam2.1-hiera-tiny")
    if name not in MODELS and "/" not in name:
        # Every SAM checkpoint on the hub is org/name: a bare name (clasic, sam2-tiny) is a
        # typo, which falling back to classic with "hf download sam2-tiny" would hide.
        raise ConfigError(f"{_as_given(given, name)}: unknown model; give one of {', '.join(MODELS)}, another "
                          "Hugging Face id (org/name), or the folder that holds the model's config.json")
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    def cached(filename: str) -> bool:
        return isinstance(try_to_load_from_cache(name, filename), str)

    try:
        return cached("config.json") and cached("model.safetensors")
    except HFValidationError:  # not a hub id (``a//b``, ``a/b/c``): no weights to find
        return False


def _as_given(given: str, value: str) -> str:
    """``--model X`` or ``SAMVID_MODEL=X``: a value named as the user set it."""
    return f"{given} {value}" if given.startswith("-") else f"{given}={value}"


def pick_model(requested: str, given: str = "--model") -> ModelChoice:
    """The requested model, or ``classic`` when its weights are not on this machine.

    ``samvid up`` must work on a fresh, offline machine; the backend still gets
    ``--fallback classic``, so a wrong guess here costs a slower start, not a failure.
    """
    if weights_present(requested, given):
        return ModelChoice(requested, requested)
    if model_path(requested).is_dir():
        return ModelChoice(requested, "classic", (
            f"the folder {requested} holds no model (it needs a config.json and .safetensors "
            "weights, as `samvid models pull NAME --dir D` leaves them in D/<model>): using the "
            "weight-free `classic` segmenter"))
    return ModelChoice(requested, "classic", (
        f"no weights for {requested} on this machine: using the weight-free `classic` "
        f"segmenter. For SAM, fetch them (`hf download {requested}`, or copy a folder and "
        "pass --model /path/to/it) and run samvid up again."))


def is_weight_free(name: str) -> bool:
    return name in ("classic", "standin") or name.startswith("standin:")


def _lock_soon(fd: int, tries: int = 5) -> None:
    """flock LOCK_EX, without waiting on a run that holds it; a register-only run's look (a
    shared lock held for an instant) is waited out, not read as another run."""
    for _ in range(tries - 1):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(0.02)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


# An OSError naming no file that is the data dir's or its disk's, said as such.
DATA_DIR_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.ENOENT,
                   errno.ENOTDIR, errno.EISDIR, errno.EEXIST}


def samvid_settings(**overrides: object) -> Settings:
    """The SAMVID_* settings of this shell. The rest is not up's: the backend gets its own
    LABEL_STUDIO_URL and key and no REDIS_URL (backend_env), so a LABEL_STUDIO_URL=localhost:8080
    kept there for other tools must not stop samvid up."""
    return Settings.from_env({k: v for k, v in os.environ.items() if k.startswith("SAMVID_")}, **overrides)


def check_device_and_precision(device: str | None) -> None:
    """Refuse now the device or SAMVID_PRECISION that the backend would refuse when it loads
    SAM (--device cuda on a machine without one, fp16 on the CPU): otherwise it is said in
    its log after Label Studio's start, a minute or more later."""
    from samvid.models.precision import resolve_precision
    from samvid.models.sam import check_device, pick_device

    settings = samvid_settings(**({"device": device} if device else {}))
    resolved = pick_device(settings.device)
    with named_as_typed(device=device):
        check_device(resolved)
    resolve_precision(settings.precision, resolved)


def check_tracker() -> None:
    """Refuse now the SAMVID_TRACKER the backend would refuse at its start (an unknown engine),
    and a SAMVID_TRACKER_MODEL without video memory: said in its log after Label Studio's start."""
    from samvid.core.errors import TrackingError
    from samvid.tracker.engines import check_tracking_model, engine_choices, is_engine

    settings = samvid_settings()
    if not is_engine(settings.tracker):
        raise TrackingError(f"SAMVID_TRACKER={settings.tracker}: unknown engine; choose one of "
                            f"{engine_choices()}")
    if settings.tracker_model:
        check_tracking_model(settings.tracker_model)


def missing_labeling_config() -> str:
    """What to do when SAMVID_CONFIG_DIR has no brush.xml, the config samvid up makes a new
    project with; "" when it has one or samvid's own configs are read. Not refused here, as
    samvid import does not: a project Label Studio has keeps its own config and needs none
    (Stack._check_the_project). A brush.xml there that does not load is refused now: it was
    refused by the import, after Label Studio's and the backend's start. Each caller adds the
    last remedy, the one that works where it is said (NOT_MADE_HERE, NOT_IN_STUDIO)."""
    from samvid.studio import configs

    folder, name = configs.CONFIG_DIR, configs.DEFAULT_CONFIG
    try:
        configs.load_config(name, folder)
        return ""
    except ConfigError as exc:
        if not env_value("SAMVID_CONFIG_DIR"):
            raise
        if (folder / f"{name}.xml").exists():
            # Refused whether or not the project exists, as samvid import refuses it: a mistake.
            raise ConfigError(f"SAMVID_CONFIG_DIR={folder}: {exc.message}; samvid up makes a new project "
                              f"with this `{name}` config: fix it, or unset SAMVID_CONFIG_DIR for the "
                              "configs samvid ships") from None
    # Read as an empty folder by the configs (and by samvid import): a mistyped path said
    # "has no brush.xml", and the remedy "put one there" sent the user to a folder not there.
    config = f"{name}.xml, the `{name}` config samvid up makes a new project with"
    if folder.is_dir():
        return (f"SAMVID_CONFIG_DIR={folder} has no {config}; put a {name}.xml there, unset "
                "SAMVID_CONFIG_DIR for the configs samvid ships")
    return (f"SAMVID_CONFIG_DIR={folder}: {'not a folder' if folder.exists() else 'no such folder'} "
            f"(the folder of {config}); fix the path, unset SAMVID_CONFIG_DIR for the configs "
            "samvid ships")


# The last remedy of missing_labeling_config(), by where it is said. A data dir whose Label
# Studio never ran has no project: a --project title there is refused the same way.
NOT_MADE_HERE = (", or run up on a Label Studio that has the project: --no-studio --label-studio-url URL "
                 "--api-key KEY")
NOT_IN_STUDIO = ", or give --project the title of a project that Label Studio has"


# -- the stack ----------------------------------------------------------------------------------

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP ignored inside (the main thread only may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@dataclass
class UpOptions:
    data_dir: Path
    model: str
    device: str | None = None
    model_from: str = "--model"  # the flag or variable the model came from (SAMVID_MODEL), as refusals name it
    host: str = "127.0.0.1"  # where Label Studio and the backend listen
    port: int = 8080
    backend_port: int = 9090
    backend_url: str | None = None  # the backend as Label Studio reaches it
    videos: list[Path] = field(default_factory=list)  # empty: the generated demo clip
    project: str = "samvid demo"
    labels: list[str] = field(default_factory=list)
    no_studio: bool = False
    no_backend: bool = False  # a backend already runs at backend_url: register it only
    studio_url: str | None = None  # with no_studio
    api_key: str | None = field(default=None, repr=False)  # with no_studio
    document_root: Path | None = None  # with no_studio: that LS's local-files root
    timeout: float = 300.0  # first start of Label Studio: ~30 s, minutes on a busy machine


@dataclass
class Ready:
    studio_url: str
    backend_url: str
    project_id: int
    task_ids: list[int]  # the first clip's frames, in order
    open_url: str  # frame 0 of the first clip in the labelling view
    model: str  # as the running backend reports it
    model_note: str
    username: str
    credentials_file: str | None
    new_credentials: Credentials | None = field(default=None, repr=False)
    tracker: str = ""  # the propagation engine, as the running backend reports it
    clips: int = 1  # the videos given (the Open link and task_ids are the first one's)
    frames: int = 0  # every given video's tasks; 0: len(task_ids)


class Stack:
    """Label Studio (unless attached) and ``samvid serve``; ``with Stack(o) as s: s.start()``."""

    def __init__(self, options: UpOptions) -> None:
        self.o = options
        try:
            self.layout = Layout(expand_home(options.data_dir).resolve())
        except NoSuchHome as exc:  # XDG_DATA_HOME=~nosuchuser/share: was a traceback
            raise ConfigError(f"the data folder {exc.path} is under no user's home folder: fix "
                              "XDG_DATA_HOME or give --data-dir") from None
        if self.layout.data_dir.exists() and not self.layout.data_dir.is_dir():
            raise ConfigError(f"--data-dir {self.layout.data_dir} is a file: give a folder")
        self.children: list[Child] = []
        self._health_url = ""
        self._lock: int | None = None  # the data dir's lock file, held while this run's children run
        self._missing_config = ""  # missing_labeling_config(): the project must exist

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        started = bool(self.children)
        # A second Ctrl-C (or docker's SIGTERM after ours) must not cut this short: Label
        # Studio, in a session of its own, would keep running and hold its port. The
        # ExitStack stops every child even if one fails, the backend first (callbacks run
        # last-in first-out): it talks to Label Studio.
        with signals_ignored(), contextlib.ExitStack() as stops:
            for child in self.children:
                stops.callback(child.stop)
        self.children.clear()
        if self._lock is not None:
            os.close(self._lock)  # releases the lock
            self._lock = None
        # ready.json says the URLs are up: true no longer once our children are stopped. A
        # run that started nothing (--no-studio --no-backend: register and exit) leaves it,
        # for the script that ran it. An OSError here (a --data-dir that cannot be created)
        # must not hide the error that ended the run.
        if started:
            with contextlib.suppress(OSError):
                self.layout.ready_file.unlink(missing_ok=True)

    def watch(self, poll: float = 1.0) -> Child:
        """Block until a child exits; returns it (Ctrl-C raises KeyboardInterrupt here)."""
        while True:
            for child in self.children:
                if not child.alive():
                    return child
            time.sleep(poll)

    # -- start --------------------------------------------------------------------------------

    def start(self) -> Ready:
        from samvid.studio.client import Studio

        if self.o.no_studio and not (self.o.studio_url and self.o.api_key):
            raise ConfigError("--no-studio needs --label-studio-url and --api-key (Label "
                              "Studio: Account & Settings > Access Token)")
        if self.o.no_studio and (problem := studio_url_problem(self.o.studio_url or "")):
            # Named as up takes it: the client's message names `--url`, a flag up does not have.
            raise ConfigError(f"--label-studio-url (or LABEL_STUDIO_URL) "
                              f"{server_url_for_messages(self.o.studio_url or '')!r}: {problem}")
        if self.o.no_backend and not self.o.backend_url:  # said now, not after Label Studio's start
            raise ConfigError("--no-backend needs --backend-url (the running backend)")
        if self.o.backend_url and studio_url_problem(self.o.backend_url):
            # Said now: `backend:9090` would be refused by Label Studio after its start, or
            # (--no-backend) waited on for --timeout, as a backend that does not answer.
            raise ConfigError(f"--backend-url {server_url_for_messages(self.o.backend_url)!r}: give the backend's http:// or "
                              "https:// URL as Label Studio reaches it, such as http://samvid:9090")
        if ":" in self.o.host and self.o.host != "::" and not self.o.backend_url:
            # Label Studio 1.23 answers "Can't resolve hostname [::1]" to a backend URL of one.
            raise ConfigError(f"--host {self.o.host}: Label Studio cannot connect a backend at an IPv6 "
                              "address; use --host 127.0.0.1, --host :: (every address), or "
                              "--backend-url with an address Label Studio can reach")
        if not (self.o.no_studio or self.o.no_backend) and self.o.port == self.o.backend_port:
            raise ConfigError(f"--port and --backend-port are both {self.o.port}: Label Studio and "
                              "the samvid backend each need a port of their own; give them two")
        # With --no-backend the model is the running backend's business, not ours.
        choice = ModelChoice(self.o.model, self.o.model) if self.o.no_backend else \
            pick_model(self.o.model, self.o.model_from)
        if choice.note:
            log.warning("%s", choice.note)
        if not self.o.no_backend:
            # Whatever the model: the backend checks the device and precision for its tracker too,
            # so a SAM model fallen back to classic is refused as SAM would be.
            check_device_and_precision(self.o.device)
            check_tracker()
        self._missing_config = missing_labeling_config()  # with --no-backend too
        if self._missing_config and not self.o.no_studio and not self.layout.studio_database.exists():
            # This data dir's Label Studio never ran: it has no project, so up must make one. Said
            # before its first start (a minute or more) and before the data dir or credentials exist.
            raise ConfigError(f"project {self.o.project.strip()!r} is new (the Label Studio of "
                              f"{self.layout.data_dir} holds no project yet) and cannot be made: "
                              f"{self._missing_config}{NOT_MADE_HERE}")
        self._make_data_dir()
        _make_logs_private(self.layout.logs)
        # A run that starts nothing (register and exit) beside one that runs keeps that one's
        # ready.json, the file the running one's URLs are read from.
        beside_a_run = False
        if not (self.o.no_studio and self.o.no_backend):
            self._lock_data_dir()
        else:
            beside_a_run = self._data_dir_in_use()
        if not self.o.no_backend:
            # A second run while the first is up: refused before it removes the first's ready.json.
            self._refuse_a_leftover_backend()
            # Now, not after Label Studio's start (a minute or more) and its shutdown.
            require_free_port(self.o.host, self.o.backend_port, "the samvid backend", "--backend-port")
        if not beside_a_run:
            with self._data_dir_writes():
                self.layout.ready_file.unlink(missing_ok=True)  # left by a run that was killed
        if self.o.no_studio:
            assert self.o.studio_url and self.o.api_key  # checked at the top
            url, key, creds, new = self.o.studio_url.rstrip("/"), self.o.api_key, None, False
            files_root = self.o.document_root
        else:
            self._refuse_a_database_without_its_credentials()
            with self._data_dir_writes():
                creds, new = Credentials.load_or_create(self.layout.data_dir)
            url, key = self._start_studio(creds), creds.token
            files_root = self.layout.files_root
        studio = Studio(url, key)
        studio.check()
        self._check_the_project(studio, url)
        backend_url = self._start_backend(choice, url, key, files_root)
        summary = self._import(studio, files_root, backend_url)
        clip = summary.clips[0].clip
        # Frame order, not id order (the import's summary has them so): frames an earlier
        # import skipped (--start, --stride) get their tasks later, with higher ids, and the
        # Open link must show frame 0.
        task_ids = summary.clips[0].task_ids
        if not task_ids:
            raise StudioError(f"project {summary.project_id} has no task for {clip}")
        # The model as the backend reports it: the truth, whatever pick_model guessed.
        health = requests.get(self._health_url, timeout=10).json()
        ready = Ready(
            studio_url=url, backend_url=backend_url, project_id=summary.project_id,
            task_ids=task_ids,
            open_url=f"{url}/projects/{summary.project_id}/data?task={task_ids[0]}",
            model=str(health.get("model_version", choice.model)), model_note=choice.note,
            tracker=str(health.get("tracker", "")),
            username=creds.username if creds else "(your Label Studio user)",
            credentials_file=None if creds is None else str(self.layout.data_dir / "credentials.json"),
            new_credentials=creds if new else None,
            clips=len(summary.clips), frames=sum(len(c.task_ids) for c in summary.clips),
        )
        info = {k: v for k, v in asdict(ready).items() if k != "new_credentials"}
        if not beside_a_run:
            with self._data_dir_writes():
                write_ready(self.layout.ready_file, info)
        return ready

    def _make_data_dir(self) -> None:
        try:
            self.layout.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create --data-dir {self.layout.data_dir}: "
                              f"{exc.strerror or exc}; give a folder you can write to") from exc

    @contextlib.contextmanager
    def _data_dir_writes(self) -> Iterator[None]:
        """A data dir on a read-only mount or a full disk, or one another user made, said as such:
        it ended in an OSError traceback (ready.json's removal, the credentials, a child's log)."""
        try:
            yield
        except OSError as exc:
            where = Path(exc.filename) if isinstance(exc.filename, str) else None
            if where is not None and not where.is_relative_to(self.layout.data_dir):
                raise  # not the data dir's: the `label-studio` program, say
            if where is None and exc.errno not in DATA_DIR_ERRNOS or exc.errno == errno.ENOEXEC:
                raise  # not the folder's: a failed fork (ulimit -u), a program that cannot run
            raise ConfigError(f"cannot use {where or self.layout.data_dir} ({exc.strerror or exc}): "
                              "--data-dir must be a folder you can read and write, on a disk with space "
                              "left; free some, or give another --data-dir") from exc

    def _lock_data_dir(self) -> None:
        """One run with children per data dir: a second one started while the first's Label Studio
        was still migrating (not yet on its port) started another on the same SQLite database, and
        one stopping removed the other's ready.json and pid files. The kernel drops the lock of a
        killed run, so a run after kill -9 still reuses the Label Studio it left."""
        with self._data_dir_writes():
            fd = os.open(self.layout.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _lock_soon(fd)
            except OSError as exc:
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP):  # NFS without locking: run as before
                    os.close(fd)
                    log.warning("cannot lock %s (%s): nothing stops a second samvid up on this data dir",
                                self.layout.lock_file, exc.strerror or exc)
                    return
                if not isinstance(exc, BlockingIOError):
                    os.close(fd)
                    raise
                holder = os.read(fd, 32).decode(errors="replace").strip()
                os.close(fd)
                raise ConfigError(f"another `samvid up` (pid {holder or '?'}) runs on {self.layout.data_dir}: "
                                  f"use it (its URLs are in {self.layout.ready_file} once it is up), stop "
                                  "it with Ctrl-C, or give this run another --data-dir") from None
            except BaseException:
                os.close(fd)
                raise
            self._lock = fd
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())

    def _data_dir_in_use(self) -> bool:
        """Another run holds the data dir's lock (its children use it)."""
        try:
            fd = os.open(self.layout.lock_file, os.O_RDONLY)
        except OSError:
            return False  # no run ever locked it, or it cannot be read: as before the lock
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except OSError as exc:
            return isinstance(exc, BlockingIOError)
        finally:
            os.close(fd)  # releases the shared lock taken to look

    def _refuse_a_database_without_its_credentials(self) -> None:
        """Label Studio keeps the admin and token of its first start and ignores new ones: new
        credentials for an existing database would be refused (401) after a minute's wait."""
        database = self.layout.studio_database
        if database.is_file() and not (self.layout.data_dir / "credentials.json").exists():
            raise ConfigError(f"{self.layout.data_dir / 'credentials.json'} is missing, but {database} "
                              "holds a Label Studio database whose admin has other credentials: "
                              f"restore credentials.json, or delete {self.layout.studio_data} (its "
                              "projects go with it) to start afresh")

    def _refuse_a_leftover_backend(self) -> None:
        """A run that was killed (kill -9, the OOM killer) leaves its children running: its
        backend holds its port, and another --backend-port, as the port message says, would
        leave it running for good (this run's backend overwrites its pid file). Whatever port
        is asked, then."""
        pid_file = (self.layout.logs / "samvid-serve.log").with_suffix(".pid")
        try:
            pid = int(pid_file.read_text())
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return  # no pid file, or its process is gone: whatever holds the port is not ours
        if not (b"samvid.cli" in command and b"serve" in command):
            return  # the pid is another program's now
        its_port = command[command.index(b"--port") + 1].decode(errors="replace") \
            if b"--port" in command[:-1] else "?"
        if its_port == str(self.o.backend_port) or its_port == "?" and port_in_use(self.o.host, self.o.backend_port):
            raise ConfigError(f"port {self.o.backend_port} is held by the samvid backend of another "
                              f"`samvid up` on {self.layout.data_dir} (pid {pid}, in {pid_file}): stop "
                              f"that run with Ctrl-C, or if it was killed, stop its backend (`kill {pid}`), "
                              "then run samvid up again")
        raise ConfigError(f"the samvid backend of another `samvid up` on {self.layout.data_dir} still runs "
                          f"(pid {pid}, port {its_port}, in {pid_file}): stop that run with Ctrl-C, or if it "
                          f"was killed, stop its backend (`kill {pid}`), then run samvid up again")

    def _refuse_a_leftover_studio(self) -> None:
        """A run that was killed leaves its Label Studio running (a session of its own). Unless it
        answered on --port above, starting another put a second Label Studio on the same database,
        and the port message sent the user to --port, which did just that."""
        pid_file = (self.layout.logs / "label-studio.log").with_suffix(".pid")
        try:
            pid = int(pid_file.read_text())
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return  # no pid file, its process gone, or another user's (ours runs as us)
        # By its environment, not its command line (a wrapper script, `python -m label_studio`):
        # the pid may be another program's now, or another data dir's Label Studio.
        if b"LABEL_STUDIO_BASE_DATA_DIR=" + os.fsencode(self.layout.studio_data) not in environ:
            return
        its_port = command[command.index(b"-p") + 1].decode(errors="replace") if b"-p" in command[:-1] else "?"
        if its_port == str(self.o.port):
            raise ConfigError(f"the Label Studio of an earlier `samvid up` on {self.layout.data_dir} still runs "
                              f"(pid {pid}) but does not answer on port {its_port} yet (a first start migrates "
                              f"its database for minutes): run samvid up again in a while, or stop it "
                              f"(`kill {pid}`) first")
        raise ConfigError(f"the Label Studio of an earlier `samvid up` on {self.layout.data_dir} still runs "
                          f"(pid {pid}, port {its_port}): run samvid up with --port {its_port} to use it again, "
                          f"or stop it (`kill {pid}`) first; a second one on its database is not started")

    def _start_studio(self, creds: Credentials) -> str:
        host, port = self.o.host, self.o.port
        url = f"http://{url_host(host)}:{port}"
        whoami = f"{url}/api/current-user/whoami"
        auth = {"Authorization": f"Token {creds.token}"}
        if port_in_use(host, port):
            try:  # our own Label Studio from an earlier `samvid up` that is still running
                if requests.get(whoami, headers=auth, timeout=5).status_code == 200:
                    log.info("Label Studio for %s is already running on %s: reusing it",
                             self.layout.data_dir, url)
                    return url
            except requests.RequestException:
                pass
        self._refuse_a_leftover_studio()
        require_free_port(host, port, "Label Studio", "--port")
        argv = label_studio_argv(host, port)
        first = not self.layout.studio_data.exists()
        with self._data_dir_writes():
            self.layout.files_root.mkdir(parents=True, exist_ok=True)
            child = Child.start("Label Studio", argv, studio_env(self.layout, creds),
                                self.layout.logs / "label-studio.log")
        self.children.append(child)
        log.info("waiting for Label Studio on %s%s", url,
                 " (first start: database migrations, about 30 s or more)" if first else "")
        wait_until_up(f"{url}/health", child, self.o.timeout, "Label Studio")
        # /health answers before the admin and its token exist on a first start.
        wait_until_up(whoami, child, 120, "Label Studio's API token", headers=auth)
        return url

    def _check_the_project(self, studio: Studio, url: str) -> None:
        """What the import would refuse of its project, asked as soon as Label Studio answers,
        before the backend's start (its model loads for a minute or more): a project up must
        make without a labeling config, two of the title, or one whose config shows no frame
        (a video project). A refusal leaves no project made, and the Label Studio this run
        started is stopped with the stack (one found running was running before, and keeps
        running). The project is looked up again by the import: one made or deleted
        meanwhile is the import's to say."""
        from samvid.studio.importer import check_project_config, say_config_kept

        title = self.o.project.strip()  # as the import finds it
        try:
            project = studio.the_project_titled(title)
            if project is not None:
                check_project_config(project)
        except (BadRequest, ConfigError) as exc:
            if not self._missing_config:
                raise
            # Its remedy, "another --project" (a new one is made), cannot be followed here.
            raise type(exc)(f"{exc.message}; and no new project can be made: "
                            f"{self._missing_config}") from None
        if project is None:
            if self._missing_config:
                raise ConfigError(f"project {title!r} is not in the Label Studio at {url} and cannot be "
                                  f"made: {self._missing_config}{NOT_IN_STUDIO}")
            return
        # Said here, not by the import: up's import is not given the labels, so it is said once.
        say_config_kept(project, self.o.labels)

    def _local_backend_url(self) -> str:
        return f"http://{url_host(self.o.host)}:{self.o.backend_port}"

    def _start_backend(self, choice: ModelChoice, studio_url: str, key: str,
                       files_root: Path | None) -> str:
        if self.o.no_backend:  # e.g. the compose one-shot: the backend is another container
            assert self.o.backend_url  # checked at the top of start
            self._health_url = f"{self.o.backend_url.rstrip('/')}/health"
            wait_until_up(self._health_url, None, self.o.timeout, "the samvid backend")
            return self.o.backend_url.rstrip("/")
        self._refuse_a_leftover_backend()
        require_free_port(self.o.host, self.o.backend_port, "the samvid backend",
                          "--backend-port")
        env = backend_env(studio_url, key, files_root)
        with self._data_dir_writes():
            child = Child.start("samvid serve",
                                serve_argv(self.o.host, self.o.backend_port, choice.model,
                                           self.o.device),
                                env, self.layout.logs / "samvid-serve.log")
        self.children.append(child)
        # The model loads before the server listens: SAM takes a while on a CPU.
        self._health_url = f"{self._local_backend_url()}/health"
        wait_until_up(self._health_url, child, self.o.timeout, "the samvid backend")
        return (self.o.backend_url or self._local_backend_url()).rstrip("/")

    def _import(self, studio, files_root: Path | None, backend_url: str):
        from samvid.demo import write_demo_clip
        from samvid.studio.configs import load_config
        from samvid.studio.import_plan import ImportOptions
        from samvid.studio.importer import import_videos

        with self._data_dir_writes():
            videos = self.o.videos or [write_demo_clip(self.layout.demo_clip)]
        auth = samvid_settings()
        options = ImportOptions(
            project=self.o.project,
            # Nothing to render without brush.xml: the project exists and keeps its own config.
            label_config="" if self._missing_config else load_config("brush").render(self.o.labels),
            # The import refuses a project gone meanwhile.
            missing_config=self._missing_config and f"{self._missing_config}{NOT_IN_STUDIO}",
            document_root=files_root,
            frames_root=None if files_root is None else files_root / "samvid",
            upload=files_root is None,  # a Label Studio elsewhere: frames go through its API
            backend_url=backend_url,  # connected as interactive; LS adds the /webhook itself
            # With SAMVID_AUTH_* set, the connection and its webhook carry the same credentials.
            backend_user=auth.auth_user or None,
            backend_password=auth.auth_password or None,
            max_seconds=auth.max_video_seconds,  # SAMVID_MAX_VIDEO_*, as samvid import reads them
            max_pixels=auth.max_video_pixels,
        )
        summary = import_videos(studio, videos, options)
        log.info("project %r (id %d): %d tasks added, %d already there", summary.project_title,
                 summary.project_id, summary.tasks_created, summary.tasks_existing)
        return summary
