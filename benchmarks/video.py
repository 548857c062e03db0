"""Stored-video face jobs: how long StartFaceSearch and StartFaceDetection take, and where the time goes.

    python -m benchmarks.video [--sample-rate N] [--skip-720p]

Videos: `<facedata>/video/short_hamilton_clip.mp4` (640x360, 29.97 fps, 9.2 s) and a 1280x720 H.264
re-encoding of it, made with PyAV in a temporary folder (nothing is written to the data folder).

End to end: moto (S3 and SNS) and a live `rekog-compat serve --video-sample-rate N` reading from it;
the two stills of the same folder are indexed (ExternalImageId = file stem), then per video one
StartFaceSearch and one StartFaceDetection, one at a time. Wall time is from Start* to the poll
(every 0.2 s) that sees SUCCEEDED; frames analysed = duration x sample rate.

Per stage: the same pipeline in this process (rekog_compat.video.container.sampled_frames into
rekog_compat.video.analysis, engine FaceEngine(EngineConfig()), the server's defaults), with the
engine's calls timed: decode (PyAV, frames to RGB), detect (enlargement to the analysis size included),
embed+search (face search only: the embeddings the tracker asks for, and a search of the stills'
embeddings with the server's Similarity scale), and other (face details, tracking). time.perf_counter.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np

from harness.facedata import facedata_location
from harness.live_server import LiveServer
from rekog_compat.config import ServerConfig

CLIP = "short_hamilton_clip.mp4"
STILLS = ("lin-manuel-miranda", "alex-lacamoire")
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def reencode(source: Path, target: Path, width: int, height: int) -> None:
    """`source` re-encoded as H.264 (libx264, yuv420p) at width x height, same frame rate and timestamps."""
    import av

    with av.open(str(source)) as src, av.open(str(target), mode="w") as dst:
        stream_in = src.streams.video[0]
        stream_out = dst.add_stream("libx264", rate=stream_in.average_rate)
        stream_out.width, stream_out.height, stream_out.pix_fmt = width, height, "yuv420p"
        stream_out.time_base = stream_in.time_base
        for frame in src.decode(stream_in):
            scaled = frame.reformat(width=width, height=height, format="yuv420p")
            scaled.pts, scaled.time_base = frame.pts, frame.time_base
            for packet in stream_out.encode(scaled):
                dst.mux(packet)
        for packet in stream_out.encode():
            dst.mux(packet)


def end_to_end(server: LiveServer, moto: str, videos: dict[str, Path], stills: Path) -> dict[tuple[str, str], float]:
    """Seconds from Start* to SUCCEEDED per (video label, job kind), through the live server."""
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="videos")
    rk = boto3.client("rekognition", endpoint_url=server.url, region_name="us-east-1")
    rk.create_collection(CollectionId="bench")
    for name in STILLS:
        rk.index_faces(CollectionId="bench", Image={"Bytes": (stills / f"{name}.png").read_bytes()},
                       ExternalImageId=name, MaxFaces=1)
    times: dict[tuple[str, str], float] = {}
    for label, path in videos.items():
        s3.upload_file(str(path), "videos", path.name)
        video = {"S3Object": {"Bucket": "videos", "Name": path.name}}
        for kind in ("FaceSearch", "FaceDetection"):
            start = time.perf_counter()
            if kind == "FaceSearch":
                job = rk.start_face_search(Video=video, CollectionId="bench")["JobId"]
                get = rk.get_face_search
            else:
                job = rk.start_face_detection(Video=video)["JobId"]
                get = rk.get_face_detection
            while (status := get(JobId=job, MaxResults=1)["JobStatus"]) == "IN_PROGRESS":
                time.sleep(0.2)
            times[(label, kind)] = time.perf_counter() - start
            if status != "SUCCEEDED":
                raise RuntimeError(f"{kind} on {label}: {status}")
    return times


class TimedEngine:
    """The engine with detect and embed timed into `seconds`; everything else passed through."""

    def __init__(self, engine: Any, seconds: dict[str, float]) -> None:
        self._engine, self._seconds = engine, seconds

    def detect(self, rgb: np.ndarray, max_faces: int = 100) -> Any:
        start = time.perf_counter()
        try:
            return self._engine.detect(rgb, max_faces=max_faces)
        finally:
            self._seconds["detect"] += time.perf_counter() - start

    def embed(self, faces: list[Any]) -> np.ndarray:
        start = time.perf_counter()
        try:
            return self._engine.embed(faces)
        finally:
            self._seconds["embed+search"] += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def stages(
    engine: Any, path: Path, kind: str, sample_rate: float, gallery: np.ndarray, names: list[str]
) -> dict[str, Any]:
    """Seconds per stage of one job's pipeline, in this process; `frames` sampled."""
    from rekog_compat.video import analysis
    from rekog_compat.video.container import sampled_frames

    seconds: dict[str, float] = defaultdict(float)
    timed: Any = TimedEngine(engine, seconds)
    counted = {"frames": 0}

    def frames() -> Iterator[Any]:
        source = sampled_frames(str(path), sample_rate)
        while True:
            start = time.perf_counter()
            frame = next(source, None)
            seconds["decode"] += time.perf_counter() - start
            if frame is None:
                return
            counted["frames"] += 1
            yield frame

    scale = engine.similarity_scale

    def search(probe: np.ndarray) -> list[dict[str, Any]]:
        start = time.perf_counter()
        distances = 1.0 - gallery @ probe  # unit vectors: cosine distance
        hits = sorted(zip(names, distances.tolist(), strict=True), key=lambda hit: hit[1])
        matches = [{"Similarity": s, "Face": {"ExternalImageId": n}} for n, s in scale.passing(hits, 80.0)]
        seconds["embed+search"] += time.perf_counter() - start
        return matches

    start = time.perf_counter()
    if kind == "FaceSearch":
        items = list(analysis.person_matches(timed, frames(), search, scale.distance_at(80.0)))
    else:
        items = list(analysis.face_detections(timed, frames(), "DEFAULT"))
    total = time.perf_counter() - start
    other = total - seconds["decode"] - seconds["detect"] - seconds["embed+search"]
    return {"total": total, "frames": counted["frames"], "items": len(items), **seconds, "other": other}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample-rate", type=float, default=ServerConfig.video_sample_rate,
                        help="frames analysed per second of video (default: the server's)")
    parser.add_argument("--skip-720p", action="store_true", help="only the clip as it is (640x360)")
    args = parser.parse_args()
    os.environ.update(FAKE_AWS_ENV)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log

    from moto.server import ThreadedMotoServer
    from PIL import Image

    from rekog_compat.engine import EngineConfig, FaceEngine
    from rekog_compat.video.container import video_metadata

    stills = facedata_location() / "video"
    work = Path(tempfile.mkdtemp(prefix="bench-video-"))
    videos = {"640x360": stills / CLIP}
    if not args.skip_720p:
        start = time.perf_counter()
        reencode(stills / CLIP, work / "clip-1280x720.mp4", 1280, 720)
        print(f"re-encoded to 1280x720 in {time.perf_counter() - start:.1f} s ({work / 'clip-1280x720.mp4'})")
        videos["1280x720"] = work / "clip-1280x720.mp4"
    durations = {label: video_metadata(str(path))["DurationMillis"] / 1000 for label, path in videos.items()}

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        moto_url = f"http://{host}:{port}"
        server = LiveServer(work / "data", "--s3-endpoint-url", moto_url, "--sns-endpoint-url", moto_url,
                            "--video-sample-rate", str(args.sample_rate), env=FAKE_AWS_ENV).start(120)
        try:
            wall = end_to_end(server, moto_url, videos, stills)
        finally:
            server.stop()
    finally:
        moto.stop()

    engine = FaceEngine(EngineConfig())
    still_faces = []
    for name in STILLS:
        rgb = np.asarray(Image.open(stills / f"{name}.png").convert("RGB"))
        still_faces.append(engine.detect(rgb, max_faces=1)[0])
    gallery = engine.embed(still_faces)
    stages(engine, videos["640x360"], "FaceDetection", args.sample_rate, gallery, list(STILLS))  # warm the models

    print(f"\nsample rate {args.sample_rate:g} fps; wall time: Start* to SUCCEEDED through a live server; "
          "stages: the same pipeline in-process (ms per analysed frame)\n")
    print("| video | job | duration (s) | wall (s) | wall / duration | frames | frames/s | decode ms | detect ms "
          "| embed+search ms | other ms | in-process (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, path in videos.items():
        for kind in ("FaceSearch", "FaceDetection"):
            measured = stages(engine, path, kind, args.sample_rate, gallery, list(STILLS))
            frames = durations[label] * args.sample_rate
            seconds = wall[(label, kind)]

            def per_frame(stage: str, measured: dict[str, Any] = measured) -> str:
                return f"{1000 * measured.get(stage, 0.0) / max(1, measured['frames']):.1f}"

            print(f"| {label} | {kind} | {durations[label]:.1f} | {seconds:.1f} | {seconds / durations[label]:.2f} "
                  f"| {frames:.0f} ({measured['frames']} sampled) | {frames / seconds:.2f} | {per_frame('decode')} "
                  f"| {per_frame('detect')} | {per_frame('embed+search')} | {per_frame('other')} "
                  f"| {measured['total']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
