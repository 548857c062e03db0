"""Stream processors: frames analysed per second and record latency, one processor and two at once.

    python -m benchmarks.streams [--sample-rate N] [--seconds 20] [--threshold 80]

moto (Kinesis) and a live `rekog-compat serve --video-sample-rate N --video-sources FILE` whose file maps
two Kinesis Video stream ARNs to `<facedata>/video/short_hamilton_clip.mp4` (9.2 s, played in real time
and again each time it ends). The two stills of that folder are indexed (ExternalImageId = file stem).
Then one processor, and after it two at once (each on its own ARN and data stream), run --seconds from
RUNNING to StopStreamProcessor; afterwards every record is read back with rekog_sdk.streams.

Per processor: records (one per analysed frame with a face) and records/s over the run, which is a
lower bound on frames analysed per second: frames without a face leave no record. The estimate of
frames analysed per second is sample rate x coverage, coverage being the sampled frames with a face
that got a record over those that should have: the source yields one frame per 1/rate s of clip time
(a "slot", from FrameOffsetInSeconds), the frames are the same on every play, so the slots with a face
are the union over every play of every run, and each play (FrameOffsetInSeconds starts again at 0)
should have recorded those of its span. A processor that cannot keep up drops frames (the newest wins)
and its coverage falls. Latency: ApproximateArrivalTimestamp (moto, at put_record) - ProducerTimestamp
(when the frame was due), p50/p95/max. `uptime` is printed before and after: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from rekog_sdk import streams

from harness.facedata import facedata_location
from harness.live_server import LiveServer
from rekog_compat.config import ServerConfig

CLIP = "short_hamilton_clip.mp4"
STILLS = ("lin-manuel-miranda", "alex-lacamoire")
COLLECTION = "performers"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/AmazonRekognitionServiceRole"
KVS = tuple(f"arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/stage-{n}/1700000000000" for n in (1, 2))
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class ProcessorRun:
    """What one processor wrote during one run."""

    name: str
    seconds: float  # RUNNING to StopStreamProcessor
    records: list[streams.ArrivedRecord] = field(default_factory=list)

    def plays(self, rate: float) -> list[list[int]]:
        """The slots with a record, per play of the clip (a new play when FrameOffsetInSeconds goes back)."""
        plays: list[list[int]] = []
        last = float("inf")
        for arrived in self.records:
            offset = streams.frame_offset(arrived.record) or 0.0
            if offset < last - 1e-6 or not plays:
                plays.append([])
            plays[-1].append(slot(offset, rate))
            last = offset
        return plays


def slot(offset: float, rate: float) -> int:
    """The sampling slot a frame's FrameOffsetInSeconds lies in (the server's: one frame at or after each 1/rate s)."""
    return int((offset + 1e-3) // (1.0 / rate))


def run_processors(rekognition: Any, kinesis: Any, label: str, arns: tuple[str, ...], seconds: float,
                   threshold: float) -> list[ProcessorRun]:
    """Create, start, run `seconds` from RUNNING, stop and delete one processor per ARN; read back their records."""
    names = [f"{label}-{n}" for n in range(len(arns))]
    outputs = {}
    for name, arn in zip(names, arns, strict=True):
        outputs[name], _ = streams.ensure_data_stream(kinesis, name)
        rekognition.create_stream_processor(
            Name=name, Input={"KinesisVideoStream": {"Arn": arn}}, Output={"KinesisDataStream": {"Arn": outputs[name]}},
            RoleArn=ROLE, Settings={"FaceSearch": {"CollectionId": COLLECTION, "FaceMatchThreshold": threshold}})
    for name in names:
        rekognition.start_stream_processor(Name=name)
    for name in names:
        status = streams.wait_for_processor(rekognition, name, {"RUNNING", "FAILED"}, timeout_s=60)
        if status["Status"] != "RUNNING":
            raise RuntimeError(f"{name} {status['Status']}: {status.get('StatusMessage')}")
    running = time.monotonic()
    time.sleep(seconds)
    for name in names:
        rekognition.stop_stream_processor(Name=name)
    ran = time.monotonic() - running
    runs = []
    for name in names:
        streams.wait_for_processor(rekognition, name, {"STOPPED", "FAILED"}, timeout_s=60)
        rekognition.delete_stream_processor(Name=name)
        held = streams.read_face_search_records(kinesis, outputs[name], from_start=True, follow=False, poll_s=0.1)
        runs.append(ProcessorRun(name, ran, list(held)))
    return runs


def summarise(run: ProcessorRun, rate: float, face_slots: set[int]) -> dict[str, Any]:
    """The row of one processor: records, rates, coverage, latency, who was matched."""
    plays = run.plays(rate)
    hit = sum(len(set(play)) for play in plays)
    expected = sum(len({s for s in face_slots if min(play) <= s <= max(play)}) for play in plays if play)
    coverage = hit / expected if expected else 0.0
    latencies = np.array([a.latency_s for a in run.records if a.latency_s is not None], dtype=float)
    who = {m.who for a in run.records for m in streams.matches_in(a.record)}
    return {
        "processor": run.name, "seconds": run.seconds, "records": len(run.records), "plays": len(plays),
        "records_per_s": len(run.records) / run.seconds, "coverage": coverage, "analysed_per_s": rate * coverage,
        "p50": float(np.percentile(latencies, 50)) if latencies.size else float("nan"),
        "p95": float(np.percentile(latencies, 95)) if latencies.size else float("nan"),
        "max": float(latencies.max()) if latencies.size else float("nan"),
        "both": set(STILLS) <= who, "who": sorted(who),
    }


def uptime() -> str:
    """`uptime`'s line: the machine's load while the benchmark ran."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime unavailable"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample-rate", type=float, default=ServerConfig.video_sample_rate,
                        help="the server's --video-sample-rate (default: its default)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each run lasts (default %(default)s)")
    parser.add_argument("--threshold", type=float, default=80.0, help="FaceMatchThreshold (default %(default)s)")
    args = parser.parse_args()
    os.environ.update(FAKE_AWS_ENV)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log

    from moto.server import ThreadedMotoServer

    stills = facedata_location() / "video"
    work = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    (work / "sources.json").write_text(json.dumps({arn: str(stills / CLIP) for arn in KVS}))
    print("before:", uptime())
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        moto_url = f"http://{host}:{port}"
        server = LiveServer(work / "data", "--kinesis-endpoint-url", moto_url, "--video-sources",
                            str(work / "sources.json"), "--video-sample-rate", str(args.sample_rate),
                            env=FAKE_AWS_ENV).start(120)
        try:
            rekognition = boto3.client("rekognition", endpoint_url=server.url, region_name="us-east-1")
            kinesis = boto3.client("kinesis", endpoint_url=moto_url, region_name="us-east-1")
            rekognition.create_collection(CollectionId=COLLECTION)
            for name in STILLS:
                rekognition.index_faces(CollectionId=COLLECTION, Image={"Bytes": (stills / f"{name}.png").read_bytes()},
                                        ExternalImageId=name, MaxFaces=1)
            results = {
                "1 processor": run_processors(rekognition, kinesis, "one", KVS[:1], args.seconds, args.threshold),
                "2 at once": run_processors(rekognition, kinesis, "two", KVS, args.seconds, args.threshold),
            }
        finally:
            server.stop()
    finally:
        moto.stop()
    print("after: ", uptime())

    face_slots = {slot(streams.frame_offset(a.record) or 0.0, args.sample_rate)
                  for runs in results.values() for run in runs for a in run.records}
    print(f"\nsample rate {args.sample_rate:g} fps; clip {CLIP} replayed in real time; {len(face_slots)} sampled "
          f"slots of the clip have a face (union of every play)")
    print("| run | processor | s | records | plays | records/s | coverage | est. frames analysed/s | "
          "latency p50 (s) | p95 (s) | max (s) | both matched |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, runs in results.items():
        for run in runs:
            row = summarise(run, args.sample_rate, face_slots)
            print(f"| {label} | {row['processor']} | {row['seconds']:.1f} | {row['records']} | {row['plays']} | "
                  f"{row['records_per_s']:.2f} | {row['coverage']:.0%} | {row['analysed_per_s']:.2f} | "
                  f"{row['p50']:.3f} | {row['p95']:.3f} | {row['max']:.3f} | "
                  f"{'yes' if row['both'] else 'no: ' + ', '.join(row['who'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
