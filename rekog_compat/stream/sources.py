"""Where a stream processor's video comes from: Kinesis Video Streams is not available locally, so
`--video-sources FILE` maps each stream ARN to a real local source.

The file is JSON, `{"arn:aws:kinesisvideo:...:stream/door-cam/1": SOURCE}`, where SOURCE is an RTSP or
HTTP(S) URL, a video file's path (played in real time, from its start, again each time it ends), a
camera device (`/dev/video0`, read with V4L2), or an object `{"url": ..., "realtime": true|false}`
to say whether a file is paced to its timestamps. Frames are decoded by FFmpeg through PyAV, as
stored videos are.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

OPEN_TIMEOUT_S = 10.0  # connecting to a network source, and the longest wait for its next packet


class SourceUnavailable(Exception):
    """The source cannot be opened, or broke while being read; the message says which and why."""


@dataclass(frozen=True)
class Source:
    url: str
    realtime: bool  # pace decoding to the frames' timestamps (a file standing in for a live camera)

    @property
    def is_file(self) -> bool:
        return "://" not in self.url and not self.url.startswith("/dev/")


@dataclass(frozen=True)
class LiveFrame:
    wall_time: float  # when the frame was (or, for a paced file, was due to be) seen, epoch seconds
    offset_s: float  # from the start of the stream
    rgb: np.ndarray


def load_sources(path: str | None) -> dict[str, Source]:
    """The `--video-sources` mapping (empty without a file); ValueError naming what is wrong with it."""
    if not path:
        return {}
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--video-sources {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError(f"--video-sources {path}: expected a JSON object of stream ARN -> source")
    sources = {}
    for arn, spec in document.items():
        if isinstance(spec, str):
            spec = {"url": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
            raise ValueError(f"--video-sources {path}: the source of {arn} must be a URL, a path or {{\"url\": ...}}")
        url = spec["url"]
        sources[arn] = Source(url=url, realtime=bool(spec.get("realtime", "://" not in url)))
    return sources


def _open(source: Source) -> Any:
    import av

    options = {"rtsp_transport": "tcp"} if source.url.startswith("rtsp") else {}
    try:
        if source.url.startswith("/dev/"):
            return av.open(source.url, format="v4l2", timeout=OPEN_TIMEOUT_S)
        return av.open(source.url, options=options, timeout=OPEN_TIMEOUT_S)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise SourceUnavailable(f"cannot open {source.url}: {exc}") from exc


def frames(source: Source, per_second: float, stop: threading.Event) -> Iterator[LiveFrame]:
    """The source's frames, one at or after each 1/per_second s of stream time, until it ends or `stop`."""
    import av

    container = _open(source)
    try:
        if not container.streams.video:
            raise SourceUnavailable(f"{source.url} has no video stream")
        stream = container.streams.video[0]
        step = 1.0 / per_second
        started = time.time()
        first: Fraction | None = None
        next_at = 0.0
        for frame in container.decode(stream):
            if stop.is_set():
                return
            if frame.pts is None:
                continue
            at = Fraction(frame.pts) * stream.time_base
            first = at if first is None else first
            offset = float(at - first)
            if offset + 1e-3 < next_at:
                continue
            next_at = (int((offset + 1e-3) // step) + 1) * step
            due = started + offset
            if source.realtime and source.is_file:
                delay = due - time.time()
                if delay > 0 and stop.wait(delay):
                    return
            yield LiveFrame(due if source.realtime and source.is_file else time.time(), offset,
                            frame.to_ndarray(format="rgb24"))
    except (av.FFmpegError, OSError, ValueError, MemoryError) as exc:
        raise SourceUnavailable(f"{source.url} broke while being read: {exc}") from exc
    finally:
        container.close()
