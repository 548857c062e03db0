"""What more than one operation module needs: AWS's not-found errors, the caller's collection, FaceDetail.

Operation modules import from here and never from each other, so each can be read (and changed) alone.
"""

from __future__ import annotations

from typing import Any

from ..context import RequestContext
from ..engine import DetectedFace, FaceEngine
from ..errors import InvalidParameterException, ResourceNotFoundException
from ..images import LoadedImage
from ..store import Collection, CollectionMissing

MAX_FACES_PER_IMAGE = 100

# DetectionAttributes values -> FaceDetail members this engine computes with a real model (EMOTIONS
# once its model is installed: `rekog-compat models install face-api`; EYE_DIRECTION once Human's iris model
# is: `rekog-compat models install human-iris`). The rest (BEARD,
# EYEGLASSES, FACE_OCCLUDED, MUSTACHE, SUNGLASSES) have no model here and are left out
# (docs/compatibility.md).
ATTRIBUTE_MEMBERS = {
    "AGE_RANGE": "AgeRange",
    "GENDER": "Gender",
    "EYES_OPEN": "EyesOpen",
    "MOUTH_OPEN": "MouthOpen",
    "SMILE": "Smile",
    "EMOTIONS": "Emotions",
    "EYE_DIRECTION": "EyeDirection",
}


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


def bounding_box(face: DetectedFace) -> dict[str, float]:
    """A detected face's BoundingBox, as ratios of the image's width and height."""
    left, top, width, height = face.box
    return {"Width": width, "Height": height, "Left": left, "Top": top}


def requested_members(attributes: list[str] | None) -> tuple[set[str], bool]:
    """FaceDetail members asked for beyond DEFAULT, and whether all 30 landmarks are wanted."""
    asked = set(attributes or ["DEFAULT"])
    if "ALL" in asked:
        return set(ATTRIBUTE_MEMBERS.values()), True
    return {member for name, member in ATTRIBUTE_MEMBERS.items() if name in asked}, False


def face_detail(
    engine: FaceEngine, image: LoadedImage, face: DetectedFace, extra: set[str], all_landmarks: bool
) -> dict[str, Any]:
    """A FaceDetail: the DEFAULT members plus whichever extra attributes were asked for."""
    detail: dict[str, Any] = {"BoundingBox": bounding_box(face)}
    if extra:
        detail.update(engine.attributes(image.rgb, face, extra))
    detail["Landmarks"] = engine.landmarks(face, all_types=all_landmarks)
    detail["Pose"] = dict(face.pose)
    detail["Quality"] = dict(face.quality)
    detail["Confidence"] = face.confidence
    return detail
