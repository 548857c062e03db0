"""What more than one operation module needs: AWS's not-found errors, the caller's collection, FaceDetail.

Operation modules import from here and never from each other, so each can be read (and changed) alone.
"""

from __future__ import annotations

from ..context import RequestContext
from ..errors import InvalidParameterException, ResourceNotFoundException
from ..face_details import ATTRIBUTE_MEMBERS, bounding_box, face_detail, face_document, requested_members
from ..store import Collection, CollectionMissing

MAX_FACES_PER_IMAGE = 100

__all__ = ["ATTRIBUTE_MEMBERS", "bounding_box", "face_detail", "face_document", "requested_members"]


def not_found(collection_id: str) -> ResourceNotFoundException:
    """AWS's error for a collection the caller does not have."""
    return ResourceNotFoundException(f"The collection id: {collection_id} does not exist")


def user_missing(user_id: str) -> ResourceNotFoundException:
    """AWS's error for a user the collection does not hold."""
    return ResourceNotFoundException(f"The user id: {user_id} does not exist")


def get_collection(ctx: RequestContext, collection_id: str) -> Collection:
    """The caller's collection, or AWS's ResourceNotFoundException."""
    try:
        return ctx.store.get_collection(ctx.scope, collection_id)
    except CollectionMissing:
        raise not_found(collection_id) from None


def searchable_collection(ctx: RequestContext, collection_id: str) -> Collection:
    """The caller's collection, if its vectors come from the model this server runs."""
    collection = get_collection(ctx, collection_id)
    model = ctx.services.engine.model_version
    if collection.face_model_version != model:
        raise InvalidParameterException(
            f"Collection {collection_id} holds {collection.face_model_version} face vectors; "
            f"this server runs the {model} model, whose vectors cannot be compared with them."
        )
    return collection
