"""Fetch a frame task's image as Label Studio serves it, for copying into an export.

Task URLs are data, not trusted configuration: the API token is sent only to
the Label Studio server itself (relative URLs and URLs on its origin), never to
another host. The bytes are copied as they are (no re-encoding), so the
exported image is the exact image that was labelled.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

import cv2
import numpy as np
import requests

log = logging.getLogger(__name__)

_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/bmp": ".bmp"}


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
        self.base_url = base_url.rstrip("/") + "/"
        self._origin = urlsplit(self.base_url)[:2]
        self._headers = {"Authorization": f"Token {api_key}"}
        self._session = requests.Session()
        self.timeout = timeout

    def fetch(self, url: str) -> Image:
        if not url:
            raise ImageUnavailable("task has no image URL")
        full = urljoin(self.base_url, url)
        if urlsplit(full).scheme not in ("http", "https"):
            raise ImageUnavailable(f"cannot read image {url!r}: not an http(s) URL")
        own = urlsplit(full)[:2] == self._origin
        try:
            reply = self._session.get(
                full, headers=self._headers if own else None, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ImageUnavailable(f"image {url!r} could not be fetched: {exc}") from exc
        if reply.status_code != 200:
            raise ImageUnavailable(f"image {url!r} answered HTTP {reply.status_code}")
        pixels = cv2.imdecode(np.frombuffer(reply.content, np.uint8), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise ImageUnavailable(f"image {url!r} is not a readable image")
        ext = _extension(url, reply.headers.get("content-type", ""))
        return Image(reply.content, ext, int(pixels.shape[0]), int(pixels.shape[1]))


def _extension(url: str, content_type: str) -> str:
    ext = _TYPES.get(content_type.split(";")[0].strip().lower())
    if ext:
        return ext
    # Local-files URLs carry the path in ?d=...; uploads carry it in the path.
    parts = urlsplit(url)
    path = parse_qs(parts.query).get("d", [parts.path])[0]
    guessed = mimetypes.guess_type(path)[0] or ""
    return _TYPES.get(guessed, ".jpg")
