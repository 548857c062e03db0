"""Index a folder of photos into a collection: parallel, resumable, with a summary of what happened.

Why a helper: indexing a photo library is the first thing every face application does, and doing it
well takes more than a loop over IndexFaces — names that satisfy ExternalImageId's pattern, images
over the 5 MB limit, throttling, a run interrupted at image 40,000 of 100,000, and an account of the
images where no face was indexed.

Resume works from the collection itself, with no side file (`docs/sdk.md` has the reasoning):

- files are grouped by the ExternalImageId they get; a group's files are indexed one after another in
  sorted order (groups run in parallel), so what a run has done in a group is always a prefix of it;
- a new run lists the collection once (ListFaces) and counts, per ExternalImageId, the distinct
  ImageIds already there: `k`; it skips the group's first `k` files.

In `"filename"` mode groups hold one file (unless stems repeat in different folders), so a file is
skipped exactly when its ExternalImageId is in the collection. In `"folder"` mode `k` counts the
folder's images that produced faces; a file without a face in that prefix makes the run re-send a
later, already indexed file, which is harmless: Rekognition stores nothing new for the same image
with the same ExternalImageId in the same collection. An image is never skipped unless `k` images of
its group are already in the collection, i.e. none is ever missed (as long as the collection's faces
with those ExternalImageIds came from this folder; pass `resume=False` otherwise).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .backoff import DEFAULT_MAX_RETRIES, call_with_backoff
from .external_ids import ExternalIdMode, external_id_for
from .helpers import iter_faces
from .reencode import MAX_IMAGE_BYTES, ReencodeError, shrink_to_limit

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})
NO_FACE = "NO_FACE"
"""The reason given for an image in which the service detected no face at all."""
LIST_PAGE_SIZE = 4096  # ListFaces' largest page


@dataclass
class IndexSummary:
    """What `index_folder` did. Counts are ints; the per-file details are in the `*_files` fields.

    `indexed + unindexed + failed + skipped == total`. File keys are paths relative to the folder, in
    POSIX form, sorted.
    """

    collection_id: str
    folder: str
    external_id: str
    total: int = 0
    """Images found (JPEG/PNG by extension)."""
    indexed: int = 0
    """Images with at least one face indexed."""
    unindexed: int = 0
    """Images where no face was indexed: no face detected (`NO_FACE`), or every face filtered out."""
    failed: int = 0
    """Images the service refused or that could not be read or re-encoded."""
    skipped: int = 0
    """Images already in the collection from an earlier run (resume)."""
    faces: int = 0
    """Faces indexed by this run."""
    reencoded: int = 0
    """Images over 5 MB sent re-encoded as JPEG."""
    unindexed_files: dict[str, list[str]] = field(default_factory=dict)
    """File → reasons: `NO_FACE`, or the UnindexedFaces reasons (`LOW_SHARPNESS`, `SMALL_BOUNDING_BOX`...)."""
    failed_files: dict[str, str] = field(default_factory=dict)
    """File → `ErrorCode: message` (or why it could not be read or re-encoded)."""
    skipped_files: list[str] = field(default_factory=list)
    reencoded_files: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no image failed (images without a face are not failures)."""
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what `rekog-compat index` prints)."""
        return asdict(self)


@dataclass
class _Outcome:
    status: str  # "indexed" | "unindexed" | "failed"
    faces: int = 0
    reasons: list[str] = field(default_factory=list)
    error: str = ""
    reencoded: bool = False


def discover_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Every JPEG/PNG under `folder` (by extension, any case), recursively, sorted by relative path.

    Hidden files and folders (name starting with `.`) are left out; symbolic links to folders are
    not followed. The order is deterministic, which resume relies on.
    """
    root = Path(folder)
    found: list[Path] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        found += [
            Path(directory, name)
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS
        ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def group_by_external_id(files: Iterable[Path], mode: ExternalIdMode) -> dict[str, list[Path]]:
    """Files grouped by the ExternalImageId each gets, keeping their order within a group."""
    groups: dict[str, list[Path]] = {}
    for path in files:
        groups.setdefault(external_id_for(path, mode), []).append(path)
    return groups


def indexed_image_counts(client: Any, collection_id: str) -> dict[str, int]:
    """ExternalImageId → number of distinct images (ImageIds) with faces in the collection (one ListFaces pass)."""
    images: dict[str, set[str]] = {}
    for face in iter_faces(client, collection_id, page_size=LIST_PAGE_SIZE):
        external = face.get("ExternalImageId")
        if external:
            images.setdefault(external, set()).add(face.get("ImageId", face.get("FaceId", "")))
    return {external: len(ids) for external, ids in images.items()}


class _Run:
    """One index_folder run: the shared client, options, the summary and its lock."""

    def __init__(self, client: Any, summary: IndexSummary, root: Path, options: dict[str, Any], bar: Any) -> None:
        self.client = client
        self.summary = summary
        self.root = root
        self.options = options
        self.bar = bar
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def index_group(self, external_id: str, paths: list[Path]) -> None:
        """Index a group's files one after another, in order (what keeps resume a prefix count)."""
        for path in paths:
            if self.stop.is_set():
                return
            self.record(path, self.index_file(external_id, path))

    def index_file(self, external_id: str, path: Path) -> _Outcome:
        try:
            data = path.read_bytes()
        except OSError as exc:
            return _Outcome("failed", error=f"cannot read the file: {exc.strerror or exc}")
        reencoded = False
        if len(data) > MAX_IMAGE_BYTES:
            if not self.options["reencode_over_5mb"]:
                return _Outcome(
                    "failed",
                    error=f"ImageTooLargeException: {len(data)} bytes is over Rekognition's {MAX_IMAGE_BYTES}-byte "
                    "limit (re-encoding is off)",
                )
            try:
                data, reencoded = shrink_to_limit(data), True
            except ReencodeError as exc:
                return _Outcome("failed", error=f"over {MAX_IMAGE_BYTES} bytes and not re-encodable: {exc}")
        params: dict[str, Any] = {
            "CollectionId": self.summary.collection_id,
            "Image": {"Bytes": data},
            "ExternalImageId": external_id,
        }
        if self.options["max_faces"] is not None:
            params["MaxFaces"] = self.options["max_faces"]
        if self.options["quality_filter"] is not None:
            params["QualityFilter"] = self.options["quality_filter"]
        try:
            response = call_with_backoff(lambda: self.client.index_faces(**params), self.options["max_retries"])
        except ClientError as exc:
            error = exc.response.get("Error", {})
            return _Outcome("failed", error=f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": "),
                            reencoded=reencoded)
        except BotoCoreError as exc:  # connection refused, timeouts... after botocore's own retries
            return _Outcome("failed", error=str(exc), reencoded=reencoded)
        records = response.get("FaceRecords", [])
        if records:
            return _Outcome("indexed", faces=len(records), reencoded=reencoded)
        unindexed = response.get("UnindexedFaces", [])
        reasons = sorted({reason for face in unindexed for reason in face.get("Reasons", [])}) or [NO_FACE]
        return _Outcome("unindexed", reasons=reasons, reencoded=reencoded)

    def record(self, path: Path, outcome: _Outcome) -> None:
        name = path.relative_to(self.root).as_posix()
        with self.lock:
            summary = self.summary
            if outcome.reencoded:
                summary.reencoded += 1
                summary.reencoded_files.append(name)
            if outcome.status == "indexed":
                summary.indexed += 1
                summary.faces += outcome.faces
            elif outcome.status == "unindexed":
                summary.unindexed += 1
                summary.unindexed_files[name] = outcome.reasons
            else:
                summary.failed += 1
                summary.failed_files[name] = outcome.error
                log.warning("%s: %s", name, outcome.error)
            self.bar.update(1)
            if outcome.status == "failed":
                self.bar.set_postfix(failed=summary.failed, refresh=False)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def index_folder(
    client: Any,
    collection_id: str,
    folder: str | os.PathLike[str],
    external_id: ExternalIdMode = "filename",
    workers: int = 4,
    progress: bool = True,
    reencode_over_5mb: bool = True,
    max_retries: int = DEFAULT_MAX_RETRIES,
    *,
    resume: bool = True,
    max_faces: int | None = None,
    quality_filter: str | None = None,
) -> IndexSummary:
    """Index every JPEG/PNG under `folder` into collection `collection_id` (which must exist).

    - `external_id`: `"filename"` — each image's ExternalImageId is its file stem; `"folder"` — the name of
      the folder holding it (identity folders, as in LFW: `Person_Name/Person_Name_0001.jpg`). Either is
      sanitized to ExternalImageId's pattern (`external_ids.py`).
    - `workers`: parallel requests (threads sharing the client; boto3 clients are thread-safe).
    - `progress`: a tqdm bar on stderr.
    - `reencode_over_5mb`: images over 5 MB are re-encoded as JPEG to fit; when false they are
      reported in `failed_files` instead.
    - `max_retries`: extra attempts, with exponential backoff, for throttling errors that outlast
      botocore's own retries.
    - `resume`: skip images an earlier run already indexed (see the module's docstring for how).
    - `max_faces`, `quality_filter`: IndexFaces' `MaxFaces` and `QualityFilter`; for identity folders
      `max_faces=1` keeps bystanders out of the person's faces.

    Errors about single images are collected in the summary; errors about the whole run (no such
    collection, no such endpoint, no credentials) raise before any image is sent.
    """
    if external_id not in ("filename", "folder"):
        raise ValueError(f"external_id must be 'filename' or 'folder', not {external_id!r}")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if max_retries < 0:
        raise ValueError("max_retries must be 0 or more")
    root = Path(folder).resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    started = time.monotonic()
    files = discover_images(root)
    groups = group_by_external_id(files, external_id)
    summary = IndexSummary(collection_id=collection_id, folder=str(root), external_id=external_id, total=len(files))

    # One call that fails fast on a missing collection or a bad endpoint, and gives what resume needs.
    if resume:
        done = indexed_image_counts(client, collection_id)
    else:
        client.describe_collection(CollectionId=collection_id)
        done = {}
    work: list[tuple[str, list[Path]]] = []
    for name, paths in groups.items():
        already = min(done.get(name, 0), len(paths))
        summary.skipped_files += [p.relative_to(root).as_posix() for p in paths[:already]]
        if already < len(paths):
            work.append((name, paths[already:]))
    summary.skipped = len(summary.skipped_files)
    # Longest groups first, so a big folder does not start last and hold up the end of the run.
    work.sort(key=lambda item: -len(item[1]))

    bar: Any = _NoBar()
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(files), initial=summary.skipped, unit="img", desc=f"indexing into {collection_id}")
    run = _Run(
        client,
        summary,
        root,
        {
            "reencode_over_5mb": reencode_over_5mb,
            "max_retries": max_retries,
            "max_faces": max_faces,
            "quality_filter": quality_filter,
        },
        bar,
    )
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="index_folder") as pool:
            futures = [pool.submit(run.index_group, name, paths) for name, paths in work]
            try:
                finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
                for future in finished:
                    future.result()  # an unexpected error in a worker is raised here
            except BaseException:  # KeyboardInterrupt included: stop cleanly, what is done stays done
                run.stop.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        bar.close()

    summary.unindexed_files = dict(sorted(summary.unindexed_files.items()))
    summary.failed_files = dict(sorted(summary.failed_files.items()))
    summary.skipped_files.sort()
    summary.reencoded_files.sort()
    summary.elapsed_s = round(time.monotonic() - started, 3)
    return summary
