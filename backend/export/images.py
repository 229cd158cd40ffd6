"""Fetch a frame task's image as Label Studio serves it, for copying into an export.

Fetching is ``samvid.images.ImageSource``'s, so the export follows the backend's one
rule for the token: it goes to the Label Studio server itself (relative URLs and URLs
on its origin) and never to another host, also after a redirect. The bytes are copied
as they are (no re-encoding), so the exported image is the exact image that was labelled.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import struct
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np
import requests
from PIL import Image as PILImage

from samvid.errors import SamvidError
from samvid.images import ImageSource
from samvid.redact import url_for_messages

log = logging.getLogger(__name__)

_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/bmp": ".bmp",
          "image/tiff": ".tif", "image/gif": ".gif"}
# EXIF orientations that turn an image a quarter: shown, its width and height swap.
QUARTER_TURNS = frozenset({5, 6, 7, 8})
_ORIENTATION = 0x0112
# What a damaged header or EXIF block raises from Pillow (the pixels may still decode).
_HEADER_ERRORS = (OSError, SyntaxError, ValueError, TypeError, AttributeError, KeyError,
                  IndexError, struct.error, PILImage.DecompressionBombError)
# What the bytes say, trusted over the URL (an upload may be renamed).
_MAGIC = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"), (b"BM", ".bmp"),
          (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"), (b"GIF87a", ".gif"), (b"GIF89a", ".gif"))


@dataclass(frozen=True)
class Image:
    data: bytes
    ext: str  # ".jpg", ".png", ...
    height: int
    width: int


class ImageUnavailable(Exception):
    """Internal: the reader turns it into a ``missing_image`` problem and goes on."""


class ImageFetcher:
    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0) -> None:
        # The export runs as the user, on their machine: hosts on their own network are
        # theirs to read (the server refuses them; see ImageSource.public_hosts_only).
        self.source = ImageSource(base_url.rstrip("/"), api_key, timeout=timeout,
                                  public_hosts_only=False, session=requests.Session())

    def fetch(self, url: str, task_id: int | None = None) -> Image:
        if not url:
            raise ImageUnavailable("task has no image URL")
        try:
            data = self.source.fetch(url, task_id)
        except SamvidError as exc:
            raise ImageUnavailable(f"image {url_for_messages(url)!r}: {exc.message}") from exc
        if not data:  # a 0-byte file: OpenCV's imdecode raises on it rather than say None
            raise ImageUnavailable(f"image {url_for_messages(url)!r} is an empty file")
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise ImageUnavailable(f"image {url_for_messages(url)!r} is not a readable image")
        height, width = shown_size(data, int(pixels.shape[0]), int(pixels.shape[1]))
        return Image(data, image_extension(url, data), height, width)


def shown_size(data: bytes, height: int, width: int) -> tuple[int, int]:
    """(height, width) of an image stored ``height`` x ``width`` as a browser shows it,
    and so as Label Studio sizes its regions (and ``samvid.images.decode_image`` the
    tracker's frames): a quarter-turning EXIF orientation swaps the two. The stored size
    when the EXIF block cannot be read, as a browser then shows the image as stored."""
    try:
        with PILImage.open(io.BytesIO(data)) as image:
            orientation = image.getexif().get(_ORIENTATION)
    except _HEADER_ERRORS:
        return height, width
    return (width, height) if orientation in QUARTER_TURNS else (height, width)


def image_extension(url: str, data: bytes = b"") -> str:
    """The file extension of an image: what its bytes say, else its URL's, else ``.jpg``.

    The bytes are copied as they are, so the name must say their real format (a TIFF
    named .jpg is unreadable to tools that trust the name); without bytes (images not
    copied) the task URL's own extension names the frame.
    """
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    # Local-files URLs carry the path in ?d=...; uploads carry it in the path.
    try:
        parts = urlsplit(url)
    except ValueError:
        # A malformed host ("http://[x/a.png"): the fetch reports the image missing; without
        # images the frame is still named, by the extension the URL's text ends with.
        path = url.partition("?")[0].partition("#")[0]
    else:
        path = parse_qs(parts.query).get("d", [parts.path])[0]
    guessed = mimetypes.guess_type(path)[0] or ""
    return _TYPES.get(guessed, ".jpg")
