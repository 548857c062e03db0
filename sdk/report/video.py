"""The same stored-video face search on two Rekognition endpoints, their per-person timelines side by side.

`compare_video_search(a, b, video_a=..., collection_a=...)` starts StartFaceSearch on both clients (AWS,
rekog-compat, or two rekog-compat servers), polls both until they end, pages every result and builds
each side's timeline (rekog_sdk.video.person_timeline). Person indices are each service's own, so the
sides are lined up by identity (ExternalImageId, else FaceId): per identity, when each side matched it
and how much of that time the two agree on (intersection over union of the covered time, each matched
timestamp standing for half a sampling interval either side of it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import video
from .render import CSS, e, num, table
from .workload import no_progress, stderr_progress

Interval = tuple[float, float]


def _union(intervals: Sequence[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(intervals: Sequence[Interval]) -> float:
    return sum(end - start for start, end in intervals)


def _intersection(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def coverage(appearances: Sequence[Mapping[str, Any]], pad_ms: float) -> list[Interval]:
    """The time (ms) an identity is on screen by one side's account: its ranges, padded, as disjoint intervals."""
    return _union([(r["FromMillis"] - pad_ms, r["ToMillis"] + pad_ms) for a in appearances for r in a["Ranges"]])


def time_agreement(a: Sequence[Interval], b: Sequence[Interval]) -> float | None:
    """Intersection over union of two coverages; None when neither side covers any time."""
    union = _length(_union([*a, *b]))
    return _length(_intersection(a, b)) / union if union > 0 else None


def _run_jobs(sides: list[dict[str, Any]], poll_s: float, say: Any) -> None:
    """Start the search on every side, then poll them all until each ends; record each one's wall time."""
    for side in sides:
        where = side["video"]
        side["job_id"] = video.start_face_search(side["client"], side["collection_id"], where["Bucket"],
                                                 where["Name"], threshold=side["threshold"])
        side["started"] = time.perf_counter()
        say(f"{side['label']}: job {side['job_id'][:12]} started")
    pending = list(sides)
    while pending:
        for side in list(pending):
            status = side["client"].get_face_search(JobId=side["job_id"], MaxResults=1)["JobStatus"]
            if status != video.IN_PROGRESS:
                side["wall_seconds"] = time.perf_counter() - side["started"]
                say(f"{side['label']}: {status} after {side['wall_seconds']:.1f} s")
                pending.remove(side)
        if pending:
            time.sleep(poll_s)


def compare_video_search(
    a: Any,
    b: Any,
    *,
    video_a: Mapping[str, str],
    collection_a: str,
    video_b: Mapping[str, str] | None = None,
    collection_b: str | None = None,
    label_a: str = "A",
    label_b: str = "B",
    threshold: float = video.DEFAULT_THRESHOLD,
    out: Path | None = None,
    poll_s: float = video.DEFAULT_POLL_S,
    progress: bool = True,
) -> dict[str, Any]:
    """Run StartFaceSearch of one video on clients `a` and `b` and compare their timelines.

    `video_a` is an S3Object ({"Bucket", "Name"}) as `a` reads it; `video_b` the same video where `b`
    reads it (default: `video_a`); likewise `collection_b` defaults to `collection_a`. Both jobs run at
    once. Returns {"config", "sides": {"a", "b"}, "identities"}: per side its job, status, wall time
    (Start to the poll that saw the job end), VideoMetadata and timeline; per identity either side
    matched, each side's appearances and their time agreement. With `out`, also writes video.json and
    a self-contained video.html there.
    """
    say = stderr_progress if progress else no_progress
    started_at = datetime.now(UTC)
    sides = [
        {"key": "a", "label": label_a, "client": a, "video": dict(video_a), "collection_id": collection_a,
         "threshold": threshold},
        {"key": "b", "label": label_b, "client": b, "video": dict(video_b or video_a),
         "collection_id": collection_b or collection_a, "threshold": threshold},
    ]
    _run_jobs(sides, poll_s, say)
    report_sides: dict[str, Any] = {}
    for side in sides:
        results = video.all_results(side["client"], video.FACE_SEARCH, side["job_id"])
        timeline = [appearance.to_dict() for appearance in video.person_timeline(results.items)]
        interval = video.sample_interval_ms(int(p["Timestamp"]) for p in results.items)
        report_sides[side["key"]] = {
            "label": side["label"],
            "endpoint": str(side["client"].meta.endpoint_url),
            "collection_id": side["collection_id"],
            "video": side["video"],
            "job_id": side["job_id"],
            "job_status": results.job_status,
            "status_message": results.status_message,
            "wall_seconds": side["wall_seconds"],
            "video_metadata": results.video_metadata,
            "persons": len(results.items),
            "pages": results.pages,
            "sample_interval_ms": interval,
            "timeline": timeline,
        }
    report = {
        "config": {"title": f"Video face search: {label_a} vs {label_b}",
                   "started_at": started_at.isoformat(timespec="seconds"), "face_match_threshold": threshold},
        "sides": report_sides,
        "identities": _identities(report_sides),
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        json_path, html_path = out / "video.json", out / "video.html"
        report["outputs"] = {"json": str(json_path), "html": str(html_path)}
        json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        html_path.write_text(render_video_page(report), encoding="utf-8")
        say(f"wrote {json_path} and {html_path}")
    return report


def _identities(sides: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per identity matched on either side: each side's appearances and how far their times agree."""
    names = sorted({a["Who"] for side in sides.values() for a in side["timeline"]})
    rows = []
    for who in names:
        per_side = {key: [a for a in side["timeline"] if a["Who"] == who] for key, side in sides.items()}
        covered = {key: coverage(per_side[key], sides[key]["sample_interval_ms"] / 2) for key in sides}
        rows.append({
            "who": who,
            "sides": {key: {"appearances": per_side[key], "seconds": _length(covered[key]) / 1000,
                            "best_similarity": max((a["BestSimilarity"] for a in per_side[key]), default=None)}
                      for key in sides},
            "time_agreement": time_agreement(covered["a"], covered["b"]),
        })
    return rows


def _ranges_text(appearances: Sequence[Mapping[str, Any]]) -> str:
    """`3.0-7.0 s (#1), 8.3 s (#4)`: each range in seconds, with its person index."""
    parts = []
    for appearance in appearances:
        for r in appearance["Ranges"]:
            start, end = r["FromMillis"] / 1000, r["ToMillis"] / 1000
            span = f"{start:.1f} s" if start == end else f"{start:.1f}-{end:.1f} s"
            parts.append(f"{span} (#{appearance['PersonIndex']})")
    return ", ".join(parts) or "-"


def format_side_by_side(report: Mapping[str, Any]) -> str:
    """The comparison as text: per identity, each side's ranges and best Similarity, and their time agreement."""
    sides = report["sides"]
    lines = [f"{sides[k]['label']}: {sides[k]['job_status']} in {sides[k]['wall_seconds']:.1f} s, "
             f"{sides[k]['persons']} person matches" for k in ("a", "b")]
    rows: list[tuple[str, ...]] = [("who", sides["a"]["label"], "best", sides["b"]["label"], "best", "time agreement")]
    for identity in report["identities"]:
        cells: list[str] = [identity["who"]]
        for key in ("a", "b"):
            entry = identity["sides"][key]
            cells += [_ranges_text(entry["appearances"]),
                      "-" if entry["best_similarity"] is None else f"{entry['best_similarity']:.1f}"]
        agreement = identity["time_agreement"]
        cells.append("-" if agreement is None else f"{100 * agreement:.0f}%")
        rows.append(tuple(cells))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines += ["", *("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)]
    return "\n".join(lines)


def render_video_section(report: Mapping[str, Any]) -> str:
    """The comparison as an HTML fragment (every value escaped): the jobs, then the identities side by side."""
    sides = report["sides"]
    jobs = table(
        ["side", "endpoint", "status", "wall time (s)", "video (s)", "person matches"],
        [[f'<span class="side-{k}">{e(sides[k]["label"])}</span>', e(sides[k]["endpoint"]),
          e(sides[k]["job_status"] + (f": {sides[k]['status_message']}" if sides[k]["status_message"] else "")),
          num(sides[k]["wall_seconds"]), num(sides[k]["video_metadata"].get("DurationMillis", 0) / 1000),
          e(sides[k]["persons"])] for k in ("a", "b")],
        numeric=(3, 4, 5),
    )
    rows = []
    for identity in report["identities"]:
        cells = [e(identity["who"])]
        for key in ("a", "b"):
            entry = identity["sides"][key]
            cells += [e(_ranges_text(entry["appearances"])), num(entry["best_similarity"])]
        agreement = identity["time_agreement"]
        cells.append("—" if agreement is None else f"{100 * agreement:.0f}%")
        rows.append(cells)
    who = table(["who", e(sides["a"]["label"]), "best similarity", e(sides["b"]["label"]), "best similarity",
                 "time agreement"], rows, numeric=(2, 4, 5))
    return f"<h3>Jobs</h3>{jobs}<h3>Who is on screen when</h3>{who}"


def render_video_page(report: Mapping[str, Any]) -> str:
    """video.html: the section as a self-contained page (inline CSS, no script), styled as report.html."""
    title = report["config"]["title"]
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title><style>{CSS}</style></head><body>'
        f"<header><h1>{e(title)}</h1><p>{e(report['config']['started_at'])}</p></header>"
        f'<main><section id="video"><h2>Video face search</h2>{render_video_section(report)}</section></main>'
        "</body></html>\n"
    )
