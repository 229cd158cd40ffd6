"""All configuration, read from the environment in one place.

Command-line flags override these by passing keyword arguments to
``Settings.from_env``. What is read before settings are (command-line flag defaults,
``SAMVID_CONFIG_DIR``) goes through ``env_value`` and ``studio_access`` here too; only other
programs' variables (``HF_*``, ``PROMETHEUS_MULTIPROC_DIR``, ``XDG_DATA_HOME``) are read elsewhere.
"""

from __future__ import annotations

import logging
import math
import os
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse, urlsplit

from samvid.errors import ConfigError, ModelUnavailable
from samvid.homes import NoSuchHome, expand_home
from samvid.models.precision import PRECISIONS, UnsupportedPrecision
from samvid.models.registry import DEFAULT_MODEL, MODELS, standin_radius
from samvid.redact import redis_broken_password_at, redis_url_for_messages, server_url_for_messages

logger = logging.getLogger(__name__)

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
# What each kind of variable takes, for the message when a value is not one.
_EXPECTED = {
    "bool": f"give one of {', '.join(_TRUE)} or {', '.join(_FALSE)}",
    "int": "give a whole number",
    "float": "give a number",
}
DIRECTIONS = ("forward", "backward", "both")  # of propagation, from the human frame
AUTO_GRID_RANGE = (1, 64)  # clicks per side: 64 x 64 already costs minutes per frame
# Frames one propagation takes each way; here, not in propagation.request (which imports
# this module), so that SAMVID_PROPAGATE_FRAMES is refused at start at the bound every request is.
MAX_PROPAGATE_FRAMES = 100_000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_STUDIO_URL = "http://localhost:8080"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")  # what redis-py's from_url accepts
# What torch.device takes (cpu:0 and mps:0 too, as the model loader does), plus auto.
DEVICE_PATTERN = re.compile(r"auto|cpu(:(0|[1-9][0-9]*))?|mps(:0)?|cuda(:(0|[1-9][0-9]*))?")
DEVICES = "auto, cpu, cuda, cuda:N or mps"
# The weight-free models: a fallback that itself needs weights would fail the same way.
FALLBACKS = tuple(name for name, info in MODELS.items() if info.family in ("classic", "standin"))
# Fields that name one of a few words: read case-insensitively (SAMVID_DEVICE=CUDA is cuda).
_WORDS = ("device", "precision", "propagate_direction", "fallback")
# What must be above 0 and finite: at 0 or below every image, video or cached embedding is
# refused (or every fetch times out), at inf or NaN nothing ever is.
_POSITIVE = {
    "fetch_timeout": "seconds",
    "request_timeout": "seconds",
    "redis_cache_ttl": "seconds",  # Redis refuses SET ... EX 0 on every write
    "max_request_bytes": "bytes",
    "max_image_bytes": "bytes",
    "max_image_pixels": "pixels",
    "max_video_bytes": "bytes",
    "max_video_seconds": "seconds",
    "max_video_pixels": "pixels",
}
# The most each time may be: a larger timeout overflows the clock of every wait and socket
# (OverflowError on each click and fetch), a larger TTL is refused by Redis on every write.
# A day of waiting, or ten years of caching, is already "for ever".
_MOST = {
    "fetch_timeout": 86400,
    "request_timeout": 86400,
    "redis_cache_ttl": 10 * 365 * 86400,
}


def _bool(value: str) -> bool:
    """A typo must not read as "off": anything but the listed words is refused."""
    word = value.strip().lower()
    if word not in _TRUE + _FALSE:
        raise ValueError(word)
    return word in _TRUE


# Why a URL urlparse cannot read is refused, quoting no part of it: a caller shows it as it is.
NOT_A_URL = ('it is not a valid URL (a port that is not a number, an unclosed "[", or a "/", "?" or "#" '
             'in a password, to write as %2F, %3F or %23)')


def studio_url_problem(url: str, example: str = "http://label-studio:8080") -> str | None:
    """Why ``url`` cannot be Label Studio's base URL (or the backend's: the same rules, its
    own ``example`` in the advice), or None when it can.

    >>> studio_url_problem("http://ls:8080"), studio_url_problem("ls:8080")
    (None, 'give an http:// or https:// URL such as http://label-studio:8080')
    """
    if any(c.isspace() or not c.isprintable() for c in url):
        # urlparse drops a line break (a secret file's last one) that httpx then refuses.
        return "it holds a space, tab or line break; remove it"
    try:
        parsed = urlparse(url)
        _ = parsed.port  # ValueError when not a number or out of range
    except ValueError:
        # Not urlparse's words: they quote the part it failed on, which is a password's start
        # where the password holds an unencoded "/" ("... as 's3cr'" of http://u:s3cr/et@host).
        return NOT_A_URL
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return f"give an http:// or https:// URL such as {example}"
    return None


def _redis_db_problem(url: str) -> str | None:
    """What is wrong with the database number of Redis URL ``url``, or None. redis-py reads
    a path that is no number (``/l``, ``/1a``) as database 0 and ``/1/2`` as 12, so a
    mistyped number shared another deployment's database without a word; a ``?db=`` that
    is no number failed at the first connection. A bare ``/`` is database 0, as no path is
    (a common spelling, and what an unset number leaves: the default either way)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None  # _redis_client_problem names what redis-py makes of it
    if redis_broken_password_at(url) is not None:
        # Shown, the "path" would be the rest of the password (named nowhere in this message).
        return ("its password holds '/', '?' or '#', which end the host part of a URL: "
                "percent-encode them in the password (%2F, %3F, %23)")
    given = parse_qs(parts.query).get("db", [])  # a blank ?db= is none, as redis-py reads it
    for value in given:
        if not re.fullmatch(r"[0-9]+", value):
            return f"?db={value!r} is not a database number; give one such as ?db=1"
    if parts.scheme == "unix":  # the path is the socket's; the database is ?db= only
        return None
    # As redis-py reads it: percent-decoded, one trailing "/" dropped (a bare "/" is database 0).
    path = unquote(parts.path).removesuffix("/")
    if path and not re.fullmatch(r"/[0-9]+", path):
        return (f"its path {parts.path!r} is not a database number (Redis would quietly use "
                "another database); end it with one, such as redis://localhost:6379/1, or "
                "with the port for database 0")
    if given and path and int(given[0]) != int(path[1:]):  # redis-py takes ?db=
        return f"it names database {path[1:]} in its path and {given[0]} in ?db=; give one"
    return None


def _redis_client_problem(url: str) -> str | None:
    """What redis-py cannot make of Redis URL ``url`` (a port past 65535 or no number, an
    unclosed "[", a ``?socket_timeout=`` that is no number, an option it does not take), or
    None. redis-py reads a URL only as a command first connects: its bare ValueError or
    TypeError was a traceback mid-start (``samvid worker``, ``samvid serve``)."""
    import redis

    if _password_holds_a_bracket(url):
        return ("its password holds '[' or ']', which a URL reads as the brackets of an IPv6 "
                "address: write them %5B and %5D")
    try:
        pool = redis.ConnectionPool.from_url(url)
        # The query's options reach the connection only here; building one does not connect.
        pool.connection_class(**pool.connection_kwargs)
    except TypeError as exc:
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if unknown is None:
            return f"redis-py cannot use it ({_without_secrets(str(exc), url)})"
        return f"?{unknown[1]}= is no option redis-py takes; drop it or fix its spelling"
    except (ValueError, redis.RedisError) as exc:
        return f"redis-py cannot read it ({_without_secrets(str(exc), url)})"
    except Exception as exc:  # noqa: BLE001 - redis-py's own bugs on odd values (?protocol=RESP3)
        return (f"redis-py fails on it ({_without_secrets(f'{type(exc).__name__}: {exc}', url)}): check the "
                "value of each ?option")
    return None


def _password_holds_a_bracket(url: str) -> bool:
    """Whether ``url`` is unsplittable ("Invalid IPv6 URL") with a "[" or "]" before its last
    "@": an unencoded one in a password (``:p]w@[::1]`` splits, and is read as it is)."""
    try:
        urlsplit(url)
    except ValueError:
        head = url.rpartition("@")[0]
        return bool(head) and any(c in head for c in "[]")
    return False


def _without_secrets(text: str, url: str) -> str:
    """``text`` (redis-py's words on ``url``) with any password of ``url`` hidden: redis-py
    quotes the port it could not read, which a password holding ":" or "@" may run into."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return text  # nothing read as a password: redis-py's words hold the URL's host part only
    secrets = [value for key, values in parse_qs(parts.query).items() if "password" in key.lower()
               for value in values]
    for secret in [parts.password, *secrets]:
        if secret:
            text = text.replace(secret, "***")
    return text


def _check_studio_url(url: str) -> None:
    problem = studio_url_problem(url)
    if problem:
        raise ConfigError(f"LABEL_STUDIO_URL={server_url_for_messages(url)!r} is not usable: {problem}")


def env_value(var: str) -> str | None:
    """``var`` from the environment, None when unset or empty (as in ``Settings.from_env``):
    for what is read before settings are, so that this module names every variable."""
    return os.environ.get(var) or None


@contextmanager
def redis_for_jobs(url: str) -> Iterator[None]:
    """REDIS_URL set to ``url`` while a ``samvid worker`` takes jobs: each job reads its
    settings from the environment (``samvid.redis_jobs.execute``), and a Redis given only
    as --redis-url must reach it too (the /setup token shared through it, the frame
    locks shared with the backend). Put back after, for a caller in the same process."""
    given = os.environ.get("REDIS_URL")
    os.environ["REDIS_URL"] = url
    try:
        yield
    finally:
        if given is None:
            os.environ.pop("REDIS_URL", None)
        else:
            os.environ["REDIS_URL"] = given


@contextmanager
def named_as_typed(**given: str | None) -> Iterator[None]:
    """A setting refused inside, named as the user gave it: the settings and the loaders
    say ``SAMVID_DEVICE=``, which sent a user who typed ``--device cuda`` looking for a
    variable they never set. ``given``: the flags' values by setting name
    (``device=args.device``); a flag not given leaves the variable's name."""
    try:
        yield
    except ConfigError as exc:
        for name, value in given.items():
            variable = f"SAMVID_{name.upper()}="
            if value and exc.message.startswith(variable):
                flag = "--" + name.replace("_", "-")
                raise type(exc)(exc.message.replace(variable, f"{flag} ", 1)) from None
        raise


def env_path(var: str) -> Path | None:
    """A path variable, ``~`` expanded as the backend's settings expand it (ConfigError for
    a home this machine does not know)."""
    value = env_value(var)
    return _expanded(value, var) if value else None


def studio_access(url: str | None = None, api_key: str | None = None) -> tuple[str, str | None]:
    """Label Studio's URL and API key for a command: the flags' when given, else
    LABEL_STUDIO_URL (refused as ``Settings.from_env`` refuses it; http://localhost:8080 when
    unset) and LABEL_STUDIO_API_KEY (None when unset)."""
    if not url:
        url = env_value("LABEL_STUDIO_URL") or DEFAULT_STUDIO_URL
        _check_studio_url(url)
    elif problem := studio_url_problem(url):  # else httpx's "UnsupportedProtocol" on the first call
        raise ConfigError(f"Label Studio URL {server_url_for_messages(url)!r} (--url or LABEL_STUDIO_URL): {problem}")
    api_key = api_key or env_value("LABEL_STUDIO_API_KEY")
    if api_key:
        _check_token(api_key, "the Label Studio token (--api-key or LABEL_STUDIO_API_KEY)")
    return url, api_key


def studio_token_problem(token: str) -> str | None:
    """Why ``token`` cannot be Label Studio's token, or None when it can: the one check of a
    token, from LABEL_STUDIO_API_KEY or from ``/setup``. Never shows the token.

    A token is sent in a header: a space or line break in it (the last line break of a
    secret file) fails every call with a message about reaching Label Studio.

    >>> studio_token_problem("0123abcd"), studio_token_problem("0123 abcd")
    (None, 'holds a space, tab or line break; remove it (a token has none)')
    """
    if any(c.isspace() or not c.isprintable() for c in token):
        return "holds a space, tab or line break; remove it (a token has none)"
    if not token.isascii():  # a header is ASCII: pasted with typographic quotes, every call failed
        odd = next(c for c in token if not c.isascii())  # one character, never the token
        return (f"holds {odd!r}, which no token has (a quote or letter pasted with it?); copy the "
                "token again from Label Studio (Account & Settings > Access Token)")
    return None


def _check_token(token: str, what: str) -> None:
    if problem := studio_token_problem(token):
        raise ConfigError(f"{what} {problem}")


def log_level(env: dict[str, str] | None = None) -> int:
    """``SAMVID_LOG_LEVEL`` as a ``logging`` level (INFO when unset): the CLI configures
    logging with it before a command reads the rest of its settings."""
    raw = (os.environ if env is None else env).get("SAMVID_LOG_LEVEL") or "INFO"
    if raw.strip().upper() not in LOG_LEVELS:
        raise ConfigError(f"SAMVID_LOG_LEVEL={raw!r} is not a log level; give one of {', '.join(LOG_LEVELS)}")
    return int(logging.getLevelName(raw.strip().upper()))


def _paths(value: str, var: str) -> tuple[Path, ...]:
    """``:``-separated folders, ``~`` expanded (ConfigError for one under no user's home)."""
    return tuple(_expanded(p, var) for p in value.split(os.pathsep) if p.strip())


def _expanded(path: str, var: str) -> Path:
    """``path``, read from ``var``, ``~`` expanded: ConfigError for a home this machine does not
    know (``~nosuchuser/frames`` was a traceback at every start)."""
    try:
        return expand_home(path)
    except NoSuchHome:
        raise ConfigError(f"{var}: {path} is under no user's home folder; give the folder's full path") from None


def _check_roots(roots: tuple[Path, ...], var: str) -> None:
    """A root that is not a folder here is said at start: local image paths under it are
    refused, request by request. Only a warning: Label Studio's local-files URLs are then
    fetched over HTTP, as on a worker machine that shares the backend's environment."""
    for root in roots:
        if not root.is_dir():
            logger.warning("%s: %r is not a folder on this machine; local image paths under it are "
                           "refused and Label Studio's local files are fetched through it", var, str(root))


def _hosts(value: str) -> tuple[str, ...]:
    """Host names as ``images`` compares them (``urlparse(...).hostname``): one written as
    a URL, with a port or as ``[IPv6]`` was kept as written and so never matched."""
    return tuple(_host(h.strip()) for h in value.split(",") if h.strip())


def _host(entry: str) -> str:
    try:
        if "://" in entry:
            given = urlsplit(entry).hostname
        elif entry.startswith("[") or entry.count(":") == 1:  # [IPv6] or host:port, not a bare IPv6
            given = urlsplit("//" + entry).hostname
        else:
            given = entry
    except ValueError:  # "[fd00::1": matches nothing, as before
        given = None
    return (given or entry).lower()


@dataclass(frozen=True)
class Settings:
    # Model
    model: str = DEFAULT_MODEL  # SAMVID_MODEL: a registry name, "classic", "standin", or a folder
    device: str = "auto"  # SAMVID_DEVICE: auto | cpu | cuda | cuda:1 | mps
    fallback: str = ""  # SAMVID_FALLBACK: model to use when `model` has no weights ("classic")
    random_weights: bool = False  # SAMVID_RANDOM_WEIGHTS: benchmarks/tests only; masks are noise
    precision: str = "auto"  # SAMVID_PRECISION: auto | fp32 | bf16 | fp16 | int8 (clicks and tracking)
    # Label Studio
    label_studio_url: str = DEFAULT_STUDIO_URL  # LABEL_STUDIO_URL
    # Whether LABEL_STUDIO_URL (or a flag) gave it, even as the default: an address given
    # is the admin's choice, never replaced by the one a /setup call names.
    label_studio_url_given: bool = False
    label_studio_api_key: str = field(default="", repr=False)  # LABEL_STUDIO_API_KEY
    # Caches and queue
    redis_url: str = ""  # REDIS_URL: shared embedding cache + job queue when set
    cache_bytes: int = 2 * 1024**3  # SAMVID_CACHE_BYTES: in-process embedding cache cap
    redis_cache_ttl: int = 3600  # SAMVID_REDIS_CACHE_TTL: seconds an embedding lives in Redis
    # Sources and limits
    local_roots: tuple[Path, ...] = ()  # SAMVID_LOCAL_ROOTS (os.pathsep-separated)
    allowed_hosts: tuple[str, ...] = ()  # SAMVID_ALLOWED_HOSTS (comma-separated)
    max_request_bytes: int = 16 * 1024**2  # SAMVID_MAX_REQUEST_BYTES
    max_image_bytes: int = 64 * 1024**2  # SAMVID_MAX_IMAGE_BYTES
    max_image_pixels: int = 64_000_000  # SAMVID_MAX_IMAGE_PIXELS
    max_video_bytes: int = 2 * 1024**3  # SAMVID_MAX_VIDEO_BYTES (box tracking reads whole videos)
    max_video_seconds: float = 4 * 3600.0  # SAMVID_MAX_VIDEO_SECONDS: longest video to import
    max_video_pixels: int = 7680 * 4320  # SAMVID_MAX_VIDEO_PIXELS: largest frame to import
    fetch_timeout: float = 20.0  # SAMVID_FETCH_TIMEOUT seconds
    request_timeout: float = 60.0  # SAMVID_REQUEST_TIMEOUT: seconds a click may wait for its embedding
    # Propagation
    tracker: str = "auto"  # SAMVID_TRACKER: auto (SAM 2 memory when its weights are here, else flow) or an engine
    tracker_model: str = ""  # SAMVID_TRACKER_MODEL: SAM 2-family model for tracking (default: the click model)
    propagate_frames: int = 0  # SAMVID_PROPAGATE_FRAMES: 0 = up to the next human frame or the end
    propagate_direction: str = "forward"  # SAMVID_PROPAGATE_DIRECTION: forward | backward | both
    # SAMVID_PROPAGATE_BRIDGE: a correction recomputes both sides, each stretch between two
    # human frames tracked from both. Off by default: with the default engine it cost
    # corrections in the effort bench (docs/effort.md); it pays with flow-preview.
    propagate_bridge: bool = False
    studio_retry_seconds: float = 120.0  # SAMVID_STUDIO_RETRY_SECONDS: jobs wait out an unreachable LS
    # Automatic masks
    auto: bool = False  # SAMVID_AUTO: SAM's automatic masks on a frame that opens unannotated
    auto_grid: int = 16  # SAMVID_AUTO_GRID: clicks per side of the grid (16 or 32; 1 to 64)
    # Serving
    auth_user: str = ""  # SAMVID_AUTH_USER: HTTP basic auth on every route but /health
    auth_password: str = field(default="", repr=False)  # SAMVID_AUTH_PASSWORD
    precompute_on_open: bool = True  # SAMVID_PRECOMPUTE: embed a frame when its task opens
    log_level: str = "INFO"  # SAMVID_LOG_LEVEL: DEBUG | INFO | WARNING | ERROR | CRITICAL (samvid.cli applies it)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if env is None else env)
        names = {
            "model": "SAMVID_MODEL",
            "device": "SAMVID_DEVICE",
            "fallback": "SAMVID_FALLBACK",
            "random_weights": "SAMVID_RANDOM_WEIGHTS",
            "precision": "SAMVID_PRECISION",
            "label_studio_url": "LABEL_STUDIO_URL",
            "label_studio_api_key": "LABEL_STUDIO_API_KEY",
            "redis_url": "REDIS_URL",
            "cache_bytes": "SAMVID_CACHE_BYTES",
            "redis_cache_ttl": "SAMVID_REDIS_CACHE_TTL",
            "local_roots": "SAMVID_LOCAL_ROOTS",
            "allowed_hosts": "SAMVID_ALLOWED_HOSTS",
            "max_request_bytes": "SAMVID_MAX_REQUEST_BYTES",
            "max_image_bytes": "SAMVID_MAX_IMAGE_BYTES",
            "max_image_pixels": "SAMVID_MAX_IMAGE_PIXELS",
            "max_video_bytes": "SAMVID_MAX_VIDEO_BYTES",
            "max_video_seconds": "SAMVID_MAX_VIDEO_SECONDS",
            "max_video_pixels": "SAMVID_MAX_VIDEO_PIXELS",
            "fetch_timeout": "SAMVID_FETCH_TIMEOUT",
            "request_timeout": "SAMVID_REQUEST_TIMEOUT",
            "precompute_on_open": "SAMVID_PRECOMPUTE",
            "tracker": "SAMVID_TRACKER",
            "tracker_model": "SAMVID_TRACKER_MODEL",
            "propagate_frames": "SAMVID_PROPAGATE_FRAMES",
            "propagate_direction": "SAMVID_PROPAGATE_DIRECTION",
            "propagate_bridge": "SAMVID_PROPAGATE_BRIDGE",
            "studio_retry_seconds": "SAMVID_STUDIO_RETRY_SECONDS",
            "log_level": "SAMVID_LOG_LEVEL",
            "auth_user": "SAMVID_AUTH_USER",
            "auto": "SAMVID_AUTO",
            "auto_grid": "SAMVID_AUTO_GRID",
            "auth_password": "SAMVID_AUTH_PASSWORD",
        }
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for name, var in names.items():
            raw = env.get(var)
            if raw is None or raw == "":  # empty is unset: compose writes ${VAR:-} as ""
                continue
            if not raw.strip():
                raise ConfigError(f"{var}={raw!r} is blank; unset it for the default or give a value")
            kind = types[name]
            try:
                if kind == "bool":
                    values[name] = _bool(raw)
                elif kind == "int":
                    values[name] = int(raw)
                elif kind == "float":
                    values[name] = float(raw)
                elif name == "local_roots":
                    values[name] = _paths(raw, var)
                elif name == "allowed_hosts":
                    values[name] = _hosts(raw)
                else:
                    values[name] = raw
            except ValueError as exc:
                raise ConfigError(f"{var}={raw!r} is not a valid {kind}; {_EXPECTED[str(kind)]}") from exc
        # Label Studio serves local files from this root; samvid may read under it.
        ls_root = env.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT")
        roots_var = "SAMVID_LOCAL_ROOTS"
        if ls_root and "local_roots" not in values:
            roots_var = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
            values["local_roots"] = _paths(ls_root, roots_var)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "label_studio_url" in values:
            values.setdefault("label_studio_url_given", True)
        for name in _WORDS:
            if isinstance(values.get(name), str):
                values[name] = str(values[name]).strip().lower()
        settings = cls(**values)  # type: ignore[arg-type]  # each value was converted to its field's type above
        settings._check(names)
        _check_roots(settings.local_roots, roots_var)
        return settings

    def _check(self, names: dict[str, str]) -> None:
        """Refuse at start what would fail later, far from its cause (a request, a job)."""
        _check_studio_url(self.label_studio_url)
        if self.redis_url.strip(" ") != self.redis_url:
            # A .env line's trailing space: redis-py's bare "Port could not be cast" mid-start.
            # Inside, a space is a password's or a socket path's, which redis-py takes.
            raise ConfigError(f"REDIS_URL={redis_url_for_messages(self.redis_url)!r} (or samvid worker "
                              "--redis-url) starts or ends with a space; remove it")
        if self.redis_url and not self.redis_url.startswith(REDIS_SCHEMES):
            # redis-py would raise a bare ValueError at the first connection, mid-start.
            shown = redis_url_for_messages(self.redis_url)
            raise ConfigError(f"REDIS_URL={shown!r} (or samvid worker --redis-url) must start with "
                              f"{', '.join(REDIS_SCHEMES[:-1])} or {REDIS_SCHEMES[-1]} (e.g. redis://localhost:6379/0)")
        if self.redis_url and (problem := _redis_db_problem(self.redis_url)):
            raise ConfigError(f"REDIS_URL={redis_url_for_messages(self.redis_url)!r} (or samvid worker "
                              f"--redis-url) is not usable: {problem}")
        if self.redis_url and (problem := _redis_client_problem(self.redis_url)):
            raise ConfigError(f"REDIS_URL={redis_url_for_messages(self.redis_url)!r} (or samvid worker "
                              f"--redis-url) is not usable: {problem}")
        for name, unit in _POSITIVE.items():
            value = getattr(self, name)
            if isinstance(value, int) and abs(value) > 10**300:
                # Past a float's range math.isfinite raised a bare OverflowError at start.
                raise ConfigError(f"{names[name]} must be a number of {unit} above 0 with at most 300 digits")
            if not (math.isfinite(value) and value > 0):  # inf would never time out; NaN compares false
                raise ConfigError(f"{names[name]} must be a number of {unit} above 0 (finite), not {value!r}")
            if name in _MOST and value > _MOST[name]:
                raise ConfigError(f"{names[name]} must be a number of {unit} above 0 and at most "
                                  f"{_MOST[name]}, not {value!r}")
        if self.label_studio_api_key:
            _check_token(self.label_studio_api_key, "LABEL_STUDIO_API_KEY")
        if self.cache_bytes < 0:  # 0 is allowed: no in-process cache (Redis may still cache)
            raise ConfigError(f"SAMVID_CACHE_BYTES={self.cache_bytes} is not usable: give 0 (no in-process "
                              "cache) or a number of bytes above 0")
        if not DEVICE_PATTERN.fullmatch(self.device):
            raise ConfigError(f"SAMVID_DEVICE={self.device!r} is not a device; give one of {DEVICES}")
        if self.fallback and self.fallback not in FALLBACKS and not self.fallback.startswith("standin:"):
            raise ConfigError(f"SAMVID_FALLBACK={self.fallback!r} is not a weight-free model; "
                              f"give one of {', '.join(FALLBACKS)} or leave it unset")
        if self.fallback.startswith("standin:"):
            try:  # else refused on the day the model's weights go missing, when it is needed
                standin_radius(self.fallback)
            except ModelUnavailable as exc:
                raise ConfigError(f"SAMVID_FALLBACK={self.fallback!r} is not usable: {exc.message}") from None
        if self.propagate_direction not in DIRECTIONS:
            raise ConfigError(f"SAMVID_PROPAGATE_DIRECTION={self.propagate_direction!r} is not a direction; "
                              f"give one of {', '.join(DIRECTIONS)}")
        if not 0 <= self.propagate_frames <= MAX_PROPAGATE_FRAMES:
            # Above the bound every submit's job would be refused with a 400 naming "frames".
            raise ConfigError(f"SAMVID_PROPAGATE_FRAMES must be 0 (up to the next human frame) or a number of "
                              f"frames from 1 to {MAX_PROPAGATE_FRAMES}, not {self.propagate_frames}")
        low, high = AUTO_GRID_RANGE
        if not low <= self.auto_grid <= high:
            raise ConfigError(f"SAMVID_AUTO_GRID must be a number of clicks per side from {low} to {high}; 16 is the default")
        log_level({"SAMVID_LOG_LEVEL": self.log_level})
        if ":" in self.auth_user:  # basic auth splits user and password at the first ':'
            raise ConfigError("SAMVID_AUTH_USER must not contain ':'; choose a user name without one")
        for var, value in (("SAMVID_AUTH_USER", self.auth_user), ("SAMVID_AUTH_PASSWORD", self.auth_password)):
            # A secret file's last line break: no one can type it into Label Studio's
            # connection form, so every request would be refused with a bare 401.
            if any(unicodedata.category(c) == "Cc" for c in value):  # a no-break space is typable
                raise ConfigError(f"{var} holds a line break, tab or other control character (a secret "
                                  "file's last line break?); remove it")
        if not 0 <= self.studio_retry_seconds <= 86400:
            raise ConfigError("SAMVID_STUDIO_RETRY_SECONDS must be a number of seconds from 0 to 86400")
        if self.precision not in PRECISIONS:
            raise UnsupportedPrecision(
                f"SAMVID_PRECISION={self.precision!r} is not a precision; choose one of {', '.join(PRECISIONS)}"
            )
        if bool(self.auth_user) != bool(self.auth_password):
            raise ConfigError("set both SAMVID_AUTH_USER and SAMVID_AUTH_PASSWORD, or neither")
