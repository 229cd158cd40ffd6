"""Fetching and decoding the image a request points at.

Every source is untrusted. The Label Studio token is sent to the Label Studio
host only; local paths are read only under configured roots; sizes and pixel
counts are bounded so a hostile image cannot exhaust memory.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import logging
import posixpath
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import (
    ParseResult,
    parse_qs,
    unquote,
    unquote_to_bytes,
    urljoin,
    urlparse,
)

import numpy as np
import requests
from PIL import Image, ImageOps, UnidentifiedImageError
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from samvid.errors import ForbiddenSource, ImageError, ImageUnreachable, SamvidError, TooLarge
from samvid.redact import url_for_messages, url_without_userinfo
from samvid.settings import NOT_A_URL, Settings

log = logging.getLogger(__name__)


# Label Studio's own paths that task data may hold relative to Label Studio's address.
LABEL_STUDIO_PATHS = ("/data/", "/api/", "/tasks/")
_BASE64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")

# What tells that a local file was replaced: (mtime ns, size, inode, ctime ns). Modification
# time and size alone kept a frame replaced by another picture of its size with its times
# (cp -p, rsync -a, an archive extracted again): no user can set the change time, which any
# write, rename or utime moves (after a stat, by a distinct amount however soon: Linux 6.13+),
# and a file renamed over the old one is another inode. Windows' ctime is the creation time:
# there mtime and size tell, as before. A chmod or chown moves the change time too: the
# frame's automatic masks are then computed again (a click re-reads and re-hashes the file,
# and finds its embedding by content), a cost paid once, not a stale picture.
FileStamp = tuple[int, int, int, int]


def _base64_text(payload: str) -> str:
    """The base64 of a ``data:`` URI as ``b64decode(validate=True)`` takes it, which refuses
    any whitespace.

    A space inside the data is a "+" that form or query-string decoding turned into one:
    base64 never holds a space, and dropping it shifted every byte after it. Wrapped data
    (MIME wraps at 76 columns; a script may indent, fold or pad it) loses its line breaks,
    the indent its lines share, blanks typed before the data and blanks padding a line.
    Blanks ending a line are "+" only as far as they bring it to the width of the others'
    data (a "+" that ended a line), and at the data's end only as far as they complete its
    last group of four after no "=" (no image format's base64 starts with "+").

    >>> _base64_text("iVBO R0K/9j+")
    'iVBO+R0K/9j+'
    >>> _base64_text(" iVBO R0K/9j  "), _base64_text("AA==    ")
    ('iVBO+R0K/9j+', 'AA==')
    >>> _base64_text("  iVBORw0K\\r\\n  Gg+oAAAA\\n")
    'iVBORw0KGg+oAAAA'
    >>> _base64_text("iVBORw0K  \\nGg oAAA  \\nAAAA")
    'iVBORw0KGg+oAAA+AAAA'
    """
    lines = [line.replace("\t", "") for line in payload.splitlines()]
    rest = [line for line in lines[1:] if line.strip(" ")]
    indent = min((len(line) - len(line.lstrip(" ")) for line in rest), default=0)
    lines = [line for line in (lines[0].lstrip(" ") if lines else "", *(line[indent:] for line in rest)) if line]
    if not lines:
        return ""
    widths = [len(line.rstrip(" ")) for line in lines[:-1]]
    # The lines' width: the most common, the wider of a tie (the other lost a "+" at its end).
    width = max(set(widths), key=lambda w: (widths.count(w), w)) if widths else 0
    if len(widths) != 1:
        return _joined(lines, width)
    # One line before the last: no other to take its width from. Its blanks are the fewest
    # "+" (at most 3: four "+" in a row end a line once in millions) that make it a width
    # data is wrapped at (whole groups of four), else padding.
    blanks = len(lines[0]) - width
    wrapped = (width + k for k in range(min(blanks, 3) + 1) if (width + k) % 4 == 0)
    return _joined(lines, next(wrapped, width))


def _joined(lines: list[str], width: int) -> str:
    """``lines`` (blank-free at their starts) as one base64 text, the blanks ending each but
    the last read as "+" up to ``width``, the last's only as far as they complete its group
    of four after no "="."""
    text = "".join(_blanks_as_plus(line, width - len(line.rstrip(" "))) for line in lines[:-1])
    last = lines[-1].rstrip(" ")
    need = 0 if last.endswith("=") else -(len(text) + len(last)) % 4
    return text + _blanks_as_plus(lines[-1], need)


def _blanks_as_plus(line: str, most: int) -> str:
    """``line`` with the blanks that end it read as "+", at most ``most`` of them, the rest
    dropped; a blank inside it is a "+" whatever."""
    data = line.rstrip(" ")
    return (data + "+" * max(0, min(most, len(line) - len(data)))).replace(" ", "+")


@dataclass(frozen=True)
class ImageSource:
    """Where images come from: Label Studio, allowed hosts, local roots."""

    label_studio_url: str
    api_key: str = ""
    local_roots: tuple[Path, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    max_bytes: int = 64 * 1024**2
    max_pixels: int = 64_000_000
    timeout: float = 20.0
    # The server refuses hosts that resolve to private addresses (a task URL must not
    # reach its intranet); a command run by the user on their own machine may read them.
    public_hosts_only: bool = True
    # Keep-alive across many fetches (an export); None: a connection per fetch. Not used
    # for hosts that must be public (public_hosts_only): those get a checked connection.
    session: requests.Session | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageSource:
        return cls(
            label_studio_url=settings.label_studio_url,
            api_key=settings.label_studio_api_key,
            local_roots=settings.local_roots,
            allowed_hosts=settings.allowed_hosts,
            max_bytes=settings.max_image_bytes,
            max_pixels=settings.max_image_pixels,
            timeout=settings.fetch_timeout,
        )

    def _is_label_studio(self, url: str) -> bool:
        return is_same_origin(self.label_studio_url, url)

    def fetch(self, ref: str, task_id: int | None = None) -> bytes:
        """The raw bytes of ``ref``: a Label Studio URL, an http(s) URL, a local path or a
        ``data:`` URI."""
        if not isinstance(ref, str) or not ref.strip():
            raise ImageError("the task has no image URL")
        if ref[:5].lower() == "data:":  # the image itself, as Label Studio's <Image> shows it
            return self._inline(ref)
        ref = self._without_prefix(ref)
        local = self._disk_path(ref)
        if local is not None:
            return self._read_local(local)
        if ref.startswith("/"):  # Label Studio's own path (a local file not on this disk too)
            return self._get(self._label_studio_address(ref))
        parsed = _parsed(ref)
        if parsed.scheme in ("http", "https"):
            return self._get(ref)
        if parsed.scheme and task_id is not None:
            # Cloud storage (s3://, gs://, azure-blob://): Label Studio presigns it.
            if isinstance(task_id, bool) or not isinstance(task_id, int):
                # The request's own id goes into the path: "1/../../api/x" would name another.
                raise ImageError(f"task id {str(task_id)[:40]!r} is no Label Studio task id (a whole "
                                 "number): cannot ask Label Studio for the task's image")
            encoded = base64.urlsafe_b64encode(ref.encode()).decode()
            return self._get(self._label_studio_address(f"/tasks/{task_id}/resolve/?fileuri={encoded}"))
        raise ImageError(f"cannot read image source {url_for_messages(ref)[:200]!r}: use an http(s) URL or a path")

    def _inline(self, ref: str) -> bytes:
        """The bytes of a ``data:`` URI (``data:image/png;base64,...``): no host to ask
        (Label Studio cannot resolve one as a cloud URI), bounded like a download."""
        header, comma, payload = ref.partition(",")
        if not comma:
            raise ImageError("the image's data: URI has no ',' before its data; fix it in the task")
        if len(payload) > self.max_bytes * 4 // 3 + 4:
            raise TooLarge(f"the image in the task's data: URI is over {self.max_bytes} bytes")
        if not header.lower().endswith(";base64"):
            data = unquote_to_bytes(payload)
        else:
            # Any stray character is refused here, since b64decode would drop it and leave
            # bytes "in no image format" that hide what is wrong.
            text = _base64_text(unquote(payload) if "%" in payload else payload)
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as exc:
                odd = next((c for c in text if c not in _BASE64_ALPHABET), None)
                why = f"it holds {odd!r}, which base64 has not" if odd is not None else str(exc)
                raise ImageError(f"the image's data: URI is not valid base64 ({why}); fix it in the task") from None
        if not data:
            raise ImageError("the data: URI holds no data: put the image's bytes after its ','; fix it in the task")
        return data

    def stamp(self, ref: str) -> FileStamp | None:
        """The ``FileStamp`` of the file under a local root that ``fetch`` reads ``ref``
        from; None for an image fetched over HTTP, or one not readable here. A stat, not a
        read: how a cached embedding learns that the file behind the same reference was
        replaced (a frame extracted again)."""
        if not isinstance(ref, str) or not ref.strip() or ref[:5].lower() == "data:":
            return None
        try:
            path = self._disk_path(self._without_prefix(ref))
            if path is None:
                return None
            status = self.readable(path).stat()
        except (SamvidError, OSError, ValueError):
            return None
        return status.st_mtime_ns, status.st_size, status.st_ino, status.st_ctime_ns

    def _disk_path(self, ref: str) -> Path | None:
        """The path ``ref`` (without LABEL_STUDIO_URL's path) is read from on this machine,
        or None when a host is asked for it."""
        parsed = _parsed(ref)
        if ref.startswith("/data/local-files/"):
            return self._local_files_path(parsed.query)
        if ref.startswith("/"):
            return None if ref.startswith(LABEL_STUDIO_PATHS) else Path(ref)
        return Path(unquote(parsed.path)) if parsed.scheme == "file" else None

    def _label_studio_address(self, path: str) -> str:
        """The URL of Label Studio's ``path`` (such as ``/data/upload/...``), under the path
        LABEL_STUDIO_URL has when Label Studio is served below one (``https://host/ls``), as
        ``studio.client`` calls it; ``urljoin`` would drop that path. Without its
        ``user:password@``, which may hold a "\\" that ``_one_host`` refuses in a task's URL."""
        return url_without_userinfo(self.label_studio_url).rstrip("/") + path

    def _without_prefix(self, ref: str) -> str:
        """``ref`` without LABEL_STUDIO_URL's path when it already carries it
        (``/ls/data/upload/...``): the same Label Studio file as ``/data/upload/...``."""
        prefix = urlparse(self.label_studio_url).path.rstrip("/")
        if prefix and ref.startswith(prefix + "/") and ref[len(prefix):].startswith(LABEL_STUDIO_PATHS):
            return ref[len(prefix):]
        return ref

    def _local_files_path(self, query: str) -> Path | None:
        """Label Studio's local-files URL read straight from disk when a root holds it.

        ``d`` is read as Label Studio reads it: relative to the document root even with a
        leading slash (``?d=/frames/a.png`` is ``<root>/frames/a.png``)."""
        rel = posixpath.normpath(parse_qs(query).get("d", [""])[0]).lstrip("/")
        for root in self.local_roots:
            candidate = root / rel
            try:
                if candidate.is_file():
                    return candidate
            except OSError:  # a name too long for the file system: not here (is_file raises)
                continue
        return None

    def readable(self, path: Path, what: str = "image") -> Path:
        """``path`` resolved, when it lies under a local root (ForbiddenSource if not);
        ImageError for one no file can have. ``what`` it is, for messages: the one check of
        a local path for every file samvid reads (an image, a task's source video)."""
        if "\0" in str(path):  # no file has one; resolve() would raise ValueError
            raise ImageError(f"the {what} path {str(path)[:200]!r} contains a NUL byte; fix it in the task")
        try:
            resolved = path.expanduser().resolve()
        except (RuntimeError, OSError) as exc:  # a symlink loop: RuntimeError before Python 3.13
            raise ImageError(f"cannot read {str(path)[:200]}: {exc}") from exc
        roots = [r.expanduser().resolve() for r in self.local_roots]
        if not any(resolved == r or r in resolved.parents for r in roots):
            raise ForbiddenSource(
                f"{path} is outside the folders samvid may read; add its folder to "
                "SAMVID_LOCAL_ROOTS or serve it through Label Studio"
            )
        return resolved

    def _read_local(self, path: Path) -> bytes:
        resolved = self.readable(path)
        try:
            size = resolved.stat().st_size
            if size > self.max_bytes:
                raise TooLarge(f"image file is {size} bytes, over the {self.max_bytes} limit")
            return resolved.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def _check_host(self, url: str) -> bool:
        """Refuse hosts samvid must not reach: private/loopback/link-local addresses.
        True when the host must be public, so the connection checks its address again.

        The Label Studio host and ``SAMVID_ALLOWED_HOSTS`` are trusted as configured, in
        addition to public hosts: listing an intranet image server must not cut off the
        public ones (such as the S3 URL Label Studio's storage redirects to).
        """
        if self._is_label_studio(url):
            return False
        host = (urlparse(url).hostname or "").lower()
        if host in self.allowed_hosts:
            return False
        if not self.public_hosts_only:
            return False
        try:
            infos = socket.getaddrinfo(host, None)
        except (socket.gaierror, UnicodeError) as exc:
            raise ImageError(f"cannot resolve host {host!r}") from exc
        for info in infos:
            _must_be_public(host, ipaddress.ip_address(info[4][0]))
        return True

    def _get(self, url: str, hops: int = 5) -> bytes:
        for _ in range(hops + 1):
            _parsed(url)  # a malformed URL (or redirect target) is the task's error, not a crash
            _one_host(url)
            if self.api_key and self._is_label_studio(url):
                url = url_without_userinfo(url)  # requests would send it as Basic auth, not the token
            public_only = self._check_host(url)  # again after every redirect
            get = _get_from_public_address if public_only else (self.session or requests).get
            try:
                with get(url, headers=self.auth_headers(url), timeout=self.timeout, stream=True,
                         allow_redirects=False) as resp:
                    if resp.is_redirect and resp.headers.get("Location"):
                        url = _redirect_target(url, resp.headers["Location"])
                        continue
                    return self._body(url, resp)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise ImageUnreachable(f"cannot fetch {url_for_messages(url)}: {type(exc).__name__}") from exc
            except requests.RequestException as exc:
                raise ImageError(f"cannot fetch {url_for_messages(url)}: {type(exc).__name__}") from exc
        raise ImageError(f"too many redirects fetching {url_for_messages(url)}")

    def _body(self, url: str, resp: requests.Response) -> bytes:
        if resp.status_code in (401, 403) and self._is_label_studio(url):
            raise ImageError(
                f"{url_for_messages(url)} answered {resp.status_code}: set LABEL_STUDIO_API_KEY "
                "to a valid Label Studio token"
            )
        if resp.status_code in (401, 403):
            # Not Label Studio: its token is never sent there, so it cannot help.
            raise ImageError(
                f"{url_for_messages(url)} answered {resp.status_code}: the image's host refused it (an expired "
                "presigned link, or a host that needs credentials samvid does not send)"
            )
        if resp.status_code >= 500:
            raise ImageUnreachable(f"{url_for_messages(url)} answered HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise ImageError(f"{url_for_messages(url)} answered HTTP {resp.status_code}")
        chunks, total = [], 0
        for chunk in resp.iter_content(1 << 16):
            total += len(chunk)
            if total > self.max_bytes:
                raise TooLarge(f"image at {url_for_messages(url)} is over {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def auth_headers(self, url: str) -> dict[str, str]:
        """The one token-host rule: the Label Studio token goes to Label Studio's own
        origin (scheme, host, port) and to nothing else; task URLs are data, not trust."""
        if self.api_key and self._is_label_studio(url):
            return {"Authorization": f"Token {self.api_key}"}
        return {}

    def decode(self, data: bytes) -> np.ndarray:
        return decode_image(data, self.max_pixels)


# IPv6 ranges that stand for an IPv4 address which a NAT64 gateway, a 6to4 relay or the
# kernel delivers to; ``is_global`` judges them by the IPv6 range alone (64:ff9b::a9fe:a9fe
# is "global" and reaches 169.254.169.254 behind NAT64).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: the IPv4 address may sit anywhere


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address``, and any IPv4 address it carries, is a public unicast one.

    >>> _is_public(ipaddress.ip_address("8.8.8.8")), _is_public(ipaddress.ip_address("64:ff9b::a00:1"))
    (True, False)
    """
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return False
        embedded = address.ipv4_mapped or address.sixtofour
        # Also ::a.b.c.d (IPv4-compatible) and ::ffff:0:a.b.c.d (SIIT's IPv4-translated).
        if embedded is None and (address in _NAT64 or int(address) >> 32 in (0, 0xFFFF0000)):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return _is_public(embedded)
    return True


def _must_be_public(host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """ForbiddenSource unless ``address``, which ``host`` resolves to, is public."""
    if not _is_public(address):
        raise ForbiddenSource(
            f"host {host!r} resolves to the non-public address {address}; samvid fetches "
            "such hosts only when they are LABEL_STUDIO_URL's host or listed in SAMVID_ALLOWED_HOSTS"
        )


def _public_peer(sock: socket.socket, host: str) -> socket.socket:
    """``sock`` if the address it is connected to is public; else it is closed and refused."""
    try:
        _must_be_public(host, ipaddress.ip_address(sock.getpeername()[0]))
    except ForbiddenSource:
        sock.close()
        raise
    return sock


# ``_check_host`` resolves a name to check its addresses, and the connection then resolves
# it again: a name whose DNS answers a public address first and 127.0.0.1 next (DNS
# rebinding) passes the check and reaches the intranet. So the address the socket is
# connected to is checked as well, before a byte of the request is sent; the name still
# goes in the Host header and TLS (SNI and the certificate check) as before. A proxy
# (HTTPS_PROXY) resolves names itself: its connections are not checked here.
class _PublicHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _public_peer(super()._new_conn(), self.host)


class _PublicHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _public_peer(super()._new_conn(), self.host)


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicAddressesOnly(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}


def _get_from_public_address(url: str, **kwargs: Any) -> requests.Response:
    """``requests.get`` that connects to public addresses only (``_PublicHTTPConnection``)."""
    with requests.Session() as session:
        session.mount("http://", _PublicAddressesOnly())
        session.mount("https://", _PublicAddressesOnly())
        return session.get(url, **kwargs)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_same_origin(base: str, url: str) -> bool:
    """Whether ``url`` is on ``base``'s origin (scheme, host and port).

    >>> is_same_origin("http://ls:8080", "http://ls:8080/data/x.png"), is_same_origin("http://ls:8080", "http://ls/x")
    (True, False)
    """
    a, b = urlparse(base), urlparse(url)
    return (a.scheme, a.hostname, _port(a)) == (b.scheme, b.hostname, _port(b))


def _port(url: ParseResult) -> int | None:
    """The port of ``url``, its scheme's default when not written: ``https://ls`` and
    ``https://ls:443`` are one origin."""
    return url.port or _DEFAULT_PORTS.get(url.scheme)


def _parsed(url: str) -> ParseResult:
    """``url`` parsed with its port checked (``urlparse`` only checks it when ``.port`` is
    read): a malformed image URL is the task's error (ImageError), not a server crash."""
    try:
        parsed = urlparse(url)
        _ = parsed.port  # ValueError when not a number or outside 0-65535
    except ValueError:
        # Not urlparse's words: they quote a password's start where it holds an unencoded "/".
        raise ImageError(f"the image URL {url_for_messages(url)!r} {NOT_A_URL.removeprefix('it ')}; "
                         "fix it in the task") from None
    return parsed


def _one_host(url: str) -> None:
    r"""Refuse ``url`` where urlparse and requests would connect to different hosts: urlparse
    reads "http://other\@ls:8080/..." as Label Studio's, requests connects to "other", and
    the token would go there, past the private-address check."""
    if "\\" in urlparse(url).netloc:
        raise ImageError(f"the image URL {url_for_messages(url)!r} has a '\\' before its path, which "
                         "clients read as the host's end; fix it in the task")


def _redirect_target(url: str, location: str) -> str:
    try:
        return urljoin(url, location)
    except ValueError as exc:
        raise ImageError(f"{url_for_messages(url)} redirected to a malformed URL ({exc})") from None


# What a malformed EXIF block raises from Pillow's EXIF code (the pixels are unaffected).
_EXIF_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError, struct.error)
_ORIENTATION = 0x0112
_TRANSPOSE = {  # EXIF orientation -> the transpose that shows the image upright
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(img: Image.Image) -> Image.Image:
    """``img`` as a browser shows it: its EXIF orientation applied.

    ``ImageOps.exif_transpose`` also rewrites the EXIF block of its result and fails on
    one malformed tag although the pixels decode fine (browsers show such photos): then
    the orientation tag is applied by hand, or the image is used as stored when even that
    tag cannot be read.
    """
    try:
        return ImageOps.exif_transpose(img)
    except _EXIF_ERRORS:
        pass
    try:
        orientation = img.getexif().get(_ORIENTATION)
    except _EXIF_ERRORS:
        return img
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return img.transpose(method) if method is not None else img


def decode_image(data: bytes, max_pixels: int = 64_000_000) -> np.ndarray:
    """RGB uint8 (H, W, 3), upright as a browser shows it (EXIF orientation applied).

    Grey, palette, RGBA, CMYK, 16-bit and float (0..1, or 0..255 past 1) images are
    converted; animations give their first frame; images over ``max_pixels`` are
    refused before decoding.
    """
    let_pillow_open(max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise TooLarge(f"image is {w}x{h} pixels, over the {max_pixels} pixel limit (SAMVID_MAX_IMAGE_PIXELS)")
            if w == 0 or h == 0:
                raise ImageError("image has zero size")
            img.seek(0)
            img = _upright(img)
            # Fixed scales, not the image's own range, which would brighten a dark frame
            # and give one value another grey in each frame of a video.
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                # 16-bit grey by its high byte, as Pillow reads 16-bit colour and rgb8 takes
                # arrays: one picture gives the same greys whichever way it comes.
                arr = (np.clip(np.asarray(img, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=2))
            if img.mode == "F":
                # Float samples of 0..1 run from black to white, as image viewers show them
                # (Pillow reads them as 0..255: all black); past 1.25 they are 0..255 (an 8-bit
                # frame saved as float), which Pillow reads right. A frame of the latter whose
                # every value is at most 1.25 is near black, and shown bright: rare.
                arr = np.asarray(img, dtype=np.float64)
                finite = arr[np.isfinite(arr)]
                # With room for a resize's overshoot (1.02), and +inf left out: neither makes
                # a 0..1 image 0..255 (near black).
                unit = finite.size == 0 or float(finite.max()) <= 1.25
                white = 1.0 if unit else 255.0
                arr = np.nan_to_num(arr, nan=0.0, posinf=white, neginf=0.0)
                arr = np.round(np.clip(arr * (255.0 / white), 0.0, 255.0)).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=2))
            return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
    except UnidentifiedImageError as exc:
        # Pillow's own message names its buffer ("<_io.BytesIO object at 0x7f...>").
        raise ImageError("the image could not be decoded: its bytes are in no image format "
                         "samvid reads (JPEG, PNG, WebP, TIFF, BMP, GIF...)") from exc
    except (OSError, SyntaxError, ValueError, NotImplementedError) as exc:
        # NotImplementedError: a format Pillow knows in a variant it cannot decode (a DDS).
        raise ImageError(f"the image could not be decoded ({exc})") from exc
    except Image.DecompressionBombError as exc:  # over twice the limit: Pillow's own check came first
        raise TooLarge(f"image is over the {max_pixels} pixel limit (SAMVID_MAX_IMAGE_PIXELS)") from exc


def let_pillow_open(max_pixels: int) -> None:
    """Raise Pillow's decompression-bomb limit to ``max_pixels`` where it is lower.

    ``Image.open`` refuses images over twice ``Image.MAX_IMAGE_PIXELS`` (~179 Mpx) before
    samvid could check the size, so a larger SAMVID_MAX_IMAGE_PIXELS would have no effect.
    samvid checks the size itself before decoding; Pillow's limit stays a backstop, at
    twice the setting. It is process-wide: raised, never lowered (another thread may be
    decoding under a larger limit).
    """
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels
