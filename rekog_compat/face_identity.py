"""The ids a stored face is known by: ImageId, FaceId and the index pipeline version.

IndexFaces and `rekog-compat seed` both build their stored faces here, so the same image gives the
same ImageId and FaceIds whichever path stored it. (identity.py is the caller's account and region.)
"""

from __future__ import annotations

import uuid

from .engine import DetectedFace
from .images import LoadedImage
from .store import StoredFace

# Version of this server's index pipeline (detector + alignment + embedding) stored with each
# face: the model's shape requires digits, and it changes whenever stored vectors would.
INDEX_PIPELINE_VERSION = "1.0"
# Name-based ids: the same image indexed into two collections of one model gets the same
# ImageId and FaceIds, as AWS documents (and re-indexing it stores no duplicate).
_ID_NAMESPACE = uuid.UUID("6f2b1a8e-3c55-4f7e-9d1c-2a8f0e6b7c41")


def image_id(model: str, image: LoadedImage) -> str:
    """The ImageId of `image` in a collection of face model `model`."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{model}|{image.sha256}"))


def face_id(image_uuid: str, external_image_id: str | None, face: DetectedFace) -> str:
    """The FaceId of `face`, found in image `image_uuid` indexed with `external_image_id`."""
    box = ",".join(f"{v:.6f}" for v in face.box)
    return str(uuid.uuid5(_ID_NAMESPACE, f"{image_uuid}|{external_image_id or ''}|{box}"))


def stored_face(image_uuid: str, external_image_id: str | None, face: DetectedFace) -> StoredFace:
    """A detected face as IndexFaces stores it (also `rekog-compat seed`, so both give the same FaceIds)."""
    return StoredFace(
        face_id=face_id(image_uuid, external_image_id, face),
        image_id=image_uuid,
        external_image_id=external_image_id,
        bounding_box=face.box,
        confidence=face.confidence,
        index_model_version=INDEX_PIPELINE_VERSION,
    )
