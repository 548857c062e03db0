"""run_comparison: the same face workload on two Rekognition endpoints, then report.json and
report.html. The orchestration only: calls live in workload, numbers in analysis/metrics,
pictures in charts/images, the page in render."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

from . import workload
from .analysis import build_report
from .charts import report_charts
from .cost import is_aws_endpoint
from .dataset import assign_external_ids, find_images, identities_known, sample_indices
from .images import disagreement_thumbnails, upright_size
from .render import render_html

# Thumbnails are base64 in the page: bound how many disagreements get them.
MAX_DISAGREEMENT_THUMBNAILS = 200


def run_comparison(a: Any, b: Any, *, gallery: Path, probes: Path, out: Path, label_a: str = "A", label_b: str = "B",
                   top_k: int = 5, sample: int = 10, price_per_image: float | None = None, progress: bool = True,
                   keep_collections: bool = False) -> dict[str, Any]:
    """Run the same workload on two boto3 Rekognition clients (AWS or local) and report.

    On each side: a fresh collection (`rekog-compare-<run id>-a|b`, deleted at the end unless
    `keep_collections`), IndexFaces of every gallery image (ExternalImageId = sanitized stem,
    MaxFaces=1), SearchFacesByImage of every probe (FaceMatchThreshold 0, MaxFaces `top_k`),
    DetectFaces and CompareFaces on `sample` probes chosen deterministically. Writes
    `out/report.json` and a self-contained `out/report.html`. Returns the headline part of the
    report (outputs, config, summary, latency, cost, warnings): small enough for a CLI to print;
    the per-probe detail is in report.json.
    """
    if not 1 <= top_k <= workload.MAX_TOP_K:
        raise ValueError(f"top_k must be within 1..{workload.MAX_TOP_K}, not {top_k}")
    if sample < 0:
        raise ValueError(f"sample must be >= 0, not {sample}")
    if price_per_image is not None and price_per_image < 0:
        raise ValueError(f"price_per_image must be >= 0, not {price_per_image}")
    gallery, probes, out = Path(gallery), Path(probes), Path(out)
    gallery_items, probe_items = find_images(gallery), find_images(probes)
    if not gallery_items:
        raise ValueError(f"no JPEG or PNG image under the gallery folder {gallery}")
    if not probe_items:
        raise ValueError(f"no JPEG or PNG image under the probe folder {probes}")
    by_external_id = assign_external_ids(gallery_items)
    known = identities_known(gallery_items, probe_items)
    say = workload.stderr_progress if progress else workload.no_progress
    sides = [workload.Side("a", label_a, a), workload.Side("b", label_b, b)]
    indices = sample_indices(len(probe_items), sample)
    sizes = {probe_items[i].relative: upright_size(probe_items[i].path) for i in indices}
    out.mkdir(parents=True, exist_ok=True)

    run_id = uuid.uuid4().hex[:8]
    started_at, start = datetime.now(UTC), perf_counter()
    warnings: list[str] = []
    try:
        workload.create_collections(sides, run_id)
        say(f"collections {', '.join(f'{s.label}: {s.collection_id}' for s in sides)}")
        gallery_records = workload.index_gallery(sides, by_external_id, say)
        probe_records = workload.search_probes(sides, probe_items, top_k, by_external_id, say)
        detect_records = workload.detect_sample(sides, probe_items, indices, sizes, say)
        compare_records = workload.compare_sample(sides, probe_items, indices, probe_records, by_external_id, say)
    finally:
        if keep_collections:
            say("collections kept")
        else:
            warnings += workload.delete_collections(sides)
    wall_seconds = perf_counter() - start

    config = {
        "title": f"Rekognition comparison: {label_a} vs {label_b}",
        "run_id": run_id,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": wall_seconds,
        "gallery": str(gallery.resolve()),
        "probes": str(probes.resolve()),
        "top_k": top_k,
        "sample": sample,
        "sample_files": [probe_items[i].relative for i in indices],
        "price_per_image": price_per_image,
        "keep_collections": keep_collections,
        "face_match_threshold": 0,
        "index_max_faces": 1,
        "compare_similarity_threshold": 0,
        "identities_known": known,
        "sides": {side.key: {"label": side.label, "endpoint": side.endpoint, "region": side.region,
                             "collection_id": side.collection_id, "is_aws": is_aws_endpoint(side.endpoint)}
                  for side in sides},
    }
    report = build_report(config, sides, gallery_records, probe_records, detect_records, compare_records, known,
                          price_per_image, warnings)
    json_path, html_path = out / "report.json", out / "report.html"
    report["outputs"] = {"json": str(json_path), "html": str(html_path)}
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    say("drawing charts and thumbnails")
    thumbnails = disagreement_thumbnails(report, gallery, probes, MAX_DISAGREEMENT_THUMBNAILS)
    html_path.write_text(render_html(report, report_charts(report), thumbnails), encoding="utf-8")
    say(f"wrote {json_path} and {html_path}")
    return {key: report[key] for key in ("outputs", "config", "summary", "latency", "cost", "warnings")}
