"""A live server for one test module's fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from harness.live_server import LiveServer


def served(data_dir: Path, *options: str, timeout: float = 120) -> Iterator[LiveServer]:
    """`rekog-compat serve` with these options, for a fixture to `yield from`: stopped when the fixture ends."""
    live = LiveServer(data_dir, *options)
    yield live.start(timeout=timeout)
    live.stop()
