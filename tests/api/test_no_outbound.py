"""The server contacts nothing but loopback, through a whole face scenario.

Two independent guards, used together:

- an empty network namespace (`unshare -n`, or `unshare -r -n` where user namespaces are allowed) holding only
  `lo`: the server, and the boto3 client that drives it, run in it, so any outbound attempt fails there;
- a Python audit hook (`sys.addaudithook`) installed in the server process before `rekog_compat` is imported
  (`python traced_server.py TRACE serve ...` runs the module with `runpy`), which appends every address the process
  binds, connects, sends to or resolves (`socket.bind/connect/sendto/sendmsg/getaddrinfo/gethostby*`) to a trace
  file. A namespace alone would only turn an attempt into a quiet error the server may swallow; the trace names it.

The scenario: CreateCollection, IndexFaces, SearchFacesByImage, SearchFaces, CompareFaces, DetectFaces with ALL
attributes, users (CreateUser, AssociateFaces, SearchUsers, SearchUsersByImage, ListUsers, DisassociateFaces,
DeleteUser), ListFaces, DeleteFaces, DescribeCollection, DeleteCollection and GET /health. Every trace record
written during it must be loopback (or a Unix socket).

Negative control, in the same server: after the scenario, one DetectFaces with `Image.S3Object` while the server's
`--s3-endpoint-url` is http://192.0.2.1:9 (TEST-NET-1, never routed). The server must then try to reach it, and the
trace must show that non-loopback address: proof that the hook is live in the real server and that the check
would catch an outbound connection.

Audit hooks see what Python's socket module does; a native library opening its own sockets would escape them (the
namespace still stops it). Where no namespace can be made the scenario runs traced only, outside one.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.facedata import REPO_ROOT
from harness.live_server import machine_models_dir
from tests.support.expression_model import installed_models_dir
from tests.support.facedata import facedata_dir

CONTROL_HOST = "192.0.2.1"  # TEST-NET-1 (RFC 5737): documentation only, routed nowhere
RUN_TIMEOUT_S = 300

TRACED_SERVER = r'''
"""python traced_server.py TRACE ARGS...: `rekog-compat ARGS`, appending every socket address it uses to TRACE."""
import json
import runpy
import sys
import threading

_trace = open(sys.argv[1], "a", buffering=1, encoding="utf-8")
_lock = threading.Lock()
_SOCKET_CALLS = ("socket.bind", "socket.connect", "socket.sendto", "socket.sendmsg")


def _hook(event, args):
    if event in _SOCKET_CALLS:
        if args[1] is None:  # sendmsg on a connected socket: its connect was traced
            return
        record = {"event": event, "family": int(args[0].family), "address": args[1]}
    elif event == "socket.getaddrinfo":
        record = {"event": event, "address": [args[0], args[1]]}
    elif event in ("socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"):
        record = {"event": event, "address": args[0]}
    else:
        return
    line = json.dumps(record, default=repr)
    with _lock:
        _trace.write(line + "\n")


sys.addaudithook(_hook)
sys.argv = ["rekog-compat", *sys.argv[2:]]
runpy.run_module("rekog_compat", run_name="__main__", alter_sys=True)
'''

DRIVER = r'''
"""python driver.py CONFIG: loopback up (in a namespace), the traced server, the boto3 scenario, the control."""
import fcntl
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

config = json.loads(Path(sys.argv[1]).read_text())
result = {"interfaces": sorted(name for _, name in socket.if_nameindex()), "steps": []}


def loopback_up():
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh22x", b"lo", 0)
        flags = struct.unpack("16sh22x", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sh22x", b"lo", flags | iff_up))


def wait_for_url(log, server, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"listening on (http://\S+)", Path(log).read_text())
        if match:
            return match.group(1)
        if server.poll() is not None:
            break
        time.sleep(0.2)
    raise SystemExit("server did not start:\n" + Path(log).read_text()[-3000:])


def step(name, call, **kwargs):
    try:
        response = call(**kwargs)
    except ClientError as error:
        result["steps"].append({"step": name, "error": error.response["Error"]["Code"]})
        return {}
    result["steps"].append({"step": name, "error": None})
    return response


def scenario(url):
    client = boto3.client(
        "rekognition", endpoint_url=url, region_name="us-east-1", aws_access_key_id="111122223333",
        aws_secret_access_key="x", config=Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=120),
    )
    a1, a2, b1 = (Path(p).read_bytes() for p in config["photos"])
    step("CreateCollection", client.create_collection, CollectionId="offline")
    first = step("IndexFaces", client.index_faces, CollectionId="offline", Image={"Bytes": a1},
                 ExternalImageId="a1", MaxFaces=1, QualityFilter="NONE")
    other = step("IndexFaces", client.index_faces, CollectionId="offline", Image={"Bytes": b1},
                 ExternalImageId="b1", MaxFaces=1, QualityFilter="NONE")
    face_a = first["FaceRecords"][0]["Face"]["FaceId"]
    face_b = other["FaceRecords"][0]["Face"]["FaceId"]
    found = step("SearchFacesByImage", client.search_faces_by_image, CollectionId="offline", Image={"Bytes": a2},
                 FaceMatchThreshold=0)
    result["search_top_match"] = found["FaceMatches"][0]["Face"]["ExternalImageId"]
    step("SearchFaces", client.search_faces, CollectionId="offline", FaceId=face_b, FaceMatchThreshold=0)
    compared = step("CompareFaces", client.compare_faces, SourceImage={"Bytes": a1}, TargetImage={"Bytes": a2},
                    SimilarityThreshold=0)
    result["compare_matches"] = len(compared["FaceMatches"])
    detected = step("DetectFaces", client.detect_faces, Image={"Bytes": a1}, Attributes=["ALL"])
    result["detect_attributes"] = sorted(detected["FaceDetails"][0])
    step("CreateUser", client.create_user, CollectionId="offline", UserId="person-a")
    step("AssociateFaces", client.associate_faces, CollectionId="offline", UserId="person-a", FaceIds=[face_a])
    users = step("SearchUsers", client.search_users, CollectionId="offline", UserId="person-a")
    result["search_users_matches"] = len(users.get("UserMatches", []))
    by_image = step("SearchUsersByImage", client.search_users_by_image, CollectionId="offline",
                    Image={"Bytes": a2}, UserMatchThreshold=0)
    result["search_users_by_image_top"] = [m["User"]["UserId"] for m in by_image["UserMatches"]][:1]
    step("ListUsers", client.list_users, CollectionId="offline")
    step("ListFaces", client.list_faces, CollectionId="offline")
    step("DisassociateFaces", client.disassociate_faces, CollectionId="offline", UserId="person-a",
         FaceIds=[face_a])
    step("DeleteUser", client.delete_user, CollectionId="offline", UserId="person-a")
    step("DeleteFaces", client.delete_faces, CollectionId="offline", FaceIds=[face_a, face_b])
    step("DescribeCollection", client.describe_collection, CollectionId="offline")
    step("DeleteCollection", client.delete_collection, CollectionId="offline")
    with urllib.request.urlopen(url + "/health", timeout=30) as response:
        result["health"] = json.loads(response.read())["status"]
    return client


if config["namespace"]:
    loopback_up()
trace = Path(config["trace"])
trace.touch()
env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": config["repo"],
       # static credentials for the control's S3 read: the server must not go looking for any (IMDS)
       "AWS_ACCESS_KEY_ID": "AKIDCONTROL", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
with open(config["server_log"], "w") as log:
    server = subprocess.Popen(
        [sys.executable, config["wrapper"], str(trace), "serve", "--port", "0", "--data-dir", config["data_dir"],
         "--models-dir", config["models_dir"], "--s3-endpoint-url", config["control_endpoint"]],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=config["repo"],
    )
try:
    client = scenario(wait_for_url(config["server_log"], server))
    result["marker"] = len(trace.read_text().splitlines())
    started = time.monotonic()
    try:
        client.detect_faces(Image={"S3Object": {"Bucket": "control-bucket", "Name": "face.jpg"}})
        result["control"] = "OK"
    except ClientError as error:
        result["control"] = error.response["Error"]["Code"]
    result["control_seconds"] = time.monotonic() - started
finally:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    Path(config["out"]).write_text(json.dumps(result))
'''


def namespace_prefix() -> tuple[list[str] | None, str]:
    """The command that runs a program in a fresh network namespace, or None and why there is none."""
    if not sys.platform.startswith("linux"):
        return None, f"network namespaces are Linux only ({sys.platform})"
    if shutil.which("unshare") is None:
        return None, "unshare (util-linux) is not installed"
    reasons = []
    for prefix in (["unshare", "-n"], ["unshare", "-r", "-n"]):
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"{' '.join(prefix)}: {exc}")
            continue
        if probe.returncode == 0:
            return prefix, ""
        reasons.append(f"{' '.join(prefix)}: {probe.stderr.strip() or probe.returncode}")
    return None, "no network namespace can be made here: " + "; ".join(reasons)


NAMESPACE, NO_NAMESPACE_REASON = namespace_prefix()


def is_loopback(record: dict[str, Any]) -> bool:
    """Whether one trace record stays on this machine: a Unix socket, or a loopback (or unspecified) address."""
    if record.get("family") == socket.AF_UNIX:
        return True
    address = record["address"]
    host = address[0] if isinstance(address, list) and address else address
    if host in (None, "", "<broadcast>"):
        return True  # getaddrinfo(None, port): a local, passive address
    host = str(host).split("%", 1)[0].strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost")
    return ip.is_loopback or (record["event"] == "socket.bind" and ip.is_unspecified)


def run_scenario(tmp_path: Path, prefix: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the driver (under `prefix`, e.g. unshare -n) and return its result and the server's trace."""
    lfw = facedata_dir() / "lfw_tiny"
    people = sorted(d for d in lfw.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= 2)
    first, second = people[0], people[1]
    photos = [*sorted(first.glob("*.jpg"))[:2], sorted(second.glob("*.jpg"))[0]]
    (tmp_path / "traced_server.py").write_text(textwrap.dedent(TRACED_SERVER))
    (tmp_path / "driver.py").write_text(textwrap.dedent(DRIVER))
    config = {
        "namespace": bool(prefix), "repo": str(REPO_ROOT), "wrapper": str(tmp_path / "traced_server.py"),
        "trace": str(tmp_path / "trace.jsonl"), "server_log": str(tmp_path / "server.log"),
        "data_dir": str(tmp_path / "data"), "out": str(tmp_path / "result.json"),
        "models_dir": machine_models_dir(),  # the default detector's model is there
        "photos": [str(p) for p in photos], "control_endpoint": f"http://{CONTROL_HOST}:9",
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    command = [*prefix, sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "config.json")]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        log = (tmp_path / "server.log").read_text() if (tmp_path / "server.log").exists() else ""
        pytest.fail(f"the scenario took over {RUN_TIMEOUT_S} s; server log tail:\n{log[-3000:]}")
    log = (tmp_path / "server.log").read_text() if (tmp_path / "server.log").exists() else ""
    assert run.returncode == 0, f"driver failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}\nserver:\n{log[-3000:]}"
    result = json.loads((tmp_path / "result.json").read_text())
    trace = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    return result, trace


def check(result: dict[str, Any], trace: list[dict[str, Any]]) -> None:
    failed = [s for s in result["steps"] if s["error"]]
    assert not failed, failed
    assert len(result["steps"]) == 18
    # The scenario was real: faces found, matched and described.
    assert result["search_top_match"] == "a1"
    assert result["compare_matches"] >= 1
    assert {"AgeRange", "Gender", "Smile", "EyesOpen", "MouthOpen"} <= set(result["detect_attributes"])
    if installed_models_dir() is not None:  # the model installed from npm ran offline too
        assert "Emotions" in result["detect_attributes"]
    assert result["search_users_matches"] == 0  # the only user is the one searched with
    assert result["search_users_by_image_top"] == ["person-a"]
    assert result["health"] == "ok"

    during, control = trace[: result["marker"]], trace[result["marker"]:]
    # The hook was live from the start: it saw the server bind its loopback listening socket.
    assert any(r["event"] == "socket.bind" for r in during), during
    outbound = [r for r in during if not is_loopback(r)]
    assert not outbound, f"the server reached beyond loopback during the scenario: {outbound}"

    # Negative control: the same trace and check catch the server reaching for a non-loopback address.
    assert result["control"] == "InvalidS3ObjectException"
    assert result["control_seconds"] < 60
    caught = [r for r in control if not is_loopback(r)]
    assert any(CONTROL_HOST in json.dumps(r["address"]) for r in caught), control
    assert any(r["event"] == "socket.connect" for r in caught) or any(
        r["event"] == "socket.getaddrinfo" for r in caught
    ), caught


@pytest.mark.skipif(NAMESPACE is None, reason=NO_NAMESPACE_REASON)
def test_full_scenario_in_an_empty_network_namespace_contacts_only_loopback(tmp_path: Path) -> None:
    assert NAMESPACE is not None
    result, trace = run_scenario(tmp_path, NAMESPACE)
    assert result["interfaces"] == ["lo"], result["interfaces"]  # nothing but loopback in the namespace
    check(result, trace)


@pytest.mark.skipif(NAMESPACE is not None, reason="the namespace test runs this scenario, traced, with no network")
def test_full_scenario_traced_without_a_namespace_contacts_only_loopback(tmp_path: Path) -> None:
    result, trace = run_scenario(tmp_path, [])
    check(result, trace)


@pytest.mark.parametrize(("record", "local"), [
    ({"event": "socket.connect", "family": 2, "address": ["127.0.0.1", 9090]}, True),
    ({"event": "socket.connect", "family": 10, "address": ["::1", 9090, 0, 0]}, True),
    ({"event": "socket.connect", "family": 1, "address": "/run/some.sock"}, True),
    ({"event": "socket.getaddrinfo", "address": ["localhost", 9090]}, True),
    ({"event": "socket.bind", "family": 2, "address": ["0.0.0.0", 0]}, True),
    ({"event": "socket.connect", "family": 2, "address": ["0.0.0.0", 80]}, False),
    ({"event": "socket.connect", "family": 2, "address": ["10.0.0.1", 443]}, False),
    ({"event": "socket.sendto", "family": 2, "address": ["10.255.255.53", 53]}, False),
    ({"event": "socket.getaddrinfo", "address": ["s3.amazonaws.com", 443]}, False),
    ({"event": "socket.getaddrinfo", "address": ["b'example.com'", 80]}, False),
    ({"event": "socket.connect", "family": 10, "address": ["2001:db8::1", 443, 0, 0]}, False),
])
def test_the_loopback_check_tells_local_from_outbound(record: dict[str, Any], local: bool) -> None:
    assert is_loopback(record) is local
