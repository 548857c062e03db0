"""The client subcommands of `rekog-compat`: `index`, `search`, `compare`, `video` (search, detect, compare)
and `watch` (a stream processor's matches, live).

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
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from . import streams, video
from .bulk import index_folder
from .client import RETRIES, connect, connect_kinesis, connect_s3
from .helpers import DEFAULT_THRESHOLD, compare_images, ensure_collection, search_image
from .images import is_s3_url, parse_s3_url

Handler = Callable[[argparse.Namespace], int]
PROG = "rekog-compat"


def register_commands(sub: argparse._SubParsersAction) -> None:
    """Add `index`, `search`, `compare`, `video` and `watch` to `rekog-compat`'s subcommands; each sets `handler`."""
    _index_parser(sub)
    _search_parser(sub)
    _compare_parser(sub)
    _video_parser(sub)
    _watch_parser(sub)


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


# ---- video -------------------------------------------------------------------------------------


def _video_source(value: str) -> str:
    """A local video file or an s3://bucket/key URL."""
    if is_s3_url(value):
        parse_s3_url(value)  # ValueError (argparse's message) when it lacks a bucket or key
        return value
    if Path(value).is_file():
        return value
    raise argparse.ArgumentTypeError(f"no such video file: {value} (give a path or s3://bucket/key)")


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {value}")
    return number


def _video_options(parser: argparse.ArgumentParser) -> None:
    """Where the video is (and where a local one is put), how to wait, how to print."""
    parser.add_argument("--video", required=True, type=_video_source, metavar="FILE|s3://BUCKET/KEY",
                        help="the video: an S3 object, or a local file uploaded to --bucket first")
    parser.add_argument("--bucket", help="bucket a local FILE is uploaded to (it must exist)")
    parser.add_argument("--key", help="object key of the uploaded FILE (default: its file name)")
    parser.add_argument(
        "--s3-endpoint-url",
        help="S3 a local FILE is uploaded to: the one the server reads (its --s3-endpoint-url); "
        "default $REKOG_COMPAT_S3_ENDPOINT_URL, else AWS",
    )
    parser.add_argument("--poll-s", type=_positive_float, default=video.DEFAULT_POLL_S,
                        help="seconds between Get* polls (default %(default)s)")
    parser.add_argument("--timeout-s", type=_positive_float, help="give up when the job runs longer")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _video_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "video",
        help="faces in a stored video: who is on screen when (search), faces per second (detect)",
        description="Stored-video face jobs (StartFaceSearch / StartFaceDetection): start, wait with a progress "
        "bar, page every result, print a summary.",
    )
    video_sub = p.add_subparsers(dest="video_command", required=True, metavar="{search,detect,compare}")

    search = video_sub.add_parser(
        "search",
        help="search a collection for the people in a video: a per-person timeline",
        description="StartFaceSearch, then GetFaceSearch to the last page; prints per tracked person and matched "
        "identity (ExternalImageId, else FaceId) the time ranges and the best Similarity.",
    )
    search.add_argument("--collection-id", required=True, metavar="ID", help="collection id")
    search.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="FaceMatchThreshold (default 80)")
    _video_options(search)
    _connection_options(search)
    search.set_defaults(handler=_guarded(_video_search), parser=search)

    detect = video_sub.add_parser(
        "detect",
        help="detect the faces in a video: faces per second",
        description="StartFaceDetection, then GetFaceDetection to the last page; prints per second of video the "
        "faces detected, the sampled frames with a face and the most faces in one frame.",
    )
    detect.add_argument("--face-attributes", choices=("DEFAULT", "ALL"), default="DEFAULT", help="FaceAttributes")
    _video_options(detect)
    _connection_options(detect)
    detect.set_defaults(handler=_guarded(_video_detect), parser=detect)

    compare = video_sub.add_parser(
        "compare",
        help="the same face search on two services: their timelines side by side",
        description="StartFaceSearch of one S3 video on --a and on --b (each 'aws' or an endpoint URL; each with "
        "its collection), then the two per-person timelines side by side. Writes video.json and video.html to "
        "--out when given.",
    )
    compare.add_argument("--video", required=True, metavar="s3://BUCKET/KEY",
                         help="the video, in the S3 both services read")
    compare.add_argument("--video-b", metavar="s3://BUCKET/KEY", help="--b's copy of it, when --b reads another S3")
    compare.add_argument("--a", required=True, type=_target, metavar="TARGET", help="'aws' or an endpoint URL")
    compare.add_argument("--b", required=True, type=_target, metavar="TARGET", help="'aws' or an endpoint URL")
    compare.add_argument("--label-a", help="name of --a (default: its TARGET)")
    compare.add_argument("--label-b", help="name of --b (default: its TARGET)")
    compare.add_argument("--collection-id", required=True, metavar="ID", help="collection searched on --a")
    compare.add_argument("--collection-id-b", metavar="ID", help="collection searched on --b (default: the same)")
    compare.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="FaceMatchThreshold (default 80)")
    compare.add_argument("--out", type=Path, metavar="DIR", help="where video.json and video.html are written")
    compare.add_argument("--poll-s", type=_positive_float, default=video.DEFAULT_POLL_S,
                         help="seconds between Get* polls (default %(default)s)")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.add_argument("--no-progress", action="store_true", help="no progress bar")
    _connection_options(compare, endpoint=False)
    compare.set_defaults(handler=_guarded(_video_compare), parser=compare)


def _s3_video(args: argparse.Namespace) -> dict[str, str]:
    """The video's S3Object: the URL given, or where the local FILE was uploaded to."""
    if is_s3_url(args.video):
        if args.bucket or args.key:
            args.parser.error("--bucket and --key are for a local FILE; the video is already in S3")
        return parse_s3_url(args.video)
    if not args.bucket:
        args.parser.error("a local video FILE needs --bucket, the S3 bucket it is uploaded to")
    key = args.key or Path(args.video).name
    endpoint = args.s3_endpoint_url or os.environ.get("REKOG_COMPAT_S3_ENDPOINT_URL") or None
    s3 = connect_s3(endpoint, region=args.region, profile=args.profile)
    if not args.no_progress:
        print(f"uploading {args.video} to s3://{args.bucket}/{key}", file=sys.stderr)
    video.upload_video(s3, args.video, args.bucket, key)
    return {"Bucket": args.bucket, "Name": key}


def _finished(args: argparse.Namespace, client: Any, kind: str, job_id: str) -> video.VideoResults | None:
    """Wait for the job and page its results; None (after a message) when it FAILED."""
    video.wait_for_job(client, kind, job_id, progress=not args.no_progress, poll_s=args.poll_s,
                       timeout_s=getattr(args, "timeout_s", None))
    results = video.all_results(client, kind, job_id)
    if results.job_status != "SUCCEEDED":
        _fail(args, f"job {job_id} {results.job_status}: {results.status_message or 'no message'}")
        return None
    return results


def _video_search(args: argparse.Namespace) -> int:
    where = _s3_video(args)
    client = _client(args)
    job_id = video.start_face_search(client, args.collection_id, where["Bucket"], where["Name"],
                                     threshold=args.threshold)
    results = _finished(args, client, video.FACE_SEARCH, job_id)
    if results is None:
        return 1
    timeline = video.person_timeline(results.items)
    if args.json:
        _print_json({"JobId": job_id, "JobStatus": results.job_status, "VideoMetadata": results.video_metadata,
                     "Persons": len(results.items), "Timeline": [a.to_dict() for a in timeline]})
    else:
        print(video.format_timeline(timeline))
    return 0


def _video_detect(args: argparse.Namespace) -> int:
    where = _s3_video(args)
    client = _client(args)
    job_id = video.start_face_detection(client, where["Bucket"], where["Name"], face_attributes=args.face_attributes)
    results = _finished(args, client, video.FACE_DETECTION, job_id)
    if results is None:
        return 1
    per_second = video.faces_per_second(results.items)
    if args.json:
        _print_json({"JobId": job_id, "JobStatus": results.job_status, "VideoMetadata": results.video_metadata,
                     "Faces": len(results.items), "PerSecond": per_second})
        return 0
    rows = [("second", "faces", "frames with a face", "most in one frame")]
    rows += [(str(s["Second"]), str(s["Faces"]), str(s["FramesWithFaces"]), str(s["MostInOneFrame"]))
             for s in per_second]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print("\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows))
    print(f"{len(results.items)} faces in {results.video_metadata.get('DurationMillis', 0) / 1000:.1f} s of video")
    return 0


def _video_compare(args: argparse.Namespace) -> int:
    # Imported here: the report package pulls numpy and Pillow, which the other commands do not need.
    report = importlib.import_module(f"{__package__}.report.video")
    for flag in ("video", "video_b"):
        value = getattr(args, flag)
        if value is not None and not is_s3_url(value):
            args.parser.error(f"--{flag.replace('_', '-')} is an s3://BUCKET/KEY URL (both services read it there)")
    result = report.compare_video_search(
        _client(args, args.a),
        _client(args, args.b),
        video_a=parse_s3_url(args.video),
        video_b=parse_s3_url(args.video_b) if args.video_b else None,
        collection_a=args.collection_id,
        collection_b=args.collection_id_b,
        label_a=args.label_a or args.a,
        label_b=args.label_b or args.b,
        threshold=args.threshold,
        out=args.out,
        poll_s=args.poll_s,
        progress=not args.no_progress,
    )
    if args.json:
        _print_json(result)
    else:
        print(report.format_side_by_side(result))
    failed = [s["label"] for s in result["sides"].values() if s["job_status"] != "SUCCEEDED"]
    if failed:
        _fail(args, "the job failed on " + ", ".join(failed))
        return 1
    return 0


# ---- watch -------------------------------------------------------------------------------------

WATCH_ROLE = "rekog-compat-watch"
STATUS_EVERY_S = 2.0
STOPPED_STATES = frozenset({"STOPPED", "FAILED"})


def _watch_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch",
        help="run a stream processor on a video stream and print who it matches, live",
        description="Create (when missing) a Kinesis Data Stream and a face-search stream processor reading the "
        "Kinesis Video stream --stream-arn, start it, print each match as its record arrives (frame time, who, "
        "Similarity, box), and on Ctrl-C or after --duration stop the processor (and delete what this command "
        "created). A rekog-compat server reads the video stream from the source its --video-sources file maps "
        "the ARN to: with --source, an unmapped ARN is answered with the line to add to that file.",
    )
    p.add_argument("--collection-id", required=True, metavar="ID", help="collection searched")
    p.add_argument("--stream-arn", required=True, metavar="KVS_ARN",
                   help="the Kinesis Video stream (on rekog-compat: an ARN its --video-sources maps)")
    p.add_argument("--source", metavar="URL|FILE",
                   help="the video the ARN should map to: printed as the --video-sources entry when it is unmapped")
    p.add_argument("--name", default="rekog-compat-watch",
                   help="stream processor name, and the data stream's unless --data-stream (default %(default)s)")
    p.add_argument("--data-stream", metavar="NAME", help="Kinesis Data Stream the records go to (default: --name)")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="FaceMatchThreshold (default 80)")
    p.add_argument("--duration", type=_positive_float, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    p.add_argument("--role-arn", help="RoleArn of the processor (required with --aws; a local server takes any)")
    p.add_argument("--kinesis-endpoint-url",
                   help="Kinesis the records are read from: the one the server writes to (its --kinesis-endpoint-url); "
                   "default $REKOG_COMPAT_KINESIS_ENDPOINT_URL, else AWS")
    p.add_argument("--keep", action="store_true", help="leave the processor and data stream this command created")
    p.add_argument("--json", action="store_true", help="one JSON object a match instead of a text line")
    _connection_options(p)
    p.set_defaults(handler=_guarded(_watch), parser=p)


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else "123456789012"


def _source_entry(arn: str, source: str) -> str:
    """The --video-sources entry mapping `arn` to `source` (a file as an absolute path: the server runs elsewhere)."""
    where = source if "://" in source or source.startswith("/dev/") else str(Path(source).resolve())
    return json.dumps({arn: where})


def _print_match(args: argparse.Namespace, match: streams.Match, offset: float | None) -> None:
    if args.json:
        print(json.dumps({"FrameTime": match.frame_time, "FrameOffsetInSeconds": offset, "Who": match.who,
                          "Similarity": match.similarity, "BoundingBox": match.bounding_box}), flush=True)
        return
    at = datetime.fromtimestamp(match.frame_time).strftime("%H:%M:%S.%f")[:-3] if match.frame_time else "?"
    box = match.bounding_box
    where = " ".join(f"{k[0].lower()}={box[k]:.2f}" for k in ("Left", "Top", "Width", "Height") if k in box)
    print(f"{at}  {match.who}  {match.similarity:.1f}  {where}", flush=True)


class _ProcessorWatch:
    """Polls the processor every STATUS_EVERY_S while the records are read: ends the reading when it is no longer
    running (FAILED, or stopped by someone else) or when --duration is up."""

    def __init__(self, client: Any, name: str, deadline: float | None) -> None:
        self.client, self.name, self.deadline = client, name, deadline
        self.last: dict[str, Any] = {}
        self._checked = 0.0

    def __call__(self) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return True
        if time.monotonic() - self._checked >= STATUS_EVERY_S:
            self._checked = time.monotonic()
            self.last = dict(self.client.describe_stream_processor(Name=self.name))
            return str(self.last["Status"]) in STOPPED_STATES
        return False


def _watch(args: argparse.Namespace) -> int:
    if args.aws and not args.role_arn:
        args.parser.error("--aws needs --role-arn, the IAM role Rekognition uses to write the data stream")
    client = _client(args)
    endpoint = args.kinesis_endpoint_url or os.environ.get("REKOG_COMPAT_KINESIS_ENDPOINT_URL") or None
    kinesis = connect_kinesis(endpoint, region=args.region, profile=args.profile)
    data_stream = args.data_stream or args.name
    output_arn, stream_created = streams.ensure_data_stream(kinesis, data_stream)
    processor_created = False
    try:
        existing = dict(client.describe_stream_processor(Name=args.name))
    except client.exceptions.ResourceNotFoundException:
        existing = {}
    if existing:
        if existing["Input"]["KinesisVideoStream"]["Arn"] != args.stream_arn:
            reads = existing["Input"]["KinesisVideoStream"]["Arn"]
            _fail(args, f"stream processor {args.name} exists and reads {reads} (give another --name)")
            return 1
        output_arn = existing["Output"]["KinesisDataStream"]["Arn"]
    else:
        client.create_stream_processor(
            Name=args.name, Input={"KinesisVideoStream": {"Arn": args.stream_arn}},
            Output={"KinesisDataStream": {"Arn": output_arn}},
            RoleArn=args.role_arn or f"arn:aws:iam::{_account_of(output_arn)}:role/{WATCH_ROLE}",
            Settings={"FaceSearch": {"CollectionId": args.collection_id, "FaceMatchThreshold": args.threshold}},
        )
        processor_created = True
    status = 0
    try:
        # Iterators first, then the start: no record of the first frames is missed.
        watch = _ProcessorWatch(client, args.name, time.monotonic() + args.duration if args.duration else None)
        records = streams.read_face_search_records(kinesis, output_arn, from_start=stream_created, stop=watch)
        if existing.get("Status") not in ("RUNNING", "STARTING"):
            client.start_stream_processor(Name=args.name)
        print(f"watching {args.stream_arn} with stream processor {args.name} (records on {output_arn}); "
              "Ctrl-C to stop", file=sys.stderr, flush=True)
        try:
            for arrived in records:
                for match in streams.matches_in(arrived.record):
                    _print_match(args, match, streams.frame_offset(arrived.record))
        except KeyboardInterrupt:
            print(f"{PROG} watch: interrupted, stopping {args.name}", file=sys.stderr, flush=True)
        if watch.last.get("Status") == "FAILED":
            status = 1
            message = str(watch.last.get("StatusMessage") or "no message")
            _fail(args, f"stream processor {args.name} FAILED: {message}")
            if "--video-sources" in message:
                if args.source:
                    print(f"add this entry to the server's --video-sources file and restart it:\n"
                          f"  {_source_entry(args.stream_arn, args.source)}", file=sys.stderr)
                else:
                    print("map the ARN to a source in the server's --video-sources file (give --source to see the "
                          "entry)", file=sys.stderr)
    finally:
        _stop_watch(args, client, kinesis, processor_created, stream_created and processor_created, data_stream)
    return status


def _stop_watch(args: argparse.Namespace, client: Any, kinesis: Any, delete_processor: bool, delete_stream: bool,
                data_stream: str) -> None:
    """Stop the processor (waiting for STOPPED), then delete what this command created unless --keep."""
    described = dict(client.describe_stream_processor(Name=args.name))
    if described["Status"] not in STOPPED_STATES:
        try:
            client.stop_stream_processor(Name=args.name)
        except client.exceptions.ResourceInUseException:
            # AWS refuses to stop a STARTING processor: once it runs (or fails), stop it.
            if streams.wait_for_processor(client, args.name, {*STOPPED_STATES, "RUNNING"})["Status"] == "RUNNING":
                client.stop_stream_processor(Name=args.name)
        described = streams.wait_for_processor(client, args.name, STOPPED_STATES)
    print(f"stream processor {args.name} {described['Status']}", file=sys.stderr, flush=True)
    if args.keep:
        return
    if delete_processor and described["Status"] in STOPPED_STATES:
        client.delete_stream_processor(Name=args.name)
        print(f"deleted stream processor {args.name}", file=sys.stderr)
    if delete_stream:
        kinesis.delete_stream(StreamName=data_stream)
        print(f"deleted Kinesis stream {data_stream}", file=sys.stderr)
