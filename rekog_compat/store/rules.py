"""What every backend shares: AWS's association and tag rules, the user vector, which migrations a
store needs, and the errors a backend raises when it cannot be opened. Pure functions, no
database: each backend reads the rows, calls these, and writes what they decide, so the rules are
written once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .base import FaceRefusal, TooManyFaces, TooManyTags


class SchemaTooNew(RuntimeError):
    """The store was written by a newer release than this one."""


class StoreUnreadable(RuntimeError):
    """The store cannot be read as one (a corrupt file, or something else): refused, untouched."""


def migrations_to_run(where: str, version: int, migrations: Sequence[str]) -> list[tuple[int, str]]:
    """(the version it leads to, the script) of each migration a store at schema `version` still needs;
    raises SchemaTooNew when a newer release wrote the store (`where` names it in the message)."""
    if version > len(migrations):
        raise SchemaTooNew(
            f"{where} has schema version {version}; this release understands up to "
            f"{len(migrations)}. Upgrade rekog-compat."
        )
    return list(enumerate(migrations[version:], start=version + 1))


def check_tag_limit(collection_id: str, existing: set[str], tags: Mapping[str, str], max_tags: int) -> None:
    """TagResource: raises TooManyTags when adding `tags` to the `existing` keys would pass `max_tags`."""
    if len(existing | set(tags)) > max_tags:
        raise TooManyTags(collection_id)


@dataclass(frozen=True)
class AssociationPlan:
    """What an association call changes: the faces to move, the faces refused, the user's faces after."""

    changed: list[str]
    refused: list[FaceRefusal]
    vectors: list[np.ndarray]


def mean_direction(vectors: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """A user's vector: the mean of its faces' unit embeddings, scaled back to unit length."""
    mean = np.mean(np.asarray(vectors, dtype=np.float32), axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def plan_association(
    user_id: str,
    face_ids: Sequence[str],
    found: Mapping[str, tuple[str | None, np.ndarray]],
    user_vectors: Sequence[np.ndarray],
    max_distance: float,
    max_faces: int,
) -> AssociationPlan:
    """AssociateFaces as AWS decides it. `found` maps each face id that exists to (its user, its
    embedding); `user_vectors` are the user's faces now. A face already the user's is ignored; one
    missing is FACE_NOT_FOUND, one of another user ASSOCIATED_TO_A_DIFFERENT_USER, one further than
    `max_distance` from the user's vector (as it grows within the call) LOW_MATCH_CONFIDENCE; the
    user's first face is taken as it is. Raises TooManyFaces when the user would hold more than
    `max_faces` (the caller's transaction then changes nothing)."""
    changed: list[str] = []
    refused: list[FaceRefusal] = []
    vectors = list(user_vectors)
    for face_id in dict.fromkeys(face_ids):
        if face_id not in found:
            refused.append(FaceRefusal(face_id, "FACE_NOT_FOUND"))
            continue
        owner, vector = found[face_id]
        if owner == user_id:
            continue  # already this user's: silently ignored, as AWS does
        if owner is not None:
            refused.append(FaceRefusal(face_id, "ASSOCIATED_TO_A_DIFFERENT_USER", user_id=owner))
            continue
        if vectors:
            distance = float(1.0 - mean_direction(vectors) @ vector)
            if distance > max_distance:
                refused.append(FaceRefusal(face_id, "LOW_MATCH_CONFIDENCE", distance=distance))
                continue
        if len(vectors) >= max_faces:
            raise TooManyFaces(user_id)
        vectors.append(vector)
        changed.append(face_id)
    return AssociationPlan(changed, refused, vectors)


def plan_disassociation(
    user_id: str, face_ids: Sequence[str], owners: Mapping[str, str | None]
) -> tuple[list[str], list[FaceRefusal]]:
    """DisassociateFaces as AWS decides it: (the faces to release, the faces refused). `owners` maps
    each face id that exists to its user; a face already free is ignored."""
    changed: list[str] = []
    refused: list[FaceRefusal] = []
    for face_id in dict.fromkeys(face_ids):
        if face_id not in owners:
            refused.append(FaceRefusal(face_id, "FACE_NOT_FOUND"))
        elif owners[face_id] is None:
            continue  # already disassociated: ignored, as AWS does
        elif owners[face_id] != user_id:
            refused.append(FaceRefusal(face_id, "ASSOCIATED_TO_A_DIFFERENT_USER", user_id=owners[face_id]))
        else:
            changed.append(face_id)
    return changed, refused
