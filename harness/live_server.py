"""Start the real server as a subprocess on an ephemeral port, as a user would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from rekog_compat.config import ENV_PREFIX, default_models_dir

ADDRESS = re.compile(r"listening on (https?://\S+)")


MODELS_DIR_ENV = f"{ENV_PREFIX}MODELS_DIR"


def machine_models_dir() -> str:
    """This machine's installed models (`rekog-compat models install`): REKOG_COMPAT_MODELS_DIR, else the default
    models dir. Every server the tests and benchmarks start is given it (the default detector's model is there)."""
    return os.environ.get(MODELS_DIR_ENV) or default_models_dir()


class LiveServer:
    """A `rekog-compat serve` process; `url` once it accepts requests. Its data dir is its own, its models
    (`rekog-compat models install`: the default detector's among them) this machine's, from the default
    models dir unless REKOG_COMPAT_MODELS_DIR (or --models-dir) says otherwise."""

    def __init__(self, data_dir: Path, *extra_args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra_args = extra_args
        self.env = {**os.environ, MODELS_DIR_ENV: machine_models_dir(), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []

    def start(self, timeout: float = 60) -> LiveServer:
        cmd = [sys.executable, "-m", "rekog_compat", "serve", "--port", "0", "--data-dir", str(self.data_dir)]
        self.process = subprocess.Popen(
            [*cmd, *self.extra_args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        for line in self.process.stdout:
            self.output.append(line)
            match = ADDRESS.search(line)
            if match:
                self.url = match.group(1)
                break
            if time.monotonic() > deadline:
                break
        if not self.url:
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        # Keep draining output so the server never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)  # a loaded 2-core CI machine can be slow to tear down
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None
