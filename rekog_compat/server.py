"""Assemble the services from a configuration and serve them over HTTP."""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

from waitress.server import create_server

from .app import MAX_BODY_BYTES, create_app
from .audit import AuditLog
from .config import ServerConfig
from .context import Services
from .engine import FaceEngine
from .identity import AccountResolver
from .images import S3ImageReader
from .store import open_store

log = logging.getLogger("rekog_compat")


def build_services(config: ServerConfig) -> Services:
    """Open the store and load the face models (a missing model fails here, at start-up)."""
    # Without credentials, botocore would probe the EC2 metadata address for them before an
    # S3 read: no outbound connection unless asked for (on EC2, set it to "false").
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    engine = FaceEngine(config.engine_config())
    engine.check_ready()
    store = open_store(config.store, config.resolved_data_dir())
    audit = AuditLog(config.resolved_audit_log())
    return Services(config=config, store=store, engine=engine, s3=S3ImageReader(config.s3_endpoint_url), audit=audit)


def _accounts(config: ServerConfig) -> AccountResolver:
    accounts = AccountResolver.from_file(
        config.accounts_file, config.default_account, config.default_region, config.credentials_file
    )
    if accounts.verifies_signatures:
        log.info("SigV4 signatures are verified against %s", config.credentials_file)
    else:
        log.warning("no --credentials file: signatures are NOT verified; any access key is accepted")
    return accounts


def serve(config: ServerConfig) -> None:
    """Run the server until SIGINT/SIGTERM; prints the address once it accepts requests."""
    accounts = _accounts(config)
    if config.workers > 1:
        serve_workers(config, accounts)
        return
    services = build_services(config)
    app = create_app(services, accounts)
    server = create_server(
        app,
        host=config.host,
        port=config.port,
        threads=config.threads,
        # Waitress drops bodies past its own limit without an AWS error; keep it above
        # the app's limit so that the app answers ImageTooLargeException in AWS's JSON.
        max_request_body_size=2 * MAX_BODY_BYTES,
        ident="rekog-compat",
        clear_untrusted_proxy_headers=True,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        server.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.effective_host, server.effective_port
    print(f"rekog-compat {services.store.description} model={services.face_model_version}", flush=True)
    print(f"rekog-compat listening on http://{host}:{port}", flush=True)
    try:
        server.run()
    except (OSError, ValueError):
        # server.close() from the signal handler makes the select loop fail with EBADF
        # (or ValueError on a closed descriptor, depending on where the loop was).
        pass
    finally:
        services.store.close()
        if services.audit is not None:
            services.audit.close()
        log.info("stopped")
        sys.stdout.flush()


def serve_workers(config: ServerConfig, accounts: AccountResolver) -> None:
    """`--workers N`: N processes under gunicorn. The models and the store are checked here
    first, so that a missing model or a corrupt store stops the start, not every worker."""
    from .workers import WorkerServer

    build_services(config).store.close()
    WorkerServer(config, lambda: create_app(build_services(config), accounts)).run()
