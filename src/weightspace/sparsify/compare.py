"""Compare a twin zoo with its original: accuracy versus sparsity, sparsity per layer,
prediction agreement and Cohen's kappa per twin, and the correlation of original and twin
accuracy across the zoo (Honegger, Schürholt & Borth 2023).

Twins are grouped by sparsity level (magnitude pruning) or by sparsification epoch
(variational dropout); every statistic is per group, over the group's twins. Intervals resample
independent units (`weightspace.stats`): the model when every model of the zoo has its own seed,
the group of models sharing seed and init in a fixed-seed grid (siblings start from the same
weights and see the data in the same order, so they are not independent draws).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from torch import nn

from weightspace.functional import stacked_logits
from weightspace.sparsify.masks import layer_sparsity
from weightspace.sparsify.run import resolve_original
from weightspace.stats import HIGHER, LOWER, NOISE, TOO_FEW, Estimate, mean_estimate, verdict
from weightspace.zoo.architectures import build_model
from weightspace.zoo.datasets import load_dataset
from weightspace.zoo.reader import Zoo, open_zoo


@torch.no_grad()
def predictions(zoo: Zoo, rows: np.ndarray, x: torch.Tensor, batch: int = 256) -> np.ndarray:
    """(n, B) top-1 predictions of the checkpoints ``rows`` on inputs ``x`` (B, C, H, W)."""
    out = np.empty((len(rows), len(x)), dtype=np.int64)
    archs = [zoo.arch(int(r)) for r in rows]
    for arch in dict.fromkeys(archs):  # one vectorized network per architecture config
        mine = np.flatnonzero([a == arch for a in archs])
        template = build_model(arch).to("meta").eval()
        for start in range(0, len(mine), batch):
            part = mine[start : start + batch]
            logits = stacked_logits(template, zoo.weights(rows[part]), x)  # (b, B, K)
            out[part] = logits.argmax(-1).numpy()
    return out


def cohen_kappa(a: np.ndarray, b: np.ndarray, classes: int) -> np.ndarray:
    """Cohen's kappa (n,) between paired label rows ``a`` and ``b`` (n, B)."""
    observed = (a == b).mean(1)
    share_a = np.stack([(a == k).mean(1) for k in range(classes)], 1)  # (n, K)
    share_b = np.stack([(b == k).mean(1) for k in range(classes)], 1)
    chance = (share_a * share_b).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = (observed - chance) / (1.0 - chance)
    return np.where(chance >= 1.0, np.where(observed >= 1.0, 1.0, 0.0), kappa)


def _correlation(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan"), float("nan")
    return float(pearsonr(x[ok], y[ok])[0]), float(spearmanr(x[ok], y[ok])[0])


SIBLINGS = ("seed", "init")  # in a fixed-seed grid, models sharing these start alike
GROUP_UNIT = "seed-init group"


def twin_units(zoo: Zoo, rows: np.ndarray) -> tuple[np.ndarray, str]:
    """The independent unit of each original row (one key per row) and the unit's name.

    A zoo whose (seed, init) pairs are all distinct has models with their own seeds: the unit is
    the model. A fixed-seed grid repeats pairs across its configurations: the unit is the
    group of models sharing seed and init (``"seed-init group"``).
    """
    rows = np.asarray(rows, dtype=np.int64)
    models = zoo.column("model_id")
    if not all(c in zoo.table.column_names for c in SIBLINGS):
        return models[rows].astype(str), "model"
    keys = np.array(
        [f"{s}\x1f{i}" for s, i in zip(zoo.column("seed"), zoo.column("init"), strict=True)]
    )
    per_model = dict(zip(models.tolist(), keys.tolist(), strict=True))
    if len(set(per_model.values())) == len(per_model):
        return models[rows].astype(str), "model"
    return keys[rows], GROUP_UNIT


def unit_means(values: np.ndarray, units: np.ndarray) -> np.ndarray:
    """The mean of the finite ``values`` of each unit (units without one are left out)."""
    values, units = np.asarray(values, dtype=float), np.asarray(units).astype(str)
    ok = np.isfinite(values)
    return np.array([values[ok & (units == u)].mean() for u in np.unique(units[ok])])


def _sparsified(zoo: Zoo) -> tuple[str, ...]:
    with torch.device("meta"):
        net = build_model(zoo.arch(0))
    return tuple(
        f"{path}.weight" for path, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    )


def _layers(twin: Zoo, rows: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """(n, L) share of zeros per sparsified layer of the checkpoints ``rows``."""
    parts = [
        layer_sparsity(twin.weights(rows[s : s + 512]), names).numpy()
        for s in range(0, len(rows), 512)
    ]
    return np.concatenate(parts)


def compare_twins(original: Zoo | str | None, twin: Zoo | str) -> dict:
    """Everything the twins-versus-originals study reports, as a JSON-ready dict.

    ``groups``: per sparsity level or epoch, the twins' count, sparsity and test accuracy
    (mean, std), the originals' mean accuracy, top-1 agreement and Cohen's kappa on the test
    split (mean, std), Pearson and Spearman correlation of original vs twin accuracy, and the
    accuracy loss (original - twin) as an `Estimate` over the independent units (``loss``,
    with ``test_units`` and ``unit``); ``layers``: mean sparsity per layer and group;
    ``points``: per twin, for plots and the crossover (with its unit key).

    Example:
        >>> result = compare_twins("zoo/", "zoo-vd/")
        >>> [(g["key"], g["test_acc_mean"]) for g in result["groups"]]
    """
    twin = twin if isinstance(twin, Zoo) else open_zoo(twin)
    original, links = resolve_original(twin, original)
    method = twin.manifest["twin"]["method"]
    usable = np.flatnonzero(twin.column("status") == "ok")
    splits = load_dataset(original.config.dataset)
    x, classes = splits.test_x, splits.num_classes
    twin_pred = predictions(twin, usable, x)
    unique, inverse = np.unique(links[usable], return_inverse=True)
    original_pred = predictions(original, unique, x)[inverse.reshape(-1)]
    agreement = (twin_pred == original_pred).mean(1)
    kappa = cohen_kappa(twin_pred, original_pred, classes)
    by = "target_sparsity" if method == "magnitude" else "epoch"
    key = twin.column(by)[usable]
    acc, sparsity = twin.column("test_acc")[usable], twin.column("sparsity")[usable]
    original_acc = original.column("test_acc")[links[usable]]
    names = _sparsified(twin)
    per_layer = _layers(twin, usable, names)
    units, unit = twin_units(original, links[usable])
    groups = []
    for value in np.unique(key):
        g = key == value
        pearson, spearman = _correlation(original_acc[g], acc[g])
        loss = mean_estimate(unit_means(original_acc[g] - acc[g], units[g]), unit)
        groups.append(
            {
                "key": float(value),
                "n": int(g.sum()),
                "loss": loss.to_dict(),
                "test_units": loss.units,
                "unit": unit,
                **_stats("sparsity", sparsity[g]),
                **_stats("test_acc", acc[g]),
                "original_test_acc_mean": float(original_acc[g].mean()),
                **_stats("agreement", agreement[g]),
                **_stats("kappa", kappa[g]),
                "pearson": pearson,
                "spearman": spearman,
                "layer_sparsity": per_layer[g].mean(0).tolist(),
            }
        )
    return {
        "original": original.name,
        "twin": twin.name,
        "method": method,
        "group_by": by,
        "unit": unit,
        "layers": list(names),
        "groups": groups,
        "points": {
            "model": original.column("model_id")[links[usable]].tolist(),
            "unit": units.tolist(),
            "key": key.tolist(),
            "sparsity": sparsity.tolist(),
            "test_acc": acc.tolist(),
            "original_test_acc": original_acc.tolist(),
        },
    }


def _stats(name: str, values: np.ndarray) -> dict[str, float]:
    return {f"{name}_mean": float(np.mean(values)), f"{name}_std": float(np.std(values))}


PUBLISHED = {"below": LOWER, "above": HIGHER}  # the paper: MP better below 80 %, VD above


def crossover(magnitude: dict, vd: dict, split: float = 0.8, resamples: int = 1000) -> dict:
    """Where variational dropout beats magnitude pruning, below and at/above ``split``
    sparsity: the mean over independent units (models, or seed-init groups of a fixed-seed
    grid: ``vd["points"]["unit"]``, else each model) of VD minus MP, with a 95 % bootstrap
    interval over the units (none below `weightspace.stats.MIN_UNITS`) and its `verdict`.

    Each model's *final* VD checkpoint (the most training, as magnitude pruning's fine-tuned
    twins have) is compared with its own original's magnitude-pruning curve interpolated at
    the VD twin's sparsity (models whose VD sparsity lies outside their pruning range are left
    out). Models that VD sparsifies more are often the weaker ones, so comparing each VD twin
    with the population's mean pruning curve (``unpaired``, on the same twins) mixes model
    quality into the method comparison.
    """
    mp, v = magnitude["points"], vd["points"]
    s, a = np.asarray(v["sparsity"], float), np.asarray(v["test_acc"], float)
    vd_model, mp_model = np.asarray(v["model"]), np.asarray(mp["model"])
    units = np.asarray(v.get("unit", vd_model)).astype(str)
    unit = vd.get("unit", "model")
    mp_s, mp_a = np.asarray(mp["sparsity"], float), np.asarray(mp["test_acc"], float)
    key = np.asarray(v.get("key", np.zeros(len(s))), float)  # VD's epoch
    paired = np.full(len(s), np.nan)
    for model in np.unique(vd_model):
        here, own = vd_model == model, mp_model == model
        if not own.any():
            continue
        i = np.flatnonzero(here & (key == key[here].max()))  # its final VD twin
        order = np.argsort(mp_s[own])
        xs, ys = mp_s[own][order], mp_a[own][order]
        inside = i[(xs[0] <= s[i]) & (s[i] <= xs[-1])]
        paired[inside] = a[inside] - np.interp(s[inside], xs, ys)
    curve = sorted((g["sparsity_mean"], g["test_acc_mean"]) for g in magnitude["groups"])
    xs, ys = np.array([c[0] for c in curve]), np.array([c[1] for c in curve])
    unpaired = np.where(~np.isnan(paired), a - np.interp(s, xs, ys), np.nan)
    out: dict = {"split": split, "unit": unit}
    for gaps, where in ((paired, out), (unpaired, out.setdefault("unpaired", {}))):
        for name, part in (("below", s < split), ("above", s >= split)):
            chosen = part & ~np.isnan(gaps)
            est = mean_estimate(unit_means(gaps[chosen], units[chosen]), unit, n=resamples)
            where[name] = _side(est, int(chosen.sum()), PUBLISHED[name])
    return out


def _side(est: Estimate, models: int, published: str) -> dict:
    low, high = (est.low, est.high) if est.has_interval else (float("nan"), float("nan"))
    return {
        "n": models,
        "vd_minus_mp": est.value,
        "low": low,
        "high": high,
        "test_units": est.units,
        "unit": est.unit,
        "verdict": verdict(low, high),
        "finding": finding(verdict(low, high), published, est.units),
        "text": est.text(),
    }


def finding(said: str, published: str, units: int) -> str:
    """What an interval's `verdict` says of a published direction (`HIGHER` or `LOWER`):
    "as published" only when it excludes 0 on the published side, "not reproduced" when it
    excludes 0 on the other, else "within the noise" or "too few units (n)"."""
    if said == TOO_FEW:
        return f"too few units ({units})"
    if said == NOISE:
        return NOISE
    return "as published" if said == published else "not reproduced"


def summary_table(results: Sequence[dict]) -> str:
    """A Markdown table of the groups of one or more comparisons; the accuracy loss (original
    minus twin) with its interval over ``test_units`` independent ``unit``s."""
    lines = [
        "| method | group | n | sparsity | test acc | original acc | loss (original - twin) "
        "| test_units | unit | agreement | kappa | Pearson | Spearman |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        for g in result["groups"]:
            label = f"{g['key']:.2f}" if result["group_by"] != "epoch" else f"epoch {g['key']:.0f}"
            loss = _estimate(g["loss"])
            lines.append(
                f"| {result['method']} | {label} | {g['n']} "
                f"| {g['sparsity_mean']:.3f} ± {g['sparsity_std']:.3f} "
                f"| {g['test_acc_mean']:.3f} ± {g['test_acc_std']:.3f} "
                f"| {g['original_test_acc_mean']:.3f} | {loss.text()} "
                f"| {loss.units} | {loss.unit} "
                f"| {g['agreement_mean']:.3f} | {g['kappa_mean']:.3f} "
                f"| {g['pearson']:.3f} | {g['spearman']:.3f} |"
            )
    return "\n".join(lines)


def _estimate(d: dict) -> Estimate:
    """An `Estimate` back from its ``to_dict`` form."""
    nan = float("nan")
    low, high = d.get("low"), d.get("high")
    return Estimate(
        d["value"],
        nan if low is None else low,
        nan if high is None else high,
        d["test_units"],
        d["unit"],
    )
