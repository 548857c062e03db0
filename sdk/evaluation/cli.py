"""`rekog-compat eval`: accuracy of a running server (or AWS) through its HTTP API, into eval.json and eval.html.

`rekog_compat/cli.py` calls `register_commands` to add the subcommand; its `handler` returns the exit status:
0 on success; 1 when the service or the connection fails (what was scored stays in the cache: rerun to resume);
2 for usage errors (a malformed pairs file, a missing image or folder); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .evaluate import EvalOptions, Server, Target, UsageError, describe_server, evaluate, fetch_health, load_inputs
from .pairs import PairsFormatError

PROG = "rekog-compat eval"


def register_commands(sub: argparse._SubParsersAction) -> None:
    """Add `eval` to `rekog-compat`'s subcommands (it sets `handler`)."""
    p = sub.add_parser(
        "eval",
        help="measure verification and identification accuracy through the API",
        description="Score every pair of an LFW-format pairs file with CompareFaces (and, with --gallery, "
        "identify every probe of an identity folder with SearchFacesByImage) through the HTTP API of a running "
        "server, and write eval.json and a self-contained eval.html into --out. Resumable: a rerun into the same "
        "--out sends only what is missing from its cache.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--endpoint-url",
                       help="rekog-compat server (default $REKOG_COMPAT_ENDPOINT_URL, else http://127.0.0.1:9090)")
    where.add_argument("--aws", action="store_true", help="evaluate Amazon Rekognition itself")
    p.add_argument("--pairs", type=Path, required=True, metavar="FILE",
                   help="LFW-format pairs file (header 'FOLDS N' or 'N'; 'name n1 n2' / 'name1 n1 name2 n2')")
    p.add_argument("--images", type=Path, required=True, metavar="DIR",
                   help="image root: image n of name is DIR/name/name_nnnn.jpg")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="where eval.json, eval.html and the resume cache go")
    p.add_argument("--gallery", type=Path, metavar="DIR",
                   help="identity folders (DIR/<identity>/*.jpg) for 1:N identification: one image per identity "
                   "indexed, the rest searched")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the gallery/probe split (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--region", help="AWS region (default: the profile's, else us-east-1)")
    p.add_argument("--profile", help="AWS credentials profile")
    p.set_defaults(handler=run_eval)


def _seed(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"a seed is 0 or more, not {value}")
    return number


def _client(args: argparse.Namespace) -> Any:
    from rekog_sdk import connect

    if args.aws:
        return connect("aws", region=args.region, profile=args.profile)
    return connect("local", endpoint_url=args.endpoint_url, region=args.region, profile=args.profile)


def _absolute(path: Path) -> Path:
    """`path` made absolute and normalised (`..` folded, symbolic links kept)."""
    return Path(os.path.abspath(path))


def _write(path: Path, text: str) -> None:
    """Write through a temporary file, so a reader never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def summary(document: dict[str, Any], out: Path) -> dict[str, Any]:
    """The few numbers printed on stdout."""
    v = document["verification"]
    result: dict[str, Any] = {
        "eval_json": str(out / "eval.json"),
        "eval_html": str(out / "eval.html"),
        "accuracy": v["accuracy"]["value"],
        "accuracy_protocol": v["accuracy"]["protocol"],
        "auc": v["roc"]["auc"] if v["roc"] else None,
        "tar_at_far": {f"{r['far']:g}": r["tar"] for r in v["tar_at_far"]},
        "pair_failures": v["failures"]["count"],
        "calls": document["run"]["calls"],
    }
    ident = document.get("identification")
    if ident:
        result["rank1"] = ident["metrics"]["all_probes"]["rank1"]
        result["rank5"] = ident["metrics"]["all_probes"]["rank5"]
        result["probe_failures"] = ident["probe_failures"]["count"]
    return result


def run_eval(args: argparse.Namespace) -> int:
    """The `eval` handler."""
    from .report import render

    gallery = _absolute(args.gallery) if args.gallery is not None else None
    options = EvalOptions(pairs=_absolute(args.pairs), images=_absolute(args.images), out=_absolute(args.out),
                          gallery=gallery, seed=args.seed, progress=not args.no_progress,
                          command=("rekog-compat", *sys.argv[1:]))
    try:
        inputs = load_inputs(options)
        client = _client(args)
        target = Target(aws=bool(args.aws), endpoint_url=None if args.aws else client.meta.endpoint_url,
                        region=client.meta.region_name)
        server: Server = describe_server(target, None if args.aws else fetch_health(client.meta.endpoint_url))
        document = evaluate(client, options, target, server, inputs)
        _write(options.out / "eval.html", render(document))
        _write(options.out / "eval.json", json.dumps(document, indent=2) + "\n")
    except (PairsFormatError, UsageError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"{PROG}: {error.get('Code', 'Error')}: {error.get('Message', exc)} (results so far are cached in "
              f"{options.out}: rerun to resume)", file=sys.stderr)
        return 1
    except (BotoCoreError, OSError) as exc:
        print(f"{PROG}: {exc} (results so far are cached in {options.out}: rerun to resume)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (results so far are cached in {options.out}: rerun to resume)", file=sys.stderr)
        return 130
    json.dump(summary(document, options.out), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
