"""CreateCollection, DeleteCollection, DescribeCollection, ListCollections."""

from __future__ import annotations

import time
from typing import Any

from ..arns import collection_arn
from ..context import RequestContext
from ..errors import ResourceAlreadyExistsException
from ..pagination import decode_token, encode_token
from ..store import Collection, CollectionExists, CollectionMissing
from .common import get_collection, not_found
from .registry import operation
from .request_types import (
    CreateCollectionRequest,
    DeleteCollectionRequest,
    DescribeCollectionRequest,
    ListCollectionsRequest,
)

# AWS documents no default page size for ListCollections; MaxResults 0 means "the default".
DEFAULT_PAGE_SIZE = 1000


@operation("CreateCollection")
def create_collection(ctx: RequestContext, params: CreateCollectionRequest) -> dict[str, Any]:
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


@operation("DeleteCollection")
def delete_collection(ctx: RequestContext, params: DeleteCollectionRequest) -> dict[str, Any]:
    collection_id = params["CollectionId"]
    try:
        ctx.store.delete_collection(ctx.scope, collection_id)
    except CollectionMissing:
        raise not_found(collection_id) from None
    return {"StatusCode": 200}


@operation("DescribeCollection")
def describe_collection(ctx: RequestContext, params: DescribeCollectionRequest) -> dict[str, Any]:
    collection = get_collection(ctx, params["CollectionId"])
    return {
        "FaceCount": collection.face_count,
        "FaceModelVersion": collection.face_model_version,
        "CollectionARN": collection.arn,
        "CreationTimestamp": collection.created_at,
        "UserCount": collection.user_count,
    }


@operation("ListCollections")
def list_collections(ctx: RequestContext, params: ListCollectionsRequest) -> dict[str, Any]:
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
