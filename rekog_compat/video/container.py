"""Reading a stored video: what the container says (VideoMetadata) and its frames, sampled in time.

Decoding is FFmpeg's, through PyAV (whose wheel ships FFmpeg). Rekognition analyses H.264 in MP4 or
MOV (and AVI); anything else, or a file FFmpeg cannot read, is an `UnsupportedVideo` whose message
becomes the job's StatusMessage. A hostile file can only end the job: frames are bounded in size,
and every FFmpeg error is caught here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

MAX_VIDEO_BYTES = 10 * 1024**3  # AWS: 10 GB
MAX_DURATION_MS = 6 * 3600 * 1000  # AWS: 6 hours
MAX_FRAME_SIDE = 8192  # larger frames are refused rather than decoded (memory)
SUPPORTED_CODECS = {"h264"}
# FFmpeg's demuxer names of the containers Rekognition Video takes.
SUPPORTED_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2", "avi"}
UNSUPPORTED = "Unsupported codec/format."  # AWS's StatusMessage


class UnsupportedVideo(Exception):
    """The file is not a video this server analyses, or it breaks while decoding."""


@dataclass(frozen=True)
class Frame:
    timestamp_ms: int  # from the start of the video
    rgb: np.ndarray


def _open(path: str) -> Any:
    import av

    try:
        return av.open(path, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise UnsupportedVideo(UNSUPPORTED) from exc


def _start_seconds(stream: Any) -> Fraction:
    return Fraction(stream.start_time or 0) * stream.time_base if stream.time_base else Fraction(0)


def video_metadata(path: str) -> dict[str, Any]:
    """VideoMetadata of the file's first video stream; UnsupportedVideo for anything Rekognition refuses."""
    with _open(path) as container:
        if not container.streams.video or container.format.name not in SUPPORTED_FORMATS:
            raise UnsupportedVideo(UNSUPPORTED)
        stream = container.streams.video[0]
        codec = stream.codec_context
        if codec.name not in SUPPORTED_CODECS:
            raise UnsupportedVideo(UNSUPPORTED)
        if not (0 < codec.width <= MAX_FRAME_SIDE and 0 < codec.height <= MAX_FRAME_SIDE):
            raise UnsupportedVideo(f"{UNSUPPORTED} Frames of {codec.width}x{codec.height} are not analysed.")
        if stream.duration and stream.time_base:
            duration_ms = int(stream.duration * stream.time_base * 1000)
        else:
            duration_ms = int((container.duration or 0) / 1000)
        if duration_ms > MAX_DURATION_MS:
            raise UnsupportedVideo("Video is too large: the maximum duration is 6 hours.")
        rate = stream.average_rate or stream.guessed_rate or 0
        return {
            "Codec": codec.name,
            "DurationMillis": duration_ms,
            "Format": container.format.long_name,
            "FrameRate": float(rate),
            "FrameHeight": codec.height,
            "FrameWidth": codec.width,
            "ColorRange": "FULL" if codec.color_range == 2 else "LIMITED",  # 2: AVCOL_RANGE_JPEG
        }


def sampled_frames(path: str, per_second: float) -> Iterator[Frame]:
    """The first frame at or after each multiple of 1/per_second s, as RGB, with its time from the start."""
    import av

    step_ms = 1000.0 / per_second
    next_ms = 0.0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = _start_seconds(stream)
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                at_ms = float((Fraction(frame.pts) * stream.time_base - start) * 1000)
                if at_ms + 0.5 < next_ms:
                    continue
                next_ms = (int((at_ms + 0.5) // step_ms) + 1) * step_ms
                yield Frame(max(0, round(at_ms)), frame.to_ndarray(format="rgb24"))
        except (av.FFmpegError, ValueError, MemoryError) as exc:
            raise UnsupportedVideo(f"The video could not be decoded: {exc}") from exc
