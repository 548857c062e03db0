"""Every command-line option that an environment variable can set, defined once.

An `Option` is one flag: its `REKOG_COMPAT_*` variable (read as the default, and named in the
help by the same code), its default, its type and its help. Commands add the options they take
(`serve` all of `SERVE_OPTIONS`, `seed` `STORE_OPTIONS` and the scope's two), so a flag that two
commands share cannot drift between them. `field` names the `ServerConfig` member it sets.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .config import (
    DEFAULT_HOST,
    DEFAULT_MAX_QUEUE,
    DEFAULT_PORT,
    DEFAULT_READ_TIMEOUT_S,
    ENV_PREFIX,
    ServerConfig,
    default_data_dir,
)
from .engine import DEFAULT_DETECTOR, DEFAULT_MODEL, registry
from .identity import DEFAULT_ACCOUNT, DEFAULT_REGION
from .store import AnnSettings


@dataclass(frozen=True)
class Option:
    flag: str
    env: str  # the variable's name after REKOG_COMPAT_
    help: str
    default: Any = None  # when neither the flag nor the variable is given
    type: Callable[[str], Any] | None = None  # None: the text as given
    choices: Sequence[str] | None = None
    shown_default: str | None = None  # how the help names the default; None: the default itself, if any
    default_factory: Callable[[], Any] | None = None  # computes `default` when the parser is built
    metavar: str | None = None
    field: str | None = None  # the ServerConfig member it sets; None: none

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.env

    def env_default(self) -> Any:
        """The variable's value (converted by `type`; empty counts as unset for a typed option), or `default`."""
        raw = os.environ.get(self.env_var)
        if raw is None or (raw == "" and self.type is not None):
            return self.default_factory() if self.default_factory else self.default
        return raw if self.type is None else self.type(raw)

    def help_text(self, help: str | None = None) -> str:
        shown = self.shown_default
        if shown is None and self.default is not None:
            shown = f"{self.default:g}" if isinstance(self.default, float) else str(self.default)
        return f"{help or self.help} ({self.env_var}" + (f"; default {shown})" if shown else ")")

    def add(self, parser: argparse.ArgumentParser, flag: str | None = None, help: str | None = None) -> argparse.Action:
        """Add this option to `parser`, as `flag` if the command names it otherwise (same variable, same default)."""
        typed: dict[str, Any] = {"type": self.type} if self.type else {}
        action = parser.add_argument(
            flag or self.flag, default=self.env_default(), choices=self.choices, metavar=self.metavar,
            help=self.help_text(help), **typed,
        )
        action.option = self  # type: ignore[attr-defined]  # read by the tests: which definition a flag came from
        return action


def _choices_help(kind: registry.Kind, what: str) -> str:
    """`what`, the registry's names, and which of them work offline (their package ships the weights)."""
    offline = ", ".join(entry.name for entry in registry.ENTRIES[kind] if entry.packaged)
    return (f"{what}: {', '.join(registry.names(kind))}. Offline as installed: {offline}; the others are "
            "DeepFace's. `rekog-compat models` lists their weights, packages and licences")


# -- where faces live and which model makes them: `serve` and `seed` ---------------------------------------

DATA_DIR = Option(
    "--data-dir", "DATA_DIR", "where the SQLite store lives", default_factory=default_data_dir,
    shown_default="~/.rekog-compat", field="data_dir",
)
STORE = Option(
    "--store", "STORE", "'sqlite' (default, under --data-dir) or postgresql://user:pass@host/db, with pgvector",
    field="store",
)
MODEL = Option(
    "--model", "MODEL", _choices_help("embedder", "recognition model"),
    default=DEFAULT_MODEL, metavar="NAME", choices=registry.names("embedder"), field="model",
)
DETECTOR = Option(
    "--detector", "DETECTOR", _choices_help("detector", "face detector"),
    default=DEFAULT_DETECTOR, metavar="NAME", choices=registry.names("detector"), field="detector",
)
ANN_MIN_FACES = Option(
    "--ann-min-faces", "ANN_MIN_FACES", "SQLite store: a collection of this many faces is searched approximately "
    "(faiss IVF, built in the background); 0: always exact", default=AnnSettings.min_faces, type=int,
    field="ann_min_faces",
)
STORE_OPTIONS = (DATA_DIR, STORE, MODEL, DETECTOR, ANN_MIN_FACES)
MODELS_DIR = Option(
    "--models-dir", "MODELS_DIR",
    "where `rekog-compat models install` puts models fetched from npm (Emotions, ssd-mobilenet)",
    shown_default="<data dir>/models", field="models_dir",
)

# -- the scope of calls without one --------------------------------------------------------------------------

DEFAULT_ACCOUNT_OPTION = Option(
    "--default-account", "DEFAULT_ACCOUNT", "account for callers whose key maps to none", default=DEFAULT_ACCOUNT,
    field="default_account",
)
DEFAULT_REGION_OPTION = Option(
    "--default-region", "DEFAULT_REGION", "region for unsigned requests", default=DEFAULT_REGION,
    field="default_region",
)

# -- `serve` alone -------------------------------------------------------------------------------------------

SERVE_OPTIONS = (
    Option("--host", "HOST", "address to bind", default=DEFAULT_HOST, field="host"),
    Option("--port", "PORT", "port; 0 picks a free one", default=DEFAULT_PORT, type=int, field="port"),
    *STORE_OPTIONS,
    Option("--s3-endpoint-url", "S3_ENDPOINT_URL", "S3 API endpoint for Image.S3Object", shown_default="AWS",
           field="s3_endpoint_url"),
    DEFAULT_ACCOUNT_OPTION,
    DEFAULT_REGION_OPTION,
    Option("--accounts", "ACCOUNTS", 'JSON file {"ACCESS_KEY_ID": "111122223333"} mapping keys to accounts',
           field="accounts_file"),
    Option("--threads", "THREADS", "request threads", default=ServerConfig.threads, type=int, field="threads"),
    Option("--workers", "WORKERS", "server processes; more than 1 runs under gunicorn", default=ServerConfig.workers,
           type=int, field="workers"),
    Option("--max-concurrent", "MAX_CONCURRENT", "requests run at once, per worker", type=int,
           shown_default="--threads", field="max_concurrent"),
    Option("--max-queue", "MAX_QUEUE", "requests waiting for a place, per worker; beyond, ThrottlingException at once",
           default=DEFAULT_MAX_QUEUE, type=int, field="max_queue"),
    Option("--read-timeout", "READ_TIMEOUT", "seconds an incomplete request (headers or body) may send nothing "
           "before it is answered with RequestTimeoutException and closed", default=DEFAULT_READ_TIMEOUT_S,
           type=float, field="read_timeout"),
    Option("--tls-cert", "TLS_CERT", "PEM certificate (chain): serve HTTPS, under gunicorn; needs --tls-key",
           field="tls_cert"),
    Option("--tls-key", "TLS_KEY", "PEM private key of --tls-cert", field="tls_key"),
    Option("--credentials", "CREDENTIALS", 'JSON file {"AKID": {"secret": "...", "account": "111122223333"}}: '
           "verify every SigV4 signature", shown_default="signatures are not verified", field="credentials_file"),
    Option("--audit-log", "AUDIT_LOG", "audit log file", shown_default="<data dir>/audit.jsonl", field="audit_log"),
    Option("--audit-failure", "AUDIT_FAILURE", "when the audit log cannot be written: fail the call, or continue",
           default=ServerConfig.audit_failure, choices=("fail", "continue"), field="audit_failure"),
    Option("--min-match-threshold", "MIN_MATCH_THRESHOLD", "policy: the lowest Similarity threshold searches and "
           "comparisons run at; lower requests are raised to it", type=float, shown_default="none",
           field="min_match_threshold"),
    Option("--ann-nprobe", "ANN_NPROBE", "clusters an approximate search visits: more is slower, closer to exact "
           "(0: 768, or 1,024 from 10M faces)", default=AnnSettings.nprobe, type=int, field="ann_nprobe"),
    MODELS_DIR,
    Option("--sns-endpoint-url", "SNS_ENDPOINT_URL", "SNS API endpoint video jobs publish their completion to "
           "(NotificationChannel)", shown_default="AWS", field="sns_endpoint_url"),
    Option("--video-sample-rate", "VIDEO_SAMPLE_RATE", "frames per second of video that StartFaceDetection, "
           "StartFaceSearch and stream processors analyse", default=ServerConfig.video_sample_rate, type=float,
           field="video_sample_rate"),
    Option("--video-jobs", "VIDEO_JOBS", "video jobs run at once, per server process (the others wait their turn)",
           default=ServerConfig.video_jobs, type=int, field="video_jobs"),
    Option("--video-sources", "VIDEO_SOURCES", 'JSON file {"KINESIS_VIDEO_STREAM_ARN": "rtsp://... | https://... | '
           'file.mp4 | /dev/video0"}: the video a stream processor reads for each input stream', field="video_sources"),
    Option("--kinesis-endpoint-url", "KINESIS_ENDPOINT_URL", "Kinesis Data Streams API endpoint stream processors "
           "put their face-search records to", shown_default="AWS", field="kinesis_endpoint_url"),
    Option("--log-level", "LOG_LEVEL", "logging level", default="INFO"),
)


def add_options(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    for option in options:
        option.add(parser)


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig that parsed `serve` arguments describe."""
    values = {}
    for option in SERVE_OPTIONS:
        if option.field is not None:
            values[option.field] = getattr(args, option.flag[2:].replace("-", "_"))
    return ServerConfig(**values)
