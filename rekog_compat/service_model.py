"""Rekognition's service model, loaded once from botocore's own data files.

botocore ships the exact model that boto3 clients speak, so it is the single
source of truth for operation names, shapes and constraints on this server.
"""

from __future__ import annotations

from functools import lru_cache

from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel

SERVICE_NAME = "rekognition"


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    """The Rekognition service model from the installed botocore."""
    loader = create_loader()
    return ServiceModel(loader.load_service_model(SERVICE_NAME, "service-2"), SERVICE_NAME)


def operation_names() -> frozenset[str]:
    """Every operation of the real Rekognition API."""
    return frozenset(service_model().operation_names)


def operation_model(name: str) -> OperationModel:
    """The model of one operation; `name` must be one of `operation_names()`."""
    return service_model().operation_model(name)
