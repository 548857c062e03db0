"""`rekog-compat audit verify` and `rekog-compat audit query`: reading the audit log."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from .audit import matches, read_records, verify


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.astimezone()


def register_commands(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="verify or query the audit log")
    commands = audit.add_subparsers(dest="audit_command", required=True)

    check = commands.add_parser("verify", help="check the hash chain; exit 1 at the first broken record")
    check.add_argument("files", nargs="+", type=Path)
    check.set_defaults(handler=run_verify)

    query = commands.add_parser("query", help="print the records that pass every filter, as JSON lines")
    query.add_argument("files", nargs="+", type=Path)
    query.add_argument("--since", type=_time, help="ISO time, e.g. 2026-11-23T05:00:00+00:00")
    query.add_argument("--until", type=_time)
    query.add_argument("--collection")
    query.add_argument("--face-id", help="records that searched for, matched or changed this FaceId")
    query.add_argument("--operation")
    query.set_defaults(handler=run_query)


def run_verify(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        with open(path, "rb") as f:
            count, head, broken = verify(f)
        if broken is None:
            print(f"{path}: {count} records, chain intact; last record's hash {head} (keep it elsewhere)")
        else:
            print(f"{path}: chain broken at line {broken.line} (after {count} good records): {broken.reason}")
            status = 1
    return status


def run_query(args: argparse.Namespace) -> int:
    for record in read_records(args.files):
        if matches(record, args.since, args.until, args.collection, args.face_id, args.operation):
            sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
    return 0
