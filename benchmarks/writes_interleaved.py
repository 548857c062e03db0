"""DeleteFaces (and IndexFaces) with and without a load, in alternating blocks, on a seeded collection.

    python -m benchmarks.writes_interleaved --data-dir DIR [--blocks 24] [--load search|small|cpu]

`benchmarks.scale` times its idle writes minutes before its writes under load; on a shared 2-core
machine a 2-ms DeleteFaces drifts between 1.6 and 4 ms over such a span (measured), which is as
much as the load changes it. Here one server serves both: the load process is paused and resumed
between blocks of `--per-block` IndexFaces then DeleteFaces, so idle and loaded blocks see the same
machine, and the ratio of their p50s is the load's own effect. DIR is a data dir that
`benchmarks.scale --data-dir DIR` seeded.

Loads (one process, without pause while resumed):
- search: SearchFaces on random faces of the large collection, as `benchmarks.scale`'s load clients;
- small: SearchFaces on the one face of the second, small collection (the same HTTP path, no scan);
- cpu: a single-threaded matrix product that touches no server (one core busy).
Each DeleteFaces is also split (botocore's before-send and needs-retry events) into the client's own
work and the HTTP exchange.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scale import (
    COLLECTION,
    SMALL_COLLECTION,
    client_at,
    collection_rows,
    percentiles,
    search_load,
    seeded_connection,
    split_photos,
)
from harness.live_server import LiveServer


def busy_core(running: Any, stop: Any, calls: Any) -> None:
    """The `cpu` load (its own process): single-threaded matrix products while `running` is set, until `stop`;
    the ms of each on `calls`."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    matrix, times = np.random.default_rng(0).random((300, 300)), []
    while not stop.is_set():
        if not running.wait(0.05):
            continue
        started = time.perf_counter()
        matrix @ matrix
        times.append((time.perf_counter() - started) * 1000)
    calls.put(times)


def collection_face_ids(data_dir: Path, count: int) -> list[str]:
    conn = seeded_connection(data_dir)
    seq, low, high = collection_rows(conn)
    labels = random.Random(7).sample(range(low, high + 1), count)
    rows = conn.execute(
        f"SELECT face_id FROM faces WHERE seq IN ({', '.join('?' * len(labels))}) AND +collection_seq = ?",
        (*labels, seq),
    ).fetchall()
    conn.close()
    return [row[0] for row in rows]


def ratio(loaded: list[float], idle: list[float]) -> float:
    """p50 under load over p50 idle."""
    return round(float(np.median(loaded) / np.median(idle)), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="seeded by benchmarks.scale --data-dir")
    parser.add_argument("--blocks", type=int, default=24, help="alternating idle and loaded blocks")
    parser.add_argument("--per-block", type=int, default=5, help="IndexFaces then DeleteFaces calls per block")
    parser.add_argument("--load", choices=("search", "small", "cpu"), default="search")
    parser.add_argument("--json", type=Path)
    parser.add_argument("server_args", nargs="*", help="more `rekog-compat serve` options (after --)")
    args = parser.parse_args()

    ids = collection_face_ids(args.data_dir, 800)
    _, probes, spare = split_photos(400)
    images = [photo.read_bytes() for photo in (spare + probes)[: args.per_block]]
    server = LiveServer(args.data_dir, "--audit-failure", "continue", *args.server_args).start(timeout=600)
    context = multiprocessing.get_context("spawn")
    stop, running, calls = context.Event(), context.Event(), context.Queue()
    times: dict[str, dict[str, list[float]]] = {
        state: {"index": [], "delete": [], "client": [], "http": []} for state in ("idle", "loaded")
    }
    try:
        client = client_at(server.url)
        client.search_faces(CollectionId=COLLECTION, FaceId=ids[0], MaxFaces=1)  # the index loaded
        if args.load == "cpu":
            load = context.Process(target=busy_core, args=(running, stop, calls))
        else:
            collection = SMALL_COLLECTION if args.load == "small" else COLLECTION
            searched = ids if args.load == "search" else [
                client.list_faces(CollectionId=SMALL_COLLECTION)["Faces"][0]["FaceId"]]
            load = context.Process(target=search_load,
                                   args=(server.url, searched, 1, stop, calls, running, collection))
        marks: dict[str, float] = {}
        client.meta.events.register("before-send.rekognition.DeleteFaces",
                                    lambda **_: marks.__setitem__("sent", time.perf_counter()))
        client.meta.events.register("needs-retry.rekognition.DeleteFaces",
                                    lambda **_: marks.__setitem__("answered", time.perf_counter()))
        load.start()
        for block in range(args.blocks):
            state = "loaded" if block % 2 else "idle"
            (running.set if state == "loaded" else running.clear)()
            time.sleep(1)  # the load has started (or stopped)
            added = []
            for image in images:
                started = time.perf_counter()
                response = client.index_faces(CollectionId=COLLECTION, Image={"Bytes": image}, MaxFaces=1)
                times[state]["index"].append((time.perf_counter() - started) * 1000)
                added += [record["Face"]["FaceId"] for record in response["FaceRecords"]]
            for face_id in added:
                started = time.perf_counter()
                client.delete_faces(CollectionId=COLLECTION, FaceIds=[face_id])
                ended = time.perf_counter()
                times[state]["delete"].append((ended - started) * 1000)
                times[state]["http"].append((marks["answered"] - marks["sent"]) * 1000)
                times[state]["client"].append((ended - started - marks["answered"] + marks["sent"]) * 1000)
        stop.set()
        running.set()
        load_calls = len(calls.get(timeout=120))
        load.join(timeout=60)
    finally:
        stop.set()
        server.stop()
    report = {
        "load": args.load,
        "blocks": args.blocks,
        "server_args": args.server_args,
        "load_calls": load_calls,
        **{f"{state}_{part}_ms": percentiles(values) for state in times for part, values in times[state].items()},
        "delete_faces_ratio": ratio(times["loaded"]["delete"], times["idle"]["delete"]),
        "index_faces_ratio": ratio(times["loaded"]["index"], times["idle"]["index"]),
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
