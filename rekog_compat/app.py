"""The HTTP face of the server: a thin Flask app over protocol, validation and handlers."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import __version__
from .admission import ENVIRON_KEY as ADMISSION_ENVIRON_KEY
from .audit import AUDITED_OPERATIONS, build_record
from .context import RequestContext, Services
from .errors import (
    AwsError,
    ImageTooLargeException,
    InternalServerError,
    UnknownOperationException,
)
from .handlers import HANDLERS
from .identity import AccountResolver
from .protocol import CONTENT_TYPE, dump, error_document, new_request_id, operation_from_target, parse_body
from .validation import validate_request

log = logging.getLogger("rekog_compat")

# CompareFaces carries two 5 MB images, ~14 MB as base64; leave room for the rest of the JSON.
MAX_BODY_BYTES = 16 * 1024 * 1024


class AuditUnwritable(Exception):
    """The audit record of a call could not be written and the policy is to fail the call."""


def _respond(
    status: int, document: dict[str, Any], request_id: str, timings: dict[str, float] | None = None
) -> Response:
    headers = {"x-amzn-RequestId": request_id}
    if timings:  # W3C Server-Timing: where the time went, for benchmarks and operators
        headers["Server-Timing"] = ", ".join(f"{phase};dur={ms:.3f}" for phase, ms in timings.items())
    return Response(dump(document), status=status, headers=headers, content_type=CONTENT_TYPE)


def _error(error: AwsError, request_id: str) -> Response:
    return _respond(error.status, error_document(error), request_id)


def create_app(services: Services, accounts: AccountResolver) -> Flask:
    """A WSGI app serving the Rekognition API and /health from `services`."""
    app = Flask("rekog_compat")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    implemented = frozenset(HANDLERS)

    @app.post("/")
    def dispatch() -> Response:
        request_id = new_request_id()
        ctx: RequestContext | None = None
        operation, params = "", {}
        response: dict[str, Any] | None = None
        outcome: AwsError | None = None
        try:
            body = request.get_data(cache=False)
            headers = {name.lower(): value for name, value in request.headers.items()}
            caller = accounts.authenticate(request.method, request.url, headers, body)
            operation = operation_from_target(request.headers.get("X-Amz-Target"), implemented)
            params = validate_request(operation, parse_body(body))
            ctx = RequestContext(
                scope=caller.scope,
                access_key=caller.access_key,
                request_id=request_id,
                source_ip=request.remote_addr,
                services=services,
            )
            response = HANDLERS[operation](ctx, params)
        except AwsError as error:
            outcome = error
        except RequestEntityTooLarge:
            outcome = ImageTooLargeException()
        except Exception:
            log.exception("request %s failed", request_id)
            outcome = InternalServerError()
        if ctx is not None:  # the call reached its handler: it is audited, whatever its outcome
            try:
                audit(ctx, operation, params, response, outcome.code if outcome else "OK")
            except AuditUnwritable:
                outcome = InternalServerError("The audit log cannot be written; the call is not acknowledged.")
        if outcome is not None:
            return _error(outcome, request_id)
        assert response is not None and ctx is not None
        return _respond(200, response, request_id, ctx.timings)

    def audit(
        ctx: RequestContext, operation: str, params: dict[str, Any], response: dict[str, Any] | None, result: str
    ) -> None:
        """Append the call's audit record; AuditUnwritable when it cannot be (and the policy is to fail)."""
        if services.audit is None or operation not in AUDITED_OPERATIONS:
            return
        record = build_record(
            request_id=ctx.request_id, account=ctx.scope.account, region=ctx.scope.region,
            access_key=ctx.access_key, source_ip=ctx.source_ip, operation=operation, params=params,
            notes=ctx.notes, response=response, result=result,
        )
        try:
            services.audit.append(record)
        except OSError:
            log.exception("audit record of request %s could not be written", ctx.request_id)
            if services.config.audit_failure == "fail":
                raise AuditUnwritable() from None

    @app.get("/health")
    def health() -> Response:
        request_id = new_request_id()
        document = {
            "status": "ok",
            "version": __version__,
            "model": services.face_model_version,
            "store": services.store.description,
            "collections": services.store.count_collections(),
        }
        admission = request.environ.get(ADMISSION_ENVIRON_KEY)
        if admission is not None:  # served behind admission.Admission: this process's load
            document["requests"] = admission.snapshot()
        return _respond(200, document, request_id)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        # Routing-level failures (wrong path or method) still answer in AWS's JSON.
        request_id = new_request_id()
        if isinstance(exc, RequestEntityTooLarge):
            return _error(ImageTooLargeException(), request_id)
        if (exc.code or 500) >= 500:
            return _error(InternalServerError(), request_id)
        error = UnknownOperationException(f"{request.method} {request.path} is not an operation of this service")
        error.status = exc.code or 400
        return _error(error, request_id)

    return app
