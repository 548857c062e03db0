"""Person.Index: one number for one person through a video, from box overlap and embeddings.

A face continues a track when its box overlaps the track's last box (IoU >= `MIN_IOU`) and is about
as large (sides within `MAX_SIZE_CHANGE` of each other) in a sample at most `MAX_GAP_MS` later: between
two samples a face moves less than its own size and grows or shrinks little. Across a cut, a face where
another was (a performer's close-up where a dim face of the audience was) is not the same person: it goes
by its embedding instead. A face
that continues no track is compared with the tracks seen before by embedding: within
`same_person_distance` (the cosine distance of a strict Similarity) it takes that person's index
back (a performer who left the frame and returns); otherwise it starts a new person.

A track keeps the last embeddings made of it; a face that continues a track is embedded again only
when that embedding is older than `REEMBED_MS` (the embedding is the expensive part of a frame), and
until then it shares the track's embedding and what it matched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine.geometry import iou

MIN_IOU = 0.3
MAX_SIZE_CHANGE = 1.25  # the larger box's width (and height) over the smaller's
MAX_GAP_MS = 1500
REEMBED_MS = 1000

Box = tuple[float, float, float, float]  # left, top, right, bottom (ratios of the frame)


KEPT_EMBEDDINGS = 8  # a track remembers its last few embeddings: a person seen from several sides


def _similar_size(a: Box, b: Box) -> bool:
    """Whether two boxes' widths and heights are each within MAX_SIZE_CHANGE of the other's."""
    sides = ((a[2] - a[0], b[2] - b[0]), (a[3] - a[1], b[3] - b[1]))
    return all(max(x, y) <= MAX_SIZE_CHANGE * min(x, y) for x, y in sides)


@dataclass
class Track:
    index: int
    box: Box
    seen_ms: int
    embeddings: list[np.ndarray] = field(default_factory=list)
    embedded_ms: int = -(10**9)
    matches: list[dict[str, Any]] = field(default_factory=list)

    def remember(self, embedding: np.ndarray, at_ms: int) -> None:
        self.embeddings = [*self.embeddings[-(KEPT_EMBEDDINGS - 1):], embedding]
        self.embedded_ms = at_ms

    def distance(self, embedding: np.ndarray) -> float:
        """Cosine distance from `embedding` to the closest of this track's embeddings."""
        return float(1.0 - max(float(embedding @ e) for e in self.embeddings))


class PersonTracker:
    """Assigns each sampled frame's faces to persons; frames must come in time order."""

    def __init__(self, same_person_distance: float) -> None:
        self.same_person_distance = same_person_distance
        self.tracks: list[Track] = []

    def continuing(self, boxes: list[Box], at_ms: int) -> list[Track | None]:
        """For each box, the track it continues by overlap (each track continued once, best overlap first)."""
        pairs = sorted(
            (
                (iou(box, track.box), i, t)
                for i, box in enumerate(boxes)
                for t, track in enumerate(self.tracks)
                if at_ms - track.seen_ms <= MAX_GAP_MS and _similar_size(box, track.box)
            ),
            reverse=True,
        )
        found: list[Track | None] = [None] * len(boxes)
        taken: set[int] = set()
        for overlap, i, t in pairs:
            if overlap < MIN_IOU:
                break
            if found[i] is None and t not in taken:
                found[i] = self.tracks[t]
                taken.add(t)
        return found

    @staticmethod
    def needs_embedding(track: Track | None, at_ms: int) -> bool:
        return track is None or not track.embeddings or at_ms - track.embedded_ms >= REEMBED_MS

    def returning(self, embedding: np.ndarray, at_ms: int, busy: set[int]) -> Track | None:
        """The closest earlier person (not in this frame already) within the same-person distance, if any."""
        best: Track | None = None
        best_distance = self.same_person_distance
        for track in self.tracks:
            if track.index in busy or not track.embeddings or track.seen_ms >= at_ms:
                continue
            distance = track.distance(embedding)
            if distance <= best_distance:
                best, best_distance = track, distance
        return best

    def start(self, box: Box, at_ms: int) -> Track:
        track = Track(index=len(self.tracks), box=box, seen_ms=at_ms)
        self.tracks.append(track)
        return track
