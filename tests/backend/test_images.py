"""Image decoding: what a browser would show, bounded in size, never a crash."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from samvid.errors import ImageError, TooLarge
from samvid.images import ImageSource, decode_image


def _encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "1"])
def test_every_common_mode_decodes_to_rgb(mode):
    fmt = "JPEG" if mode == "CMYK" else "TIFF" if mode == "I;16" else "PNG"
    data = _encode(Image.new(mode, (7, 5)), fmt)
    out = decode_image(data)
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8


def test_exif_orientation_is_applied_like_a_browser():
    img = Image.new("RGB", (40, 20))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    out = decode_image(_encode(img, "JPEG", exif=exif))
    assert out.shape == (40, 20, 3)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = decode_image(buf.getvalue())
    assert out[0, 0, 0] > 200 and out[0, 0, 1] < 50


def test_image_over_the_pixel_limit_is_refused_before_decoding():
    with pytest.raises(TooLarge):
        decode_image(_encode(Image.new("L", (1, 100_000))), max_pixels=50_000)


@pytest.mark.parametrize("data", [b"", b"not an image", _encode(Image.new("RGB", (50, 50)))[:60]])
def test_garbage_and_truncated_images_raise_image_error(data):
    with pytest.raises(ImageError):
        decode_image(data)


@pytest.mark.parametrize("url, gets_token", [
    ("http://ls:8080/data/upload/1/a.png", True),  # Label Studio's own origin
    ("http://ls:8080/data/local-files/?d=a.png", True),
    ("http://ls:9090/a.png", False),  # another port is another server
    ("https://ls:8080/a.png", False),  # another scheme too
    ("http://elsewhere.example/a.png", False),  # a task URL is data, not trust
])
def test_the_token_goes_to_label_studio_only(url, gets_token):
    source = ImageSource("http://ls:8080", api_key="secret")
    assert ("Authorization" in source.auth_headers(url)) is gets_token


def test_no_token_no_header():
    assert ImageSource("http://ls:8080").auth_headers("http://ls:8080/data/a.png") == {}
