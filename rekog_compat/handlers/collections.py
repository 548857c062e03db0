"""CreateCollection, DeleteCollection, DescribeCollection, ListCollections."""

from __future__ import annotations

import time
from typing import Any

from ..arns import collection_arn
from ..context import RequestContext
from ..errors import ResourceAlreadyExistsException, ResourceNotFoundException
from ..pagination import decode_token, encode_token
from ..store import Collection, CollectionExists, CollectionMissing

# AWS documents no default page size for ListCollections; MaxResults 0 means "the default".
DEFAULT_PAGE_SIZE = 1000


def not_found(collection_id: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The collection id: {collection_id} does not exist")


def get_collection(ctx: RequestContext, collection_id: str) -> Collection:
    """The caller's collection, or AWS's ResourceNotFoundException."""
    try:
        return ctx.store.get_collection(ctx.scope, collection_id)
    except CollectionMissing:
        raise not_found(collection_id) from None


def create_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = params["CollectionId"]
    collection = Collection(
        scope=ctx.scope,
        collection_id=collection_id,
        arn=collection_arn(ctx.scope, collection_id),
        face_model_version=ctx.services.face_model_version,
        created_at=round(time.time(), 3),
    )
    try:
        ctx.store.create_collection(collection, params.get("Tags", {}))
    except CollectionExists:
        raise ResourceAlreadyExistsException(f"The collection id: {collection_id} already exists.") from None
    return {"StatusCode": 200, "CollectionArn": collection.arn, "FaceModelVersion": collection.face_model_version}


def delete_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection_id = params["CollectionId"]
    try:
        ctx.store.delete_collection(ctx.scope, collection_id)
    except CollectionMissing:
        raise not_found(collection_id) from None
    return {"StatusCode": 200}


def describe_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = get_collection(ctx, params["CollectionId"])
    return {
        "FaceCount": collection.face_count,
        "FaceModelVersion": collection.face_model_version,
        "CollectionARN": collection.arn,
        "CreationTimestamp": collection.created_at,
        "UserCount": collection.user_count,
    }


def list_collections(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    listing = f"ListCollections|{ctx.scope.account}|{ctx.scope.region}"
    secret = ctx.store.secret()
    after = decode_token(secret, listing, params["NextToken"]) if "NextToken" in params else None
    limit = params.get("MaxResults") or DEFAULT_PAGE_SIZE
    page = ctx.store.list_collections(ctx.scope, after, limit)
    response: dict[str, Any] = {
        "CollectionIds": [c.collection_id for c in page.collections],
        "FaceModelVersions": [c.face_model_version for c in page.collections],
    }
    if page.has_more and page.last_seq is not None:
        response["NextToken"] = encode_token(secret, listing, page.last_seq)
    return response
