"""Node.js packages the tests run (npm, pinned by tests/js/package-lock.json): the AWS SDK for JavaScript v3,
parsing recorded answers; face-api, the reference for the Emotions model's port."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.raw_http import Answer

JS_DIR = Path(__file__).resolve().parents[1] / "js"


PACKAGES = ("@aws-sdk/client-rekognition", "@vladmandic/face-api", "@tensorflow/tfjs")


def js_dir() -> Path:
    """tests/js with its node_modules installed (`npm ci` on first use); skips where node or npm is absent."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run tests/js's packages (apt install nodejs npm)")
    if not all((JS_DIR / "node_modules" / package).is_dir() for package in PACKAGES):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=JS_DIR, check=True, timeout=600)
    return JS_DIR


def parse_with_js_sdk(answers: list[Answer]) -> list[dict[str, Any]]:
    """How the JS SDK's ListCollections reads each answer: {"name": error name or "OK", "status": ...}."""
    lines = "".join(
        json.dumps({"status": a.status, "headers": a.headers, "body": base64.b64encode(a.body).decode()}) + "\n"
        for a in answers
    )
    done = subprocess.run(["node", "parse_errors.mjs"], cwd=js_dir(), input=lines, capture_output=True, text=True,
                          timeout=300, check=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
