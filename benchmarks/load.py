"""Load: concurrent clients making mixed face calls against one server, with exact bookkeeping.

    python -m benchmarks.load [--clients 8] [--calls 1000] [--max-seconds 600] [--seed 0]
        [--mix IndexFaces=20,SearchFacesByImage=40,ListFaces=15,DescribeCollection=15,DeleteFaces=10]

The server is the real one (`rekog-compat serve` as a subprocess on loopback, harness.live_server, data dir
in a temp dir, its default 8 request threads). Photos: `<facedata>/lfw_tiny/*/*.jpg` (harness/facedata.py), sent as
they are.

1. Seeding (untimed in the load figures): every photo is indexed once into the collection `load` (IndexFaces,
   MaxFaces 1, QualityFilter NONE, ExternalImageId `seed-<stem>`), by the clients in parallel. Photos where no face
   is indexed are dropped from the pool, so that every SearchFacesByImage of the load has a face to search.
2. Load: `--clients` threads, one boto3 client each (its own session; retries off, so every failure is seen),
   each making `--calls` calls drawn from `--mix` (weights) with its own seeded random generator:
   - IndexFaces of a random pool photo, MaxFaces 1, QualityFilter NONE, ExternalImageId `c<client>-<n>`: a new
     ExternalImageId makes new FaceIds, so every call adds exactly the faces its FaceRecords name;
   - SearchFacesByImage of a random pool photo (MaxFaces 10, default threshold);
   - ListFaces (first page, MaxResults 100); DescribeCollection;
   - DeleteFaces of 1 to 3 of the faces this client indexed and has not deleted (a client with none indexes
     instead: the call is counted as an IndexFaces).
   A client stops early when `--max-seconds` have passed since the load began (the report says so).
3. Bookkeeping: the faces each client indexed (FaceRecords) and deleted (DeletedFaces) are kept by FaceId. At the
   end, DescribeCollection's FaceCount must equal seeded + indexed - deleted exactly, and ListFaces (every page)
   must list exactly the expected FaceIds.

Reported (Markdown): per operation the calls, errors, ThrottlingException (counted apart), p50/p99/mean latency;
overall wall time and throughput (calls/s); the bookkeeping check. Any error or bookkeeping mismatch makes the
exit status 1. Timings are wall-clock `time.perf_counter` around each boto3 call (signing, loopback HTTP, JSON).
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.facedata import facedata_location
from harness.live_server import LiveServer

COLLECTION = "load"
ACCESS_KEY = "AKIDEXAMPLE"  # not 12 digits and not mapped: the server's default account
DEFAULT_MIX = "IndexFaces=20,SearchFacesByImage=40,ListFaces=15,DescribeCollection=15,DeleteFaces=10"
OPERATIONS = ("IndexFaces", "SearchFacesByImage", "ListFaces", "DescribeCollection", "DeleteFaces")
THROTTLING = "ThrottlingException"
MAX_ERROR_SAMPLES = 10


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in OPERATIONS:
            raise SystemExit(f"--mix: unknown operation {name!r} (one of {', '.join(OPERATIONS)})")
        mix[name] = float(weight)
    if not mix or sum(mix.values()) <= 0 or any(w < 0 for w in mix.values()):
        raise SystemExit("--mix: weights must be non-negative and not all zero")
    return mix


def make_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "rekognition",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="x",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=300, connect_timeout=30,
                      max_pool_connections=2),
    )


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return str(response["Error"].get("Code"))
    return type(exc).__name__


@dataclass(frozen=True)
class Photo:
    name: str
    jpeg: bytes


@dataclass
class ClientLog:
    """What one client did: latencies and failures per operation, and the faces it added and removed."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    indexed: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    calls: int = 0
    stopped_early: bool = False


def call(log: ClientLog, operation: str, function: Any, **kwargs: Any) -> dict[str, Any] | None:
    """One timed call; its answer, or None after counting the failure."""
    started = time.perf_counter()
    try:
        response = function(**kwargs)
    except Exception as exc:  # every failure is counted, by its AWS code or its exception type
        code = error_code(exc)
        if code == THROTTLING:
            log.throttled[operation] += 1
        else:
            log.errors[operation] += 1
            if len(log.error_samples) < MAX_ERROR_SAMPLES:
                log.error_samples.append(f"{operation}: {code}: {exc}")
        return None
    finally:
        log.calls += 1
    log.latencies[operation].append((time.perf_counter() - started) * 1000.0)
    return response


def index(log: ClientLog, client: Any, photo: Photo, external_id: str) -> list[str]:
    response = call(log, "IndexFaces", client.index_faces, CollectionId=COLLECTION, Image={"Bytes": photo.jpeg},
                    ExternalImageId=external_id, MaxFaces=1, QualityFilter="NONE")
    return [record["Face"]["FaceId"] for record in response["FaceRecords"]] if response else []


def run_client(number: int, client: Any, pool: list[Photo], calls: int, mix: dict[str, float], seed: int,
               deadline: float) -> ClientLog:
    rng = random.Random(seed * 1000 + number)
    log = ClientLog()
    live: list[str] = []  # faces this client indexed and has not deleted, in indexing order
    names, weights = list(mix), list(mix.values())
    for n in range(calls):
        if time.monotonic() > deadline:
            log.stopped_early = True
            break
        operation = rng.choices(names, weights)[0]
        if operation == "DeleteFaces" and not live:
            operation = "IndexFaces"
        if operation == "IndexFaces":
            faces = index(log, client, rng.choice(pool), f"c{number}-{n}")
            log.indexed.update(faces)
            live.extend(faces)
        elif operation == "SearchFacesByImage":
            call(log, operation, client.search_faces_by_image, CollectionId=COLLECTION,
                 Image={"Bytes": rng.choice(pool).jpeg}, MaxFaces=10)
        elif operation == "ListFaces":
            call(log, operation, client.list_faces, CollectionId=COLLECTION, MaxResults=100)
        elif operation == "DescribeCollection":
            call(log, operation, client.describe_collection, CollectionId=COLLECTION)
        else:
            doomed = rng.sample(live, min(len(live), rng.randint(1, 3)))
            response = call(log, operation, client.delete_faces, CollectionId=COLLECTION, FaceIds=doomed)
            if response:
                gone = set(response.get("DeletedFaces", []))
                log.deleted.update(gone)
                live = [face for face in live if face not in gone]
    return log


def seed_collection(clients: list[Any], photos: list[Photo]) -> tuple[list[Photo], set[str], ClientLog, float]:
    """Index every photo once, in parallel; the photos where a face was indexed, and those faces."""
    log = ClientLog()
    lock = threading.Lock()
    pool: list[Photo] = []
    seeded: set[str] = set()
    slots = list(clients)

    def seed_one(photo: Photo) -> None:
        with lock:
            client = slots.pop()
        try:
            faces = index(log, client, photo, f"seed-{photo.name}")
        finally:
            with lock:
                slots.append(client)
        with lock:
            seeded.update(faces)
            if faces:
                pool.append(photo)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(clients)) as executor:
        list(executor.map(seed_one, photos))
    pool.sort(key=lambda photo: photo.name)
    return pool, seeded, log, time.perf_counter() - started


def list_all_faces(client: Any) -> set[str]:
    faces: set[str] = set()
    for page in client.get_paginator("list_faces").paginate(CollectionId=COLLECTION):
        faces.update(face["FaceId"] for face in page["Faces"])
    return faces


def percentile_ms(samples: list[float], q: float) -> str:
    return f"{np.percentile(samples, q):.1f}" if samples else "-"


def report(args: argparse.Namespace, mix: dict[str, float], logs: list[ClientLog], wall_s: float,
           seeding: tuple[int, int, int, float], final: dict[str, Any], health: dict[str, Any]) -> bool:
    photos, pool, seeded, seed_s = seeding
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    throttled: Counter[str] = Counter()
    for log in logs:
        for operation, samples in log.latencies.items():
            latencies[operation].extend(samples)
        errors.update(log.errors)
        throttled.update(log.throttled)
    calls = sum(log.calls for log in logs)
    weights = sum(mix.values())
    print(f"\n{args.clients} clients x {args.calls} calls (mix "
          + ", ".join(f"{op} {100 * w / weights:.0f} %" for op, w in mix.items())
          + f"), collection seeded with {seeded} faces from {pool} of {photos} lfw_tiny photos"
          + f" ({seed_s:.1f} s); server {health.get('version')} model {health.get('model')}.\n")
    print("| operation | calls | errors | throttled | p50 ms | p99 ms | mean ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for operation in OPERATIONS:
        samples = latencies.get(operation, [])
        count = len(samples) + errors[operation] + throttled[operation]
        if not count:
            continue
        mean = f"{np.mean(samples):.1f}" if samples else "-"
        print(f"| {operation} | {count} | {errors[operation]} | {throttled[operation]} | "
              f"{percentile_ms(samples, 50)} | {percentile_ms(samples, 99)} | {mean} |")
    every = [s for samples in latencies.values() for s in samples]
    print(f"| **all** | {calls} | {sum(errors.values())} | {sum(throttled.values())} | "
          f"{percentile_ms(every, 50)} | {percentile_ms(every, 99)} | {np.mean(every) if every else 0:.1f} |")

    indexed = sum(len(log.indexed) for log in logs)
    deleted = sum(len(log.deleted) for log in logs)
    expected = final["expected_count"]
    count_ok = final["face_count"] == expected
    listed_ok = final["listed_matches"]
    early = sum(log.stopped_early for log in logs)
    print()
    print("| measure | value |")
    print("|---|---:|")
    print(f"| wall time of the load | {wall_s:.1f} s |")
    print(f"| throughput | {calls / wall_s:.1f} calls/s |" if wall_s else "| throughput | - |")
    print(f"| clients stopped by --max-seconds {args.max_seconds:g} | {early} |")
    print(f"| faces seeded / indexed / deleted by the load | {seeded} / {indexed} / {deleted} |")
    print(f"| FaceCount (expected seeded + indexed - deleted = {expected}) | {final['face_count']}"
          f" {'exact' if count_ok else 'MISMATCH'} |")
    print(f"| ListFaces lists exactly the expected FaceIds ({final['listed']} listed) | "
          f"{'yes' if listed_ok else 'NO'} |")
    print(f"| server alive at the end | {'yes' if final['alive'] else 'NO'} |")
    first_errors = [sample for log in logs for sample in log.error_samples][:MAX_ERROR_SAMPLES]
    if first_errors:
        print("\nFirst errors:\n" + "\n".join(f"- {sample}" for sample in first_errors))
    print(f"\n- machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()},"
          f" Python {platform.python_version()}; client and server on the same machine")
    return not errors and count_ok and listed_ok and final["alive"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (threads), default 8")
    parser.add_argument("--calls", type=int, default=1000, help="calls per client, default 1000")
    parser.add_argument("--max-seconds", type=float, default=600.0,
                        help="stop the load after this long (clients finish their call in flight), default 600")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"operation weights, default {DEFAULT_MIX}")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the clients' choices, default 0")
    args = parser.parse_args(argv)
    mix = parse_mix(args.mix)

    root = facedata_location() / "lfw_tiny"
    paths = sorted(root.glob("*/*.jpg"))
    if not paths:
        raise SystemExit(f"no photos under {root}: set $REKOG_FACEDATA to the shared facedata folder")
    photos = [Photo(path.stem, path.read_bytes()) for path in paths]

    with tempfile.TemporaryDirectory(prefix="rekog-load-") as data_dir:
        server = LiveServer(Path(data_dir)).start(timeout=180)
        try:
            clients = [make_client(server.url) for _ in range(args.clients)]
            clients[0].create_collection(CollectionId=COLLECTION)
            progress(f"server at {server.url}; seeding with {len(photos)} photos")
            pool, seeded, seed_log, seed_s = seed_collection(clients, photos)
            if seed_log.errors or not pool:
                raise SystemExit(f"seeding failed: {seed_log.error_samples}")
            progress(f"seeded {len(seeded)} faces in {seed_s:.1f} s; load: {args.clients} x {args.calls} calls")

            started = time.perf_counter()
            deadline = time.monotonic() + args.max_seconds
            with ThreadPoolExecutor(max_workers=args.clients) as executor:
                futures = [executor.submit(run_client, number, client, pool, args.calls, mix, args.seed, deadline)
                           for number, client in enumerate(clients)]
                logs = [future.result() for future in futures]
            wall_s = time.perf_counter() - started
            progress(f"load done in {wall_s:.1f} s; checking the bookkeeping")

            live = set(seeded)
            for log in logs:
                live |= log.indexed
            for log in logs:
                live -= log.deleted
            face_count = clients[0].describe_collection(CollectionId=COLLECTION)["FaceCount"]
            listed = list_all_faces(clients[0])
            final = {"face_count": face_count, "expected_count": len(live), "listed": len(listed),
                     "listed_matches": listed == live, "alive": server.alive()}
            with urllib.request.urlopen(server.url + "/health", timeout=30) as response:
                health = json.loads(response.read())
        finally:
            server.stop()
    ok = report(args, mix, logs, wall_s, (len(photos), len(pool), len(seeded), seed_s), final, health)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
