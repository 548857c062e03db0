"""rekog_compat.images: Rekognition's image rules (formats, limits, EXIF, colour modes) and S3 reads.

Real files come from the shared face data (`nonface_and_bad_inputs/`); S3 is moto's real server.
"""

from __future__ import annotations

import hashlib
import io
import socket
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from PIL import Image

from rekog_compat.errors import (
    ImageTooLargeException,
    InvalidImageFormatException,
    InvalidParameterException,
    InvalidS3ObjectException,
)
from rekog_compat.images import (
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    MAX_S3_IMAGE_BYTES,
    LoadedImage,
    S3ImageReader,
    decode_image,
    load_image,
)
from tests.support.facedata import facedata_dir, facedata_files
from tests.support.s3 import fake_aws_credentials, moto_s3_server

BAD = "nonface_and_bad_inputs"
FACES = f"{BAD}/faces_public_domain_and_formats"
SYNTH = f"{BAD}/synthesized"
REAL_BAD = f"{BAD}/bad_inputs_real"
NONFACE = f"{BAD}/nonface_real"
MISSING_DATA = "<facedata missing>"


def data(relative: str) -> bytes:
    """Bytes of a face-data file (skips the test when the data folder is absent)."""
    return (facedata_dir() / relative).read_bytes()


def decode_file(relative: str) -> LoadedImage:
    return decode_image(data(relative))


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    """A small RGB test picture whose orientation is visible (no two corners alike)."""
    yy, xx = np.mgrid[0:height, 0:width]
    arr = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1), (xx + yy) % 256], axis=-1)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def assert_rgb(loaded: LoadedImage, width: int | None = None, height: int | None = None) -> None:
    """The LoadedImage contract: HxWx3 uint8 C-contiguous pixels matching width/height."""
    assert loaded.rgb.dtype == np.uint8
    assert loaded.rgb.ndim == 3 and loaded.rgb.shape[2] == 3
    assert loaded.rgb.flags.c_contiguous
    assert loaded.rgb.shape[:2] == (loaded.height, loaded.width)
    if width is not None:
        assert loaded.width == width
    if height is not None:
        assert loaded.height == height


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring width x height (8-bit gray) whose pixel data is a few junk bytes.

    If it were ever decoded it would fail as truncated (InvalidImageFormat), so ImageTooLarge proves
    the size was refused from the header alone.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + png_chunk(b"IEND", b"")
    )


def jpeg_header_only(width: int, height: int) -> bytes:
    """A real JPEG's headers with its frame size rewritten to width x height, cut right after the scan header.

    Like `png_header_only`: decoding it would fail as truncated, so only a header check can say too large.
    """
    raw = encode(gradient(), "JPEG")
    pos = 2
    while True:
        marker = raw[pos + 1]
        length = struct.unpack(">H", raw[pos + 2 : pos + 4])[0]
        if marker == 0xC0:  # SOF0: precision, height, width
            raw = raw[: pos + 5] + struct.pack(">HH", height, width) + raw[pos + 9 :]
        if marker == 0xDA:  # SOS: entropy-coded data follows its header
            return raw[: pos + 2 + length]
        pos += 2 + length


# --- every real file: an image or one of the two image errors, nothing else -------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns "Corrupt EXIF data" on the bad-EXIF samples
@pytest.mark.parametrize("relative", facedata_files(BAD) or [MISSING_DATA])
def test_every_bad_input_decodes_or_is_refused_with_an_image_error(relative: str) -> None:
    if relative == MISSING_DATA:
        facedata_dir()
        pytest.skip(f"no files under {BAD} in the face data")
    raw = data(relative)
    try:
        loaded = decode_image(raw)
    except (InvalidImageFormatException, ImageTooLargeException):
        return
    assert_rgb(loaded)
    assert loaded.sha256 == hashlib.sha256(raw).hexdigest()
    assert raw[:3] == b"\xff\xd8\xff" or raw[:8] == b"\x89PNG\r\n\x1a\n"


# --- formats ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "width", "height"),
    [
        (f"{FACES}/pillow_hopper.jpg", 128, 128),
        (f"{FACES}/pillow_hopper.png", 128, 128),
        (f"{FACES}/skimage_astronaut.png", 512, 512),
        (f"{FACES}/insightface_t1_friends_6faces.jpg", 1280, 886),
        (f"{FACES}/insightface_Tom_Hanks_54745_aligned112.png", 112, 112),
        (f"{SYNTH}/astronaut_progressive.jpg", 512, 512),
        (f"{SYNTH}/astronaut_png_bytes_named.jpg", 512, 512),  # PNG content, .jpg name: content decides
        (f"{SYNTH}/astronaut_small_face_in_4000x3000.jpg", 4000, 3000),
    ],
)
def test_jpeg_and_png_decode_to_their_size(relative: str, width: int, height: int) -> None:
    loaded = decode_file(relative)
    assert_rgb(loaded, width, height)


def test_png_and_jpeg_of_the_same_face_give_the_same_pixels() -> None:
    png = decode_file(f"{FACES}/skimage_astronaut.png").rgb.astype(int)
    jpeg = decode_file(f"{SYNTH}/astronaut_progressive.jpg").rgb.astype(int)
    assert np.abs(png - jpeg).mean() < 5


@pytest.mark.parametrize(
    "relative",
    [
        f"{FACES}/pillow_hopper.webp",
        f"{FACES}/pillow_hopper.gif",
        f"{FACES}/pillow_hopper.bmp",
        f"{FACES}/pillow_hopper.tif",
        f"{FACES}/pillow_hopper.avif",
        f"{SYNTH}/astronaut.webp",
        f"{SYNTH}/astronaut.gif",
        f"{SYNTH}/astronaut.bmp",
        f"{SYNTH}/astronaut.tif",
        f"{SYNTH}/astronaut_animated_4frames.gif",
        f"{SYNTH}/lfw_Vitali_Klitschko_0001.webp",
        f"{SYNTH}/lfw_Vitali_Klitschko_0001.gif",
        f"{SYNTH}/lfw_Vitali_Klitschko_0001.bmp",
        f"{SYNTH}/lfw_Vitali_Klitschko_0001.tif",
    ],
)
def test_other_image_formats_are_invalid(relative: str) -> None:
    with pytest.raises(InvalidImageFormatException):
        decode_file(relative)


@pytest.mark.parametrize(
    "relative",
    [
        f"{SYNTH}/empty_0_bytes.jpg",
        f"{SYNTH}/random_bytes.jpg",
        f"{SYNTH}/text_file_named.jpg",
        f"{SYNTH}/html_named.png",
        f"{SYNTH}/jpeg_header_only.jpg",
        f"{FACES}/skimage_lfw_subset.npy",
        f"{REAL_BAD}/pillow_broken.png",
    ],
)
def test_non_images_are_invalid(relative: str) -> None:
    with pytest.raises(InvalidImageFormatException):
        decode_file(relative)


@pytest.mark.parametrize(
    "raw", [b"", b"\xff", b"\xff\xd8", b"\x89PNG", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP", b"<svg/>"]
)
def test_short_and_foreign_prefixes_are_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidImageFormatException):
        decode_image(raw)


def test_invalid_format_error_has_the_aws_default_message() -> None:
    with pytest.raises(InvalidImageFormatException) as caught:
        decode_image(b"not an image")
    assert caught.value.message == InvalidImageFormatException.default_message


# --- size limits and bombs ---------------------------------------------------------------------------------


def test_20000x20000_png_is_refused_as_too_large() -> None:
    with pytest.raises(ImageTooLargeException):
        decode_file(f"{SYNTH}/huge_20000x20000_blank.png")


def test_20000x20000_png_is_refused_even_with_pillows_guard_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageTooLargeException):
        decode_file(f"{SYNTH}/huge_20000x20000_blank.png")


def test_gif_bomb_is_refused_by_format() -> None:
    with pytest.raises(InvalidImageFormatException):
        decode_file(f"{REAL_BAD}/pillow_decompression_bomb.gif")


@pytest.mark.parametrize("make", [png_header_only, jpeg_header_only])
def test_pixel_limit_is_enforced_from_the_header(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # 7000x6000 = 42 MP: above our limit, below Pillow's own warning threshold; junk pixel data shows
    # the refusal comes before any decoding.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert MAX_PIXELS < 7000 * 6000
    with pytest.raises(ImageTooLargeException):
        decode_image(make(7000, 6000))


@pytest.mark.parametrize("make", [png_header_only, jpeg_header_only])
def test_header_below_the_limit_with_no_pixel_data_is_invalid(make: Any) -> None:
    with pytest.raises(InvalidImageFormatException):
        decode_image(make(100, 100))


# --- truncated and corrupt ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative",
    [
        f"{SYNTH}/astronaut_truncated_30pct.jpg",
        f"{SYNTH}/astronaut_truncated_60pct.jpg",
        f"{SYNTH}/astronaut_truncated_95pct.jpg",
        f"{SYNTH}/lfw_Vitali_Klitschko_0001_truncated_30pct.jpg",
        f"{SYNTH}/lfw_Vitali_Klitschko_0001_truncated_60pct.jpg",
        f"{SYNTH}/lfw_Vitali_Klitschko_0001_truncated_95pct.jpg",
        f"{REAL_BAD}/pillow_truncated_jpeg.jpg",
        f"{REAL_BAD}/pillow_truncated_image.png",
        f"{REAL_BAD}/pillow_truncated_end_chunk.png",
        f"{REAL_BAD}/pillow_broken_data_stream.png",
    ],
)
def test_truncated_and_broken_files_are_invalid(relative: str) -> None:
    with pytest.raises(InvalidImageFormatException):
        decode_file(relative)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9, 0.99])
def test_truncating_a_generated_image_makes_it_invalid(fmt: str, fraction: float) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    raw = encode(Image.fromarray(noise), fmt)
    with pytest.raises(InvalidImageFormatException):
        decode_image(raw[: int(len(raw) * fraction)])


def with_jpeg_frame_size(raw: bytes, width: int, height: int) -> bytes:
    """A JPEG with its SOF's width and height rewritten (its entropy-coded data unchanged)."""
    pos = 2
    while raw[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + struct.unpack(">H", raw[pos + 2 : pos + 4])[0]
    return raw[: pos + 5] + struct.pack(">HH", height, width) + raw[pos + 9 :]


def photo_jpeg() -> bytes:
    return data("lfw_tiny/Kim_Jong-Il/Kim_Jong-Il_0001.jpg")


@pytest.mark.parametrize("size", [(1000, 1000), (250, 4000), (4000, 250)])
def test_a_jpeg_whose_header_declares_more_pixels_than_its_data_holds_is_invalid(size: tuple[int, int]) -> None:
    raw = photo_jpeg()
    assert decode_image(raw).width == 250  # the photo itself is sound
    with pytest.raises(InvalidImageFormatException):
        decode_image(with_jpeg_frame_size(raw, *size))


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("fraction", [0.3, 0.7, 0.95])
@pytest.mark.parametrize("tail", [b"\xff\xd9", b"junk" * 200, bytes(range(256)) * 8 + b"\xff\xd9"])
def test_a_truncated_jpeg_with_an_end_marker_or_garbage_after_the_cut_is_invalid(
    progressive: bool, fraction: float, tail: bytes
) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    raw = encode(Image.fromarray(noise), "JPEG", quality=90, progressive=progressive)
    with pytest.raises(InvalidImageFormatException):
        decode_image(raw[: int(len(raw) * fraction)] + tail)


def test_a_jpeg_declaring_fewer_rows_than_its_data_holds_is_invalid() -> None:
    with pytest.raises(InvalidImageFormatException):
        decode_image(with_jpeg_frame_size(photo_jpeg(), 250, 120))


def adam7_png(pixels: np.ndarray) -> bytes:
    """An interlaced (Adam7) 8-bit RGB PNG of `pixels`, written by hand: Pillow writes none."""
    height, width = pixels.shape[:2]
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)):
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


@pytest.mark.parametrize("size", [(13, 7), (1, 1), (9, 17), (64, 48)])
def test_complete_interlaced_pngs_decode(size: tuple[int, int]) -> None:
    pixels = np.random.default_rng(2).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    loaded = decode_image(adam7_png(pixels))
    assert np.array_equal(loaded.rgb, pixels)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "I;16"])
def test_complete_pngs_of_every_depth_decode(mode: str) -> None:
    assert_rgb(decode_image(encode(gradient(37, 11).convert(mode), "PNG")), 37, 11)


@pytest.mark.parametrize("interlaced", [False, True])
def test_a_png_whose_header_declares_more_rows_than_its_data_holds_is_invalid(interlaced: bool) -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    raw = adam7_png(pixels) if interlaced else encode(Image.fromarray(pixels), "PNG")
    taller = struct.pack(">IIBBBBB", 30, 80, 8, 2, 0, 0, int(interlaced))
    lied = raw[:8] + png_chunk(b"IHDR", taller) + raw[8 + 25 :]
    with pytest.raises(InvalidImageFormatException):
        decode_image(lied)


def test_trailing_bytes_after_a_complete_png_or_jpeg_are_harmless() -> None:
    assert_rgb(decode_image(encode(gradient(), "PNG") + b"trailer" * 50), 64, 48)
    assert_rgb(decode_image(photo_jpeg() + b"camera trailer" * 50), 250, 250)


# --- EXIF orientation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Landscape", "Portrait"])
@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_orientation_6_and_8_swap_width_and_height(kind: str, orientation: int) -> None:
    relative = f"{NONFACE}/exif_orientation_{kind}_{orientation}.jpg"
    with Image.open(facedata_dir() / relative) as stored:
        stored_width, stored_height = stored.size
    upright = decode_file(f"{NONFACE}/exif_orientation_{kind}_0.jpg")
    loaded = decode_file(relative)
    assert (loaded.width, loaded.height) == (stored_height, stored_width)
    assert (loaded.width, loaded.height) == (upright.width, upright.height)
    assert np.abs(loaded.rgb.astype(int) - upright.rgb.astype(int)).mean() < 10


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_rotated_face_comes_out_upright(orientation: int) -> None:
    upright = decode_file(f"{FACES}/skimage_astronaut.png").rgb.astype(int)
    rotated = decode_file(f"{SYNTH}/astronaut_exif_orientation{orientation}.jpg").rgb.astype(int)
    no_exif = decode_file(f"{SYNTH}/astronaut_rotated90_no_exif.jpg").rgb.astype(int)
    assert np.abs(rotated - upright).mean() < 5
    assert np.abs(no_exif - upright).mean() > 30  # without EXIF nothing is rotated


@pytest.mark.parametrize("orientation", range(2, 9))
def test_every_exif_orientation_matches_the_upright_original(orientation: int) -> None:
    upright = decode_file(f"{FACES}/pillow_hopper.jpg").rgb.astype(int)
    loaded = decode_file(f"{FACES}/pillow_hopper_orientation_{orientation}.jpg").rgb.astype(int)
    assert np.abs(loaded - upright).mean() < 10


@pytest.mark.parametrize(
    ("orientation", "transpose"), [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)]
)
def test_generated_jpeg_orientation_is_applied(orientation: int, transpose: Image.Transpose) -> None:
    original = gradient(64, 48)
    exif = Image.Exif()
    exif[0x0112] = orientation
    raw = encode(original.transpose(transpose), "JPEG", quality=95, exif=exif.tobytes())
    loaded = decode_image(raw)
    assert (loaded.width, loaded.height) == (64, 48)
    assert np.abs(loaded.rgb.astype(int) - np.asarray(original).astype(int)).mean() < 5


def test_png_exif_orientation_is_not_applied() -> None:
    # Rekognition corrects orientation for JPEG only ("doesn't perform image correction for images in .png format").
    exif = Image.Exif()
    exif[0x0112] = 6
    loaded = decode_image(encode(gradient(64, 48), "PNG", exif=exif.tobytes()))
    assert (loaded.width, loaded.height) == (64, 48)
    assert np.array_equal(loaded.rgb, np.asarray(gradient(64, 48)))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    ("relative", "width", "height"),
    [(f"{REAL_BAD}/pillow_hopper_bad_exif.jpg", 500, 500), (f"{REAL_BAD}/pillow_invalid-exif.jpg", 200, 200)],
)
def test_bad_exif_does_not_fail_a_good_image(relative: str, width: int, height: int) -> None:
    assert_rgb(decode_file(relative), width, height)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "payload",
    [b"Exif\x00\x00garbage", b"Exif\x00\x00II*\x00\xff\xff\xff\xff", b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff"],
)
def test_unparseable_exif_is_ignored(payload: bytes) -> None:
    raw = encode(gradient(40, 30), "JPEG", quality=95)
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    loaded = decode_image(raw[:2] + app1 + raw[2:])
    assert_rgb(loaded, 40, 30)


# --- colour modes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "width", "height"),
    [
        (f"{SYNTH}/astronaut_cmyk.jpg", 512, 512),
        (f"{SYNTH}/lfw_Vitali_Klitschko_0001_cmyk.jpg", 250, 250),
        (f"{REAL_BAD}/pillow_pil_sample_cmyk.jpg", 100, 100),
        (f"{SYNTH}/astronaut_gray16.png", 512, 512),
        (f"{SYNTH}/lfw_Vitali_Klitschko_0001_gray16.png", 250, 250),
        (f"{SYNTH}/astronaut_rgba_alpha.png", 512, 512),
        (f"{REAL_BAD}/pillow_pil123rgba.png", 162, 150),
        (f"{NONFACE}/skimage_logo.png", 500, 500),
        (f"{SYNTH}/astronaut_la_alpha.png", 512, 512),
        (f"{SYNTH}/astronaut_palette64.png", 512, 512),
        (f"{SYNTH}/lfw_Vitali_Klitschko_0001_palette64.png", 250, 250),
        (f"{SYNTH}/astronaut_gray.jpg", 512, 512),
        (f"{SYNTH}/astronaut_gray.png", 512, 512),
        (f"{FACES}/pillow_hopper_gray.jpg", 128, 128),
        (f"{REAL_BAD}/pillow_icc_profile_big.jpg", 425, 250),
        (f"{REAL_BAD}/pillow_junk_jpeg_header.jpg", 1024, 768),
    ],
)
def test_colour_modes_end_as_uint8_rgb(relative: str, width: int, height: int) -> None:
    assert_rgb(decode_file(relative), width, height)


def test_cmyk_jpeg_matches_the_rgb_original() -> None:
    upright = decode_file(f"{FACES}/skimage_astronaut.png").rgb.astype(int)
    cmyk = decode_file(f"{SYNTH}/astronaut_cmyk.jpg").rgb.astype(int)
    assert np.abs(cmyk - upright).mean() < 5


def test_16bit_gray_png_scales_to_the_8bit_gray() -> None:
    gray = decode_file(f"{SYNTH}/astronaut_gray.png").rgb
    gray16 = decode_file(f"{SYNTH}/astronaut_gray16.png").rgb  # saved as gray * 257
    assert np.array_equal(gray16, gray)


def test_16bit_values_are_scaled_not_clipped() -> None:
    values = np.array([[0, 255, 256, 32768, 65535]], dtype="<u2")
    loaded = decode_image(encode(Image.fromarray(values), "PNG"))
    assert loaded.rgb[0, :, 0].tolist() == [0, 0, 1, 128, 255]
    assert np.array_equal(loaded.rgb[..., 0], loaded.rgb[..., 2])


def test_rgba_alpha_is_composited_onto_white() -> None:
    loaded = decode_file(f"{SYNTH}/astronaut_rgba_alpha.png")
    upright = decode_file(f"{FACES}/skimage_astronaut.png").rgb.astype(int)
    assert loaded.rgb[0, 0].tolist() == [255, 255, 255]  # transparent corner
    assert np.abs(loaded.rgb[200:312, 200:312].astype(int) - upright[200:312, 200:312]).mean() < 1  # opaque centre


def test_generated_alpha_modes_composite_onto_white() -> None:
    arr = np.zeros((2, 2, 4), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0, 255)  # opaque red
    arr[0, 1] = (255, 0, 0, 0)  # fully transparent -> white
    arr[1, 0] = (0, 0, 0, 128)  # half black -> mid gray
    arr[1, 1] = (0, 0, 255, 255)
    loaded = decode_image(encode(Image.fromarray(arr, "RGBA"), "PNG"))
    assert loaded.rgb[0, 0].tolist() == [255, 0, 0]
    assert loaded.rgb[0, 1].tolist() == [255, 255, 255]
    assert all(abs(v - 127) <= 1 for v in loaded.rgb[1, 0].tolist())
    assert loaded.rgb[1, 1].tolist() == [0, 0, 255]


def test_palette_with_transparency_composites_onto_white() -> None:
    image = Image.new("P", (4, 1))
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    image.putdata([0, 1, 0, 1])
    loaded = decode_image(encode(image, "PNG", transparency=0))
    assert loaded.rgb[0].tolist() == [[255, 255, 255], [255, 0, 0], [255, 255, 255], [255, 0, 0]]


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_generated_png_modes_end_as_uint8_rgb(mode: str) -> None:
    loaded = decode_image(encode(gradient(20, 10).convert(mode), "PNG"))
    assert_rgb(loaded, 20, 10)


@pytest.mark.parametrize("mode", ["L", "RGB", "CMYK"])
def test_generated_jpeg_modes_end_as_uint8_rgb(mode: str) -> None:
    loaded = decode_image(encode(gradient(20, 10).convert(mode), "JPEG"))
    assert_rgb(loaded, 20, 10)


# --- tiny and extreme shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "width", "height"),
    [
        (f"{SYNTH}/astronaut_tiny_1x1.png", 1, 1),
        (f"{SYNTH}/lfw_Vitali_Klitschko_0001_tiny_1x1.png", 1, 1),
        (f"{SYNTH}/astronaut_tiny_8x8.png", 8, 8),
        (f"{SYNTH}/extreme_aspect_10000x1.png", 10000, 1),
    ],
)
def test_tiny_and_extreme_images_decode(relative: str, width: int, height: int) -> None:
    assert_rgb(decode_file(relative), width, height)


# --- load_image: the Image member ------------------------------------------------------------------------------


@pytest.fixture
def offline_reader() -> S3ImageReader:
    """A reader whose client is never created by the Bytes-only tests."""
    return S3ImageReader(None)


def test_load_image_from_bytes(offline_reader: S3ImageReader) -> None:
    raw = encode(gradient(30, 20), "PNG")
    loaded = load_image({"Bytes": raw}, offline_reader)
    assert_rgb(loaded, 30, 20)
    assert loaded.sha256 == hashlib.sha256(raw).hexdigest()
    assert offline_reader._client is None


def test_load_image_accepts_bytearray(offline_reader: S3ImageReader) -> None:
    assert_rgb(load_image({"Bytes": bytearray(encode(gradient(), "JPEG"))}, offline_reader), 64, 48)


@pytest.mark.parametrize(
    "image",
    [
        {},
        {"Bytes": None},
        {"Bytes": b"\xff\xd8\xff", "S3Object": {"Bucket": "b", "Name": "n"}},
        {"Bytes": "not bytes"},
        {"S3Object": "not a mapping"},
    ],
)
def test_load_image_needs_exactly_one_source(image: dict[str, Any], offline_reader: S3ImageReader) -> None:
    with pytest.raises(InvalidParameterException) as caught:
        load_image(image, offline_reader)
    assert caught.value.message == InvalidParameterException.default_message


def test_bytes_over_5_mb_are_too_large(offline_reader: S3ImageReader) -> None:
    with pytest.raises(ImageTooLargeException) as caught:
        load_image({"Bytes": b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_IMAGE_BYTES}, offline_reader)
    assert caught.value.message == ImageTooLargeException.default_message


def test_bytes_of_exactly_5_mb_are_accepted(offline_reader: S3ImageReader) -> None:
    raw = encode(gradient(), "PNG")
    padded = raw + b"\x00" * (MAX_IMAGE_BYTES - len(raw))  # trailing bytes after IEND are ignored
    assert len(padded) == 5_242_880
    assert_rgb(load_image({"Bytes": padded}, offline_reader), 64, 48)


# --- S3 through moto's real server -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3_server() as url:
        yield url


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_credentials(monkeypatch)


@pytest.fixture
def s3_client(s3_endpoint: str, s3_env: None) -> Any:
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3_client: Any, request: pytest.FixtureRequest) -> str:
    """A fresh bucket per test (the moto server is shared by the module)."""
    name = "img-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:20]
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def reader(s3_endpoint: str, s3_env: None) -> S3ImageReader:
    return S3ImageReader(s3_endpoint)


def test_s3_object_is_loaded(s3_client: Any, bucket: str, reader: S3ImageReader) -> None:
    raw = encode(gradient(64, 48), "JPEG", quality=95)
    s3_client.put_object(Bucket=bucket, Key="photos/face.jpg", Body=raw)
    loaded = load_image({"S3Object": {"Bucket": bucket, "Name": "photos/face.jpg"}}, reader)
    assert_rgb(loaded, 64, 48)
    assert loaded.sha256 == hashlib.sha256(raw).hexdigest()


def test_s3_client_is_created_once_across_threads(reader: S3ImageReader) -> None:
    clients: list[Any] = []
    threads = [threading.Thread(target=lambda: clients.append(reader._s3())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(clients) == 8 and all(client is clients[0] for client in clients)


def test_s3_missing_key_is_invalid_s3_object(bucket: str, reader: S3ImageReader) -> None:
    with pytest.raises(InvalidS3ObjectException) as caught:
        load_image({"S3Object": {"Bucket": bucket, "Name": "no-such-key.jpg"}}, reader)
    assert caught.value.message == InvalidS3ObjectException.default_message


def test_s3_missing_bucket_is_invalid_s3_object(reader: S3ImageReader) -> None:
    with pytest.raises(InvalidS3ObjectException):
        load_image({"S3Object": {"Bucket": "no-such-bucket-rekog", "Name": "face.jpg"}}, reader)


def test_s3_object_without_a_name_is_invalid_s3_object(bucket: str, reader: S3ImageReader) -> None:
    with pytest.raises(InvalidS3ObjectException):
        load_image({"S3Object": {"Bucket": bucket}}, reader)


def test_s3_object_over_15_mb_is_too_large(s3_client: Any, bucket: str, reader: S3ImageReader) -> None:
    s3_client.put_object(Bucket=bucket, Key="big.png", Body=b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_S3_IMAGE_BYTES)
    with pytest.raises(ImageTooLargeException):
        load_image({"S3Object": {"Bucket": bucket, "Name": "big.png"}}, reader)


def test_s3_object_over_5_mb_but_under_15_mb_is_accepted(s3_client: Any, bucket: str, reader: S3ImageReader) -> None:
    raw = encode(gradient(), "PNG")
    s3_client.put_object(Bucket=bucket, Key="padded.png", Body=raw + b"\x00" * (6 * 1024 * 1024))
    assert_rgb(load_image({"S3Object": {"Bucket": bucket, "Name": "padded.png"}}, reader), 64, 48)


def test_s3_non_image_is_invalid_format(s3_client: Any, bucket: str, reader: S3ImageReader) -> None:
    s3_client.put_object(Bucket=bucket, Key="face.jpg", Body=b"<html>not an image</html>")
    with pytest.raises(InvalidImageFormatException):
        load_image({"S3Object": {"Bucket": bucket, "Name": "face.jpg"}}, reader)


def test_s3_versioned_read(s3_client: Any, bucket: str, reader: S3ImageReader) -> None:
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3_client.put_object(Bucket=bucket, Key="face", Body=encode(gradient(30, 20), "JPEG"))["VersionId"]
    s3_client.put_object(Bucket=bucket, Key="face", Body=encode(gradient(50, 40), "PNG"))
    old = load_image({"S3Object": {"Bucket": bucket, "Name": "face", "Version": first}}, reader)
    latest = load_image({"S3Object": {"Bucket": bucket, "Name": "face"}}, reader)
    assert (old.width, old.height) == (30, 20)
    assert (latest.width, latest.height) == (50, 40)


def test_s3_unknown_version_is_invalid_s3_object(s3_client: Any, bucket: str, reader: S3ImageReader) -> None:
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3_client.put_object(Bucket=bucket, Key="face", Body=encode(gradient(), "JPEG"))
    with pytest.raises(InvalidS3ObjectException):
        load_image({"S3Object": {"Bucket": bucket, "Name": "face", "Version": "not-a-version"}}, reader)


def test_s3_without_credentials_is_invalid_s3_object(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_aws_credentials(monkeypatch)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(InvalidS3ObjectException):
        load_image({"S3Object": {"Bucket": "any", "Name": "face.jpg"}}, S3ImageReader(s3_endpoint))


def test_s3_unreachable_endpoint_is_invalid_s3_object(s3_env: None) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(InvalidS3ObjectException):
        load_image({"S3Object": {"Bucket": "any", "Name": "face.jpg"}}, S3ImageReader(f"http://127.0.0.1:{port}"))


class _StubBody:
    """A streaming body that records how much was asked of it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.requested: list[int | None] = []
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        self.requested.append(amt)
        return b"\x00" * (self.size if amt is None else min(amt, self.size))

    def close(self) -> None:
        self.closed = True


class _StubS3:
    def __init__(self, body: _StubBody, content_length: int | None) -> None:
        self.body = body
        self.content_length = content_length

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = {"Body": self.body}
        if self.content_length is not None:
            response["ContentLength"] = self.content_length
        return response


@pytest.mark.parametrize("content_length", [None, 10])  # absent, or lying about the size
def test_s3_body_read_is_bounded_when_content_length_is_missing_or_wrong(content_length: int | None) -> None:
    body = _StubBody(MAX_S3_IMAGE_BYTES + 1000)
    reader = S3ImageReader(None)
    reader._client = _StubS3(body, content_length)
    with pytest.raises(ImageTooLargeException):
        reader.read("bucket", "key", None)
    assert body.requested == [MAX_S3_IMAGE_BYTES + 1]
    assert body.closed


def test_s3_content_length_over_limit_is_refused_before_reading() -> None:
    body = _StubBody(0)
    reader = S3ImageReader(None)
    reader._client = _StubS3(body, MAX_S3_IMAGE_BYTES + 1)
    with pytest.raises(ImageTooLargeException):
        reader.read("bucket", "key", None)
    assert body.requested == []
    assert body.closed
