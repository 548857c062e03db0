"""Building a large collection's approximate index, timed, and its memory measured, in one process.

    python -m benchmarks.ann_build --data-dir DIR [--collection-id scale] [--hold]

Builds the collection's faiss IVF index from the SQLite table in DIR (as `benchmarks.scale
--data-dir` leaves it) exactly as the server does (`AnnBuilder.train`: the k-means sample, each
face's list, then the lists, written to DIR/ann/). With --hold, the persisted index is read back
first and kept while the new one is built: the memory of a retrain, where the old index serves
searches until the new one replaces it. Prints one JSON line: faces, lists, seconds, the
process's resident memory before the build and its peak (VmHWM, the kernel's high-water mark).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from rekog_compat.store import AnnSettings, Scope
from rekog_compat.store.sqlite.ann_builder import ANN_DIRNAME, AnnBuilder
from rekog_compat.store.sqlite.database import Database, snapshot
from rekog_compat.store.sqlite.rows import collection_seq, face_count
from rekog_compat.store.sqlite.schema import DB_FILENAME


def memory_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS now, VmHWM its peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection-id", default="scale")
    parser.add_argument("--account", default="123456789012")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--hold", action="store_true", help="keep the persisted index while building")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    database = Database(args.data_dir / DB_FILENAME)
    builder = AnnBuilder(args.data_dir / ANN_DIRNAME, AnnSettings(), database.connect, lambda *_: None)
    conn = database.connect()
    seq = collection_seq(conn, Scope(args.account, args.region), args.collection_id)
    held = None
    if args.hold:
        with snapshot(conn):
            held = builder.read(conn, seq)
        if held is None:
            parser.error(f"no usable persisted index under {args.data_dir / ANN_DIRNAME}")
    before = memory_mb("VmRSS")
    started = time.perf_counter()
    with snapshot(conn):
        built = builder.train(conn, seq)
    assert built is not None, "the collection holds no faces"
    print(json.dumps({
        "faces": face_count(conn, seq),
        "lists": built.nlist,
        "held_faces": len(held) if held is not None else 0,
        "build_s": round(time.perf_counter() - started, 1),
        "rss_before_mb": round(before),
        "rss_peak_mb": round(memory_mb("VmHWM")),
    }))


if __name__ == "__main__":
    main()
