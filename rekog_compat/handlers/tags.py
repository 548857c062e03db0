"""TagResource, UntagResource, ListTagsForResource on collection and stream processor ARNs."""

from __future__ import annotations

from typing import Any

from ..arns import is_stream_processor_arn, parse_collection_arn
from ..context import RequestContext
from ..errors import InvalidParameterException, ResourceNotFoundException, ServiceQuotaExceededException
from ..store import CollectionMissing, TooManyTags
from ..store.stream_processors import ProcessorMissing
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


def _tag_processor(ctx: RequestContext, arn: str, tags: dict[str, str], remove: list[str]) -> dict[str, Any]:
    """Tag or untag the caller's stream processor that `arn` names."""
    processor = ctx.store.stream_processors.by_arn(arn)
    if processor is None or processor.scope != ctx.scope:
        raise ResourceNotFoundException(f"The resource {arn} does not exist")
    try:
        ctx.store.stream_processors.set_tags(arn, tags, remove, MAX_TAGS_PER_RESOURCE)
    except ProcessorMissing:
        raise ResourceNotFoundException(f"The resource {arn} does not exist") from None
    except TooManyTags:
        raise _too_many_tags() from None
    return {}


def _too_many_tags() -> ServiceQuotaExceededException:
    return ServiceQuotaExceededException(f"A resource can have at most {MAX_TAGS_PER_RESOURCE} tags.")


@operation("TagResource")
def tag_resource(ctx: RequestContext, params: TagResourceRequest) -> dict[str, Any]:
    if is_stream_processor_arn(params["ResourceArn"]):
        return _tag_processor(ctx, params["ResourceArn"], params["Tags"], [])
    collection_id = _collection_id(ctx, params["ResourceArn"])
    try:
        ctx.store.set_tags(ctx.scope, collection_id, params["Tags"], MAX_TAGS_PER_RESOURCE)
    except CollectionMissing:
        raise not_found(collection_id) from None
    except TooManyTags:
        raise _too_many_tags() from None
    return {}


@operation("UntagResource")
def untag_resource(ctx: RequestContext, params: UntagResourceRequest) -> dict[str, Any]:
    if is_stream_processor_arn(params["ResourceArn"]):
        return _tag_processor(ctx, params["ResourceArn"], {}, params["TagKeys"])
    collection_id = _collection_id(ctx, params["ResourceArn"])
    try:
        ctx.store.remove_tags(ctx.scope, collection_id, params["TagKeys"])
    except CollectionMissing:
        raise not_found(collection_id) from None
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: ListTagsForResourceRequest) -> dict[str, Any]:
    if is_stream_processor_arn(params["ResourceArn"]):
        processor = ctx.store.stream_processors.by_arn(params["ResourceArn"])
        if processor is None or processor.scope != ctx.scope:
            raise ResourceNotFoundException(f"The resource {params['ResourceArn']} does not exist")
        return {"Tags": processor.tags}
    collection_id = _collection_id(ctx, params["ResourceArn"])
    try:
        return {"Tags": ctx.store.get_tags(ctx.scope, collection_id)}
    except CollectionMissing:
        raise not_found(collection_id) from None
