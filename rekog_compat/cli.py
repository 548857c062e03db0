"""The `rekog-compat` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .audit_cli import register_commands as register_audit_commands
from .models_cli import register_commands as register_models_commands
from .options import SERVE_OPTIONS, add_options, server_config
from .seed_cli import register_commands as register_seed_commands


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the Rekognition-compatible server",
        description="Run the server. Every flag also reads REKOG_COMPAT_<FLAG> from the environment.",
    )
    add_options(p, SERVE_OPTIONS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rekog-compat", description="Amazon Rekognition face API, on premises.")
    parser.add_argument("--version", action="version", version=f"rekog-compat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _client_commands(sub)
    _eval_commands(sub)
    register_audit_commands(sub)
    register_seed_commands(sub)
    register_models_commands(sub)
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

        config = server_config(args)
        try:
            serve(config)
        except (EngineUnavailable, SchemaTooNew, StoreUnreadable, ValueError, OSError) as exc:
            print(f"rekog-compat: cannot start: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
