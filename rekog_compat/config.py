"""Server configuration: what `rekog-compat serve` can be told (its flags: options.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .engine import DEFAULT_DETECTOR, DEFAULT_MODEL, EngineConfig
from .engine.config import default_data_dir, default_models_dir
from .identity import DEFAULT_ACCOUNT, DEFAULT_REGION
from .sigv4 import REGION
from .store import AnnSettings

ENV_PREFIX = "REKOG_COMPAT_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9090
DEFAULT_MAX_QUEUE = 32
DEFAULT_READ_TIMEOUT_S = 20.0
ANSWERING_THREADS = 2  # beyond running + queued requests: they answer throttles and /health without delay
IDLE_CONNECTIONS = 100  # kept-alive connections between requests, beyond the busy ones (waitress's default)


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
    tls_cert: str | None = None  # PEM certificate (chain); with tls_key, the server speaks HTTPS (under gunicorn)
    tls_key: str | None = None
    max_concurrent: int | None = None  # requests in the app at once, per worker; default: `threads`
    max_queue: int = DEFAULT_MAX_QUEUE  # requests waiting for one of those places, per worker; more: throttled
    ann_min_faces: int = AnnSettings.min_faces  # SQLite: faces from which a collection's search is approximate
    ann_nprobe: int = AnnSettings.nprobe
    read_timeout: float = DEFAULT_READ_TIMEOUT_S  # an incomplete request idle this long is answered 408 and closed
    models_dir: str | None = None  # models installed from npm; default: <data dir>/models
    sns_endpoint_url: str | None = None  # where video jobs' completion notifications are published; None: AWS
    video_sample_rate: float = 2.0  # frames per second of video a job or stream processor analyses
    video_jobs: int = 1  # video jobs run at once, per server process
    video_sources: str | None = None  # JSON file: Kinesis Video stream ARN -> a local source (stream processors)
    kinesis_endpoint_url: str | None = None  # where stream processors put their records; None: AWS

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_key)

    def resolved_max_concurrent(self) -> int:
        return self.max_concurrent if self.max_concurrent is not None else self.threads

    def server_threads(self) -> int:
        """The WSGI server's thread pool: one thread per running or queued request, plus a few that answer
        throttled requests and /health at once. Requests then wait in the admission queue, which is bounded,
        and never in the WSGI server's own queue, which is not."""
        return self.resolved_max_concurrent() + self.max_queue + ANSWERING_THREADS

    def connection_limit(self) -> int:
        """Open connections a process serves (beyond, new ones wait in the kernel's backlog, unanswered):
        every thread's, and as many again idle between requests (SDKs keep theirs open)."""
        return self.server_threads() + IDLE_CONNECTIONS

    def policy_threshold(self, threshold: float) -> float:
        """A Similarity threshold raised to the `--min-match-threshold` policy, if there is one."""
        floor = self.min_match_threshold
        return float(threshold) if floor is None else max(float(threshold), floor)

    def check(self) -> None:
        """ValueError naming the flag when the serving settings cannot work together."""
        if bool(self.tls_cert) != bool(self.tls_key):
            given, missing = ("--tls-cert", "--tls-key") if self.tls_cert else ("--tls-key", "--tls-cert")
            raise ValueError(f"{given} needs {missing} too (or {ENV_PREFIX}{missing[2:].upper().replace('-', '_')})")
        if self.resolved_max_concurrent() < 1:
            raise ValueError("--max-concurrent must be at least 1")
        if self.max_queue < 0:
            raise ValueError("--max-queue must be 0 or more")
        if self.threads < 1 or self.workers < 1:
            raise ValueError("--threads and --workers must be at least 1")
        if not self.read_timeout > 0:
            raise ValueError("--read-timeout must be more than 0 seconds")
        if self.video_sources:
            from .stream.sources import load_sources

            load_sources(self.video_sources)  # ValueError naming what is wrong with the file
        if not 0 < self.video_sample_rate <= 60 or self.video_jobs < 1:
            raise ValueError("--video-sample-rate must be more than 0 and at most 60, --video-jobs at least 1")
        if not REGION.fullmatch(self.default_region):
            raise ValueError(f"--default-region {self.default_region!r} is not a region name (e.g. us-east-1)")

    def ann_settings(self) -> AnnSettings:
        return AnnSettings(min_faces=self.ann_min_faces, nprobe=self.ann_nprobe)

    def resolved_data_dir(self) -> str:
        return self.data_dir or default_data_dir()

    def resolved_audit_log(self) -> str:
        return self.audit_log or str(Path(self.resolved_data_dir()) / "audit.jsonl")

    def engine_config(self) -> EngineConfig:
        """Model weights are linked under the data dir, where DeepFace looks for them."""
        return EngineConfig(
            model=self.model, detector=self.detector, deepface_home=self.resolved_data_dir(),
            models_dir=self.resolved_models_dir(),
        )

    def resolved_models_dir(self) -> str:
        return self.models_dir or default_models_dir(self.resolved_data_dir())
