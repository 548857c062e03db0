"""The engine opens no network connection: loading, detecting, embedding, age and gender."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support.facedata import facedata_dir

SCRIPT = textwrap.dedent(
    """
    import sys, tempfile
    connections = []
    def audit(event, args):
        if event in ("socket.connect", "socket.getaddrinfo"):
            connections.append((event, repr(args)[:200]))
    sys.addaudithook(audit)

    import numpy as np
    from PIL import Image
    from rekog_compat.engine import EngineConfig, FaceEngine

    engine = FaceEngine(EngineConfig(deepface_home=tempfile.mkdtemp()))
    engine.check_ready()
    image = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
    faces = engine.detect(image)
    engine.embed(faces)
    engine.attributes(image, faces[0], {"AgeRange", "Gender", "Smile"})
    print("faces", len(faces))
    print("connections", connections)
    """
)


def test_engine_makes_no_connection():
    photo = facedata_dir() / "nonface_and_bad_inputs/faces_public_domain_and_formats/insightface_t1_friends_6faces.jpg"
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(photo)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "faces 6" in result.stdout
    assert "connections []" in result.stdout, result.stdout


def test_the_audit_hook_sees_a_connection_attempt():
    """Control for the test above: a connection attempt is recorded, so an empty list means none was made."""
    probe = SCRIPT.replace(
        'print("faces", len(faces))',
        'import socket\ntry:\n    socket.create_connection(("127.0.0.1", 9), timeout=1)\nexcept OSError:\n    pass\n'
        'print("faces", len(faces))',
    )
    photo = facedata_dir() / "nonface_and_bad_inputs/faces_public_domain_and_formats/insightface_t1_friends_6faces.jpg"
    result = subprocess.run([sys.executable, "-c", probe, str(photo)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "socket.connect" in result.stdout
