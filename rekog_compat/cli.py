"""The `rekog-compat` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .audit_cli import register_commands as register_audit_commands
from .config import (
    DEFAULT_HOST,
    DEFAULT_MAX_QUEUE,
    DEFAULT_PORT,
    DEFAULT_READ_TIMEOUT_S,
    ServerConfig,
    add_store_flags,
    env,
)
from .identity import DEFAULT_ACCOUNT, DEFAULT_REGION
from .seed_cli import register_commands as register_seed_commands
from .store import AnnSettings


def _optional_float(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)


def _optional_int(value: str | None) -> int | None:
    return None if value in (None, "") else int(value)


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the Rekognition-compatible server",
        description="Run the server. Every flag also reads REKOG_COMPAT_<FLAG> from the environment.",
    )
    p.add_argument("--host", default=env("HOST", DEFAULT_HOST), help="address to bind (REKOG_COMPAT_HOST)")
    p.add_argument(
        "--port", type=int, default=int(env("PORT", str(DEFAULT_PORT)) or DEFAULT_PORT),
        help="port; 0 picks a free one (REKOG_COMPAT_PORT)",
    )
    add_store_flags(p)
    p.add_argument(
        "--s3-endpoint-url", default=env("S3_ENDPOINT_URL"),
        help="S3 API endpoint for Image.S3Object (REKOG_COMPAT_S3_ENDPOINT_URL; default AWS)",
    )
    p.add_argument(
        "--default-account", default=env("DEFAULT_ACCOUNT", DEFAULT_ACCOUNT),
        help="account for callers whose key maps to none (REKOG_COMPAT_DEFAULT_ACCOUNT)",
    )
    p.add_argument(
        "--default-region", default=env("DEFAULT_REGION", DEFAULT_REGION),
        help="region for unsigned requests (REKOG_COMPAT_DEFAULT_REGION)",
    )
    p.add_argument(
        "--accounts", default=env("ACCOUNTS"),
        help='JSON file {"ACCESS_KEY_ID": "111122223333"} mapping keys to accounts (REKOG_COMPAT_ACCOUNTS)',
    )
    p.add_argument(
        "--threads", type=int, default=int(env("THREADS", "8") or 8), help="request threads (REKOG_COMPAT_THREADS)"
    )
    p.add_argument(
        "--workers", type=int, default=int(env("WORKERS", "1") or 1),
        help="server processes (REKOG_COMPAT_WORKERS; default 1); more than 1 runs under gunicorn",
    )
    p.add_argument(
        "--max-concurrent", type=int, default=_optional_int(env("MAX_CONCURRENT")),
        help="requests run at once, per worker (REKOG_COMPAT_MAX_CONCURRENT; default: --threads)",
    )
    p.add_argument(
        "--max-queue", type=int, default=int(env("MAX_QUEUE", str(DEFAULT_MAX_QUEUE)) or DEFAULT_MAX_QUEUE),
        help="requests waiting for a place, per worker; beyond, ThrottlingException at once "
        f"(REKOG_COMPAT_MAX_QUEUE; default {DEFAULT_MAX_QUEUE})",
    )
    p.add_argument(
        "--read-timeout", type=float,
        default=float(env("READ_TIMEOUT", str(DEFAULT_READ_TIMEOUT_S)) or DEFAULT_READ_TIMEOUT_S),
        help="seconds an incomplete request (headers or body) may send nothing before it is answered with "
        f"RequestTimeoutException and closed (REKOG_COMPAT_READ_TIMEOUT; default {DEFAULT_READ_TIMEOUT_S:g})",
    )
    p.add_argument(
        "--tls-cert", default=env("TLS_CERT"),
        help="PEM certificate (chain): serve HTTPS, under gunicorn; needs --tls-key (REKOG_COMPAT_TLS_CERT)",
    )
    p.add_argument(
        "--tls-key", default=env("TLS_KEY"), help="PEM private key of --tls-cert (REKOG_COMPAT_TLS_KEY)"
    )
    p.add_argument(
        "--credentials", default=env("CREDENTIALS"),
        help='JSON file {"AKID": {"secret": "...", "account": "111122223333"}}: verify every SigV4 signature '
        "(REKOG_COMPAT_CREDENTIALS; default: signatures are not verified)",
    )
    p.add_argument(
        "--audit-log", default=env("AUDIT_LOG"),
        help="audit log file (REKOG_COMPAT_AUDIT_LOG; default <data dir>/audit.jsonl)",
    )
    p.add_argument(
        "--audit-failure", choices=["fail", "continue"], default=env("AUDIT_FAILURE", "fail"),
        help="when the audit log cannot be written: fail the call (default) or continue (REKOG_COMPAT_AUDIT_FAILURE)",
    )
    p.add_argument(
        "--min-match-threshold", type=float, default=_optional_float(env("MIN_MATCH_THRESHOLD")),
        help="policy: the lowest Similarity threshold searches and comparisons run at; lower requests are raised "
        "to it (REKOG_COMPAT_MIN_MATCH_THRESHOLD; default none)",
    )
    p.add_argument(
        "--ann-nprobe", type=int, default=int(env("ANN_NPROBE", str(AnnSettings.nprobe)) or AnnSettings.nprobe),
        help=f"clusters an approximate search visits: more is slower, closer to exact (default {AnnSettings.nprobe})",
    )
    p.add_argument("--log-level", default=env("LOG_LEVEL", "INFO"), help="logging level (REKOG_COMPAT_LOG_LEVEL)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rekog-compat", description="Amazon Rekognition face API, on premises.")
    parser.add_argument("--version", action="version", version=f"rekog-compat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _client_commands(sub)
    _eval_commands(sub)
    register_audit_commands(sub)
    register_seed_commands(sub)
    return parser


def _client_commands(sub: argparse._SubParsersAction) -> None:
    """The client side's subcommands (index, search, compare) live with the SDK, in `sdk/cli.py`."""
    from rekog_sdk.cli import register_commands

    register_commands(sub)


def _eval_commands(sub: argparse._SubParsersAction) -> None:
    """`eval` (accuracy through the HTTP API) lives with the SDK, in `sdk/evaluation/cli.py`."""
    from rekog_sdk.evaluation.cli import register_commands

    register_commands(sub)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is not None:  # a client subcommand (rekog_sdk.cli): it returns its exit status
        return int(handler(args))
    if args.command == "serve":
        logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        from .engine import EngineUnavailable
        from .server import serve
        from .store.rules import SchemaTooNew, StoreUnreadable

        config = ServerConfig(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            store=args.store,
            model=args.model,
            detector=args.detector,
            s3_endpoint_url=args.s3_endpoint_url,
            default_account=args.default_account,
            default_region=args.default_region,
            accounts_file=args.accounts,
            credentials_file=args.credentials,
            threads=args.threads,
            workers=args.workers,
            audit_log=args.audit_log,
            audit_failure=args.audit_failure,
            min_match_threshold=args.min_match_threshold,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            max_concurrent=args.max_concurrent,
            max_queue=args.max_queue,
            ann_min_faces=args.ann_min_faces,
            ann_nprobe=args.ann_nprobe,
            read_timeout=args.read_timeout,
        )
        try:
            serve(config)
        except (EngineUnavailable, SchemaTooNew, StoreUnreadable, ValueError, OSError) as exc:
            print(f"rekog-compat: cannot start: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
