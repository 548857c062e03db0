"""`rekog-compat seed`: fill a collection with N faces for benchmarks (seeding.py), straight into a store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from .engine import EngineConfig, FaceEngine
from .options import DEFAULT_ACCOUNT_OPTION, DEFAULT_REGION_OPTION, STORE_OPTIONS, add_options
from .seeding import photos_in, real_faces, seed_collection
from .store import AnnSettings, Scope, open_store


def register_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "seed",
        help="fill a collection with N faces for benchmarks: real photos plus synthetic faces fitted to them",
        description="Write a collection of --faces faces straight into a store (stop servers using an SQLite store "
        "first, or expect them to reload): the largest face of each --photos photo, stored as IndexFaces would "
        "store it, then synthetic faces drawn to match those faces' statistics (docs/scaling.md).",
    )
    p.add_argument("--collection-id", required=True)
    p.add_argument("--faces", type=int, required=True, help="faces in all, real ones included")
    p.add_argument("--photos", type=Path, help="a folder of face photos (one folder per person), e.g. lfw_dev")
    p.add_argument("--photos-limit", type=int, help="use at most this many photos")
    add_options(p, STORE_OPTIONS)
    DEFAULT_ACCOUNT_OPTION.add(p, "--account", help="account the collection belongs to")
    DEFAULT_REGION_OPTION.add(p, "--region", help="region the collection belongs to")
    p.add_argument("--seed", type=int, default=0, help="random seed of the synthetic faces")
    p.set_defaults(handler=run_seed)


def run_seed(args: argparse.Namespace) -> int:
    engine = FaceEngine(EngineConfig(model=args.model, detector=args.detector, deepface_home=args.data_dir))
    engine.check_ready()
    photos = photos_in(args.photos, args.photos_limit) if args.photos else []
    quiet = not sys.stderr.isatty()
    real = list(tqdm(real_faces(engine, photos), total=len(photos), desc="real faces", unit="photo", disable=quiet))
    if len(real) > args.faces:
        print(f"rekog-compat seed: {len(real)} real faces already exceed --faces {args.faces}", file=sys.stderr)
        return 2
    store = open_store(args.store, args.data_dir, AnnSettings(min_faces=args.ann_min_faces))
    try:
        with tqdm(total=args.faces - len(real), desc="synthetic faces", unit="face", disable=quiet) as bar:
            report = seed_collection(
                store, Scope(args.account, args.region), args.collection_id, args.faces, engine.model_version,
                real, seed=args.seed, progress=bar.update,
            )
    finally:
        store.close()
    print(json.dumps({"collection_id": args.collection_id, "real": report.real, "synthetic": report.synthetic,
                      "seconds": round(report.seconds, 1)}))
    return 0
