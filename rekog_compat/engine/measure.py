"""Image quality of a face, measured on its pixels: Rekognition's Brightness and Sharpness (0-100)."""

from __future__ import annotations

import math

import cv2
import numpy as np

# Laplacian variance (on a 150-px face chip) at which Sharpness reaches 63: chosen so that
# LFW's in-focus faces score 70-95 and a Gaussian blur of sigma 3 drops below 10 (docs/engine.md).
SHARPNESS_SCALE = 150.0


def brightness(rgb: np.ndarray, left: float, top: float, right: float, bottom: float) -> float:
    """Mean luma of the face box (the part inside the image), 0 black .. 100 white."""
    height, width = rgb.shape[:2]
    x0, y0 = max(0, int(left)), max(0, int(top))
    x1, y1 = min(width, int(math.ceil(right))), min(height, int(math.ceil(bottom)))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    region = rgb[y0:y1, x0:x1].astype(np.float32)
    luma = region[..., 0] * 0.299 + region[..., 1] * 0.587 + region[..., 2] * 0.114
    return float(luma.mean() / 255.0 * 100.0)


def sharpness(chip: np.ndarray) -> float:
    """Focus of an aligned face chip: variance of its Laplacian mapped onto 0..100."""
    gray = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    variance = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    return 100.0 * (1.0 - math.exp(-variance / SHARPNESS_SCALE))
