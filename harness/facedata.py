"""Where the shared real-photo data lives (never copied into the project).

`$REKOG_FACEDATA`, defaulting to `<repo>/../shared/facedata`. The tests skip where it is absent
(tests/support/facedata.py); the benchmarks stop, saying so.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "REKOG_FACEDATA"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LOCATION = REPO_ROOT.parent / "shared" / "facedata"


def facedata_location() -> Path:
    """Where the data should be: `$REKOG_FACEDATA`, else `<repo>/../shared/facedata` (may not exist)."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured).expanduser() if configured else DEFAULT_LOCATION
