"""benchmarks.recognizers' score-level fusion of two candidates."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from benchmarks.recognizers import fused, parse_fusion
from rekog_compat.engine.embedding import unit_rows


def test_a_fused_vector_scores_the_weighted_sum_of_the_two_candidates_similarities():
    rng = np.random.default_rng(3)
    first = dict(zip([Path("a"), Path("b")], unit_rows(rng.normal(size=(2, 128))), strict=True))
    second = dict(zip([Path("a"), Path("b")], unit_rows(rng.normal(size=(2, 1024))), strict=True))
    both = fused(first, second, 0.3)
    expected = 0.7 * first[Path("a")] @ first[Path("b")] + 0.3 * second[Path("a")] @ second[Path("b")]
    assert both[Path("a")] @ both[Path("b")] == pytest.approx(expected, abs=1e-6)
    assert np.linalg.norm(both[Path("a")]) == pytest.approx(1.0, abs=1e-6)


def test_a_fusion_is_named_as_two_candidates_and_the_second_ones_weight():
    assert parse_fusion("Dlib-flip+Human-FaceRes:0.3") == ("Dlib-flip", "Human-FaceRes", 0.3)
    for wrong in ("Dlib-flip:0.3", "Dlib+Human-FaceRes", "Dlib+Human-FaceRes:1.5", "Dlib+Human-FaceRes:x"):
        with pytest.raises((argparse.ArgumentTypeError, ValueError)):
            parse_fusion(wrong)
