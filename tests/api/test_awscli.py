"""The AWS CLI works against the server with --endpoint-url."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def aws_cli() -> list[str]:
    beside_python = Path(sys.executable).with_name("aws")
    found = str(beside_python) if beside_python.exists() else shutil.which("aws")
    if not found:
        pytest.skip("awscli is not installed (pip install '.[test]')")
    return [found]


def run_aws(server_url: str, *args: str) -> dict:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "888888888888",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "ap-southeast-2",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    done = subprocess.run(
        [*aws_cli(), "--endpoint-url", server_url, "--output", "json", "rekognition", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_aws_cli_creates_and_lists_collections(server):
    created = run_aws(server.url, "create-collection", "--collection-id", "from-cli")
    assert created["CollectionArn"] == "arn:aws:rekognition:ap-southeast-2:888888888888:collection/from-cli"
    assert created["StatusCode"] == 200
    listed = run_aws(server.url, "list-collections")
    assert listed["CollectionIds"] == ["from-cli"]
    assert listed["FaceModelVersions"] == ["Dlib"]
