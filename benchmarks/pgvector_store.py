"""The PostgreSQL store at scale: insert latency, search latency and recall@1, exact vs HNSW.

    python -m benchmarks.pgvector_store                      # a throwaway embedded PostgreSQL
    python -m benchmarks.pgvector_store --url postgresql://me:pw@db/bench --sizes 10000 100000

Synthetic 128-d unit vectors shaped like face embeddings: identities (random unit centres), five
faces per identity (the centre plus noise, cosine distance about 0.05-0.1 from it: photos of one
person), so a probe (a new noisy sample of a stored identity) has a handful of close neighbours,
as a real search does. For each size, in a fresh database:

1. bulk load through `PostgresStore.add_faces` in batches of 500 (throughput);
2. IndexFaces-sized inserts (one face per call): latency without the HNSW index;
3. exact search (`enable_indexscan = off`): p50/p95 and recall@1 against numpy's brute force;
4. the HNSW index build (m 32, ef_construction 64, CREATE INDEX CONCURRENTLY): time;
5. one-face inserts again, now maintaining the index;
6. HNSW search (ef_search 40): p50/p95, recall@1 against brute force.

Searches ask what SearchFacesByImage asks by default (MaxFaces 4096, FaceMatchThreshold 80 =
a cosine distance near 0.2 for Dlib): the few faces within the distance, closest first.
recall@1: the top face is the true nearest one; recall@10: the share of the true 10 nearest among
the 10 a search without a distance limit returns (beyond a probe's own identity the neighbours are
far and nearly equidistant: the hard case for an approximate index). Timings are per store call,
client included.
Without --url, the embedded server runs with PostgreSQL's defaults (fsync on, shared_buffers 128 MB).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from harness.postgres import EmbeddedPostgres, fresh_database
from rekog_compat.store import Collection, Scope, StoredFace
from rekog_compat.store.postgres import PostgresStore

SCOPE = Scope("123456789012", "us-east-1")
DIMENSIONS = 128
FACES_PER_IDENTITY = 5
NOISE = 0.035  # per coordinate: about 0.06 cosine distance between a centre and its faces
MAX_DISTANCE = 0.2
LIMIT = 4096
BATCH = 500


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def synthetic(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` face vectors (FACES_PER_IDENTITY per identity) and the identity centres."""
    centres = unit_rows(rng.normal(size=(count // FACES_PER_IDENTITY + 1, DIMENSIONS)))
    owners = np.arange(count) // FACES_PER_IDENTITY
    return unit_rows(centres[owners] + rng.normal(scale=NOISE, size=(count, DIMENSIONS))), centres


def face(i: int) -> StoredFace:
    return StoredFace(f"face-{i}", f"image-{i}", f"ext-{i}", (0.1, 0.2, 0.3, 0.4), 99.0, "1.0")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def timed(call: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call(*args)
    return (time.perf_counter() - started) * 1000, result


def single_inserts(
    store: PostgresStore, start: int, count: int, rng: np.random.Generator
) -> tuple[list[float], np.ndarray]:
    """`count` IndexFaces-sized writes (one face each) of random faces; their latencies (ms) and vectors."""
    vectors = unit_rows(rng.normal(size=(count, DIMENSIONS)))
    latencies = [timed(store.add_faces, SCOPE, "bench", [face(start + i)], vectors[i : i + 1])[0] for i in range(count)]
    return latencies, vectors


def search_run(store: PostgresStore, probes: np.ndarray, stored: np.ndarray) -> dict[str, float]:
    """SearchFacesByImage-shaped searches (timed, recall@1), then top-10 searches without a distance
    limit (recall@10: the share of the true 10 nearest found, the approximation laid bare)."""
    latencies, top1, top10 = [], 0, 0.0
    for probe in probes:
        nearest = np.argsort(-(stored @ probe))[:10]
        elapsed, hits = timed(store.search_faces, SCOPE, "bench", probe, LIMIT, MAX_DISTANCE)
        latencies.append(elapsed)
        top1 += bool(hits) and hits[0][0].face_id == f"face-{nearest[0]}"
        found = {f.face_id for f, _ in store.search_faces(SCOPE, "bench", probe, 10, 2.0)}
        top10 += len(found & {f"face-{i}" for i in nearest}) / 10
    return {
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "recall": top1 / len(probes),
        "recall10": top10 / len(probes),
    }


def measure(url: str, size: int, probes: int, inserts: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    vectors, centres = synthetic(size, rng)
    exact = PostgresStore(url, hnsw_min_faces=10**12)  # never uses (or builds) an index
    approximate = PostgresStore(url, hnsw_min_faces=1)  # searches through the index once built
    try:
        exact.create_collection(Collection(SCOPE, "bench", "arn:bench", "Dlib", 1.0), {})
        started = time.perf_counter()
        for lo in range(0, size, BATCH):
            batch = [face(i) for i in range(lo, min(size, lo + BATCH))]
            exact.add_faces(SCOPE, "bench", batch, vectors[lo : lo + BATCH])
        load_s = time.perf_counter() - started

        plain_inserts, extra = single_inserts(exact, size, inserts, rng)
        stored = np.concatenate([vectors, extra])
        picked = rng.integers(0, len(centres) - 1, size=probes)
        probe_vectors = unit_rows(centres[picked] + rng.normal(scale=NOISE, size=(probes, DIMENSIONS)))
        exact_search = search_run(exact, probe_vectors, stored)
        started = time.perf_counter()
        approximate.build_search_index(SCOPE, "bench")  # the HNSW index, built now (hnsw_min_faces is 1)
        build_s = time.perf_counter() - started
        indexed_inserts, more = single_inserts(approximate, size + inserts, inserts, rng)
        stored = np.concatenate([stored, more])
        hnsw_search = search_run(approximate, probe_vectors, stored)
    finally:
        exact.close()
        approximate.close()
    return {
        "size": size,
        "load_per_s": size / load_s,
        "insert_p50": statistics.median(plain_inserts),
        "insert_p95": percentile(plain_inserts, 95),
        "insert_hnsw_p50": statistics.median(indexed_inserts),
        "insert_hnsw_p95": percentile(indexed_inserts, 95),
        "build_s": build_s,
        "exact": exact_search,
        "hnsw": hnsw_search,
    }


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| faces | bulk load | 1-face insert p50 / p95 (no index) | with HNSW | HNSW build "
        "| exact search p50 / p95 | recall@1 / @10 | HNSW search p50 / p95 | recall@1 / @10 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        e, h = r["exact"], r["hnsw"]
        lines.append(
            f"| {r['size']:,} | {r['load_per_s']:,.0f} faces/s | {r['insert_p50']:.1f} / {r['insert_p95']:.1f} ms"
            f" | {r['insert_hnsw_p50']:.1f} / {r['insert_hnsw_p95']:.1f} ms | {r['build_s']:.1f} s"
            f" | {e['p50']:.1f} / {e['p95']:.1f} ms | {e['recall']:.3f} / {e['recall10']:.3f}"
            f" | {h['p50']:.1f} / {h['p95']:.1f} ms | {h['recall']:.3f} / {h['recall10']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a PostgreSQL server (admin database; a database per size is made and dropped)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--inserts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        server = EmbeddedPostgres(durable=True)  # fsync on: commit latency as a real server has it
        url = server.start()
    rows = []
    try:
        for size in args.sizes:
            with fresh_database(url) as database:
                rows.append(measure(database, size, args.probes, args.inserts, args.seed))
            print(report(rows[-1:]).splitlines()[-1], flush=True)
    finally:
        if server is not None:
            server.stop()
    print(report(rows))


if __name__ == "__main__":
    main()
