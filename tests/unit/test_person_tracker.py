"""Person.Index's tracking: which face continues which track by box alone."""

from __future__ import annotations

from rekog_compat.video.tracking import PersonTracker


def test_a_face_moved_a_little_and_about_as_large_continues_the_track():
    tracker = PersonTracker(same_person_distance=0.05)
    track = tracker.start((0.30, 0.20, 0.40, 0.35), 0)
    assert tracker.continuing([(0.32, 0.21, 0.43, 0.37)], 333) == [track]  # 10 % larger, moved right


def test_a_larger_face_where_a_smaller_one_was_starts_afresh():
    """Across a cut: a performer's close-up where a dim face of the audience was (the shared clip at 3.0 s:
    boxes overlapping by IoU 0.56, 1.36 times as wide). It goes by its embedding instead."""
    tracker = PersonTracker(same_person_distance=0.05)
    tracker.start((166 / 640, 79 / 360, 224 / 640, 166 / 360), 2669)
    assert tracker.continuing([(164 / 640, 58 / 360, 243 / 640, 172 / 360)], 3003) == [None]


def test_a_track_not_seen_for_too_long_is_not_continued():
    tracker = PersonTracker(same_person_distance=0.05)
    tracker.start((0.30, 0.20, 0.40, 0.35), 0)
    assert tracker.continuing([(0.30, 0.20, 0.40, 0.35)], 1600) == [None]
