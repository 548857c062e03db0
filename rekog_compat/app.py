"""The HTTP face of the server: a thin Flask app over protocol, validation and handlers."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import __version__
from .context import RequestContext, Services
from .errors import AwsError, ImageTooLargeException, InternalServerError, UnknownOperationException
from .handlers import HANDLERS
from .identity import AccountResolver
from .protocol import CONTENT_TYPE, dump, error_document, new_request_id, operation_from_target, parse_body
from .validation import validate_request

log = logging.getLogger("rekog_compat")

# CompareFaces carries two 5 MB images, ~14 MB as base64; leave room for the rest of the JSON.
MAX_BODY_BYTES = 16 * 1024 * 1024


def _respond(status: int, document: dict[str, Any], request_id: str) -> Response:
    return Response(
        dump(document),
        status=status,
        headers={"x-amzn-RequestId": request_id},
        content_type=CONTENT_TYPE,
    )


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
        try:
            operation = operation_from_target(request.headers.get("X-Amz-Target"), implemented)
            params = validate_request(operation, parse_body(request.get_data(cache=False)))
            caller = accounts.caller(request.headers.get("Authorization"))
            ctx = RequestContext(
                scope=caller.scope,
                access_key=caller.access_key,
                request_id=request_id,
                source_ip=request.remote_addr,
                services=services,
            )
            return _respond(200, HANDLERS[operation](ctx, params), request_id)
        except AwsError as error:
            return _error(error, request_id)
        except RequestEntityTooLarge:
            return _error(ImageTooLargeException(), request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            return _error(InternalServerError(), request_id)

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
        return _respond(200, document, request_id)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        # Routing-level failures (wrong path or method) still answer in AWS's JSON.
        request_id = new_request_id()
        if isinstance(exc, RequestEntityTooLarge):
            return _error(ImageTooLargeException(), request_id)
        error = UnknownOperationException(f"{request.method} {request.path} is not an operation of this service")
        error.status = exc.code or 400
        return _error(error, request_id)

    return app
