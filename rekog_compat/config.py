"""Server configuration: command-line flags with environment-variable fallbacks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .engine import DEFAULT_DETECTOR, DEFAULT_MODEL, EngineConfig
from .identity import DEFAULT_ACCOUNT, DEFAULT_REGION

ENV_PREFIX = "REKOG_COMPAT_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9090


def default_data_dir() -> str:
    return str(Path.home() / ".rekog-compat")


def env(name: str, default: str | None = None) -> str | None:
    """The value of REKOG_COMPAT_<name>, or `default`."""
    return os.environ.get(ENV_PREFIX + name, default)


@dataclass(frozen=True)
class ServerConfig:
    """Everything `rekog-compat serve` can be told."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: str = ""
    store: str | None = None
    model: str = DEFAULT_MODEL
    detector: str = DEFAULT_DETECTOR
    s3_endpoint_url: str | None = None
    default_account: str = DEFAULT_ACCOUNT
    default_region: str = DEFAULT_REGION
    accounts_file: str | None = None
    credentials_file: str | None = None
    threads: int = 8
    workers: int = 1
    audit_log: str | None = None  # default: <data dir>/audit.jsonl
    audit_failure: str = "fail"  # "fail": a call whose record cannot be written fails; "continue"
    min_match_threshold: float | None = None

    def resolved_data_dir(self) -> str:
        return self.data_dir or default_data_dir()

    def resolved_audit_log(self) -> str:
        return self.audit_log or str(Path(self.resolved_data_dir()) / "audit.jsonl")

    def engine_config(self) -> EngineConfig:
        """Model weights are linked under the data dir, where DeepFace looks for them."""
        return EngineConfig(model=self.model, detector=self.detector, deepface_home=self.resolved_data_dir())
