"""The client subcommands of `rekog-compat`: `index`, `search` and `compare`.

`rekog_compat/cli.py` owns the parser and `serve`; it calls `register_commands` to add these, which run
against an on-prem server (`--endpoint-url`, the default) or AWS (`--aws`) through `connect()`.

Exit status: 0 on success; 1 when the service or the connection fails (the AWS error code and message
go to stderr) or, for `index`, when any image failed; 2 for usage errors (argparse's convention);
130 when interrupted. Results are JSON on stdout; progress bars and messages go to stderr.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .bulk import index_folder
from .client import RETRIES, connect
from .helpers import DEFAULT_THRESHOLD, compare_images, ensure_collection, search_image
from .images import is_s3_url

Handler = Callable[[argparse.Namespace], int]
PROG = "rekog-compat"


def register_commands(sub: argparse._SubParsersAction) -> None:
    """Add `index`, `search` and `compare` to `rekog-compat`'s subcommands; each sets `handler`."""
    _index_parser(sub)
    _search_parser(sub)
    _compare_parser(sub)


# ---- arguments ---------------------------------------------------------------------------------


def _folder(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"not a folder: {value}")
    return path


def _image(value: str) -> str:
    """A local image file or an s3://bucket/key URL."""
    if is_s3_url(value) or Path(value).is_file():
        return value
    raise argparse.ArgumentTypeError(f"no such image file: {value} (give a path or s3://bucket/key)")


def _target(value: str) -> str:
    """`aws`, or the URL of a rekog-compat server."""
    if value == "aws" or value.startswith(("http://", "https://")):
        return value
    raise argparse.ArgumentTypeError(f"a target is 'aws' or an endpoint URL (http://...), not {value!r}")


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return number


def _connection_options(parser: argparse.ArgumentParser, *, endpoint: bool = True) -> None:
    if endpoint:
        where = parser.add_mutually_exclusive_group()
        where.add_argument(
            "--endpoint-url",
            help="rekog-compat server (default $REKOG_COMPAT_ENDPOINT_URL, else http://127.0.0.1:9090)",
        )
        where.add_argument("--aws", action="store_true", help="use Amazon Rekognition itself, not a local server")
    parser.add_argument("--region", help="AWS region (default: the profile's, else us-east-1)")
    parser.add_argument("--profile", help="AWS credentials profile")
    parser.add_argument(
        "--max-attempts", type=_positive_int, default=RETRIES + 1,
        help="attempts per request, the first included (default %(default)s: connect()'s 5 retries)",
    )


def _guarded(handler: Handler) -> Handler:
    """Run a command, turning service and connection errors into a message on stderr and exit 1."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            _fail(args, f"{error.get('Code', 'Error')}: {error.get('Message', exc)}")
        except (BotoCoreError, OSError, ValueError) as exc:
            _fail(args, str(exc))
        except KeyboardInterrupt:
            print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
            return 130
        return 1

    return run


def _fail(args: argparse.Namespace, message: str) -> None:
    print(f"{PROG} {args.command}: {message}", file=sys.stderr)


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _client(args: argparse.Namespace, target: str | None = None) -> Any:
    """The client for `target` ('aws' or a URL), or for --aws / --endpoint-url when none is given."""
    # botocore's `max_attempts` counts retries only; `total_max_attempts` counts the first attempt too.
    config = Config(retries={"mode": "standard", "total_max_attempts": args.max_attempts})
    if target is None:
        target = "aws" if getattr(args, "aws", False) else getattr(args, "endpoint_url", None)
    if target == "aws":
        return connect("aws", region=args.region, profile=args.profile, config=config)
    return connect("local", endpoint_url=target, region=args.region, profile=args.profile, config=config)


# ---- index -------------------------------------------------------------------------------------


def _index_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="index a folder of photos into a collection (parallel, resumable)",
        description="Index every JPEG/PNG under FOLDER into a collection. A second run skips what the first "
        "indexed. Prints a JSON summary; exits 1 when any image failed.",
    )
    p.add_argument("folder", type=_folder, metavar="FOLDER")
    p.add_argument("--collection", required=True, metavar="ID", help="collection id")
    p.add_argument(
        "--external-id", choices=("filename", "folder"), default="filename",
        help="ExternalImageId of each image: its file stem, or its folder's name (identity folders)",
    )
    p.add_argument("--workers", type=_positive_int, default=4, help="parallel requests (default %(default)s)")
    p.add_argument("--max-faces", type=_positive_int, help="IndexFaces MaxFaces (e.g. 1 for identity folders)")
    p.add_argument("--create", action="store_true", help="create the collection when it does not exist")
    p.add_argument("--no-resume", action="store_true", help="send every image, even those already indexed")
    p.add_argument("--no-reencode", action="store_true", help="report images over 5 MB as failed, not re-encoded")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _connection_options(p)
    p.set_defaults(handler=_guarded(_index))


def _index(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.create:
        ensure_collection(client, args.collection)
    summary = index_folder(
        client,
        args.collection,
        args.folder,
        external_id=args.external_id,
        workers=args.workers,
        progress=not args.no_progress,
        reencode_over_5mb=not args.no_reencode,
        resume=not args.no_resume,
        max_faces=args.max_faces,
    )
    _print_json(summary.to_dict())
    if summary.failed:
        _fail(args, f"{summary.failed} of {summary.total} images failed (see failed_files)")
        return 1
    return 0


# ---- search ------------------------------------------------------------------------------------


def _search_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="search a collection for the largest face in an image",
        description="SearchFacesByImage: prints the matches as JSON, highest Similarity first.",
    )
    p.add_argument("image", type=_image, metavar="IMAGE", help="image file or s3://bucket/key")
    p.add_argument("--collection", required=True, metavar="ID", help="collection id")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="FaceMatchThreshold (default 80)")
    p.add_argument("--max-faces", type=_positive_int, default=10, help="most matches (default %(default)s)")
    _connection_options(p)
    p.set_defaults(handler=_guarded(_search))


def _search(args: argparse.Namespace) -> int:
    matches = search_image(
        _client(args), args.collection, args.image, threshold=args.threshold, max_faces=args.max_faces
    )
    _print_json({"FaceMatches": matches})
    return 0


# ---- compare -----------------------------------------------------------------------------------


def _compare_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two images, or (with --a/--b) two services on a data set",
        description="With SOURCE TARGET: CompareFaces of the largest face in SOURCE with the faces in TARGET, "
        "printed as JSON. With --a/--b: run the same workload against two services (each 'aws' or an "
        "endpoint URL) and write a comparison report to --out.",
    )
    p.add_argument("source", nargs="?", type=_image, metavar="SOURCE", help="image file or s3://bucket/key")
    p.add_argument("target", nargs="?", type=_image, metavar="TARGET", help="image file or s3://bucket/key")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="SimilarityThreshold (default 80)")
    report = p.add_argument_group("report mode (two services)")
    report.add_argument("--a", type=_target, metavar="TARGET", help="first service: 'aws' or an endpoint URL")
    report.add_argument("--b", type=_target, metavar="TARGET", help="second service: 'aws' or an endpoint URL")
    report.add_argument("--label-a", help="name of --a in the report (default: its TARGET)")
    report.add_argument("--label-b", help="name of --b in the report (default: its TARGET)")
    report.add_argument("--gallery", type=_folder, metavar="DIR", help="identity folders to index")
    report.add_argument("--probes", type=_folder, metavar="DIR", help="identity folders to search with")
    report.add_argument("--out", type=Path, metavar="DIR", help="where the report is written")
    report.add_argument("--top-k", type=_positive_int, default=5, help="matches kept per search (default 5)")
    report.add_argument("--sample", type=int, default=10, help="examples shown in the report (default 10)")
    report.add_argument("--price-per-image", type=float, help="USD per image call, for the cost estimate")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _connection_options(p)
    p.set_defaults(handler=_guarded(_compare), parser=p)


def _compare(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.a or args.b:
        if args.source or args.target:
            parser.error("give either SOURCE TARGET or --a/--b, not both")
        missing = [flag for flag in ("a", "b", "gallery", "probes", "out") if getattr(args, flag) is None]
        if missing:
            parser.error("report mode needs " + ", ".join("--" + flag for flag in missing))
        if args.endpoint_url or args.aws:
            parser.error("in report mode the services are --a and --b, not --endpoint-url/--aws")
        return _compare_services(args)
    if not (args.source and args.target):
        parser.error("give SOURCE and TARGET images, or --a and --b for a report")
    _print_json(compare_images(_client(args), args.source, args.target, threshold=args.threshold))
    return 0


def _compare_services(args: argparse.Namespace) -> int:
    # Imported here: the report pulls numpy and Pillow, which the other commands do not need.
    report = importlib.import_module(f"{__package__}.report")
    result = report.run_comparison(
        _client(args, args.a),
        _client(args, args.b),
        gallery=args.gallery,
        probes=args.probes,
        out=args.out,
        label_a=args.label_a or args.a,
        label_b=args.label_b or args.b,
        top_k=args.top_k,
        sample=args.sample,
        price_per_image=args.price_per_image,
        progress=not args.no_progress,
    )
    _print_json(result)
    return 0
