"""The report's figures, each a function from plain arrays to a matplotlib figure.

`png` (from `weightspace.figures`, shared with the other rooms) renders one to PNG bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

GROUP_COLOURS = {"samples": "tab:blue", "anchors": "tab:orange", "random init": "tab:grey"}


def zoo_accuracy(
    model_id: np.ndarray, epoch: np.ndarray, test_acc: np.ndarray, group: np.ndarray | None
) -> Figure:
    """Test accuracy per epoch: one faint line per model (coloured by ``group``, e.g. the
    activation), the median of each group bold."""
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.subplots()
    group = np.full(len(model_id), "all") if group is None else group.astype(str)
    colours = {name: f"C{i % 10}" for i, name in enumerate(sorted(set(group)))}
    for model in np.unique(model_id):
        rows = np.flatnonzero(model_id == model)
        rows = rows[np.argsort(epoch[rows])]
        ax.plot(epoch[rows], test_acc[rows], color=colours[group[rows[0]]], alpha=0.15, lw=0.8)
    for name, colour in colours.items():
        epochs = np.unique(epoch[group == name])
        median = [np.nanmedian(test_acc[(group == name) & (epoch == e)]) for e in epochs]
        ax.plot(epochs, median, color=colour, lw=2.2, label=f"{name} (median)")
    ax.set(xlabel="epoch (0 = initialization)", ylabel="test accuracy", ylim=(0, 1))
    ax.legend(loc="lower right", fontsize=8)
    return fig


def training_curves(history: list[Mapping[str, float]]) -> Figure:
    """The encoder's losses per epoch and its validation probe R² of test accuracy."""
    fig = Figure(figsize=(7.2, 3.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    epochs = [h["epoch"] for h in history]
    for key in ("reconstruction", "contrastive", "behaviour", "val_reconstruction"):
        if key in history[0]:
            left.plot(epochs, [h[key] for h in history], label=key.replace("_", " "))
    left.set(xlabel="epoch", ylabel="loss", yscale="log", title="losses")
    left.legend(fontsize=8)
    if "val_probe_r2" in history[0]:
        right.plot(epochs, [h["val_probe_r2"] for h in history], color="tab:green")
    right.set(xlabel="epoch", ylabel="R²", title="validation probe of test acc.")
    return fig


def projection(embeddings: np.ndarray, test_acc: np.ndarray, epoch: np.ndarray) -> Figure:
    """The embeddings' first two principal components, coloured by accuracy and by epoch."""
    points = PCA(n_components=2, random_state=0).fit_transform(embeddings)
    fig = Figure(figsize=(8.4, 3.6), layout="constrained")
    for ax, values, label, cmap in zip(
        fig.subplots(1, 2),
        (test_acc, epoch),
        ("test accuracy", "epoch"),
        ("viridis", "plasma"),
        strict=True,
    ):
        shown = ax.scatter(points[:, 0], points[:, 1], c=values, s=5, cmap=cmap, alpha=0.8)
        fig.colorbar(shown, ax=ax, label=label)
        ax.set(xlabel="PC 1", ylabel="PC 2", title=f"coloured by {label}")
    return fig


def predicted_vs_true(
    predictions: Mapping[str, tuple[np.ndarray, np.ndarray]], r2: Mapping[str, float]
) -> Figure:
    """Predicted vs true test accuracy on the test split, one panel per method."""
    methods = list(predictions)
    columns = min(len(methods), 3)
    rows = -(-len(methods) // columns)
    fig = Figure(figsize=(3.1 * columns, 3.0 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, method in zip(axes, methods, strict=False):
        true, predicted = predictions[method]
        ax.scatter(true, predicted, s=6, alpha=0.6)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.set(
            title=f"{method}: R² {r2[method]:.3f}", xlabel="true test accuracy", ylabel="predicted"
        )
    for ax in axes[len(methods) :]:
        ax.set_visible(False)
    return fig


def zero_shot(groups: Mapping[str, np.ndarray]) -> Figure:
    """Zero-shot test accuracy of each group of networks: one dot per network, a box each."""
    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.subplots()
    names = list(groups)
    ax.boxplot([groups[n] for n in names], widths=0.5, showfliers=False)
    jitter = np.random.default_rng(0)
    for i, name in enumerate(names, start=1):
        values = groups[name]
        ax.scatter(
            i + jitter.uniform(-0.12, 0.12, len(values)),
            values,
            s=10,
            color=GROUP_COLOURS.get(name),
            zorder=3,
        )
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set(ylabel="test accuracy, zero-shot", ylim=(0, 1))
    return fig


def finetuning(curves: Mapping[str, np.ndarray]) -> Figure:
    """Mean test accuracy (± one standard deviation) while fine-tuning each group."""
    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.subplots()
    for name, curve in curves.items():
        epochs = np.arange(curve.shape[1])
        mean, std = curve.mean(0), curve.std(0)
        ax.plot(epochs, mean, marker="o", label=name, color=GROUP_COLOURS.get(name))
        ax.fill_between(epochs, mean - std, mean + std, alpha=0.2, color=GROUP_COLOURS.get(name))
    ax.set(xlabel="fine-tuning epochs", ylabel="test accuracy", ylim=(0, 1))
    ax.set_xticks(range(curve.shape[1]))
    ax.legend(loc="lower right", fontsize=8)
    return fig
