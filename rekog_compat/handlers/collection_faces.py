"""IndexFaces, ListFaces, DeleteFaces, SearchFaces, SearchFacesByImage: a collection's faces."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import RequestContext
from ..engine import DetectedFace
from ..errors import InvalidParameterException
from ..face_identity import image_id, stored_face
from ..pagination import decode_token, encode_token
from ..quality import quality_reasons
from ..store import Collection, FaceMissing
from .common import (
    MAX_FACES_PER_IMAGE,
    bounding_box,
    face_detail,
    face_document,
    get_collection,
    requested_members,
    searchable_collection,
)
from .registry import operation
from .request_types import (
    DeleteFacesRequest,
    IndexFacesRequest,
    ListFacesRequest,
    SearchFacesByImageRequest,
    SearchFacesRequest,
)

DEFAULT_FACE_MATCH_THRESHOLD = 80.0
# AWS documents no default for MaxFaces; it returns at most 4096 matches.
DEFAULT_MAX_MATCHES = 4096
DEFAULT_LIST_PAGE_SIZE = 1000


@operation("IndexFaces")
def index_faces(ctx: RequestContext, params: IndexFacesRequest) -> dict[str, Any]:
    engine = ctx.services.engine
    collection = searchable_collection(ctx, params["CollectionId"])
    image = ctx.load_image(params["Image"])
    max_faces = ctx.limit(params, "MaxFaces", MAX_FACES_PER_IMAGE, cap=MAX_FACES_PER_IMAGE)
    level = params.get("QualityFilter", "AUTO")
    external_image_id = params.get("ExternalImageId")
    extra, all_landmarks = requested_members(params.get("DetectionAttributes"))

    kept: list[DetectedFace] = []
    unindexed = []
    with ctx.timed("engine"):
        detected = engine.detect(image.rgb, max_faces=MAX_FACES_PER_IMAGE)  # largest first
    for face in detected:
        reasons = quality_reasons(face, image.width, image.height, level)
        if not reasons and len(kept) >= max_faces:
            reasons = ["EXCEEDS_MAX_FACES"]
        if reasons:
            detail = face_detail(engine, image.rgb, face, extra, all_landmarks)
            unindexed.append({"Reasons": reasons, "FaceDetail": detail})
        else:
            kept.append(face)

    image_uuid = image_id(collection.face_model_version, image)
    stored = [stored_face(image_uuid, external_image_id, face) for face in kept]
    if stored:
        with ctx.timed("engine"):
            vectors = engine.embed(kept)
        with ctx.timed("store"):
            ctx.store.add_faces(ctx.scope, collection.collection_id, stored, vectors)
    return {
        "FaceRecords": [
            {"Face": face_document(record), "FaceDetail": face_detail(engine, image.rgb, face, extra, all_landmarks)}
            for record, face in zip(stored, kept, strict=True)
        ],
        "FaceModelVersion": collection.face_model_version,
        "UnindexedFaces": unindexed,
    }


@operation("ListFaces")
def list_faces(ctx: RequestContext, params: ListFacesRequest) -> dict[str, Any]:
    collection = get_collection(ctx, params["CollectionId"])
    listing = f"ListFaces|{ctx.scope.account}|{ctx.scope.region}|{collection.collection_id}|{collection.created_at}"
    secret = ctx.store.secret()
    after = decode_token(secret, listing, params["NextToken"]) if "NextToken" in params else None
    page = ctx.store.list_faces(
        ctx.scope,
        collection.collection_id,
        after,
        params.get("MaxResults") or DEFAULT_LIST_PAGE_SIZE,
        face_ids=params.get("FaceIds"),
        user_id=params.get("UserId"),
    )
    response: dict[str, Any] = {"Faces": [face_document(f) for f in page.faces]}
    if page.has_more and page.last_seq is not None:
        response["NextToken"] = encode_token(secret, listing, page.last_seq)
    response["FaceModelVersion"] = collection.face_model_version
    return response


@operation("DeleteFaces")
def delete_faces(ctx: RequestContext, params: DeleteFacesRequest) -> dict[str, Any]:
    collection = get_collection(ctx, params["CollectionId"])
    asked = list(dict.fromkeys(params["FaceIds"]))
    deleted, associated = ctx.store.delete_faces(ctx.scope, collection.collection_id, asked)
    response: dict[str, Any] = {}
    if deleted:  # the model's DeletedFaces has at least one member when present
        response["DeletedFaces"] = deleted
    unsuccessful = []
    for face_id in asked:
        if face_id in associated:
            unsuccessful.append(
                {"FaceId": face_id, "UserId": associated[face_id], "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]}
            )
        elif face_id not in deleted:
            unsuccessful.append({"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]})
    response["UnsuccessfulFaceDeletions"] = unsuccessful
    return response


def _matches(
    ctx: RequestContext,
    collection: Collection,
    probe: np.ndarray,
    params: SearchFacesRequest | SearchFacesByImageRequest,
    exclude: str | None = None,
) -> list[dict[str, Any]]:
    """FaceMatches at or above FaceMatchThreshold, most similar first."""
    scale = ctx.services.engine.similarity_scale
    threshold = ctx.threshold(params, "FaceMatchThreshold", DEFAULT_FACE_MATCH_THRESHOLD)
    limit = ctx.limit(params, "MaxFaces", DEFAULT_MAX_MATCHES)
    with ctx.timed("search"):
        hits = ctx.store.search_faces(
            ctx.scope, collection.collection_id, probe, limit, scale.distance_at(threshold), exclude_face_id=exclude
        )
    return [{"Similarity": s, "Face": face_document(face)} for face, s in scale.passing(hits, threshold)]


@operation("SearchFaces")
def search_faces(ctx: RequestContext, params: SearchFacesRequest) -> dict[str, Any]:
    collection = searchable_collection(ctx, params["CollectionId"])
    try:
        _, vector = ctx.store.get_face(ctx.scope, collection.collection_id, params["FaceId"])
    except FaceMissing:
        raise InvalidParameterException("faceId was not found in the collection") from None
    return {
        "SearchedFaceId": params["FaceId"],
        "FaceMatches": _matches(ctx, collection, vector, params, exclude=params["FaceId"]),
        "FaceModelVersion": collection.face_model_version,
    }


@operation("SearchFacesByImage")
def search_faces_by_image(ctx: RequestContext, params: SearchFacesByImageRequest) -> dict[str, Any]:
    engine = ctx.services.engine
    collection = searchable_collection(ctx, params["CollectionId"])
    image = ctx.load_image(params["Image"])
    level = params.get("QualityFilter", "NONE")
    with ctx.timed("engine"):
        faces = [
            f for f in engine.detect(image.rgb, max_faces=1) if not quality_reasons(f, image.width, image.height, level)
        ]
        if not faces:
            raise InvalidParameterException()
        face = faces[0]
        probe = engine.embed([face])[0]
    return {
        "SearchedFaceBoundingBox": bounding_box(face),
        "SearchedFaceConfidence": face.confidence,
        "FaceMatches": _matches(ctx, collection, probe, params),
        "FaceModelVersion": collection.face_model_version,
    }
