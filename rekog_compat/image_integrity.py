"""Whether an image's data holds exactly the pixels its header declares.

Pillow decodes a JPEG whose scan ends early (a header that lies about the size, or a truncated file with
an end marker or garbage after it) and a PNG whose compressed rows run out before the declared height,
padding the rest with grey or black: the request then succeeded with "no faces" on an image that was never
there. Rekognition refuses an image it cannot decode; so does this check, before any pixel is decoded.
"""

from __future__ import annotations

import struct
import zlib

import simplejpeg

from .errors import InvalidImageFormatException

# libjpeg's warnings that the frame and its entropy-coded data disagree: the data ends before the last MCU
# (JWRN_HIT_MARKER, JWRN_JPEG_EOF), or bytes are left over between the last MCU and the end-of-image marker
# (JWRN_EXTRANEOUS_DATA before EOI: a frame declared smaller than its data, or a cut file spliced onto
# garbage that happens to decode). Its other warnings (extraneous bytes before a marker inside the file,
# seen in real camera files) lose no pixels and are left alone.
_JPEG_MISMATCH = ("premature end of data segment", "premature end of jpeg file", "before marker 0xd9")

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_STEP = 1 << 20


def require_complete(data: bytes, fmt: str) -> None:
    """InvalidImageFormatException unless `data` (JPEG or PNG) carries all the pixels its header declares."""
    if fmt == "JPEG":
        _require_complete_jpeg(data)
    else:
        _require_complete_png(data)


def _require_complete_jpeg(data: bytes) -> None:
    try:
        # At 1/8 scale libjpeg-turbo still walks every MCU of the entropy-coded data, skipping most of the IDCT.
        simplejpeg.decode_jpeg(data, colorspace="GRAY", strict=True, min_factor=8)
    except ValueError as warning:
        if any(sign in str(warning).lower() for sign in _JPEG_MISMATCH):
            raise InvalidImageFormatException() from None
        # Anything else libjpeg-turbo refuses (a mode it lacks, a benign warning first) is left to Pillow.


def _require_complete_png(data: bytes) -> None:
    """The IDAT stream must inflate to exactly the bytes the IHDR's width, height, depth and interlacing need."""
    chunks = _png_chunks(data)
    try:
        header = next(body for kind, body in chunks if kind == b"IHDR")
        width, height, depth, colour, _compression, _filter, interlace = struct.unpack(">IIBBBBB", header[:13])
    except (StopIteration, struct.error):
        raise InvalidImageFormatException() from None
    samples = _PNG_CHANNELS.get(colour)
    if samples is None:
        raise InvalidImageFormatException()
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    expected = 0
    for x0, y0, dx, dy in passes:
        columns, rows = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if columns and rows:
            expected += rows * (1 + (columns * samples * depth + 7) // 8)  # each row: filter byte + samples
    if _inflated_size(b"".join(body for kind, body in chunks if kind == b"IDAT"), expected + 1) != expected:
        raise InvalidImageFormatException()


def _png_chunks(data: bytes) -> list[tuple[bytes, memoryview]]:
    """(type, body) of each chunk up to IEND (or to where the data stops making chunks)."""
    view, chunks, at = memoryview(data), [], 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", view[at:at + 8])
        chunks.append((kind, view[at + 8:at + 8 + length]))
        if kind == b"IEND":
            break
        at += 12 + length
    return chunks


def _inflated_size(compressed: bytes, limit: int) -> int:
    """How many bytes `compressed` inflates to, counting at most `limit` (nothing larger is ever held)."""
    inflater = zlib.decompressobj()
    size, pending = 0, compressed
    try:
        while pending and size < limit:
            size += len(inflater.decompress(pending, min(_INFLATE_STEP, limit - size)))
            pending = inflater.unconsumed_tail
    except zlib.error:
        raise InvalidImageFormatException() from None
    return size
