"""eval.html: one self-contained page (inline CSS, charts as data URIs, no script, no external URL).

`render(document)` turns an eval.json document into the page; every value from the document is escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

from . import charts

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #1d1d1d; background: #ffffff; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.8em; }
.muted { color: #666; font-size: 0.9em; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 1em 0; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.6em 1em; min-width: 10em; background: #f6f8fa; }
.card .value { font-size: 1.5em; font-weight: 600; } .card .label { color: #555; font-size: 0.85em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 0.3em 0.6em; text-align: right; vertical-align: top; }
th { background: #f0f3f6; } td { white-space: nowrap; }
td.text, th.text { text-align: left; white-space: normal; overflow-wrap: anywhere; }
.scroll { max-width: 100%; overflow-x: auto; }
img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: 0.8em; overflow-x: auto; font-size: 0.85em;
      white-space: pre-wrap; word-break: break-all; }
.warn { color: #9a3412; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100.0 * value:.{digits}f} %"


def _rate(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "0" if value == 0 else f"{value:.3g}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], text_columns: Sequence[int] = ()) -> str:
    head = "".join(f'<th class="{"text" if i in text_columns else ""}">{_e(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"text" if i in text_columns else ""}">{_e(c)}</td>' for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _card(value: str, label: str) -> str:
    return f'<div class="card"><div class="value">{_e(value)}</div><div class="label">{_e(label)}</div></div>'


def _image(uri: str | None, alt: str) -> str:
    return f'<p><img src="{uri}" alt="{_e(alt)}"></p>' if uri else f'<p class="muted">{_e(alt)}: no data</p>'


def _accuracy_text(accuracy: dict[str, Any]) -> str:
    if accuracy.get("folds", 1) > 1:
        return f"{_pct(accuracy['mean'], 2)} ± {_pct(accuracy['std'], 2)}"
    return _pct(accuracy["value"], 2)


def _summary(document: dict[str, Any]) -> str:
    v = document["verification"]
    roc = v.get("roc") or {}
    cards = [
        _card(_accuracy_text(v["accuracy"]), f"accuracy ({v['accuracy']['folds']} fold(s))"),
        _card(f"{roc['auc']:.4f}" if roc else "n/a", "ROC AUC"),
        _card(_pct(roc.get("eer"), 2) if roc else "n/a", "equal error rate"),
        _card(f"{v['genuine']} + {v['impostor']}", "genuine + impostor pairs"),
        _card(str(v["failures"]["count"]), "pairs with a failure (scored 0)"),
    ]
    ident = document.get("identification")
    if ident:
        rates = ident["metrics"]["all_probes"]
        cards += [_card(_pct(rates["rank1"]), f"rank-1 ({rates['probes']} probes)"),
                  _card(_pct(rates["rank5"]), "rank-5")]
    return f'<div class="cards">{"".join(cards)}</div>'


def _verification(v: dict[str, Any]) -> str:
    accuracy = v["accuracy"]
    if accuracy.get("folds", 1) > 1:
        detail = (f"<p>{_e(accuracy['protocol'])}: mean {_pct(accuracy['mean'], 2)}, std {_pct(accuracy['std'], 2)}"
                  f", standard error {_pct(accuracy['standard_error'], 2)}.</p>"
                  + _table(["fold", "pairs", "threshold (from the other folds)", "accuracy"],
                           [(r["fold"], r["pairs"], f"{r['threshold']:.2f}", _pct(r["accuracy"], 2))
                            for r in accuracy["per_fold"]]))
    else:
        detail = (f"<p>Accuracy {_pct(accuracy['value'], 2)} at Similarity threshold {accuracy['threshold']:.2f}. "
                  f'<span class="warn">{_e(accuracy["protocol"])}.</span></p>')
    tar_rows = [(f"{r['far']:g}", _pct(r["tar"], 2) if r["tar"] is not None else "null",
                 "" if r["threshold"] is None else f"{r['threshold']:.2f}",
                 "" if r["far_measured"] is None else _rate(r["far_measured"]), r["reason"] or "")
                for r in v["tar_at_far"]]
    op_rows = [(f"{r['threshold']:g}", f"{r['false_matches']} / {r['impostors']}", _rate(r["fmr"]),
                "" if r["fmr_interval_95"] is None else f"{_rate(r['fmr_interval_95'][0])} – "
                f"{_rate(r['fmr_interval_95'][1])}",
                f"{r['calibration_target_fmr']:g} ({r['calibration_expected_false_matches']:.2g} pairs)",
                f"{r['false_non_matches']} / {r['genuines']}", _rate(r["fnmr"]),
                _pct(None if r["fnmr"] is None else 1.0 - r["fnmr"], 1),
                _rate(r["without_failures"]["fnmr"]))
               for r in v["operating_points"]]
    return (
        '<section id="verification"><h2>Verification (CompareFaces)</h2>' + detail
        + '<h3 id="roc">ROC</h3>' + _image(charts.roc_chart(v), "ROC curve")
        + _table(["FAR", "TAR", "threshold", "FAR reached", "note"], tar_rows, text_columns=(4,))
        + '<h3 id="histograms">Similarity of genuine and impostor pairs</h3>'
        + _image(charts.score_histograms(v), "Similarity histograms")
        + '<h3 id="operating-points">Operating points</h3>'
        + _table(["Similarity", "false matches", "FMR", "FMR 95 % (Wilson)", "calibration target FMR (expected)",
                  "false non-matches", "FNMR", "TAR", "FNMR without failures"], op_rows)
        + '<p class="muted">A pair matches when Similarity &gt;= the threshold; a failed pair is a non-match (the '
        "last column leaves failed pairs out). The calibration target is what "
        "rekog-compat's Similarity mapping promises per impostor pair (docs/accuracy.md), not an AWS figure; with "
        "n impostor pairs an FMR below 1/n reads as 0.</p></section>"
    )


def _identification(ident: dict[str, Any] | None) -> str:
    if not ident:
        return ('<section id="identification"><h2>Identification</h2><p class="muted">Not run (no --gallery).</p>'
                "</section>")
    groups = ident["metrics"]
    rows: list[tuple[str, str, str]] = [
        ("rank-1", _pct(groups["all_probes"]["rank1"]), _pct(groups["enrolled_probes"]["rank1"])),
        ("rank-5", _pct(groups["all_probes"]["rank5"]), _pct(groups["enrolled_probes"]["rank5"])),
    ]
    for all_row, enrolled_row in zip(groups["all_probes"]["at_thresholds"], groups["enrolled_probes"]["at_thresholds"],
                                     strict=True):
        t = f"{all_row['threshold']:g}"
        rows.append((f"TIR@{t}", _pct(all_row["tir"]), _pct(enrolled_row["tir"])))
        rows.append((f"FPIR@{t}", _pct(all_row["fpir"]), _pct(enrolled_row["fpir"])))
    predicted = ", ".join(f"{p['threshold']:g}: {_pct(p['fpir'])}" for p in ident["calibration_predicted_fpir"])
    return (
        '<section id="identification"><h2>Identification (SearchFacesByImage)</h2>'
        f"<p>Gallery {_e(ident['gallery_folder'])}: {ident['identities']} identities ({ident['distractors']} "
        f"distractors with one image), {ident['gallery_faces_indexed']} faces indexed; {ident['probes']} probes; "
        f"seed {ident['seed']}; collection {_e(ident['collection_id'])} (deleted after the run).</p>"
        + _table(["measure", f"all {groups['all_probes']['probes']} probes",
                  f"{groups['enrolled_probes']['probes']} probes whose person has a gallery face"], rows,
                 text_columns=(0,))
        + f'<p class="muted">{_e(ident["protocol"])} FPIR the calibration predicts for this gallery, '
        f"1 − (1 − FMR)^faces: {_e(predicted)}.</p>"
        + _image(charts.identification_chart(ident), "TIR and FPIR over the threshold")
        + "</section>"
    )


def _failures(document: dict[str, Any]) -> str:
    failures = document["verification"]["failures"]
    parts = ['<section id="failures"><h2>Failures</h2>',
             f"<p>{failures['count']} pair(s) where CompareFaces failed ({failures['genuine']} genuine, "
             f"{failures['impostor']} impostor), each scored as a non-match (Similarity 0).</p>"]
    if failures["pairs"]:
        parts.append(_table(["pair", "line", "kind", "first", "second", "error", "message"],
                            [(f["pair"], f["line"], "genuine" if f["genuine"] else "impostor", f["first"],
                              f["second"], f["code"], f["message"]) for f in failures["pairs"]],
                            text_columns=(2, 3, 4, 5, 6)))
    ident = document.get("identification")
    if ident:
        parts.append(f"<p>{len(ident['gallery_failures'])} gallery image(s) without an indexed face; "
                     f"{ident['probe_failures']['count']} probe(s) without a face (misses).</p>")
        rows = [("gallery", f["identity"], f["image"], f.get("code", ""), f.get("message", ""))
                for f in ident["gallery_failures"]]
        rows += [("probe", f["identity"], f["image"], f["code"], f["message"])
                 for f in ident["probe_failures"]["probes"]]
        if rows:
            parts.append(_table(["role", "identity", "image", "error", "message"], rows, text_columns=(0, 1, 2, 3, 4)))
    parts.append("</section>")
    return "".join(parts)


def _configuration(document: dict[str, Any]) -> str:
    run = document["run"]
    run_info = {k: run[k] for k in ("started_at", "finished_at", "duration_s", "calls", "cache", "health")}
    return (
        '<section id="configuration"><h2>Command and server</h2>'
        f"<h3>Command</h3><pre>{_e(run['command_line'])}</pre>"
        f"<h3>Server</h3><pre>{_e(json.dumps(document['server'], indent=2))}</pre>"
        f"<h3>Inputs</h3><pre>{_e(json.dumps(document['inputs'], indent=2))}</pre>"
        f"<h3>Run</h3><pre>{_e(json.dumps(run_info, indent=2))}</pre>"
        "</section>"
    )


def title(document: dict[str, Any]) -> str:
    """The page title: the pairs file and what was measured."""
    pairs = document["inputs"]["pairs_file"].replace("\\", "/").rsplit("/", 1)[-1]
    where = document["server"].get("model") or document["server"].get("service") or "server"
    return f"rekog-compat eval: {pairs} on {where}"


def render(document: dict[str, Any]) -> str:
    """The whole page for an eval.json document."""
    heading = title(document)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(heading)}</title><style>{CSS}</style></head><body>"
        f"<h1>{_e(heading)}</h1>"
        f'<p class="muted">Measured through the HTTP API at {_e(document["target"]["endpoint_url"] or "AWS")}, '
        f"{_e(document['run']['finished_at'])}; every number below is in eval.json.</p>"
        + _summary(document)
        + _verification(document["verification"])
        + _identification(document.get("identification"))
        + _failures(document)
        + _configuration(document)
        + "</body></html>\n"
    )
