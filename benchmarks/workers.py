"""IndexFaces throughput of `serve --workers 1` vs `--workers 2` under 4 concurrent clients.

    python -m benchmarks.workers [--images 200] [--clients 4]

dlib's embedding holds the GIL, so one server process works on one core; a second process
should use the second core. Each run starts a fresh server (temp data dir) and indexes the
same lfw_dev photos (sorted, the first N) from `--clients` threads, one collection per run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

from harness.facedata import facedata_location
from harness.live_server import LiveServer


def throughput(workers: int, photos: list[bytes], clients: int) -> tuple[float, int]:
    """(images per second, faces indexed) for one fresh server with `workers` processes."""
    server = LiveServer(Path(tempfile.mkdtemp()) / "data", "--workers", str(workers), "--threads", "4").start(120)
    try:
        def client():
            return boto3.client("rekognition", endpoint_url=server.url, region_name="us-east-1",
                                aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x",
                                config=Config(retries={"max_attempts": 1}))

        client().create_collection(CollectionId="bench")
        for data in photos[:4]:  # warm every worker's models
            client().detect_faces(Image={"Bytes": data})

        def work(part: list[bytes]) -> int:
            own = client()
            return sum(len(own.index_faces(CollectionId="bench", Image={"Bytes": data}, MaxFaces=1,
                                           QualityFilter="NONE")["FaceRecords"]) for data in part)

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            faces = sum(pool.map(work, [photos[i::clients] for i in range(clients)]))
        elapsed = time.perf_counter() - started
        assert client().describe_collection(CollectionId="bench")["FaceCount"] == faces
        return len(photos) / elapsed, faces
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    photos = [p.read_bytes() for p in sorted((facedata_location() / "lfw_dev").glob("*/*.jpg"))[: args.images]]
    results = {workers: throughput(workers, photos, args.clients) for workers in (1, 2)}
    print(f"{len(photos)} lfw_dev photos, {args.clients} concurrent clients\n")
    print("| workers | images/s | faces indexed |")
    print("|---:|---:|---:|")
    for workers, (rate, faces) in results.items():
        print(f"| {workers} | {rate:.2f} | {faces} |")
    print(f"\nspeed-up of 2 workers over 1: {results[2][0] / results[1][0]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
