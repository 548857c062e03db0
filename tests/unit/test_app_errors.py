"""Unexpected failures answer InternalServerError without leaking internals."""

from __future__ import annotations

import json

from rekog_compat.app import create_app
from rekog_compat.config import ServerConfig
from rekog_compat.context import Services
from rekog_compat.engine import EngineConfig, FaceEngine
from rekog_compat.identity import AccountResolver
from rekog_compat.images import S3ImageReader
from rekog_compat.store import SqliteStore


class FailingStore(SqliteStore):
    def list_collections(self, *args, **kwargs):
        raise RuntimeError("database exploded at /secret/path")


def test_unexpected_exception_is_a_500_internal_server_error_without_traceback(tmp_path):
    services = Services(ServerConfig(), FailingStore(tmp_path), FaceEngine(EngineConfig()), S3ImageReader(None))
    client = create_app(services, AccountResolver()).test_client()
    response = client.post("/", data=b"{}", headers={"X-Amz-Target": "RekognitionService.ListCollections"})
    assert response.status_code == 500
    body = json.loads(response.data)
    assert body["__type"] == "InternalServerError"
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    ok = client.post("/", data=b'{"CollectionId": "x"}', headers={"X-Amz-Target": "RekognitionService.CreateCollection"})
    assert ok.status_code == 200
