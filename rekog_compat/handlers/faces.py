"""DetectFaces and CompareFaces: stateless face analysis."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import RequestContext
from ..engine import DetectedFace, FaceEngine
from ..errors import InvalidParameterException
from ..images import LoadedImage
from ..quality import quality_reasons
from .common import MAX_FACES_PER_IMAGE, bounding_box, face_detail, requested_members
from .registry import operation
from .request_types import CompareFacesRequest, DetectFacesRequest

DEFAULT_SIMILARITY_THRESHOLD = 80.0


def compared_face(engine: FaceEngine, face: DetectedFace) -> dict[str, Any]:
    """A ComparedFace (CompareFaces' target faces)."""
    return {
        "BoundingBox": bounding_box(face),
        "Confidence": face.confidence,
        "Landmarks": engine.landmarks(face),
        "Pose": dict(face.pose),
        "Quality": dict(face.quality),
    }


@operation("DetectFaces")
def detect_faces(ctx: RequestContext, params: DetectFacesRequest) -> dict[str, Any]:
    engine = ctx.services.engine
    image = ctx.load_image(params["Image"])
    faces = engine.detect(image.rgb, max_faces=MAX_FACES_PER_IMAGE)
    extra, all_landmarks = requested_members(params.get("Attributes"))
    return {"FaceDetails": [face_detail(engine, image.rgb, face, extra, all_landmarks) for face in faces]}


def _passing(image: LoadedImage, faces: list[DetectedFace], level: str) -> list[DetectedFace]:
    return [f for f in faces if not quality_reasons(f, image.width, image.height, level)]


@operation("CompareFaces")
def compare_faces(ctx: RequestContext, params: CompareFacesRequest) -> dict[str, Any]:
    engine = ctx.services.engine
    level = params.get("QualityFilter", "NONE")
    threshold = ctx.threshold(params, "SimilarityThreshold", DEFAULT_SIMILARITY_THRESHOLD)

    source = ctx.load_image(params["SourceImage"], "source")
    target = ctx.load_image(params["TargetImage"], "target")
    source_faces = _passing(source, engine.detect(source.rgb, max_faces=1), level)
    target_faces = _passing(target, engine.detect(target.rgb, max_faces=MAX_FACES_PER_IMAGE), level)
    if not source_faces or not target_faces:
        raise InvalidParameterException()

    source_face = source_faces[0]
    scores = engine.similarity(engine.embed([source_face])[0], engine.embed(target_faces))

    matches, unmatched = [], []
    for index in np.argsort(-scores, kind="stable"):
        face = compared_face(engine, target_faces[index])
        score = float(scores[index])
        if score >= threshold:
            matches.append({"Similarity": score, "Face": face})
        else:
            unmatched.append(face)
    return {
        "SourceImageFace": {"BoundingBox": bounding_box(source_face), "Confidence": source_face.confidence},
        "FaceMatches": matches,
        "UnmatchedFaces": unmatched,
    }
