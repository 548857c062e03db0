"""report.html: one self-contained page (inline CSS, images as data URIs, no script, no
external URL) rendered from the report dict, every value escaped with html.escape.

Named render (not html) so that `import html` inside the package is never ambiguous.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

SIDES = ("a", "b")
SECTIONS = (
    ("summary", "Summary"),
    ("charts", "Similarity"),
    ("latency", "Latency"),
    ("cost", "Cost"),
    ("detection", "Detection"),
    ("compare", "CompareFaces"),
    ("disagreements", "Disagreements"),
    ("probes", "Probes"),
    ("gallery", "Gallery"),
    ("config", "Run"),
)

CSS = """
:root { --a: #1f77b4; --b: #d95f02; --ok: #2ca02c; --bad: #d62728; --muted: #666; --line: #ddd; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #222;
       background: #fafafa; }
header { background: #232f3e; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #cfd8e3; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line); padding: 6px 28px;
      z-index: 1; }
nav a { margin-right: 14px; color: #0b5394; text-decoration: none; }
main { padding: 8px 28px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 18px; margin: 16px 0;
          overflow-x: auto; }
h2 { margin: 4px 0 10px; font-size: 18px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
table { border-collapse: collapse; margin: 6px 0; max-width: 100%; }
.path { word-break: break-all; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f3f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 150px; background: #fcfcfd; }
.card .value { font-size: 22px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 12px; }
.side-a { color: var(--a); font-weight: 600; }
.side-b { color: var(--b); font-weight: 600; }
.yes { color: var(--ok); font-weight: 600; }
.no { color: var(--bad); font-weight: 600; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; background: #eee; }
.badge.no_face, .badge.unindexed { background: #fff3cd; }
.badge.error { background: #f8d7da; }
ol.topk { margin: 0; padding-left: 24px; min-width: 270px; }
ol.topk li { overflow-wrap: anywhere; }
ol.topk li.hit { color: var(--ok); }
ol.topk .sim { color: var(--muted); font-variant-numeric: tabular-nums; }
.charts img { max-width: 100%; height: auto; margin: 4px 12px 4px 0; border: 1px solid var(--line); }
.disagreements { display: flex; flex-wrap: wrap; gap: 12px; }
.pair { border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: #fcfcfd; }
.pair .row { display: flex; gap: 8px; }
.pair figure { margin: 0; text-align: center; width: 120px; font-size: 11px; overflow-wrap: anywhere; }
.pair img { width: 112px; height: 112px; object-fit: contain; background: #eee; display: block; margin: 0 auto; }
.pair .missing { width: 112px; height: 112px; background: #eee; display: flex; align-items: center;
                 justify-content: center; color: var(--muted); margin: 0 auto; }
dl.config { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; }
dl.config dt { color: var(--muted); }
dl.config dd { margin: 0; word-break: break-all; }
"""


def e(value: Any) -> str:
    """Escaped text of any value (None as an em dash)."""
    return "—" if value is None else escape(str(value))


def path(value: Any) -> str:
    """A file path, escaped, allowed to wrap anywhere (long names must not widen tables)."""
    return f'<span class="path">{e(value)}</span>'


def num(value: float | int | None, digits: int = 1) -> str:
    """A number with `digits` decimals, or an em dash."""
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    """A rate 0..1 as a percentage, or an em dash."""
    return "—" if value is None else f"{100.0 * value:.1f} %"


def yes_no(flag: bool | None) -> str:
    """A tri-state flag as a coloured yes/no, or an em dash."""
    if flag is None:
        return '<span class="muted">—</span>'
    return '<span class="yes">yes</span>' if flag else '<span class="no">no</span>'


def side_label(report: Mapping[str, Any], key: str) -> str:
    """A side's label, escaped and coloured."""
    return f'<span class="side-{key}">{e(report["config"]["sides"][key]["label"])}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table from already-escaped HTML cells; columns in `numeric` are right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def card(value: str, label: str) -> str:
    return f'<div class="card"><div class="value">{value}</div><div class="label">{label}</div></div>'


def status_badge(entry: Mapping[str, Any]) -> str:
    """A non-ok status as a badge with the error code; empty for ok/indexed."""
    status = entry["status"]
    if status in ("ok", "indexed"):
        return ""
    text = status.replace("_", " ")
    if entry.get("error"):
        text += f": {entry['error'].get('code')}"
    message = (entry.get("error") or {}).get("message")
    title = f' title="{e(message)}"' if message else ""
    return f'<span class="badge {e(status)}"{title}>{e(text)}</span>'


def render_summary(report: Mapping[str, Any]) -> str:
    s = report["summary"]
    cards = [
        card(e(s["probes"]), "probes (none dropped)"),
        card(e(s["gallery_images"]), "gallery images"),
        card(pct(s["top1_agreement"]), f"top-1 agreement ({s['top1_agreements']} of {s['searched_both']})"),
        card(num(s["mean_jaccard"], 3), "mean Jaccard of top-k"),
        card(num(s["mean_spearman"], 3), f"mean Spearman ({s['spearman_defined']} defined)"),
    ]
    if s["identities_known"]:
        for key in SIDES:
            cards.append(card(pct(s["sides"][key]["rank1_accuracy"]), f"rank-1 accuracy, {side_label(report, key)}"))
    rows = []
    fields = (
        ("gallery images indexed", "gallery_indexed"), ("gallery: no face", "gallery_no_face"),
        ("gallery: face filtered out (quality)", "gallery_unindexed"), ("gallery: errors", "gallery_errors"),
        ("probes searched", "probes_searched"), ("probes: no face", "probes_no_face"),
        ("probes: errors", "probes_errors"),
    )
    for title, name in fields:
        rows.append([e(title), *(e(s["sides"][k][name]) for k in SIDES)])
    rows.append(["mean top-1 Similarity", *(num(s["sides"][k]["mean_top1_similarity"], 2) for k in SIDES)])
    if s["identities_known"]:
        rows.append([e(f"rank-1 accuracy ({s['mated_probes']} probes whose person is in the gallery)"),
                     *(pct(s["sides"][k]["rank1_accuracy"]) for k in SIDES)])
        rows.append([e(f"person in top-{report['config']['top_k']}"), *(pct(s["sides"][k]["rank_k_accuracy"])
                                                                       for k in SIDES)])
    one_sided = (f"Searched on both sides: {s['searched_both']}; only on {side_label(report, 'a')}: "
                 f"{s['searched_only_a']}; only on {side_label(report, 'b')}: {s['searched_only_b']}; "
                 f"on neither: {s['searched_neither']}.")
    identity_note = ("Identities come from the folder names (gallery/person/photo)." if s["identities_known"]
                     else "Identities unknown (images are not in per-person folders): no accuracy.")
    return (f'<div class="cards">{"".join(cards)}</div><p>{one_sided} {e(identity_note)}</p>'
            + table(["", side_label(report, "a"), side_label(report, "b")], rows, numeric=(1, 2)))


def render_charts(report: Mapping[str, Any], charts: Mapping[str, str | None]) -> str:
    images = []
    for name, alt in (("scatter", "Similarity scatter plot, A against B"),
                      ("histograms", "Similarity histograms per side")):
        uri = charts.get(name)
        if uri:
            images.append(f'<img src="{e(uri)}" alt="{e(alt)}">')
    if not images:
        return '<p class="muted">No Similarity to plot (no probe was searched).</p>'
    return (f'<div class="charts">{"".join(images)}</div><p class="muted">Scatter: each probe\'s top-1 Similarity '
            "on both sides (green: the same gallery face, red: different faces) over every gallery face found in "
            "both top-k lists (grey).</p>")


def render_latency(report: Mapping[str, Any]) -> str:
    latency = report["latency"]
    operations = list(dict.fromkeys([*latency["a"], *latency["b"]]))
    rows = []
    for op in operations:
        row = [e(op)]
        for key in SIDES:
            stats = latency[key].get(op) or {}
            row += [e(stats.get("count", 0)), num(stats.get("p50_ms")), num(stats.get("p95_ms")),
                    num(stats.get("mean_ms"))]
        rows.append(row)
    headers = ["operation"]
    for key in SIDES:
        label = side_label(report, key)
        headers += [f"{label} calls", f"{label} p50 ms", f"{label} p95 ms", f"{label} mean ms"]
    return (table(headers, rows, numeric=range(1, 9))
            + '<p class="muted">Wall time of each call as the client saw it (time.perf_counter around the boto3 call, '
              "failed calls included), calls made one at a time.</p>")


def render_cost(report: Mapping[str, Any]) -> str:
    cost = report["cost"]
    price = cost["price_per_image"]
    rows = []
    for key in SIDES:
        side = cost[key]
        if not side["is_aws"]:
            usd = "0 (local endpoint)"
        elif side["usd"] is None:
            usd = "— (no price given)"
        else:
            usd = f"${side['usd']:.4f}"
        calls = ", ".join(f"{e(op)} {n}" for op, n in side["image_calls"].items())
        rows.append([side_label(report, key), e(side["endpoint"]), "AWS" if side["is_aws"] else "local",
                     calls, e(side["total_image_calls"]), e(usd)])
    note = (f"Price: ${price} per image (per image-bearing call)." if price is not None
            else "No price per image given.")
    return (table(["side", "endpoint", "kind", "image calls", "total", "cost (USD)"], rows, numeric=(4,))
            + f'<p class="muted">{e(note)} Failed calls are counted too (an upper bound).</p>')


def render_detection(report: Mapping[str, Any]) -> str:
    d = report["summary"]["detection"]
    if not d["images"]:
        return '<p class="muted">No DetectFaces sample (sample = 0).</p>'
    cards = [
        card(e(d["images"]), "images sampled"),
        card(f"{d['faces_a']} / {d['faces_b']}",
             f"faces found ({side_label(report, 'a')} / {side_label(report, 'b')})"),
        card(e(d["pairs"]), "faces paired by IoU"),
        card(num(d["mean_iou"], 3), "mean box IoU"),
        card(num(d["mean_landmark_px"], 2), "mean landmark distance (px)"),
        card(pct(d["mean_landmark_fraction"]), "landmark distance / box diagonal"),
    ]
    rows = []
    for record in report["detect_sample"]:
        metrics = record["metrics"]
        rows.append([
            path(record["file"]), f"{e(metrics['faces_a'])} {status_badge(record['a'])}",
            f"{e(metrics['faces_b'])} {status_badge(record['b'])}", e(len(metrics["pairs"])),
            num(metrics["mean_iou"], 3), num(metrics["mean_landmark_px"], 2), pct(metrics["mean_landmark_fraction"]),
        ])
    by_type = ", ".join(f"{e(name)} {value:.2f} px" for name, value in d["landmark_px_by_type"].items())
    return (f'<div class="cards">{"".join(cards)}</div>'
            + table(["image", f"faces {side_label(report, 'a')}", f"faces {side_label(report, 'b')}", "pairs",
                     "mean IoU", "landmark px", "landmark / diagonal"], rows, numeric=(3, 4, 5, 6))
            + f'<p class="muted">Faces paired greedily by IoU (best first); landmarks: the 5 default types '
              f"(eyes, nose, mouth corners). Per type: {by_type or '—'}.</p>")


def render_compare(report: Mapping[str, Any]) -> str:
    records = report["compare_sample"]
    if not records:
        return '<p class="muted">No CompareFaces sample (sample = 0).</p>'
    c = report["summary"]["compare"]
    labels = {key: report["config"]["sides"][key]["label"] for key in SIDES}
    kinds = {"gallery_top1_a": f"top-1 on {labels['a']}", "gallery_top1_b": f"top-1 on {labels['b']}",
             "next_probe": "next probe"}
    rows = []
    for r in records:
        diff = (abs(r["a"]["similarity"] - r["b"]["similarity"])
                if r["a"]["similarity"] is not None and r["b"]["similarity"] is not None else None)
        target = f"{path(r['target_file'])} <span class='muted'>({e(kinds.get(r['target_kind']))})</span>"
        rows.append([path(r["file"]), target,
                     f"{num(r['a']['similarity'], 2)} {status_badge(r['a'])}",
                     f"{num(r['b']['similarity'], 2)} {status_badge(r['b'])}", num(diff, 2),
                     num(r["a"]["latency_ms"]), num(r["b"]["latency_ms"])])
    return (f'<div class="cards">{card(num(c["mean_abs_difference"], 2), "mean |Similarity difference|")}'
            f'{card(pct(c["same_decision_at_80"]), "same match decision at 80")}</div>'
            + table(["source (probe)", "target", f"Similarity {side_label(report, 'a')}",
                     f"Similarity {side_label(report, 'b')}", "|A − B|", f"ms {side_label(report, 'a')}",
                     f"ms {side_label(report, 'b')}"], rows,
                    numeric=(2, 3, 4, 5, 6)))


def _figure(uri: str | None, caption_html: str, alt: str) -> str:
    image = f'<img src="{e(uri)}" alt="{e(alt)}">' if uri else '<div class="missing">no image</div>'
    return f"<figure>{image}<figcaption>{caption_html}</figcaption></figure>"


def render_disagreements(report: Mapping[str, Any], thumbnails: Mapping[str, Mapping[str, str | None]]) -> str:
    disagreeing = [p for p in report["probes"] if p["metrics"]["top1_agree"] is False]
    if not disagreeing:
        return '<p>None: both sides chose the same top-1 gallery face for every probe searched on both.</p>'
    cards = []
    for record in disagreeing:
        views = thumbnails.get(record["file"])
        if views is None:
            continue
        figures = []
        for key in SIDES:
            top = record[key]["matches"][0]
            label = report["config"]["sides"][key]["label"]
            figures.append(_figure(views.get(f"probe_{key}"), f"probe as {side_label(report, key)} saw it",
                                   f"probe face found by {label}"))
            figures.append(_figure(views.get(f"top1_{key}"), f"top-1 {side_label(report, key)}: "
                                   f"{e(top['external_image_id'])} ({num(top['similarity'], 1)})",
                                   f"top-1 gallery face on {label}"))
        truth = f" — person: {e(record['identity'])}" if record.get("identity") else ""
        cards.append(f'<div class="pair"><div><b>{path(record["file"])}</b>{truth}</div>'
                     f'<div class="row">{"".join(figures)}</div></div>')
    shown = len(cards)
    note = "" if shown == len(disagreeing) else f'<p class="muted">Showing {shown} of {len(disagreeing)}.</p>'
    return f'{note}<div class="disagreements">{"".join(cards)}</div>'


def _topk(entry: Mapping[str, Any], identity: str | None) -> str:
    if entry["status"] != "ok":
        return status_badge(entry)
    if not entry["matches"]:
        return '<span class="muted">no match</span>'
    items = []
    for match in entry["matches"]:
        hit = identity is not None and match["identity"] == identity
        items.append(f'<li{" class=hit" if hit else ""}>{e(match["external_image_id"])} '
                     f'<span class="sim">{num(match["similarity"], 2)}</span></li>')
    return f'<ol class="topk">{"".join(items)}</ol>'


def render_probes(report: Mapping[str, Any]) -> str:
    known = report["summary"]["identities_known"]
    rows = []
    for record in report["probes"]:
        metrics = record["metrics"]
        identity = record.get("identity") if known else None
        row = [path(record["file"]), _topk(record["a"], identity), _topk(record["b"], identity),
               yes_no(metrics["top1_agree"]), num(metrics["jaccard"], 3), num(metrics["spearman"], 3)]
        if known:
            row += [yes_no(metrics["correct_a"]), yes_no(metrics["correct_b"])]
        rows.append(row)
    k = report["config"]["top_k"]
    headers = ["probe", f"top-{k} {side_label(report, 'a')}", f"top-{k} {side_label(report, 'b')}", "top-1 same",
               "Jaccard", "Spearman"]
    if known:
        headers += [f"correct {side_label(report, 'a')}", f"correct {side_label(report, 'b')}"]
    return (table(headers, rows, numeric=(4, 5))
            + '<p class="muted">Green: the probe\'s own person. Spearman over the matches both sides returned '
              "(— when fewer than 2 are shared).</p>")


def render_gallery(report: Mapping[str, Any]) -> str:
    problems = [g for g in report["gallery"] if any(g[key]["status"] != "indexed" for key in SIDES)]
    intro = f"<p>{len(report['gallery'])} gallery images, indexed with MaxFaces=1.</p>"
    if not problems:
        return intro + "<p>Every gallery image was indexed on both sides.</p>"
    rows = []
    for g in problems:
        cells = []
        for key in SIDES:
            entry = g[key]
            reasons = ", ".join(entry.get("unindexed_reasons") or [])
            cells.append(f"{e(entry['status'])} {status_badge(entry)} {e(reasons)}")
        rows.append([path(g["file"]), path(g["external_image_id"]), *cells])
    return intro + table(["file", "ExternalImageId", side_label(report, "a"), side_label(report, "b")], rows)


def render_config(report: Mapping[str, Any]) -> str:
    config = report["config"]
    items = [
        ("run id", config["run_id"]), ("started", config["started_at"]), ("finished", config["finished_at"]),
        ("wall time (s)", f"{config['wall_seconds']:.1f}"), ("gallery folder", config["gallery"]),
        ("probe folder", config["probes"]), ("top-k", config["top_k"]), ("sample", config["sample"]),
        ("FaceMatchThreshold", config["face_match_threshold"]),
    ]
    for key in SIDES:
        side = config["sides"][key]
        items.append((f"side {key.upper()}: {side['label']}",
                      f"{side['endpoint']} ({side['region']}), collection {side['collection_id']}"))
    body = "".join(f"<dt>{e(name)}</dt><dd>{e(value)}</dd>" for name, value in items)
    warnings = report.get("warnings") or []
    notes = "".join(f"<li>{e(w)}</li>" for w in warnings)
    return f'<dl class="config">{body}</dl>' + (f"<h3>Warnings</h3><ul>{notes}</ul>" if notes else "")


def render_html(report: Mapping[str, Any], charts: Mapping[str, str | None],
                thumbnails: Mapping[str, Mapping[str, str | None]]) -> str:
    """The whole page. `charts` are data URIs by name; `thumbnails` face-crop data URIs per
    disagreeing probe file (see images.disagreement_thumbnails)."""
    title = report["config"]["title"]
    bodies = {
        "summary": render_summary(report),
        "charts": render_charts(report, charts),
        "latency": render_latency(report),
        "cost": render_cost(report),
        "detection": render_detection(report),
        "compare": render_compare(report),
        "disagreements": render_disagreements(report, thumbnails),
        "probes": render_probes(report),
        "gallery": render_gallery(report),
        "config": render_config(report),
    }
    nav = "".join(f'<a href="#{key}">{e(name)}</a>' for key, name in SECTIONS)
    sections = "".join(f'<section id="{key}"><h2>{e(name)}</h2>{bodies[key]}</section>' for key, name in SECTIONS)
    config = report["config"]
    subtitle = (f"{side_label(report, 'a')} vs {side_label(report, 'b')} · {report['summary']['probes']} probes, "
                f"{report['summary']['gallery_images']} gallery images · {e(config['started_at'])}")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{e(title)}</h1><p>{subtitle}</p></header><nav>{nav}</nav><main>{sections}</main>"
        "</body></html>\n"
    )
