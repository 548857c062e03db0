"""The report's charts, drawn with matplotlib's Agg renderer into base64 PNG data URIs.

matplotlib is imported inside the functions and used through its object API (Figure +
FigureCanvasAgg), never pyplot: nothing global is touched, no display is needed, and
importing the report package stays cheap.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

COLOURS = {"a": "#1f77b4", "b": "#d95f02", "agree": "#2ca02c", "disagree": "#d62728", "shared": "#9e9e9e"}


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _text(label: str) -> str:
    """A user label as literal matplotlib text (`$` would start mathtext)."""
    return label.replace("$", r"\$")


def _png_uri(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def similarity_scatter(top1: Sequence[tuple[float, float, bool]], shared: Sequence[tuple[float, float]],
                       label_a: str, label_b: str) -> str | None:
    """Similarity on A against B: each probe's top-1 pair (green where both sides chose the same
    gallery face, red where not) over every shared top-k match (grey). None without data."""
    if not top1 and not shared:
        return None
    figure = _figure(6.0, 5.2)
    axes = figure.add_subplot()
    if shared:
        axes.scatter([s[0] for s in shared], [s[1] for s in shared], s=12, c=COLOURS["shared"], alpha=0.5,
                     label="shared top-k matches")
    label_a, label_b = _text(label_a), _text(label_b)
    for agree, name in ((True, "top-1, same face"), (False, "top-1, different faces")):
        points = [(x, y) for x, y, same in top1 if same == agree]
        if points:
            axes.scatter([p[0] for p in points], [p[1] for p in points], s=28, edgecolors="black", linewidths=0.4,
                         c=COLOURS["agree" if agree else "disagree"], label=name)
    axes.plot([0, 100], [0, 100], color="black", linewidth=0.8, linestyle="--", label="y = x")
    axes.set_xlim(0, 101)
    axes.set_ylim(0, 101)
    axes.set_xlabel(f"Similarity on {label_a}")
    axes.set_ylabel(f"Similarity on {label_b}")
    axes.set_title(f"Similarity: {label_a} vs {label_b}")
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(alpha=0.3)
    return _png_uri(figure)


def similarity_histograms(top1: Mapping[str, Sequence[float]], all_matches: Mapping[str, Sequence[float]],
                          labels: Mapping[str, str]) -> str | None:
    """Histograms of Similarity per side: top-1 matches (left) and every top-k match (right).
    None without data."""
    if not any(top1.values()) and not any(all_matches.values()):
        return None
    from matplotlib.ticker import MaxNLocator

    figure = _figure(9.0, 3.6)
    bins = [i * 5 for i in range(21)]
    for position, (title, values) in enumerate((("top-1 Similarity", top1), ("all top-k Similarity", all_matches)),
                                               start=1):
        axes = figure.add_subplot(1, 2, position)
        for key in ("a", "b"):
            if values.get(key):
                axes.hist(values[key], bins=bins, alpha=0.55, color=COLOURS[key], label=_text(labels[key]))
        axes.set_title(title)
        axes.set_xlabel("Similarity")
        axes.set_ylabel("matches")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlim(0, 100)
        axes.legend(fontsize=8)
        axes.grid(alpha=0.3)
    return _png_uri(figure)


def report_charts(report: dict[str, Any]) -> dict[str, str | None]:
    """Every chart of a report, by name ("scatter", "histograms")."""
    labels = {key: report["config"]["sides"][key]["label"] for key in ("a", "b")}
    top1: list[tuple[float, float, bool]] = []
    shared: list[tuple[float, float]] = []
    top1_values: dict[str, list[float]] = {"a": [], "b": []}
    all_values: dict[str, list[float]] = {"a": [], "b": []}
    for record in report["probes"]:
        metrics = record["metrics"]
        for key in ("a", "b"):
            sims = [match["similarity"] for match in record[key]["matches"] if match["similarity"] is not None]
            all_values[key].extend(sims)
            if metrics[f"top1_similarity_{key}"] is not None:
                top1_values[key].append(metrics[f"top1_similarity_{key}"])
        if metrics["searched_both"] and None not in (metrics["top1_similarity_a"], metrics["top1_similarity_b"]):
            top1.append((metrics["top1_similarity_a"], metrics["top1_similarity_b"], bool(metrics["top1_agree"])))
        sims_b = {match["external_image_id"]: match["similarity"] for match in record["b"]["matches"]}
        for match in record["a"]["matches"]:
            other = sims_b.get(match["external_image_id"])
            if match["similarity"] is not None and other is not None:
                shared.append((match["similarity"], other))
    return {
        "scatter": similarity_scatter(top1, shared, labels["a"], labels["b"]),
        "histograms": similarity_histograms(top1_values, all_values, labels),
    }
