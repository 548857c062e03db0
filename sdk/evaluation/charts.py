"""The report's charts, drawn by matplotlib's Agg renderer into base64 PNG data URIs.

matplotlib is imported inside the functions and used through its object API (Figure + FigureCanvasAgg), never
pyplot: no global state, no display, and importing this module costs nothing. Each function takes a section of
the eval.json document and answers a `data:image/png;base64,...` URI, or None when there is nothing to draw.
"""

from __future__ import annotations

import base64
import io
from typing import Any

GENUINE, IMPOSTOR, TIR, FPIR = "#1b9e77", "#d95f02", "#1f77b4", "#d62728"
THRESHOLD_STYLE = {"color": "#555555", "linestyle": ":", "linewidth": 0.9}


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png_uri(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def roc_chart(verification: dict[str, Any]) -> str | None:
    """TAR against FAR: linear axes (left) and a log FAR axis (right), with the Similarity 80/90/95/99 points."""
    roc = verification.get("roc")
    if not roc:
        return None
    far = [0.0] + [p["far"] for p in roc["points"]] + [1.0]
    tar = [0.0] + [p["tar"] for p in roc["points"]] + [1.0]
    impostors = max(1, int(verification["impostor"]))
    floor = 0.5 / impostors
    figure = _figure(9.0, 3.8)
    for position, log in ((1, False), (2, True)):
        axes = figure.add_subplot(1, 2, position)
        axes.step(far, tar, where="post", color=TIR, linewidth=1.6, label="ROC")
        for row in verification["operating_points"]:
            if row["fmr"] is None or row["fnmr"] is None:
                continue
            x = row["fmr"] if not log else max(row["fmr"], floor)
            marker = "o" if (row["fmr"] > 0 or not log) else "<"
            axes.plot([x], [1.0 - row["fnmr"]], marker=marker, color="black", markersize=5)
            axes.annotate(f"{row['threshold']:g}", (x, 1.0 - row["fnmr"]), textcoords="offset points",
                          xytext=(5, -10), fontsize=8)
        if log:
            axes.set_xscale("log")
            axes.set_xlim(floor, 1.0)
            axes.set_title(f"log FAR ({impostors} impostor pairs; '<' = FAR 0)", fontsize=10)
        else:
            axes.set_xlim(-0.01, 1.0)
            axes.set_title(f"ROC, AUC {roc['auc']:.4f}", fontsize=10)
        axes.set_ylim(0.0, 1.01)
        axes.set_xlabel("FAR (impostor pairs accepted)")
        axes.set_ylabel("TAR (genuine pairs accepted)")
        axes.grid(alpha=0.3)
    return _png_uri(figure)


def score_histograms(verification: dict[str, Any]) -> str | None:
    """Genuine and impostor Similarity histograms (2-point bins, log counts), thresholds dotted."""
    rows = verification.get("scores") or []
    if not rows:
        return None
    genuine = [r["similarity"] for r in rows if r["genuine"]]
    impostor = [r["similarity"] for r in rows if not r["genuine"]]
    figure = _figure(9.0, 3.6)
    axes = figure.add_subplot()
    bins = [2 * i for i in range(51)]
    if genuine:
        axes.hist(genuine, bins=bins, alpha=0.6, color=GENUINE, label=f"genuine pairs ({len(genuine)})")
    if impostor:
        axes.hist(impostor, bins=bins, alpha=0.6, color=IMPOSTOR, label=f"impostor pairs ({len(impostor)})")
    for row in verification["operating_points"]:
        axes.axvline(row["threshold"], **THRESHOLD_STYLE)
    axes.set_yscale("log")
    axes.set_xlim(0, 100)
    axes.set_xlabel("Similarity (highest FaceMatch; failures count as 0)")
    axes.set_ylabel("pairs (log)")
    axes.legend(loc="upper center", fontsize=8)
    axes.grid(alpha=0.3)
    return _png_uri(figure)


def identification_chart(identification: dict[str, Any] | None) -> str | None:
    """TIR and FPIR over every probe as the Similarity threshold goes from 0 to 100."""
    if not identification or not identification.get("probe_results"):
        return None
    probes = identification["probe_results"]
    grid = list(range(0, 101))
    tir, fpir = [], []
    for threshold in grid:
        hits = wrong = 0
        for probe in probes:
            matches = probe["matches"]
            if matches and matches[0][0] == probe["identity"] and matches[0][1] >= threshold:
                hits += 1
            if any(identity != probe["identity"] and similarity >= threshold for identity, similarity in matches):
                wrong += 1
        tir.append(hits / len(probes))
        fpir.append(wrong / len(probes))
    figure = _figure(9.0, 3.4)
    axes = figure.add_subplot()
    axes.plot(grid, tir, color=TIR, label="TIR: top match right and >= threshold")
    axes.plot(grid, fpir, color=FPIR, label="FPIR: a wrong person >= threshold")
    for row in identification["metrics"]["all_probes"]["at_thresholds"]:
        axes.axvline(row["threshold"], **THRESHOLD_STYLE)
    axes.set_xlim(0, 100)
    axes.set_ylim(-0.01, 1.01)
    axes.set_xlabel("Similarity threshold")
    axes.set_ylabel(f"fraction of {len(probes)} probes")
    axes.legend(loc="center left", fontsize=8)
    axes.grid(alpha=0.3)
    return _png_uri(figure)
