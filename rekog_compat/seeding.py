"""Large collections for benchmarks without running the engine once per face.

A collection of N faces is made of real faces (photos run through the engine and stored exactly
as IndexFaces stores them: same FaceIds, boxes, ExternalImageId = file name) and synthetic ones:
128-d unit vectors drawn around synthetic identities. The synthetic faces follow the real faces'
statistics - the mean embedding, the spread between people and the spread of one person's
photos, measured on the real faces given - so that they crowd the real ones as a large gallery
of strangers would, and approximate search meets the same geometry as on real data. Synthetic
faces carry ExternalImageId "synthetic-<identity>" and are written straight to the store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .arns import collection_arn
from .engine import FaceEngine
from .engine.embedding import unit_rows
from .face_identity import INDEX_PIPELINE_VERSION, image_id, stored_face
from .images import decode_image
from .quality import quality_reasons
from .store import Collection, CollectionMissing, Scope, Store, StoredFace

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
SYNTHETIC_BOX = (0.25, 0.2, 0.5, 0.6)
SYNTHETIC_CONFIDENCE = 99.9
FACES_PER_IDENTITY = 3  # synthetic faces per synthetic person, on average
SHRINKAGE = 0.2  # pull of the covariance estimates toward their mean variance (few real people)
_SYNTHETIC_NAMESPACE = uuid.UUID("2d7f61c4-95b1-4d0e-8a3e-6c0f7b9e1a52")


@dataclass(frozen=True)
class RealFace:
    """A photo's largest face, as IndexFaces (QualityFilter AUTO) would index it."""

    person: str  # the photo's folder: whose face it is
    face: StoredFace
    vector: np.ndarray


@dataclass(frozen=True)
class FaceDistribution:
    """Where faces of one model lie: a mean, a spread between people and within one person."""

    mean: np.ndarray
    between: np.ndarray  # square root of the covariance of people's mean faces
    within: np.ndarray  # square root of the covariance of a face around its person's mean

    @classmethod
    def fit(cls, faces: list[RealFace]) -> FaceDistribution:
        """Estimated from real faces; people with two or more faces give the within-person spread."""
        vectors = np.stack([f.vector for f in faces])
        people: dict[str, list[np.ndarray]] = {}
        for face in faces:
            people.setdefault(face.person, []).append(face.vector)
        centres = np.stack([np.mean(v, axis=0) for v in people.values()])
        offsets = [v - np.mean(vs, axis=0) for vs in people.values() if len(vs) > 1 for v in vs]
        if len(centres) < 2 or not offsets:
            raise ValueError("fitting synthetic faces needs photos of at least 2 people, one with 2 photos or more")
        return cls(
            mean=vectors.mean(axis=0),
            between=_root(np.cov(centres, rowvar=False)),
            within=_root(np.cov(np.stack(offsets), rowvar=False)),
        )

    @classmethod
    def default(cls, dimensions: int = 128, seed: int = 0) -> FaceDistribution:
        """Without photos: a random mean direction, with spreads giving ~0.3 cosine distance between
        people and ~0.05 within one, the order of Dlib's."""
        mean = unit_rows(np.random.default_rng(seed).normal(size=(1, dimensions)))[0] * 0.8
        spread = np.eye(dimensions) / np.sqrt(dimensions)
        return cls(mean, spread * 0.45, spread * 0.2)

    def sample(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`count` unit vectors and the synthetic identity of each (about FACES_PER_IDENTITY apiece)."""
        dimensions = len(self.mean)
        identities = max(1, count // FACES_PER_IDENTITY)
        owner = rng.integers(0, identities, size=count)
        centres = self.mean + rng.standard_normal((identities, dimensions)).astype(np.float32) @ self.between.T
        faces = centres[owner] + rng.standard_normal((count, dimensions)).astype(np.float32) @ self.within.T
        return unit_rows(faces).astype(np.float32), owner


def _root(covariance: np.ndarray) -> np.ndarray:
    """A square root of a covariance shrunk toward its mean variance (well-conditioned from few samples)."""
    dimensions = covariance.shape[0]
    shrunk = (1 - SHRINKAGE) * covariance + SHRINKAGE * np.trace(covariance) / dimensions * np.eye(dimensions)
    values, vectors = np.linalg.eigh(shrunk)
    return (vectors * np.sqrt(np.clip(values, 0, None))).astype(np.float32)


def photos_in(folder: Path, limit: int | None = None) -> list[Path]:
    """Photos under `folder`, in a stable order (at most `limit`)."""
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    return found[:limit] if limit is not None else found


def real_faces(engine: FaceEngine, photos: list[Path]) -> Iterator[RealFace]:
    """Each photo's largest face that IndexFaces would index (photos without one are skipped)."""
    for path in photos:
        image = decode_image(path.read_bytes())
        detected = engine.detect(image.rgb, max_faces=1)
        faces = [f for f in detected if not quality_reasons(f, image.width, image.height, "AUTO")]
        if not faces:
            continue
        stored = stored_face(image_id(engine.model_version, image), path.stem, faces[0])
        yield RealFace(path.parent.name, stored, engine.embed(faces)[0])


def synthetic_faces(collection_id: str, start: int, owners: np.ndarray) -> list[StoredFace]:
    """StoredFaces for synthetic vectors number start.. of a collection (stable ids: reseeding adds none twice)."""
    faces = []
    for offset, owner in enumerate(owners):
        name = f"{collection_id}|{start + offset}"
        faces.append(
            StoredFace(
                face_id=str(uuid.uuid5(_SYNTHETIC_NAMESPACE, "face|" + name)),
                image_id=str(uuid.uuid5(_SYNTHETIC_NAMESPACE, "image|" + name)),
                external_image_id=f"synthetic-{int(owner)}",
                bounding_box=SYNTHETIC_BOX,
                confidence=SYNTHETIC_CONFIDENCE,
                index_model_version=INDEX_PIPELINE_VERSION,
            )
        )
    return faces


@dataclass(frozen=True)
class SeedReport:
    real: int
    synthetic: int
    seconds: float


def seed_collection(
    store: Store,
    scope: Scope,
    collection_id: str,
    total: int,
    model_version: str,
    real: list[RealFace],
    seed: int = 0,
    batch: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Fill a collection (created if missing) up to `total` faces: the real ones, then synthetic
    ones fitted to them (or to `FaceDistribution.default` without real faces)."""
    started = time.monotonic()
    try:
        store.get_collection(scope, collection_id)
    except CollectionMissing:
        arn = collection_arn(scope, collection_id)
        store.create_collection(Collection(scope, collection_id, arn, model_version, round(time.time(), 3)), {})
    if real:
        store.add_faces(scope, collection_id, [f.face for f in real], np.stack([f.vector for f in real]))
    distribution = FaceDistribution.fit(real) if real else FaceDistribution.default()
    rng = np.random.default_rng(seed)
    synthetic = max(0, total - len(real))
    for start in range(0, synthetic, batch):
        count = min(batch, synthetic - start)
        vectors, owners = distribution.sample(count, rng)
        store.add_faces(scope, collection_id, synthetic_faces(collection_id, start, owners), vectors, defer_index=True)
        if progress is not None:
            progress(count)
    store.build_search_index(scope, collection_id)
    return SeedReport(len(real), synthetic, time.monotonic() - started)
