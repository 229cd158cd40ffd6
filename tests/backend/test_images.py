"""Image decoding: what a browser would show, bounded in size, never a crash."""

from __future__ import annotations

import io
import os
import re
import struct
import time
import zlib

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


def test_16_bit_grey_decodes_by_a_fixed_scale_whatever_the_frames_brightest_pixel():
    dark = np.array([[1000, 500]], np.uint16)
    with_a_highlight = np.array([[1000, 65535]], np.uint16)
    for values in (dark, with_a_highlight):
        out = decode_image(_encode(Image.fromarray(values), "PNG"))
        assert out[0, 0].tolist() == [3, 3, 3]  # 1000's high byte, in every frame


def test_a_16_bit_picture_gives_the_same_greys_as_grey_as_in_colour_and_as_an_array():
    import cv2

    from samvid.core.segmenter import rgb8

    levels = np.array([[1000, 32767, 40000, 65535]], np.uint16)
    grey = decode_image(_encode(Image.fromarray(levels), "PNG"))
    ok, colour = cv2.imencode(".png", np.repeat(levels[..., None], 3, axis=2))
    assert ok
    assert grey.tolist() == decode_image(colour.tobytes()).tolist() == rgb8(levels).tolist()


def test_a_float_tiff_from_0_to_1_decodes_from_black_to_white():
    values = np.array([[0.0, 0.5, 1.0, 0.25, -1.0, np.nan]], np.float32)
    out = decode_image(_encode(Image.fromarray(values), "TIFF"))
    assert out[0, :, 0].tolist() == [0, 128, 255, 64, 0, 0]
    assert (out == out[..., :1]).all()


def test_a_float_tiff_of_an_8_bit_frame_keeps_its_greys():
    # An 8-bit frame saved as float (OpenCV's astype, ImageJ's 32-bit conversion) came out
    # white wherever a value was past 1, once 0..1 was read as black to white.
    values = np.array([[0, 10, 64, 128, 200, 255, 300]], np.float32)
    out = decode_image(_encode(Image.fromarray(values), "TIFF"))
    assert out[0, :, 0].tolist() == [0, 10, 64, 128, 200, 255, 255]


def test_a_float_tiff_from_0_to_1_with_an_overshoot_or_an_infinity_stays_0_to_1():
    # One value past 1 (a resize's ringing) or one +inf read the whole frame as 0..255: black.
    for odd in (1.02, np.inf):
        values = np.array([[0.0, 0.5, 1.0, odd]], np.float32)
        out = decode_image(_encode(Image.fromarray(values), "TIFF"))
        assert out[0, :, 0].tolist() == [0, 128, 255, 255]
    # A dark 0..255 frame with a few lit pixels stays dark (a percentile's rule made it white).
    dark = np.zeros((100, 100), np.float32)
    dark[:50] = 1.0
    dark[0, :5] = 255.0
    out = decode_image(_encode(Image.fromarray(dark), "TIFF"))
    assert out[60, 0, 0] == 0 and out[10, 10, 0] == 1 and out[0, 0, 0] == 255


def test_exif_orientation_is_applied_like_a_browser():
    img = Image.new("RGB", (40, 20))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    out = decode_image(_encode(img, "JPEG", exif=exif))
    assert out.shape == (40, 20, 3)


def _model_tag_as_a_rational() -> bytes:
    """EXIF with Orientation 6 and the Model tag (ASCII) stored as a RATIONAL."""
    entries = [(0x0110, 5, 1, 8 + 2 + 2 * 12 + 4), (0x0112, 3, 1, 6 << 16)]
    ifd = struct.pack(">H", len(entries)) + b"".join(struct.pack(">HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"Exif\0\0MM\0*" + struct.pack(">I", 8) + ifd + struct.pack(">II", 1, 2)


# Orientation 6 and one tag corrupted (found by fuzzing): each made exif_transpose raise.
_FUZZED_EXIF = {
    "TypeError": "0004010f00020000000463616d0001100002000000060000003e011200030000000100060000",
    "struct.error": "0004012100020000000463616d0001cc0002000000060000003e01120003000000010006004b",
    "AttributeError": "0004010f00020000000463616d000110000b000000060000003e011200030000000100060000",
}
_FUZZED_TAIL = {
    "TypeError": "882500040000000100000044000000006d6f64656c00380200010002000000024e",
    "struct.error": "882500040000000100000044000000006d6f64656c000002000100f0000000024e",
    "AttributeError": "882500040000000100000044000000006d6f64656c00000200010002000000024e",
}
_GPS = "00000000020005000000030000006200000000000000010000000100000002000000010000000300000001"


def _fuzzed(kind: str) -> bytes:
    return bytes.fromhex("4578696600004d4d002a00000008" + _FUZZED_EXIF[kind] + _FUZZED_TAIL[kind] + _GPS)


@pytest.mark.parametrize("exif", [_model_tag_as_a_rational(), *map(_fuzzed, _FUZZED_EXIF)],
                         ids=["model-tag-a-rational", *_FUZZED_EXIF])
def test_jpeg_with_a_malformed_exif_tag_decodes_upright(exif):
    img = Image.new("RGB", (32, 24), (10, 200, 30))
    img.paste((250, 20, 20), (0, 0, 8, 24))  # a red left edge: shows which way it turned
    clean = img.getexif()
    clean[0x0112] = 6
    upright = decode_image(_encode(img, "JPEG", exif=clean))
    assert upright.shape == (32, 24, 3)
    assert np.array_equal(decode_image(_encode(img, "JPEG", exif=exif)), upright)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = decode_image(buf.getvalue())
    assert out[0, 0, 0] > 200 and out[0, 0, 1] < 50


def test_image_over_the_pixel_limit_is_refused_before_decoding():
    with pytest.raises(TooLarge):
        decode_image(_encode(Image.new("L", (1, 100_000))), max_pixels=50_000)


def _png_header(width: int, height: int) -> bytes:
    """A grey PNG's signature and header, no pixels: only its size can be read."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")


def test_max_image_pixels_above_pillows_own_limit_is_honoured(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored afterwards
    aerial = _png_header(20_000, 10_000)  # 200 Mpx: over Pillow's own refusal (~179 Mpx)
    with pytest.raises(TooLarge, match="SAMVID_MAX_IMAGE_PIXELS"):
        decode_image(aerial, max_pixels=64_000_000)
    with pytest.raises(ImageError) as raised:  # allowed: decoding starts, and finds no pixels
        decode_image(aerial, max_pixels=400_000_000)
    assert not isinstance(raised.value, TooLarge), raised.value.message


@pytest.mark.parametrize("data", [b"", b"not an image", _encode(Image.new("RGB", (50, 50)))[:60]])
def test_garbage_and_truncated_images_raise_image_error(data):
    with pytest.raises(ImageError):
        decode_image(data)


def test_an_image_in_a_variant_pillow_does_not_implement_is_the_tasks_image_error():
    """Pillow recognises a DDS file whose pixel format it cannot decode, and says so with
    NotImplementedError: the task's image is unreadable, not the server broken."""
    dds = bytearray(_encode(Image.new("RGB", (4, 4)), "DDS"))
    struct.pack_into("<I", dds, 80, 0x4000)  # the pixel format's flags: none Pillow knows
    with pytest.raises(ImageError, match="could not be decoded"):
        decode_image(bytes(dds))


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


@pytest.mark.parametrize("studio, url", [
    ("https://ls.example", "https://ls.example:443/data/upload/1/a.png"),
    ("http://ls:80", "http://ls/data/upload/1/a.png"),
])
def test_label_studio_with_its_default_port_written_or_not_is_one_origin(studio, url):
    """Label Studio's own file URLs get the token however its port is written."""
    assert "Authorization" in ImageSource(studio, api_key="secret").auth_headers(url)


def _serving(status: int):
    """A local server answering every GET with ``status``, and its address."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_error(status)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def test_an_image_host_that_refuses_the_image_is_not_blamed_on_the_label_studio_token():
    """An expired presigned S3 link answers 403: the Label Studio token, never sent there,
    cannot help, so the message must not ask for it."""
    server, address = _serving(403)
    try:
        source = ImageSource("http://label-studio:8080", api_key="secret", allowed_hosts=("127.0.0.1",))
        with pytest.raises(ImageError) as raised:
            source.fetch(f"{address}/bucket/a.png?X-Amz-Signature=abc")
    finally:
        server.shutdown()
        server.server_close()
    assert "answered 403: the image's host refused it" in raised.value.message
    assert "LABEL_STUDIO_API_KEY" not in raised.value.message


def test_label_studio_refusing_its_file_asks_for_a_valid_token():
    server, address = _serving(401)
    try:
        with pytest.raises(ImageError, match="answered 401: set LABEL_STUDIO_API_KEY to a valid Label Studio token"):
            ImageSource(address, api_key="stale").fetch("/data/upload/1/a.png")
    finally:
        server.shutdown()
        server.server_close()


def test_a_path_through_a_symlink_loop_is_the_tasks_image_error(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    source = ImageSource("http://ls:8080", local_roots=(tmp_path,))
    for ref in (str(tmp_path / "loop" / "a.png"), f"file://{tmp_path}/loop"):
        with pytest.raises(ImageError, match="cannot read"):
            source.fetch(ref)


def test_no_token_no_header():
    assert ImageSource("http://ls:8080").auth_headers("http://ls:8080/data/a.png") == {}


def test_a_local_files_name_too_long_for_the_disk_is_asked_of_label_studio(tmp_path):
    """``/data/local-files/?d=<name>`` whose name the file system refuses outright (over
    255 bytes) is no file under the local roots: it is fetched from Label Studio, whose
    404 is the task's image error, not a server error."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked: list[str] = []

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            asked.append(self.path)
            self.send_error(404)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        source = ImageSource(f"http://127.0.0.1:{server.server_port}", local_roots=(tmp_path,))
        ref = "/data/local-files/?d=" + "a" * 300 + ".png"
        with pytest.raises(ImageError, match="404"):
            source.fetch(ref)
    finally:
        server.shutdown()
        server.server_close()
    assert asked == [ref]


@pytest.mark.studio
def test_a_local_files_path_with_a_leading_slash_is_read_from_disk_as_label_studio_reads_it(
    label_studio,
):
    """Label Studio serves ``/data/local-files/?d=/<folder>/a.png`` as
    ``<document root>/<folder>/a.png``; samvid, given that root, reads the same file from
    disk (here without a token, so Label Studio itself would refuse it)."""
    import requests

    client = label_studio.client()
    project = client.projects.create(title="leading slash")
    folder = label_studio.files_root / f"slash{project.id}"
    folder.mkdir()
    Image.new("RGB", (5, 3), (200, 10, 10)).save(folder / "a.png")
    storage = requests.post(
        f"{label_studio.url}/api/storages/localfiles", headers=label_studio.headers, timeout=30,
        json={"project": project.id, "path": str(folder), "title": "frames", "use_blob_urls": False},
    )
    assert storage.status_code == 201, storage.text
    ref = f"/data/local-files/?d=/{folder.name}/a.png"
    served = requests.get(label_studio.url + ref, headers=label_studio.headers, timeout=30)
    assert served.status_code == 200 and served.content == (folder / "a.png").read_bytes()

    source = ImageSource(label_studio.url, local_roots=(label_studio.files_root,))
    assert source.fetch(ref) == served.content


def test_bytes_that_are_no_image_are_said_so_without_pillows_buffer_name():
    with pytest.raises(ImageError) as caught:
        decode_image(b"<html>not an image</html>")
    assert "no image format" in caught.value.message and "BytesIO" not in caught.value.message


@pytest.mark.parametrize("task_id", ["1/../../api/projects", "7", True, 1.5])
def test_a_cloud_image_of_a_task_whose_id_is_no_number_is_refused_before_any_request(task_id):
    # The request's task id went into Label Studio's resolve path as it came.
    source = ImageSource("http://127.0.0.1:9", "token")  # nothing listens: a request would fail otherwise
    with pytest.raises(ImageError, match="no Label Studio task id"):
        source.fetch("s3://bucket/frame.jpg", task_id)


def test_a_file_read_from_disk_is_stamped_and_a_fetched_or_forbidden_one_is_not(tmp_path):
    """The stamp tells a cache that the file behind a reference changed."""
    root = tmp_path / "root"
    (root / "frames").mkdir(parents=True)
    frame = root / "frames" / "a.png"
    frame.write_bytes(_encode(Image.new("RGB", (3, 2))))
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    source = ImageSource("http://ls:8080", "", local_roots=(root,))
    stamp = source.stamp(str(frame))
    assert stamp is not None and source.stamp(str(frame)) == stamp  # unchanged: the same stamp
    assert source.stamp("/data/local-files/?d=frames/a.png") == stamp
    assert source.stamp(frame.as_uri()) == stamp
    for ref in ("http://ls:8080/data/upload/1/a.png", "/data/upload/1/a.png", str(outside),
                "/data/local-files/?d=../secret.png", "", "s3://bucket/a.png"):
        assert source.stamp(ref) is None


@pytest.mark.parametrize("how", ["rewritten", "renamed over"])
def test_a_frame_replaced_by_another_picture_of_its_size_and_times_gets_another_stamp(tmp_path, how):
    # cp -p, rsync -a or an archive extracted again gives the new picture the old file's
    # modification time; of the same byte size (an uncompressed format), its cached
    # embedding was kept and clicks segmented the old picture until a restart.
    frame, other = tmp_path / "frame.bmp", tmp_path / "other.bmp"
    frame.write_bytes(_encode(Image.new("RGB", (40, 30), (10, 10, 10)), "BMP"))
    source = ImageSource("http://ls:8080", "", local_roots=(tmp_path,))
    before, old = source.stamp(str(frame)), frame.stat()
    picture = _encode(Image.new("RGB", (40, 30), (200, 200, 200)), "BMP")
    # Past one clock tick: kernels before Linux 6.13 (and network mounts) give the change
    # time at a tick's grain, and real replacements come far later than that.
    time.sleep(0.05)
    if how == "rewritten":
        frame.write_bytes(picture)
        os.utime(frame, ns=(old.st_atime_ns, old.st_mtime_ns))
    else:
        other.write_bytes(picture)
        os.utime(other, ns=(old.st_atime_ns, old.st_mtime_ns))
        os.replace(other, frame)
    assert (frame.stat().st_mtime_ns, frame.stat().st_size) == (old.st_mtime_ns, old.st_size)
    assert source.stamp(str(frame)) != before


def test_an_image_given_inline_as_a_data_uri_is_read_without_asking_any_host():
    """Label Studio's <Image> shows a task's base64 data: URI; Label Studio cannot resolve
    one as a cloud URI, so asking it (as for s3://) only failed."""
    import base64

    png = _encode(Image.new("RGB", (5, 4), (10, 20, 30)))
    source = ImageSource("http://127.0.0.1:9", "token", max_bytes=1000)
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    assert source.fetch(uri, 7) == png
    assert decode_image(source.fetch(uri, None))[0, 0].tolist() == [10, 20, 30]
    with pytest.raises(TooLarge):
        source.fetch("data:image/png;base64," + "A" * 4000, 7)
    with pytest.raises(ImageError, match="base64"):
        source.fetch("data:image/png;base64,A", 7)


@pytest.mark.parametrize("payload, message", [
    ("", "the data: URI holds no data"),
    ("!!!!", "not valid base64 (it holds '!'"),
    ("iVBO-w0K", "not valid base64 (it holds '-'"),
], ids=["empty", "not-base64", "url-safe"])
def test_a_data_uri_with_no_image_bytes_says_what_is_wrong_with_it(payload, message):
    # b64decode dropped what base64 has not: "!!!!" and "" read as no bytes, and the
    # answer was "its bytes are in no image format samvid reads".
    source = ImageSource("http://127.0.0.1:9", "token", max_bytes=1000)
    with pytest.raises(ImageError, match=re.escape(message)):
        source.fetch(f"data:image/png;base64,{payload}", 7)


def test_a_data_uri_broken_over_lines_is_read():
    import base64

    png = _encode(Image.new("RGB", (5, 4), (10, 20, 30)))
    source = ImageSource("http://127.0.0.1:9", "token", max_bytes=1000)
    wrapped = base64.encodebytes(png).decode()  # MIME: a line break every 76 characters
    assert "\n" in wrapped.strip()
    assert source.fetch("data:image/png;base64," + wrapped, 7) == png
    assert source.fetch("data:image/png;base64," + wrapped.replace("\n", "%0A"), 7) == png


def test_a_data_uri_whose_plus_signs_became_spaces_is_read():
    """A data: URI put through a query string or a form comes back with each "+" of its
    base64 a space. Base64 has no space, so a space is a "+": dropping it shifted every
    byte after it, and the image was "in no image format" (or the padding was wrong)."""
    import base64

    noise = (np.random.default_rng(seed).integers(0, 256, (4, 5, 3), np.uint8) for seed in range(200))
    # Four "+": dropped, the rest still decodes, to bytes that are no PNG.
    png = next(p for p in (_encode(Image.fromarray(n)) for n in noise) if base64.b64encode(p).count(b"+") == 4)
    source = ImageSource("http://127.0.0.1:9", "token", max_bytes=1000)
    spaced = base64.b64encode(png).decode().replace("+", " ")
    assert source.fetch("data:image/png;base64," + spaced, 7) == png
    # ...also broken over lines, and with a space typed after the ',' and a line break at the end
    wrapped = base64.encodebytes(png).decode().replace("+", " ")
    assert source.fetch("data:image/png;base64, " + wrapped, 7) == png
    assert source.fetch("data:image/png;base64," + wrapped.replace("\n", "\r\n"), 7) == png
    assert decode_image(source.fetch("data:image/png;base64," + spaced, 7)).shape == (4, 5, 3)


def test_a_data_uri_whose_last_character_was_a_plus_keeps_it():
    # Spaces after the data are dropped unless the base64 needs them to end a group of four.
    source = ImageSource("http://127.0.0.1:9", "token", max_bytes=1000)
    assert source.fetch("data:image/png;base64,AAA+", 7) == b"\x00\x00>"
    assert source.fetch("data:image/png;base64,AAA ", 7) == b"\x00\x00>"
    assert source.fetch("data:image/png;base64,AAA \n", 7) == b"\x00\x00>"
    assert source.fetch("data:image/png;base64,AAAA \n", 7) == b"\x00\x00\x00"
    assert source.fetch("data:image/png;base64,AA== ", 7) == b"\x00"


@pytest.mark.parametrize("fold", ["\n  ", "\r\n ", "\n    ", "\n\t"], ids=["indent-2", "folded", "indent-4", "tab"])
def test_a_data_uri_wrapped_with_indented_or_folded_lines_is_read(fold):
    # The blanks that wrap or indent lines are no "+" that became a space: read as one,
    # every byte after them shifted.
    import base64

    png = _encode(Image.fromarray(np.random.default_rng(3).integers(0, 256, (20, 20, 3), np.uint8)))
    text = base64.b64encode(png).decode()
    wrapped = fold.join(text[i:i + 64] for i in range(0, len(text), 64))
    source = ImageSource("http://127.0.0.1:9", "token", max_bytes=10_000)
    assert source.fetch("data:image/png;base64," + wrapped, 7) == png


@pytest.mark.parametrize("pad", [1, 2, 4], ids=["one-blank", "two-blanks", "to-80-columns"])
def test_a_data_uri_whose_lines_are_padded_with_blanks_is_read(pad):
    # A terminal copy pads every line (to 80 columns), a template may end each with a blank:
    # read as "+" up to the lines' width, they made other bytes.
    import base64

    png = _encode(Image.fromarray(np.random.default_rng(5).integers(0, 256, (30, 30, 3), np.uint8)))
    text = base64.b64encode(png).decode()
    lines = [text[i:i + 76] for i in range(0, len(text), 76)]
    padded = "\n".join(line + " " * (pad if pad < 4 else 80 - len(line)) for line in lines)
    source = ImageSource("http://127.0.0.1:9", "token", max_bytes=100_000)
    assert source.fetch("data:image/png;base64," + padded, 7) == png


@pytest.mark.parametrize("indent", ["", "  "], ids=["wrapped", "indented"])
def test_wrapped_base64_whose_plus_signs_became_spaces_is_read_even_where_one_ended_a_line(indent):
    # A "+" that ended (or began) a line became a blank there: dropped as wrapping, every
    # byte after it shifted. A blank bringing a line to the others' width is a "+".
    import base64

    source = ImageSource("http://127.0.0.1:9", "token", max_bytes=100_000)
    for seed in range(40):
        png = _encode(Image.fromarray(np.random.default_rng(seed).integers(0, 256, (30, 30, 3), np.uint8)))
        text = base64.b64encode(png).decode()
        wrapped = "\n".join(indent + text[i:i + 76] for i in range(0, len(text), 76)).replace("+", " ")
        assert source.fetch("data:image/png;base64,\n" + wrapped + "\n", 7) == png, seed


@pytest.mark.parametrize("blanks", ["    ", "    \n", "\t    ", "        "])
def test_padded_base64_followed_by_blanks_is_read(blanks):
    source = ImageSource("http://127.0.0.1:9", "token", max_bytes=1000)
    assert source.fetch("data:image/png;base64,AA==" + blanks, 7) == b"\x00"
    assert source.fetch("data:image/png;base64,AAA=" + blanks, 7) == b"\x00\x00"


@pytest.mark.parametrize("lines", [2, 3, 4])
def test_short_wrapped_base64_whose_first_line_ended_in_a_plus_that_became_a_blank_is_read(lines):
    # With one or two lines before the last, the first line's lost "+" made it narrower than
    # (or as common as) the others: its width was taken for all, the "+" dropped.
    import base64

    rng = np.random.default_rng(lines)
    source = ImageSource("http://127.0.0.1:9", "token", max_bytes=10_000)
    found = 0
    for _ in range(2000):
        data = rng.integers(0, 256, 57 * (lines - 1) + 20, np.uint8).tobytes()
        text = base64.b64encode(data).decode()
        rows = [text[i:i + 76] for i in range(0, len(text), 76)]
        if not rows[0].endswith("+") or any("+" in row for row in rows[1:]):
            continue
        found += 1
        blanked = "\n".join(rows).replace("+", " ")
        assert source.fetch("data:application/octet-stream;base64," + blanked, 7) == data
    assert found  # the case was met


def test_unpadded_base64_whose_one_full_line_is_padded_with_blanks_is_refused_not_misread():
    # Its blanks made "+" where they completed a group of four: other bytes, no error.
    source = ImageSource("http://127.0.0.1:9", "token", max_bytes=1000)
    with pytest.raises(ImageError, match="not valid base64"):
        source.fetch("data:image/png;base64,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA  "
                     "\nAAAAA", 7)


def test_label_studio_redirecting_elsewhere_names_the_address_whole_beside_a_short_password():
    """"Set LABEL_STUDIO_URL to the address it redirects to": for the password "ls" it read
    http://***.example:8080/, an address no one can set."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from samvid.errors import StudioError
    from samvid.studio.client import Studio

    class Moved(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(301)
            self.send_header("Location", f"http://ls.example:8080{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Moved)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(StudioError) as raised:
            Studio(f"http://admin:ls@127.0.0.1:{server.server_port}", "k").check()
    finally:
        server.shutdown()
        server.server_close()
    assert "redirects to http://ls.example:8080/" in raised.value.message
    assert "admin:ls" not in raised.value.message


def test_a_local_file_label_studio_fails_to_serve_is_named_with_its_d_parameter():
    server, address = _serving(404)
    try:
        with pytest.raises(ImageError) as raised:
            ImageSource(address, api_key="secret").fetch(f"{address}/data/local-files/?d=videos/clip1/f0.png")
    finally:
        server.shutdown()
        server.server_close()
    assert f"{address}/data/local-files/?d=videos/clip1/f0.png answered HTTP 404" in raised.value.message


def test_an_image_url_urlparse_cannot_read_is_refused_without_its_words():
    # "Port could not be cast to integer value as 's3cr'": the start of the password.
    with pytest.raises(ImageError) as raised:
        ImageSource("http://ls:8080").fetch("http://u:s3cr/et@cdn.example:8080/f.png")
    assert "is not a valid URL" in raised.value.message and "s3cr" not in raised.value.message


def test_label_studio_with_a_user_and_password_in_its_url_gets_the_token_for_its_files():
    """requests sent a LABEL_STUDIO_URL's ``user:password@`` (a proxy's) as Basic auth in
    place of the token, and Label Studio, which reads only the token, refused every file."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str | None] = []
    pixels = io.BytesIO()
    Image.new("RGB", (2, 2)).save(pixels, "PNG")

    class Files(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", str(len(pixels.getvalue())))
            self.end_headers()
            self.wfile.write(pixels.getvalue())

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    studio = f"http://proxy:pw@127.0.0.1:{server.server_port}"
    try:
        source = ImageSource(studio, api_key="k3y")
        assert source.fetch("/data/upload/1/a.png") == pixels.getvalue()
        assert source.fetch(f"{studio}/data/upload/1/b.png") == pixels.getvalue()  # a task's whole URL
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["Token k3y", "Token k3y"]


def test_an_image_url_with_a_backslash_before_its_path_is_refused_and_gets_no_token():
    """urlparse reads ``http://other\\@ls:8080/...`` as Label Studio's, where requests
    connects to ``other``: a task's URL sent the token to a host of the task writer's choice."""
    server, other = _serving(200)
    try:
        source = ImageSource("http://ls.example:8080", api_key="k3y")
        with pytest.raises(ImageError, match=r"has a '\\' before its path"):
            source.fetch(f"{other}\\@ls.example:8080/data/upload/1/a.png")
    finally:
        server.shutdown()
        server.server_close()


def test_a_backslash_in_label_studio_urls_password_does_not_refuse_its_files():
    """LABEL_STUDIO_URL's ``user:password@`` is not sent (it would replace the token), so a
    "\\" in it is no task URL's: its files were refused as a malformed task URL."""
    server, address = _serving(401)
    try:
        studio = address.replace("http://", "http://proxy:p\\ss@")
        with pytest.raises(ImageError, match="answered 401: set LABEL_STUDIO_API_KEY"):
            ImageSource(studio, api_key="stale").fetch("/data/upload/1/a.png")
    finally:
        server.shutdown()
        server.server_close()
