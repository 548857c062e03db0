"""Headless Chromium for tests: render a self-contained HTML report as a person would see it.

Debian's `chromium` (installed by .ci/run); tests skip, saying why, where it is absent.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0")
PAGE_PROBLEMS = re.compile(r"CONSOLE|Uncaught|Failed to load resource|net::ERR_", re.IGNORECASE)


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium to check HTML in a browser (CI does)")


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a fresh profile, bounded in time."""
    try:
        return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"chromium did not finish in {exc.timeout} s: {args}")


def page_problems(stderr: str) -> list[str]:
    """Chromium's log lines about the page itself: console messages, uncaught errors, failed loads."""
    return [line for line in stderr.splitlines() if PAGE_PROBLEMS.search(line)]


def render(html_path: Path, work: Path) -> tuple[Path, str]:
    """(screenshot, DOM) of a page: the screenshot is not blank and the page logged no problem."""
    require_chromium()
    url = html_path.resolve().as_uri()
    screenshot = work / f"{html_path.stem}.png"
    shot = chromium([f"--screenshot={screenshot}", "--window-size=1280,2000", url], work / "profile-shot")
    assert screenshot.exists(), f"no screenshot (rc {shot.returncode}):\n{shot.stderr[-3000:]}"
    with Image.open(screenshot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 50, "the screenshot is blank"
    dom = chromium(["--dump-dom", url], work / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-3000:]
    for run in (shot, dom):
        problems = page_problems(run.stderr)
        assert not problems, "\n".join(problems)
    return screenshot, dom.stdout
