"""The face engine (DeepFace models, dlib-native default path), loaded lazily, once per process."""

from __future__ import annotations

from .config import DEFAULT_DETECTOR, DEFAULT_MODEL, EngineConfig
from .core import DetectedFace, FaceEngine
from .weights import EngineUnavailable

__all__ = ["DEFAULT_DETECTOR", "DEFAULT_MODEL", "DetectedFace", "EngineConfig", "EngineUnavailable", "FaceEngine"]
