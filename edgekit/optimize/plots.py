"""The report's plots, drawn with matplotlib as inline SVG (report.html stays one self-contained file).

Every plot takes the flat rows of :func:`edgekit.optimize.pipeline_report.rows` and returns one ``<svg class="plot">``
element. Units are fixed and said on the axes: sizes in KB (1 KB = 1000 B), top-1 and agreement in %, latency in
ms with its interquartile range as error bars, energy in µJ per inference with the method in the title. Points are
named in a legend (one colour and marker per variant) rather than by labels beside them, so names never overlap.

matplotlib is imported here only (``edgekit[full]``), through its object API (``Figure``): no pyplot, no global
backend switch.
"""

from __future__ import annotations

import io
import re
from typing import Any, Sequence

from edgekit.errors import DependencyError

COLOURS = ["#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e", "#9498a0"]
MARKERS = ["o", "s", "D", "^", "v", "P", "X", "<", ">", "h"]
WIDTH_IN, HEIGHT_IN = 6.0, 3.8
_RC = {"svg.fonttype": "none", "svg.hashsalt": "edgekit", "font.size": 9, "axes.titlesize": 10,
       "axes.titleweight": "bold", "legend.fontsize": 8}


def _figure(height: float = HEIGHT_IN):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise DependencyError("matplotlib", extra="full") from None
    return Figure(figsize=(WIDTH_IN, height), layout="constrained")


def _svg(fig, title: str) -> str:
    """The figure as an inline ``<svg class="plot">`` (no XML prolog, no DOCTYPE, no date: same input, same bytes)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "edgekit"})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    return re.sub(r"^<svg ", f'<svg class="plot" role="img" aria-label="{_attr(title)}" ', text, count=1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _style(i: int) -> dict[str, Any]:
    return {"color": COLOURS[i % len(COLOURS)], "marker": MARKERS[(i // len(COLOURS) + i) % len(MARKERS)]}


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}: not measured", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _quality(rows: Sequence[dict]) -> tuple[str, str]:
    """Top-1 when labels measured it, else top-1 agreement with the original (the ranking's basis)."""
    if any(r.get("top1") is not None for r in rows):
        return "top1", "top-1 accuracy (%)"
    return "agreement", "top-1 agreement with the original (%), accuracy not measured"


def tradeoff(rows: Sequence[dict], x: str, title: str, where: str = "this machine") -> str:
    """Quality (%) against gzip size (``x="gzip_bytes"``, KB, log scale) or median latency (``x="latency_ms"``,
    measured on ``where``, with the IQR as horizontal error bars). Pareto points get a black edge; the recommended
    one a star."""
    with _rc():
        fig = _figure(HEIGHT_IN + 0.22 * ((len(rows) + 1) // 2))
        ax = fig.add_subplot()
        key, ylabel = _quality(rows)
        pts = [r for r in rows if r.get(x) is not None and r.get(key) is not None]
        if not pts:
            _empty(ax, title)
            return _svg(fig, title)
        for i, r in enumerate(rows):
            if r not in pts:
                continue
            xv = r[x] / 1000 if x == "gzip_bytes" else r[x]
            yv = 100 * r[key]
            pareto = bool((r.get("verdict") or {}).get("pareto"))
            style = _style(i)
            label = r["name"] + (" (recommended)" if r.get("recommended") else "")
            if x == "latency_ms" and r.get("latency_p25_ms") is not None and r.get("latency_p75_ms") is not None:
                ax.errorbar([xv], [yv], xerr=[[xv - r["latency_p25_ms"]], [r["latency_p75_ms"] - xv]],
                            fmt="none", ecolor=style["color"], elinewidth=1, capsize=3)
            ax.scatter([xv], [yv], s=110 if r.get("recommended") else 55, color=style["color"],
                       marker="*" if r.get("recommended") else style["marker"], label=label, zorder=3,
                       edgecolors="black" if pareto else "none", linewidths=1.2, gid=f"point-{i}")
        if x == "gzip_bytes":
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("download size: gzip (KB, 1 KB = 1000 B, log scale)")
        else:
            ax.set_xlabel(f"median latency on {where} (ms); bars: interquartile range")
        ax.set_ylabel(ylabel)
        ax.margins(x=0.08, y=0.12)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(title)
        fig.legend(loc="outside lower center", ncol=2, frameon=False)
        return _svg(fig, title)


def hbars(items: Sequence[tuple[str, dict[str, float]]], title: str, xlabel: str, scale: float = 1.0) -> str:
    """Horizontal bars stacked by segment: ``items`` = [(label, {segment: value})], values divided by ``scale``.
    The segment legend sits under the axes, where it cannot clip."""
    items = [(label, {k: v / scale for k, v in seg.items() if v}) for label, seg in items]
    items = [(label, seg) for label, seg in items if seg]
    with _rc():
        fig = _figure(max(2.2, 0.9 + 0.32 * len(items)))
        ax = fig.add_subplot()
        if not items:
            _empty(ax, title)
            return _svg(fig, title)
        keys = sorted({k for _, seg in items for k in seg})
        labels = [label for label, _ in items]
        left = [0.0] * len(items)
        for j, k in enumerate(keys):
            widths = [seg.get(k, 0.0) for _, seg in items]
            ax.barh(labels, widths, left=left, color=COLOURS[j % len(COLOURS)], label=k, gid=f"bar-{k}")
            left = [a + b for a, b in zip(left, widths)]
        for y, total in enumerate(left):
            ax.annotate(f"{total:,.3g}", (total, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, max(left) * 1.18)
        ax.set_xlabel(xlabel)
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_title(title)
        if len(keys) > 1:  # under the axis label, in the figure's own margin: it cannot clip or overlap
            fig.legend(loc="outside lower center", ncol=len(keys), frameon=False)
        return _svg(fig, title)


def robustness_curves(rows: Sequence[dict], original: Sequence[Any]) -> str:
    """Accuracy (%) under each perturbation and severity, one line per artifact, the original dashed in black."""
    title = "Accuracy under perturbations and transferred attacks"
    points = [f"{r.name} {r.severity:g}" for r in original]
    with _rc():
        fig = _figure(HEIGHT_IN + 0.22 * ((len(rows) + 2) // 2))
        ax = fig.add_subplot()
        xs = list(range(len(points)))
        ax.plot(xs, [100 * r.accuracy for r in original], color="black", linestyle="--", marker=".", label="original (Keras)")
        for i, r in enumerate(rows):
            if r.get("robustness"):
                style = _style(i)
                ax.plot(xs, [100 * p.accuracy for p in r["robustness"]], color=style["color"], marker=style["marker"],
                        markersize=4, linewidth=1, label=r["name"], gid=f"robust-{i}")
        ax.set_xticks(xs, points, rotation=35, ha="right")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_xlabel("perturbation and severity (fraction of the data's range; contrast: factor kept)")
        ax.grid(True, alpha=0.3)
        ax.set_title(title)
        fig.legend(loc="outside lower center", ncol=2, frameon=False)
        return _svg(fig, title)


def class_f1_diff(rows: Sequence[dict], original_f1: Sequence[float]) -> str:
    """A heat-map of per-class F1 change against the original (percentage points): red where a class lost."""
    title = "Per-class F1 change against the original (pt)"
    measured = [r for r in rows if r.get("per_class_f1") is not None]
    with _rc():
        fig = _figure(max(2.4, 1.3 + 0.3 * len(measured)))
        ax = fig.add_subplot()
        if not measured:
            _empty(ax, title)
            return _svg(fig, title)
        diff = [[100 * (v - o) for v, o in zip(r["per_class_f1"], original_f1)] for r in measured]
        bound = max(1.0, max(abs(v) for row in diff for v in row))
        image = ax.imshow(diff, cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
        ax.set_yticks(range(len(measured)), [r["name"] for r in measured])
        ax.set_xticks(range(len(original_f1)), [str(c) for c in range(len(original_f1))])
        ax.set_xlabel("class")
        for y, row in enumerate(diff):
            for x, v in enumerate(row):
                if abs(v) >= 0.5:
                    ax.text(x, y, f"{v:.0f}", ha="center", va="center", fontsize=7)
        fig.colorbar(image, ax=ax, label="Δ F1 (pt)")
        ax.set_title(title)
        return _svg(fig, title)


class _rc:
    """matplotlib's settings for edgekit's plots, for the duration of one drawing (nothing global is changed)."""

    def __enter__(self):
        try:
            import matplotlib
        except ImportError:
            raise DependencyError("matplotlib", extra="full") from None
        self._ctx = matplotlib.rc_context(_RC)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
