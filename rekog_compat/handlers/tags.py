"""TagResource, UntagResource, ListTagsForResource on collection ARNs."""

from __future__ import annotations

from typing import Any

from ..arns import parse_collection_arn
from ..context import RequestContext
from ..errors import InvalidParameterException, ResourceNotFoundException, ServiceQuotaExceededException
from ..store import CollectionMissing, TooManyTags
from .common import not_found
from .registry import operation
from .request_types import ListTagsForResourceRequest, TagResourceRequest, UntagResourceRequest

MAX_TAGS_PER_RESOURCE = 200


def _collection_id(ctx: RequestContext, arn: str) -> str:
    """The caller's collection an ARN names; another account's or region's is not found."""
    parsed = parse_collection_arn(arn)
    if parsed is None:
        raise InvalidParameterException(f"Invalid resource ARN: {arn}")
    scope, collection_id = parsed
    if scope != ctx.scope:
        raise ResourceNotFoundException(f"The resource {arn} does not exist")
    return collection_id


@operation("TagResource")
def tag_resource(ctx: RequestContext, params: TagResourceRequest) -> dict[str, Any]:
    collection_id = _collection_id(ctx, params["ResourceArn"])
    try:
        ctx.store.set_tags(ctx.scope, collection_id, params["Tags"], MAX_TAGS_PER_RESOURCE)
    except CollectionMissing:
        raise not_found(collection_id) from None
    except TooManyTags:
        raise ServiceQuotaExceededException(
            f"A resource can have at most {MAX_TAGS_PER_RESOURCE} tags."
        ) from None
    return {}


@operation("UntagResource")
def untag_resource(ctx: RequestContext, params: UntagResourceRequest) -> dict[str, Any]:
    collection_id = _collection_id(ctx, params["ResourceArn"])
    try:
        ctx.store.remove_tags(ctx.scope, collection_id, params["TagKeys"])
    except CollectionMissing:
        raise not_found(collection_id) from None
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: ListTagsForResourceRequest) -> dict[str, Any]:
    collection_id = _collection_id(ctx, params["ResourceArn"])
    try:
        return {"Tags": ctx.store.get_tags(ctx.scope, collection_id)}
    except CollectionMissing:
        raise not_found(collection_id) from None
