"""Transfer protocols of the MD-tree paper: fit on one collection, score on another.

``dataset``: fit on the configurations of k random (data, width) pairs of the training
collection (all their batch sizes; pairs drawn from every data fraction x width, as the
authors' released code draws them), score on the whole test collection. ``data-fractions``: fit
on k random data fractions (all their widths and batch sizes). ``scale-data`` /
``scale-params``: fit only on configurations with little data or few parameters. Rows labelled
'optimal' are left out of fitting and scoring (`labels.counted`). Each seed draws its own
sample; results are means. `CASES` names the paper's cases (its released benchmark table).
"""

from __future__ import annotations

import numpy as np

from weightspace.diagnose.config import EvaluateConfig
from weightspace.diagnose.labels import counted
from weightspace.diagnose.tables import Table, columns, select
from weightspace.diagnose.tree import SHAPES, BaselineTree, MDTree
from weightspace.errors import ConfigError, check_choice
from weightspace.stats import mean_estimate, paired_estimate

METHODS = ("md", "validation", "hyperparameter", "landscape")


def usable(table: Table, config: EvaluateConfig) -> Table:
    """The rows a question is asked about: labelled non-optimal, wide enough."""
    shape = SHAPES[config.question]
    min_width = shape.min_width if config.min_width < 0 else config.min_width
    keep = counted(table[shape.label]) & (np.asarray(table["width"], dtype=float) >= min_width)
    return select(table, keep)


def _params(table: Table, digits: int) -> np.ndarray:
    """Parameter counts, rounded to ``digits`` decimals in millions (-1: exact)."""
    amount = columns(table, ["para_amount"], "scale-params protocol")[:, 0]
    if digits < 0:
        return amount
    unit = 10.0 ** (6 - digits)  # 0.001 M = 1,000 parameters for 3 decimals
    return np.round(amount / unit) * unit


def fitting_rows(table: Table, config: EvaluateConfig, seed: int) -> Table:
    """The training collection's rows a protocol fits on, for one seed."""
    if config.protocol == "scale-data":
        amount = columns(table, ["data_amount"], "scale-data protocol")[:, 0]
        return select(table, amount <= config.max_data)
    if config.protocol == "scale-params":
        return select(table, _params(table, config.params_digits) <= config.max_params)
    # The released code's draw: NumPy's legacy generator seeded with the seed, then `choice`
    # without replacement (= the first k of `permutation`) over the sorted data fractions, or
    # over every (data, width) pair of the sorted fractions x sorted widths, so a seed selects
    # the same configurations as the paper's runs.
    rng = np.random.RandomState(seed)
    data = np.asarray(table["data"], dtype=float)
    fractions = np.unique(data)
    if config.protocol == "data-fractions":
        _check_sample("--fractions", config.fractions, len(fractions), "data fractions")
        chosen = fractions[rng.permutation(len(fractions))[: config.fractions]]
        return select(table, np.isin(data, chosen))
    width = np.asarray(table["width"], dtype=float)
    pairs = [(d, w) for d in fractions for w in np.unique(width)]
    _check_sample("--pairs", config.pairs, len(pairs), "(data, width) pairs")
    chosen = {pairs[i] for i in rng.permutation(len(pairs))[: config.pairs]}
    return select(table, np.array([p in chosen for p in zip(data, width, strict=True)]))


def _check_sample(flag: str, k: int, available: int, what: str) -> None:
    """A draw without replacement needs k <= the population (the released code's `choice`
    raises there too)."""
    if k > available:
        raise ConfigError(
            flag, f"at most the {available} {what} of the training table", k,
            f"Pass {flag} {available} or fewer",
        )  # fmt: skip


def md_tree(config: EvaluateConfig) -> MDTree:
    """The unfitted MD tree a config describes."""
    return MDTree(config.question, config.search, config.bounds, config.passes)


def evaluate(train: Table, test: Table, config: EvaluateConfig) -> dict[str, dict]:
    """Mean (and per-seed) test accuracy of the MD tree and the three baseline trees.

    Returns {method: {"mean": float, "per_seed": [...], "fit_rows": [...], "interval": the
    mean's bootstrap interval over seeds (none below 8 seeds), "md_minus": MD tree minus this
    method, paired by seed}}.
    """
    train, test = usable(train, config), usable(test, config)
    if len(test[SHAPES[config.question].label]) == 0:
        raise ConfigError("--test", "a table with non-optimal rows for this question", 0)
    label = SHAPES[config.question].label
    scores: dict[str, list[float]] = {m: [] for m in METHODS}
    sizes = []
    for seed in config.seeds:
        fit = fitting_rows(train, config, seed)
        if len(fit[label]) == 0:
            fix = {
                "scale-data": "Raise --max-data",
                "scale-params": "Raise --max-params (or --params-digits)",
            }.get(config.protocol, "Raise --pairs: every (data, width) pair drawn is absent")
            raise ConfigError(
                "--protocol", "a protocol that leaves rows to fit on", config.protocol,
                f"{fix} (seed {seed})",
            )  # fmt: skip
        sizes.append(len(fit[label]))
        scores["md"].append(md_tree(config).fit(fit).score(test))
        for features in METHODS[1:]:
            tree = BaselineTree(features, label, seed, hyperparameters=config.hyperparameters)
            tree.fit(fit)
            scores[features].append(tree.score(test))
    out = {}
    for m, v in scores.items():
        # the seeds (sampled configurations, tree seeds) are the independent units
        estimate = mean_estimate(v, "seed")
        versus_md = paired_estimate(scores["md"], v, "seed") if m != "md" else None
        out[m] = {
            "mean": float(np.mean(v)),
            "per_seed": v,
            "fit_rows": sizes,
            "test_rows": len(test[label]),
            "interval": estimate.to_dict(),
            "md_minus": versus_md.to_dict() if versus_md is not None else None,
        }
    return out


def format_results(results: dict[str, dict], config: EvaluateConfig) -> str:
    """A plain-text table: method, mean accuracy (%), per-seed accuracies."""
    lines = [
        f"question {config.question}, protocol {config.protocol}, "
        f"fit on {np.mean(results['md']['fit_rows']):.0f} rows (mean), "
        f"tested on {results['md']['test_rows']} rows",
        f"{'method':<16}{'accuracy %':>11}  per seed",
    ]
    names = {"md": "MD tree", "validation": "validation tree", "hyperparameter": "hyperparam tree",
             "landscape": "landscape tree"}  # fmt: skip
    for m, r in results.items():
        per = " ".join(f"{100 * s:.1f}" for s in r["per_seed"])
        lines.append(f"{names[m]:<16}{100 * r['mean']:>11.2f}  {per}")
    lines.append(_interval_line(results))
    return "\n".join(lines)


def _interval_line(results: dict[str, dict]) -> str:
    """MD tree minus each baseline, paired by seed, with its 95 % interval over seeds (or the
    seed count where there are too few for one)."""
    parts = []
    for m, r in results.items():
        diff = r.get("md_minus")
        if not diff:
            continue
        text = f"{100 * diff['value']:+.2f}"
        if diff["low"] is not None:
            text += f" [{100 * diff['low']:+.2f}, {100 * diff['high']:+.2f}]"
        parts.append(f"{m} {text}")
    units = results["md"]["interval"]["test_units"]
    shown = (
        "95 % interval over seeds"
        if results["md"]["interval"]["low"] is not None
        else (f"{units} seeds: too few for an interval (8 needed)")
    )
    return f"MD tree minus (points, paired by seed; {shown}): " + ", ".join(parts)


CASES = {
    "random-configs": (
        "case 1: k random (data, width) pairs, 8 pairs = 96 configurations",
        {"protocol": "dataset", "pairs": 8},
    ),
    "data-le-5k": (
        "cases 2 and 5: scale transfer, training data <= 5,000 images",
        {"protocol": "scale-data", "max_data": 5000},
    ),
    "params-le-0.011M": (
        "case 3: scale transfer, params <= 0.011 M in millions to 3 decimals (width 2, 11,420)",
        {"protocol": "scale-params", "max_params": 11000, "params_digits": 3},
    ),
    "random-data-fractions": (
        "case 4: k random data fractions (all widths, batch sizes), 1 fraction = 167 configs",
        {"protocol": "data-fractions", "fractions": 1},
    ),
}


def case_config(name: str, **settings: object) -> EvaluateConfig:
    """The config of one of the paper's cases (`CASES`); ``settings`` override its values."""
    check_choice("--case", name, tuple(CASES))
    return EvaluateConfig(**{**CASES[name][1], **settings})  # type: ignore[arg-type]


# The paper's results table (the released benchmark's Table B: CIFAR-10 ResNet-18, fit on the
# clean collection, scored on the 10 % label-noise one): case, question, case name, and the
# published accuracies (%) of the hyperparameter tree, the validation tree and the MD tree.
PAPER_TABLE = (
    ("case 1", "temperature", "random-configs", (49.56, 72.82, 87.70)),
    ("case 2", "temperature", "data-le-5k", (64.74, 51.73, 75.89)),
    ("case 3", "temperature", "params-le-0.011M", (60.12, 67.55, 82.56)),
    ("case 4", "width", "random-data-fractions", (53.54, 55.79, 74.10)),
    ("case 5", "width", "data-le-5k", (53.54, 63.61, 78.16)),
)
SHARED = ("seeds", "search", "bounds", "passes", "hyperparameters", "min_width")


def paper_table(train: Table, test: Table, config: EvaluateConfig | None = None) -> list[dict]:
    """Every case of `PAPER_TABLE` on two tables; ``config`` gives the settings the cases
    share (seeds, threshold fit, hyperparameter features, min width)."""
    shared = {k: getattr(config or EvaluateConfig(), k) for k in SHARED}
    rows = []
    for case, question, name, published in PAPER_TABLE:
        results = evaluate(train, test, case_config(name, question=question, **shared))
        rows.append({"case": case, "question": question, "name": name, "results": results,
                     "published": dict(zip(("hyperparameter", "validation", "md"), published,
                                           strict=True))})  # fmt: skip
    return rows


def format_paper_table(rows: list[dict]) -> str:
    """Plain text: per case, fit rows and our accuracy (%) beside the published one."""
    methods = (("md", "MD tree"), ("validation", "validation"), ("hyperparameter", "hyperparam"))
    lines = [f"{'case':<8}{'question':<13}{'case name':<23}{'fit':>6}"
             + "".join(f"{label:>20}" for _, label in methods),
             f"{'':<50}" + "ours (paper)".rjust(20) * len(methods)]  # fmt: skip
    for row in rows:
        fit = np.mean(row["results"]["md"]["fit_rows"])
        cells = [f"{100 * row['results'][m]['mean']:.2f} ({row['published'][m]:.2f})"
                 for m, _ in methods]  # fmt: skip
        lines.append(f"{row['case']:<8}{row['question']:<13}{row['name']:<23}{fit:>6.0f}"
                     + "".join(f"{c:>20}" for c in cells))  # fmt: skip
    return "\n".join(lines)
