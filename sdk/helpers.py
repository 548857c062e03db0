"""Thin helpers over a boto3 Rekognition client for the calls every face application makes.

They take any client `connect()` returns (AWS or on-prem), accept images as a path, bytes or an
`s3://bucket/key` URL, and return the service's own response shapes (dicts), so nothing here hides
what Rekognition answers: errors are the client's `ClientError`, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from .images import ImageSource, image_param

DEFAULT_THRESHOLD = 80.0


def ensure_collection(client: Any, collection_id: str) -> str:
    """The ARN of collection `collection_id`, created first when it does not exist.

    Safe to call from several processes at once: a concurrent creation
    (`ResourceAlreadyExistsException`) falls back to DescribeCollection.
    """
    try:
        return str(client.create_collection(CollectionId=collection_id)["CollectionArn"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
            raise
    # DescribeCollection spells it CollectionARN (CreateCollection: CollectionArn).
    return str(client.describe_collection(CollectionId=collection_id)["CollectionARN"])


def search_image(
    client: Any,
    collection_id: str,
    image: ImageSource,
    threshold: float = DEFAULT_THRESHOLD,
    max_faces: int = 10,
) -> list[dict[str, Any]]:
    """The collection's faces that match the largest face in `image` (SearchFacesByImage's `FaceMatches`).

    Highest Similarity first, at least `threshold`, at most `max_faces`. An image without a face raises
    the service's `InvalidParameterException`, as the API does (it is not an empty result).
    """
    response = client.search_faces_by_image(
        CollectionId=collection_id, Image=image_param(image), FaceMatchThreshold=float(threshold), MaxFaces=max_faces
    )
    return list(response.get("FaceMatches", []))


def compare_images(
    client: Any, source: ImageSource, target: ImageSource, threshold: float = DEFAULT_THRESHOLD
) -> dict[str, Any]:
    """CompareFaces of the largest face in `source` with the faces in `target`: the response, less its metadata.

    Keys as the API gives them: `SourceImageFace`, `FaceMatches` (Similarity >= `threshold`, highest
    first) and `UnmatchedFaces`.
    """
    response = client.compare_faces(
        SourceImage=image_param(source), TargetImage=image_param(target), SimilarityThreshold=float(threshold)
    )
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def iter_faces(client: Any, collection_id: str, page_size: int | None = None) -> Iterator[dict[str, Any]]:
    """Every face of a collection (ListFaces `Faces` items), following pages with botocore's paginator."""
    config = {"PageSize": page_size} if page_size else {}
    for page in client.get_paginator("list_faces").paginate(CollectionId=collection_id, PaginationConfig=config):
        yield from page.get("Faces", [])


def iter_collections(client: Any, page_size: int | None = None) -> Iterator[str]:
    """Every collection id of the caller's account and region (ListCollections), across pages."""
    config = {"PageSize": page_size} if page_size else {}
    for page in client.get_paginator("list_collections").paginate(PaginationConfig=config):
        yield from page.get("CollectionIds", [])
