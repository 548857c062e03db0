"""Quality bars for QualityFilter (LOW, MEDIUM, HIGH; AUTO = MEDIUM).

A face passes a bar when every measurement the engine made of it clears the bar's
threshold. The reasons use Rekognition's names (UnindexedFaces / UnsearchedFaces), so
IndexFaces can report why a face was left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from .engine import DetectedFace


@dataclass(frozen=True)
class QualityBar:
    min_confidence: float  # detector confidence, 0..100
    min_face_fraction: float  # face height as a fraction of the reference 1080-px frame
    min_brightness: float  # 0..100
    min_sharpness: float  # 0..100
    max_pose_degrees: float  # |yaw| and |pitch|


# AWS: a face must be >= 40 px in a 1920x1080 image (scaled for larger images); below
# MEDIUM the bar is half that. The other thresholds sit on the engine's own measurements
# (docs/engine.md): confidence 60 keeps 97 % of the labelled faces HOG finds in WIDER and
# dlib's examples (SCRFD, the default detector, and MTCNN return no face under about 90: their
# confidence is the share of true faces at their score, so with them the confidence bars leave
# nothing out); LFW's faces have Sharpness >= 13.7 (p5) and a sigma-3 blur drops it below 4.
BARS: dict[str, QualityBar] = {
    "LOW": QualityBar(min_confidence=50, min_face_fraction=20 / 1080, min_brightness=5, min_sharpness=2,
                      max_pose_degrees=80),
    "MEDIUM": QualityBar(min_confidence=60, min_face_fraction=40 / 1080, min_brightness=10, min_sharpness=5,
                         max_pose_degrees=60),
    "HIGH": QualityBar(min_confidence=90, min_face_fraction=60 / 1080, min_brightness=20, min_sharpness=10,
                       max_pose_degrees=45),
}
BARS["AUTO"] = BARS["MEDIUM"]


def quality_reasons(face: DetectedFace, image_width: int, image_height: int, level: str) -> list[str]:
    """Why `face` fails the `level` bar (empty: it passes; NONE passes everything)."""
    bar = BARS.get(level)
    if bar is None:
        return []
    reasons = []
    if face.confidence < bar.min_confidence:
        reasons.append("LOW_CONFIDENCE")
    # Scale the minimum face size like AWS: relative to a 1080-px short side, never below it.
    reference = max(1080.0, float(min(image_width, image_height)))
    if min(face.width_px, face.height_px) < bar.min_face_fraction * reference:
        reasons.append("SMALL_BOUNDING_BOX")
    if face.quality.get("Brightness", 100.0) < bar.min_brightness:
        reasons.append("LOW_BRIGHTNESS")
    if face.quality.get("Sharpness", 100.0) < bar.min_sharpness:
        reasons.append("LOW_SHARPNESS")
    if max(abs(face.pose.get("Yaw", 0.0)), abs(face.pose.get("Pitch", 0.0))) > bar.max_pose_degrees:
        reasons.append("EXTREME_POSE")
    return reasons
