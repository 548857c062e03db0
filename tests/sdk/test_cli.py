"""`rekog-compat index | search | compare` end to end: a subprocess against the live server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from harness.live_server import LiveServer
from rekog_compat import cli
from tests.support.facedata import facedata_dir


def lfw_people(count: int = 3) -> dict[str, list[Path]]:
    root = facedata_dir() / "lfw_tiny"
    found = {d.name: sorted(d.glob("*.jpg")) for d in sorted(root.iterdir()) if d.is_dir()}
    return dict(list((name, paths) for name, paths in found.items() if len(paths) == 4)[:count])


@pytest.fixture
def run_cli(tmp_path: Path, request: pytest.FixtureRequest):
    """Run `python -m rekog_compat ...` with credentials of an account of this test's own."""
    account = f"{int(hashlib.sha256(request.node.nodeid.encode()).hexdigest(), 16) % 10**12:012d}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "REKOG_COMPAT_ENDPOINT_URL"):
        env.pop(name, None)

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rekog_compat", *map(str, args)],
            capture_output=True, text=True, env=env, timeout=timeout,
        )

    return run


@pytest.fixture
def gallery(tmp_path: Path) -> Path:
    """Three people, their first three photos each, in identity folders."""
    root = tmp_path / "gallery"
    for name, photos in lfw_people().items():
        (root / name).mkdir(parents=True)
        for photo in photos[:3]:
            shutil.copy(photo, root / name / photo.name)
    return root


def test_index_then_search_then_compare(server: LiveServer, run_cli, gallery: Path):
    url = server.url
    done = run_cli("index", gallery, "--collection", "people", "--external-id", "folder", "--create",
                   "--workers", "2", "--no-progress", "--endpoint-url", url)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["total"] == 9 and summary["failed"] == 0 and summary["skipped"] == 0
    assert summary["indexed"] + summary["unindexed"] == 9 and summary["faces"] >= summary["indexed"]
    assert "indexing into" not in done.stderr  # --no-progress

    again = run_cli("index", gallery, "--collection", "people", "--external-id", "folder", "--no-progress",
                    "--endpoint-url", url)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["skipped"] == summary["indexed"]

    people = lfw_people()
    name, photos = next(iter(people.items()))
    found = run_cli("search", photos[3], "--collection", "people", "--threshold", "70", "--max-faces", "2",
                    "--endpoint-url", url)
    assert found.returncode == 0, found.stderr
    matches = json.loads(found.stdout)["FaceMatches"]
    assert 1 <= len(matches) <= 2 and matches[0]["Face"]["ExternalImageId"] == name

    same = run_cli("compare", photos[0], photos[1], "--endpoint-url", url)
    assert same.returncode == 0, same.stderr
    result = json.loads(same.stdout)
    assert result["FaceMatches"][0]["Similarity"] >= 80 and "ResponseMetadata" not in result
    other = list(people.values())[1][0]
    different = run_cli("compare", photos[0], other, "--threshold", "95", "--endpoint-url", url)
    assert different.returncode == 0 and json.loads(different.stdout)["FaceMatches"] == []


def test_index_shows_progress_on_stderr_and_exits_1_when_an_image_fails(server: LiveServer, run_cli, tmp_path):
    name, photos = next(iter(lfw_people().items()))
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(photos[0], folder / "good.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    done = run_cli("index", folder, "--collection", "mixed", "--create", "--endpoint-url", server.url)
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert summary["indexed"] == 1 and summary["failed"] == 1
    assert summary["failed_files"]["broken.png"].startswith("InvalidImageFormatException")
    assert "2/2" in done.stderr  # the progress bar
    assert "1 of 2 images failed" in done.stderr


def test_a_missing_collection_exits_1_with_the_aws_error_code(server: LiveServer, run_cli, gallery: Path):
    photo = next(gallery.rglob("*.jpg"))
    for args in (
        ("search", photo, "--collection", "nope"),
        ("index", gallery, "--collection", "nope", "--no-progress"),
    ):
        done = run_cli(*args, "--endpoint-url", server.url)
        assert done.returncode == 1, done
        assert "ResourceNotFoundException" in done.stderr and "nope" in done.stderr
        assert done.stdout == ""


def test_a_bad_endpoint_exits_1_with_a_clear_message(run_cli, gallery: Path):
    photo = next(gallery.rglob("*.jpg"))
    done = run_cli("search", photo, "--collection", "x", "--endpoint-url", "http://127.0.0.1:9", "--max-attempts", "1")
    assert done.returncode == 1
    assert "Could not connect to the endpoint URL" in done.stderr and "Traceback" not in done.stderr


def test_an_image_without_a_face_exits_1_with_invalid_parameter(server: LiveServer, run_cli, gallery: Path):
    no_face = facedata_dir() / "nonface_and_bad_inputs" / "nonface_real" / "skimage_coffee.png"
    photo = next(gallery.rglob("*.jpg"))
    done = run_cli("compare", no_face, photo, "--endpoint-url", server.url)
    assert done.returncode == 1 and "InvalidParameterException" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("compare", "{photo}"),  # one image only
        ("compare", "{photo}", "{photo}", "--a", "aws", "--b", "http://127.0.0.1:1"),  # both modes
        ("compare", "--a", "aws"),  # report mode without --b, --gallery, ...
        ("compare", "--a", "ftp://x", "--b", "aws"),  # not a target
        ("search", "no/such/file.jpg", "--collection", "c"),
        ("index", "no/such/folder", "--collection", "c"),
        ("index", "{folder}"),  # no --collection
        ("index", "{folder}", "--collection", "c", "--external-id", "person"),
        ("index", "{folder}", "--collection", "c", "--workers", "0"),
        ("search", "{photo}", "--collection", "c", "--aws", "--endpoint-url", "http://x"),
    ],
)
def test_usage_errors_exit_2(run_cli, gallery: Path, args):
    photo = next(gallery.rglob("*.jpg"))
    done = run_cli(*(a.format(photo=photo, folder=gallery) for a in args))
    assert done.returncode == 2, done
    assert "usage:" in done.stderr and "Traceback" not in done.stderr


def test_help_lists_the_client_commands_beside_serve(run_cli):
    done = run_cli("--help")
    assert done.returncode == 0
    for command in ("serve", "index", "search", "compare"):
        assert command in done.stdout
    index_help = run_cli("index", "--help").stdout
    for flag in ("--collection", "--external-id", "--workers", "--no-progress", "--endpoint-url", "--aws", "--region",
                 "--profile"):
        assert flag in index_help
    compare_help = run_cli("compare", "--help").stdout
    for flag in ("--a", "--b", "--gallery", "--probes", "--out", "--top-k", "--sample", "--price-per-image"):
        assert flag in compare_help


def test_compare_with_two_services_hands_over_to_run_comparison(monkeypatch, tmp_path, capsys):
    """--a/--b: one client per side, built by connect(), and rekog_sdk.report.run_comparison's result printed."""
    calls: list[dict] = []

    def run_comparison(a_client, b_client, **kwargs):
        calls.append({"a": a_client.meta.endpoint_url, "b": b_client.meta.endpoint_url, **kwargs})
        return {"written": str(kwargs["out"] / "index.html")}

    fake = types.ModuleType("rekog_sdk.report")
    fake.run_comparison = run_comparison  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rekog_sdk.report", fake)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    (tmp_path / "g").mkdir()
    (tmp_path / "p").mkdir()

    status = cli.main([
        "compare", "--a", "aws", "--b", "http://127.0.0.1:9090", "--region", "eu-west-1",
        "--gallery", str(tmp_path / "g"), "--probes", str(tmp_path / "p"), "--out", str(tmp_path / "out"),
        "--top-k", "3", "--sample", "4", "--price-per-image", "0.001", "--no-progress",
    ])
    assert status == 0
    assert calls == [{
        "a": "https://rekognition.eu-west-1.amazonaws.com",
        "b": "http://127.0.0.1:9090",
        "gallery": tmp_path / "g",
        "probes": tmp_path / "p",
        "out": tmp_path / "out",
        "label_a": "aws",
        "label_b": "http://127.0.0.1:9090",
        "top_k": 3,
        "sample": 4,
        "price_per_image": 0.001,
        "progress": False,
    }]
    assert json.loads(capsys.readouterr().out) == {"written": str(tmp_path / "out" / "index.html")}
