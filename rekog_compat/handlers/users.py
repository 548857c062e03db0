"""Users: CreateUser, DeleteUser, ListUsers, AssociateFaces, DisassociateFaces, SearchUsers(ByImage).

A user's vector is the normalised mean of its faces' unit embeddings (kept by the store);
searches score it with the same calibrated Similarity as faces.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import RequestContext
from ..errors import (
    ConflictException,
    InvalidParameterException,
    ServiceQuotaExceededException,
)
from ..pagination import decode_token, encode_token
from ..quality import quality_reasons
from ..store import AssociationResult, Collection, FaceMissing, StoredUser, TooManyFaces, UserExists, UserMissing
from .common import MAX_FACES_PER_IMAGE, face_detail, get_collection, searchable_collection, user_missing
from .idempotency import idempotent
from .registry import operation
from .request_types import (
    AssociateFacesRequest,
    CreateUserRequest,
    DeleteUserRequest,
    DisassociateFacesRequest,
    ListUsersRequest,
    SearchUsersByImageRequest,
    SearchUsersRequest,
)

DEFAULT_ASSOCIATION_THRESHOLD = 75.0
DEFAULT_USER_MATCH_THRESHOLD = 80.0
MAX_FACES_PER_USER = 100
MAX_USERS_PER_PAGE = 500


def user_status(user: StoredUser) -> str:
    """ACTIVE once the user holds faces (every change here is applied before the call returns)."""
    return "ACTIVE" if user.face_count else "CREATED"


@operation("CreateUser")
def create_user(ctx: RequestContext, params: CreateUserRequest) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        collection = get_collection(ctx, params["CollectionId"])
        try:
            ctx.store.create_user(ctx.scope, collection.collection_id, params["UserId"])
        except UserExists:
            raise ConflictException(f"The user id: {params['UserId']} already exists") from None
        return {}

    return idempotent(ctx, "CreateUser", params, run)


@operation("DeleteUser")
def delete_user(ctx: RequestContext, params: DeleteUserRequest) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        collection = get_collection(ctx, params["CollectionId"])
        try:
            ctx.store.delete_user(ctx.scope, collection.collection_id, params["UserId"])
        except UserMissing:
            raise user_missing(params["UserId"]) from None
        return {}

    return idempotent(ctx, "DeleteUser", params, run)


@operation("ListUsers")
def list_users(ctx: RequestContext, params: ListUsersRequest) -> dict[str, Any]:
    collection = get_collection(ctx, params["CollectionId"])
    listing = f"ListUsers|{ctx.scope.account}|{ctx.scope.region}|{collection.collection_id}|{collection.created_at}"
    secret = ctx.store.secret()
    after = decode_token(secret, listing, params["NextToken"]) if "NextToken" in params else None
    page = ctx.store.list_users(
        ctx.scope, collection.collection_id, after, params.get("MaxResults", MAX_USERS_PER_PAGE)
    )
    response: dict[str, Any] = {"Users": [{"UserId": u.user_id, "UserStatus": user_status(u)} for u in page.users]}
    if page.has_more and page.last_seq is not None:
        response["NextToken"] = encode_token(secret, listing, page.last_seq)
    return response


def _refusals(ctx: RequestContext, result: AssociationResult) -> list[dict[str, Any]]:
    scale = ctx.services.engine.similarity_scale
    refusals = []
    for refusal in result.refused:
        document: dict[str, Any] = {"FaceId": refusal.face_id}
        if refusal.user_id is not None:
            document["UserId"] = refusal.user_id
        if refusal.distance is not None:
            document["Confidence"] = float(scale(np.array([refusal.distance]))[0])
        document["Reasons"] = [refusal.reason]
        refusals.append(document)
    return refusals


@operation("AssociateFaces")
def associate_faces(ctx: RequestContext, params: AssociateFacesRequest) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        collection = searchable_collection(ctx, params["CollectionId"])
        threshold = ctx.threshold(params, "UserMatchThreshold", DEFAULT_ASSOCIATION_THRESHOLD, policy=False)
        try:
            result = ctx.store.associate_faces(
                ctx.scope,
                collection.collection_id,
                params["UserId"],
                params["FaceIds"],
                max_distance=ctx.services.engine.similarity_scale.distance_at(threshold),
                max_faces=MAX_FACES_PER_USER,
            )
        except UserMissing:
            raise user_missing(params["UserId"]) from None
        except TooManyFaces:
            raise ServiceQuotaExceededException(
                f"The user id: {params['UserId']} would hold more than {MAX_FACES_PER_USER} faces"
            ) from None
        return {
            "AssociatedFaces": [{"FaceId": f} for f in result.changed],
            "UnsuccessfulFaceAssociations": _refusals(ctx, result),
            "UserStatus": user_status(StoredUser(params["UserId"], result.face_count)),
        }

    return idempotent(ctx, "AssociateFaces", params, run)


@operation("DisassociateFaces")
def disassociate_faces(ctx: RequestContext, params: DisassociateFacesRequest) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        collection = get_collection(ctx, params["CollectionId"])
        try:
            result = ctx.store.disassociate_faces(
                ctx.scope, collection.collection_id, params["UserId"], params["FaceIds"]
            )
        except UserMissing:
            raise user_missing(params["UserId"]) from None
        return {
            "DisassociatedFaces": [{"FaceId": f} for f in result.changed],
            "UnsuccessfulFaceDisassociations": _refusals(ctx, result),
            "UserStatus": user_status(StoredUser(params["UserId"], result.face_count)),
        }

    return idempotent(ctx, "DisassociateFaces", params, run)


def _user_matches(
    ctx: RequestContext,
    collection: Collection,
    probe: np.ndarray,
    params: SearchUsersRequest | SearchUsersByImageRequest,
    exclude: str | None = None,
) -> list[dict[str, Any]]:
    """UserMatches at or above UserMatchThreshold, most similar first."""
    scale = ctx.services.engine.similarity_scale
    threshold = ctx.threshold(params, "UserMatchThreshold", DEFAULT_USER_MATCH_THRESHOLD)
    hits = ctx.store.search_users(
        ctx.scope,
        collection.collection_id,
        probe,
        ctx.limit(params, "MaxUsers", MAX_USERS_PER_PAGE),
        scale.distance_at(threshold),
        exclude_user_id=exclude,
    )
    return [
        {"Similarity": s, "User": {"UserId": user.user_id, "UserStatus": user_status(user)}}
        for user, s in scale.passing(hits, threshold)
    ]


@operation("SearchUsers")
def search_users(ctx: RequestContext, params: SearchUsersRequest) -> dict[str, Any]:
    collection = searchable_collection(ctx, params["CollectionId"])
    user_id, face_id = params.get("UserId"), params.get("FaceId")
    if (user_id is None) == (face_id is None):
        raise InvalidParameterException("Exactly one of UserId and FaceId must be given.")
    response: dict[str, Any] = {}
    if user_id is not None:
        try:
            probe = ctx.store.user_vector(ctx.scope, collection.collection_id, user_id)
        except UserMissing:
            raise user_missing(user_id) from None
        response["UserMatches"] = [] if probe is None else _user_matches(ctx, collection, probe, params, user_id)
        response["SearchedUser"] = {"UserId": user_id}
    else:
        try:
            _, vector = ctx.store.get_face(ctx.scope, collection.collection_id, str(face_id))
        except FaceMissing:
            raise InvalidParameterException("faceId was not found in the collection") from None
        response["UserMatches"] = _user_matches(ctx, collection, vector, params)
        response["SearchedFace"] = {"FaceId": face_id}
    response["FaceModelVersion"] = collection.face_model_version
    return response


@operation("SearchUsersByImage")
def search_users_by_image(ctx: RequestContext, params: SearchUsersByImageRequest) -> dict[str, Any]:
    engine = ctx.services.engine
    collection = searchable_collection(ctx, params["CollectionId"])
    image = ctx.load_image(params["Image"])
    level = params.get("QualityFilter", "NONE")
    faces = engine.detect(image.rgb, max_faces=MAX_FACES_PER_IMAGE)
    response: dict[str, Any] = {"UserMatches": [], "FaceModelVersion": collection.face_model_version}
    unsearched = [
        {"FaceDetails": face_detail(engine, image.rgb, face, set(), False), "Reasons": ["FACE_NOT_LARGEST"]}
        for face in faces[1:]
    ]
    if faces:
        largest = faces[0]
        reasons = quality_reasons(largest, image.width, image.height, level)
        if reasons:
            detail = face_detail(engine, image.rgb, largest, set(), False)
            unsearched.insert(0, {"FaceDetails": detail, "Reasons": reasons})
        else:
            response["UserMatches"] = _user_matches(ctx, collection, engine.embed([largest])[0], params)
            response["SearchedFace"] = {"FaceDetail": face_detail(engine, image.rgb, largest, set(), False)}
    response["UnsearchedFaces"] = unsearched
    return response
