"""Figures (matplotlib PNG) and a ready HTML section of a twins-versus-originals comparison.

Each figure function takes the dicts of `compare_twins` (one per method) and returns a
matplotlib Figure; `write_figures` saves them as PNG files; `twins_section` renders the table
and the figures as one self-contained HTML fragment for a report page.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from weightspace.figures import png
from weightspace.storage import atomic_write_bytes

COLOURS = {"magnitude": "tab:blue", "vd": "tab:red"}
LABELS = {"magnitude": "magnitude pruning", "vd": "variational dropout"}


def accuracy_vs_sparsity(results: Sequence[dict]) -> Figure:
    """Test accuracy against sparsity per group (mean ± std over the zoo), one line per method;
    dashed: the originals' mean."""
    fig = Figure(figsize=(6.0, 3.8), layout="constrained")
    ax = fig.subplots()
    for r in results:
        g = sorted(r["groups"], key=lambda g: g["sparsity_mean"])
        ax.errorbar(
            [x["sparsity_mean"] for x in g],
            [x["test_acc_mean"] for x in g],
            xerr=[x["sparsity_std"] for x in g],
            yerr=[x["test_acc_std"] for x in g],
            marker="o",
            ms=3,
            capsize=2,
            color=COLOURS.get(r["method"]),
            label=LABELS.get(r["method"], r["method"]),
        )
    if results:
        ax.axhline(np.mean(results[0]["points"]["original_test_acc"]), color="grey", ls="--")
    ax.set(xlabel="sparsity (share of conv/linear weights at zero)", ylabel="test accuracy")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower left", fontsize=8)
    return fig


def sparsity_per_layer(results: Sequence[dict]) -> Figure:
    """Mean sparsity per layer: for magnitude pruning per level, for variational dropout at
    its last epoch."""
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.subplots()
    for r in results:
        groups = r["groups"] if r["method"] == "magnitude" else r["groups"][-1:]
        for i, g in enumerate(groups):
            label = f"MP {g['key']:.2f}" if r["method"] == "magnitude" else "VD final"
            shade = 0.3 + 0.7 * (i + 1) / len(groups)
            ax.plot(
                g["layer_sparsity"],
                marker="o",
                ms=3,
                color=COLOURS.get(r["method"]),
                alpha=shade,
                label=label,
                lw=2.5 if r["method"] == "vd" else 1.0,
            )
    names = results[0]["layers"] if results else []
    ax.set_xticks(range(len(names)), [n.removesuffix(".weight") for n in names], rotation=30)
    ax.set(ylabel="sparsity", ylim=(0, 1))
    ax.legend(fontsize=6, ncol=2)
    return fig


def original_vs_twin(results: Sequence[dict], level: float = 0.8) -> Figure:
    """Original against twin test accuracy, one dot per model: magnitude pruning at the level
    nearest ``level``, variational dropout at its last epoch."""
    fig = Figure(figsize=(4.4, 4.0), layout="constrained")
    ax = fig.subplots()
    for r in results:
        keys = np.asarray(r["points"]["key"])
        chosen = keys.max() if r["method"] == "vd" else keys[np.argmin(np.abs(keys - level))]
        pick = keys == chosen
        g = next(g for g in r["groups"] if g["key"] == chosen)
        ax.scatter(
            np.asarray(r["points"]["original_test_acc"])[pick],
            np.asarray(r["points"]["test_acc"])[pick],
            s=8,
            alpha=0.7,
            color=COLOURS.get(r["method"]),
            label=f"{LABELS.get(r['method'], r['method'])} (sparsity "
            f"{g['sparsity_mean']:.2f}, r = {g['pearson']:.2f})",
        )
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
    ax.set(xlabel="original test accuracy", ylabel="twin test accuracy")
    ax.legend(fontsize=7, loc="upper left")
    return fig


FIGURES = {
    "accuracy_vs_sparsity.png": accuracy_vs_sparsity,
    "sparsity_per_layer.png": sparsity_per_layer,
    "original_vs_twin.png": original_vs_twin,
}


def write_figures(results: Sequence[dict], out: str | Path) -> list[Path]:
    """Save every figure of ``results`` as a PNG in ``out``; returns the paths."""
    paths = []
    for name, make in FIGURES.items():
        path = Path(out) / name
        atomic_write_bytes(path, png(make(results)))
        paths.append(path)
    return paths


def twins_section(results: Sequence[dict], cross: dict | None = None) -> str:
    """An HTML fragment (heading, table, figures as embedded PNG) for a report page."""
    from weightspace.sparsify.compare import summary_table

    rows = [line.strip("|").split("|") for line in summary_table(results).splitlines()]
    head = "".join(f"<th>{html.escape(c.strip())}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row) + "</tr>"
        for row in rows[2:]
    )
    parts = [
        "<h2>Sparsified twins</h2>",
        "<p>Every model of the zoo sparsified by magnitude pruning (then fine-tuned with the "
        "masks fixed) and by variational dropout; agreement and Cohen's kappa are between each "
        "twin's and its original's top-1 predictions on the test split.</p>",
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
    ]
    if cross is not None:
        below, above = cross["below"], cross["above"]
        parts.append(
            html.escape(
                f"Variational dropout minus magnitude pruning at equal sparsity (each model's "
                f"final VD twin against its own pruning curve; 95 % intervals over independent "
                f"units, unit: {cross['unit']}): {below['text']} below {cross['split']:.0%} "
                f"(test_units {below['test_units']}, {below['n']} models: {below['finding']}), "
                f"{above['text']} at or above (test_units {above['test_units']}, {above['n']} "
                f"models: {above['finding']})."
            ).join(("<p>", "</p>"))
        )
    for name, make in FIGURES.items():
        data = base64.b64encode(png(make(results))).decode()
        caption = html.escape(name.removesuffix(".png").replace("_", " "))
        parts.append(
            f"<figure><img src='data:image/png;base64,{data}' alt='{caption}'>"
            f"<figcaption>{caption}</figcaption></figure>"
        )
    return "\n".join(parts)
