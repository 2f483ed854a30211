"""End to end: `weightspace diagnose grid | metrics | fit | evaluate | model` on a tiny grid."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from weightspace.cli import main
from weightspace.diagnose import PUBLISHED_COLUMNS, read_metrics
from weightspace.errors import ConfigError

FAST = ["--hessian-iters", "5", "--curve-epochs", "1", "--cka-samples", "50"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("diag") / "grid"
    args = ["diagnose", "grid", "--preset", "digits-md-tiny", "--out", str(out), "--quiet"]
    assert main([*args, "--widths", "4", "--epochs", "1"]) == 0
    return out


def test_a_resumed_grid_bar_starts_at_the_cells_already_trained(grid, capsys):
    args = ["diagnose", "grid", "--preset", "digits-md-tiny", "--out", str(grid)]
    assert main([*args, "--widths", "4", "--epochs", "1"]) == 0  # all 4 cells are there
    err = capsys.readouterr().err
    assert "grid: 100%" in err and "4/4" in err and "0/4" not in err  # nothing left to train


def test_grid_metrics_fit_evaluate_model(grid, tmp_path, capsys):
    # the convention: every --out is a directory (the table, the tree, the results inside),
    # and a directory written so stands for its file when read back
    metrics, trees, evaluation = tmp_path / "m", tmp_path / "t", tmp_path / "e"
    table_path = metrics / "metrics.parquet"
    assert (
        main(["diagnose", "metrics", "--zoo", str(grid), "--out", str(metrics), "--quiet", *FAST])
        == 0
    )
    table = pq.read_table(table_path)
    assert table.num_rows == 4  # 1 width x 2 batch sizes x 2 data fractions
    assert set(PUBLISHED_COLUMNS) <= set(table.column_names)
    rows = table.to_pylist()
    assert {r["width"] for r in rows} == {4} and {r["bs"] for r in rows} == {16, 256}
    assert all(r["n_seeds"] == 2 and np.isfinite(r["mode_connectivity_peak"]) for r in rows)
    assert all(0 <= r["train_error"] <= 100 and -1e-6 <= r["CKA"] <= 1 + 1e-6 for r in rows)

    # a second run refuses to overwrite; with --overwrite it reuses the finished parts
    assert main(["diagnose", "metrics", "--zoo", str(grid), "--out", str(metrics), *FAST]) == 2
    parts = sorted((metrics / "metrics.parquet.parts").iterdir())
    stamps = [p.stat().st_mtime_ns for p in parts]
    rerun = [
        "diagnose",
        "metrics",
        "--zoo",
        str(grid),
        "--out",
        str(metrics),
        "--overwrite",
        *FAST,
    ]
    capsys.readouterr()
    assert main(rerun) == 0
    assert "metrics: 100%" in capsys.readouterr().err  # a progress bar without --quiet
    assert pq.read_table(table_path).to_pylist() == rows
    assert [p.stat().st_mtime_ns for p in parts] == stamps  # nothing recomputed

    fitted = trees / "tree.json"
    assert main(["diagnose", "fit", "--train", str(metrics), "--out", str(trees)]) == 0
    saved = json.loads(fitted.read_text())
    assert saved["question"] == "temperature" and len(saved["thresholds"]) == 3

    args = ["diagnose", "evaluate", "--train", str(metrics), "--test", str(table_path)]
    results = evaluation / "evaluation.json"
    assert main([*args, "--pairs", "2", "--seeds", "42", "90", "--out", str(evaluation)]) == 0
    out = capsys.readouterr().out
    assert "MD tree" in out and "validation tree" in out
    assert set(json.loads(results.read_text())["results"]) == {
        "md", "validation", "hyperparameter", "landscape"
    }  # fmt: skip

    cell = next((grid / "cells").iterdir())
    assert main(["diagnose", "model", "--zoo", str(cell), "--tree", str(trees), *FAST]) == 0
    out = capsys.readouterr().out
    assert "bs_failure =" in out and "train_error =" in out


def test_a_retrained_cell_is_computed_again_the_others_reused(grid, tmp_path):
    import shutil

    copy = tmp_path / "grid"
    shutil.copytree(grid, copy)
    table_path = tmp_path / "metrics.parquet"
    args = ["diagnose", "metrics", "--zoo", str(copy), "--out", str(table_path), "--quiet", *FAST]
    assert main(args) == 0
    before = {r["zoo"]: r for r in pq.read_table(table_path).to_pylist()}
    cells = sorted((copy / "cells").iterdir())
    parts = tmp_path / "metrics.parquet.parts"
    kept = {p.name: p.stat().st_mtime_ns for p in parts.iterdir() if cells[0].name not in p.name}
    # "retrain" the first cell: its zoo now holds other weights (the second cell's)
    shutil.rmtree(cells[0])
    shutil.copytree(cells[1], cells[0])
    assert main([*args, "--overwrite"]) == 0
    after = pq.read_table(table_path).to_pylist()
    assert {p.name: p.stat().st_mtime_ns for p in parts.iterdir() if p.name in kept} == kept
    assert len(list(parts.glob(f"{cells[0].name}-*"))) == 1  # the stale part is gone
    from weightspace.zoo import open_zoo

    second = before[open_zoo(cells[1]).name]
    redone = [r for r in after if r["train_error"] == second["train_error"]]
    assert len(redone) == 2  # the copied cell's metrics, computed for it again


def test_bad_input_exits_2(grid, tmp_path, capsys):
    missing = str(tmp_path / "missing.parquet")
    assert main(["diagnose", "evaluate", "--train", missing, "--test", missing]) == 2
    assert (
        main(["diagnose", "metrics", "--zoo", str(tmp_path), "--out", str(tmp_path / "t.parquet")])
        == 2
    )
    bad_tree = tmp_path / "tree.json"
    bad_tree.write_text('{"format": "something else"}')
    cell = next((grid / "cells").iterdir())
    assert main(["diagnose", "model", "--zoo", str(cell), "--tree", str(bad_tree)]) == 2
    # the same --out with another grid config is refused, not overwritten
    assert main(["diagnose", "grid", "--preset", "digits-md-tiny", "--out", str(grid)]) == 2
    assert "error:" in capsys.readouterr().err


def test_csv_and_parquet_read_the_same(tmp_path):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    table = {"width": [2, 2, 4, 4], "bs": [16, 64, 16, 64], "data": [10] * 4,
             "test_acc": [80.0, 85.0, 90.0, 70.0]}  # fmt: skip
    pcsv.write_csv(pa.table(table), tmp_path / "t.csv")
    pq.write_table(pa.table(table), tmp_path / "t.parquet")
    a, b = read_metrics(tmp_path / "t.csv"), read_metrics(tmp_path / "t.parquet")
    assert a["bs_failure"].tolist() == b["bs_failure"].tolist() == [
        "large", "optimal", "optimal", "small"
    ]  # fmt: skip


def test_a_table_without_metrics_is_a_clear_error(tmp_path, capsys):
    import pyarrow as pa

    table = {"width": [2, 2, 4, 4], "bs": [16, 64, 16, 64], "data": [10] * 4,
             "test_acc": [80.0, 85.0, 90.0, 70.0]}  # fmt: skip
    pq.write_table(pa.table(table), tmp_path / "grid.parquet")
    path = str(tmp_path / "grid.parquet")
    assert main(["diagnose", "evaluate", "--train", path, "--test", path, "--pairs", "1"]) == 2
    assert "train_error" in capsys.readouterr().err


def test_label_noise_flips_only_training_labels():
    from weightspace.zoo import DatasetConfig, load_dataset

    clean = load_dataset(DatasetConfig("digits"))
    noisy = load_dataset(DatasetConfig("digits", label_noise=0.1))
    changed = (clean.train_y != noisy.train_y).float().mean().item()
    assert abs(changed - 0.1) < 1 / len(clean.train_y)
    assert (clean.test_y == noisy.test_y).all() and (clean.val_y == noisy.val_y).all()
    again = load_dataset(DatasetConfig("digits", label_noise=0.1))
    assert (again.train_y == noisy.train_y).all()  # seeded


def _published_csv(path, seed: int = 0) -> dict:
    """A small table in the released CSV layout: widths 2 (11,420 parameters, the paper's
    "0.011 M") to 8, data tenths of 5,000 images, labels derived from its test accuracies."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from weightspace.diagnose import derive_labels

    rng = np.random.default_rng(seed)
    grid = np.array([(w, b, d) for w in (2, 3, 4, 8) for b in (16, 64, 256) for d in (1, 2, 5, 10)],
                    dtype=float)  # fmt: skip
    table = {name: rng.normal(size=len(grid)) for name in PUBLISHED_COLUMNS}
    table["width"], table["bs"], table["data"] = grid.T
    table["data_amount"] = 5000 * table["data"]
    table["para_amount"] = np.round(11420 * (table["width"] / 2) ** 2)
    table["test_acc"] = rng.uniform(50, 90, len(grid))
    table["train_error"] = rng.uniform(0, 2, len(grid))
    table.update(derive_labels(table["width"], table["bs"], table["data"], table["test_acc"]))
    pcsv.write_csv(pa.table({c: list(table[c]) for c in PUBLISHED_COLUMNS}), path)
    return table


def _fit_rows(capsys) -> int:
    line = capsys.readouterr().out.splitlines()[0]
    return int(line.split("fit on ")[1].split()[0])


def test_paper_cases_run_by_name(tmp_path, capsys):
    path = str(_published_csv(tmp_path / "clean.csv") and tmp_path / "clean.csv")
    table = read_metrics(path)
    usable = table["bs_failure"] != "optimal"
    run = ["diagnose", "evaluate", "--train", path, "--test", path, "--seeds", "42"]
    # params <= 0.011 M: the narrowest models (11,420 parameters = 0.011 M to 3 decimals)
    assert main([*run, "--case", "params-le-0.011M"]) == 0
    assert _fit_rows(capsys) == int((usable & (table["width"] == 2)).sum())
    # the default --max-params (11,000, "0.011 M") selects the same rows on the paper's layout
    assert main([*run, "--protocol", "scale-params"]) == 0
    assert _fit_rows(capsys) == int((usable & (table["width"] == 2)).sum())
    assert main([*run, "--protocol", "scale-params", "--params-digits", "-1"]) == 2  # exact
    capsys.readouterr()
    assert main([*run, "--case", "data-le-5k"]) == 0  # data <= 5,000 images
    assert _fit_rows(capsys) == int((usable & (table["data_amount"] <= 5000)).sum())
    assert main([*run, "--case", "random-configs", "--pairs", "2"]) == 0  # flags override
    pairs = {(d, w) for d, w in zip(table["data"], table["width"], strict=True)}
    assert _fit_rows(capsys) < usable.sum() and len(pairs) > 2
    assert main([*run, "--case", "no-such-case"]) == 2


def test_random_data_fractions_fit_on_whole_fractions(tmp_path, capsys):
    from weightspace.diagnose.protocols import case_config, fitting_rows, usable

    table = _published_csv(tmp_path / "clean.csv")
    config = case_config("random-data-fractions", question="width")
    assert config.protocol == "data-fractions" and config.fractions == 1
    rows = usable(table, config)
    chosen = set()
    for seed in config.seeds:
        fit = fitting_rows(rows, config, seed)
        (fraction,) = set(fit["data"].tolist())  # one whole data fraction, all widths and batches
        assert len(fit["data"]) == int((rows["data"] == fraction).sum())
        chosen.add(fraction)
    assert len(chosen) > 1  # each seed draws its own fraction
    path = str(tmp_path / "clean.csv")
    args = ["diagnose", "evaluate", "--train", path, "--test", path, "--question", "width"]
    assert main([*args, "--case", "random-data-fractions", "--fractions", "2"]) == 0
    assert "hyperparam tree" in capsys.readouterr().out


def test_paper_table_runs_every_case(tmp_path, capsys):
    from weightspace.diagnose.protocols import CASES, PAPER_TABLE

    clean, noisy = tmp_path / "clean.csv", tmp_path / "noise.csv"
    _published_csv(clean, seed=0), _published_csv(noisy, seed=1)
    out_json = tmp_path / "table" / "evaluation.json"  # what --out DIR receives
    args = ["diagnose", "evaluate", "--train", str(clean), "--test", str(noisy), "--seeds", "42"]
    assert main([*args, "--paper-table", "--out", str(out_json.parent)]) == 0
    *lines, wrote = capsys.readouterr().out.splitlines()
    assert wrote == f"wrote {out_json}"
    assert [line.split()[:2] for line in lines[2:]] == [c.split() for c, *_ in PAPER_TABLE]
    assert "87.70)" in lines[2] and "78.16)" in lines[6]  # published figures beside ours
    saved = json.loads(out_json.read_text())["results"]
    assert [r["name"] for r in saved] == [name for _, _, name, _ in PAPER_TABLE]
    assert main(["diagnose", "evaluate", "--help"]) == 0
    text = "".join(capsys.readouterr().out.split())  # argparse may wrap at a hyphen
    assert all(name in text for name in CASES)  # the help names every case


def test_outputs_never_replace_an_input_or_a_file_without_overwrite(tmp_path, capsys):
    path = tmp_path / "clean.csv"
    _published_csv(path)
    before = path.read_bytes()
    assert main(["diagnose", "fit", "--train", str(path), "--out", str(path), "--overwrite"]) == 2
    assert path.read_bytes() == before  # not even with --overwrite: it is the input
    out = tmp_path / "r.json"
    out.write_text("mine")
    args = ["diagnose", "evaluate", "--train", str(path), "--test", str(path), "--seeds", "42"]
    assert main([*args, "--out-file", str(out)]) == 2 and out.read_text() == "mine"
    assert "--out-file" in capsys.readouterr().err
    assert main([*args, "--json", str(out), "--overwrite"]) == 0  # the old spelling, with a note
    assert json.loads(out.read_text())
    assert f"note: --json FILE is the old spelling; use --out-file {out}" in capsys.readouterr().err


def test_a_tree_file_with_a_nan_threshold_is_refused(tmp_path):
    from weightspace.diagnose.tree import MDTree
    from weightspace.errors import FileFormatError

    path = tmp_path / "clean.csv"
    _published_csv(path)
    fitted = tmp_path / "tree.json"
    assert main(["diagnose", "fit", "--train", str(path), "--out", str(fitted)]) == 0
    raw = json.loads(fitted.read_text())
    assert MDTree.load(fitted).thresholds_.size == len(raw["thresholds"])  # positive control
    raw["thresholds"][0] = float("nan")
    fitted.write_text(json.dumps(raw))
    with pytest.raises(FileFormatError, match="finite"):
        MDTree.load(fitted)


def _legacy_choice(seed: int, population: list, k: int) -> list:
    """The released code's draw, written out: seed NumPy's global generator, then choice
    without replacement."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        return [population[i] for i in np.random.choice(len(population), size=k, replace=False)]
    finally:
        np.random.set_state(state)  # leave the global generator as it was


def test_random_samples_are_the_released_codes_draws(tmp_path):
    # the paper's cases 1 and 4 fit on random samples; a seed must select the configurations
    # the authors' code selects for it, or the published figures cannot be reproduced
    from weightspace.diagnose.protocols import case_config, fitting_rows, usable
    from weightspace.diagnose.tables import select

    table = _published_csv(tmp_path / "clean.csv")
    # one (data, width) pair absent: it is still drawn (and then adds no rows), as in the
    # released code, which draws from the product of the sorted fractions and widths
    absent = (table["data"] == 2) & (table["width"] == 3)
    table = select(table, ~absent)
    for case, question in (("random-configs", "temperature"), ("random-data-fractions", "width")):
        config = case_config(case, question=question)
        rows = usable(table, config)
        data, width = sorted(set(rows["data"].tolist())), sorted(set(rows["width"].tolist()))
        if case == "random-configs":  # every data fraction x every width, present or not
            population, k = [(d, w) for d in data for w in width], config.pairs
            keys = list(zip(rows["data"].tolist(), rows["width"].tolist(), strict=True))
            assert (2, 3) in population and (2, 3) not in keys
        else:
            population, k, keys = data, config.fractions, rows["data"].tolist()
        for seed in config.seeds:
            chosen = set(_legacy_choice(seed, population, k))
            expected = [i for i, key in enumerate(keys) if key in chosen]
            fit = fitting_rows(rows, config, seed)
            for column in ("data", "width", "bs"):
                assert fit[column].tolist() == [rows[column][i] for i in expected], (case, seed)
    rows = usable(table, case_config("random-configs"))
    with pytest.raises(ConfigError, match="--pairs"):  # more pairs than the product holds
        fitting_rows(rows, case_config("random-configs", pairs=17), 42)
    with pytest.raises(ConfigError, match="seeds"):  # beyond NumPy's legacy generator
        case_config("random-configs", seeds=(2**32,))


def test_baseline_trees_see_the_released_scripts_features_in_their_order(tmp_path):
    # scikit-learn breaks ties between equally good splits by a seeded permutation of the
    # features, so the order is part of the published definition
    from sklearn.tree import DecisionTreeClassifier

    from weightspace.diagnose.tree import BaselineTree

    released = {
        "validation": ["train_error", "train_loss", "test_loss", "test_error"],
        "landscape": ["train_error", "mode_connectivity_peak", "CKA", "hessian_t"],
    }
    _published_csv(tmp_path / "a.csv", seed=0)
    _published_csv(tmp_path / "b.csv", seed=1)
    train, test = (read_metrics(str(tmp_path / f)) for f in ("a.csv", "b.csv"))
    fit, score = (t["bs_failure"] != "optimal" for t in (train, test))
    for features, cols in released.items():
        for seed in (42, 90):
            tree = BaselineTree(features, "bs_failure", seed).fit(train)
            assert list(tree.columns) == cols
            x = np.stack([np.asarray(train[c], float)[fit] for c in cols], 1)
            ref = DecisionTreeClassifier(max_depth=4, random_state=seed)
            ref.fit(x, np.asarray(train["bs_failure"])[fit].astype(str))
            xt = np.stack([np.asarray(test[c], float)[score] for c in cols], 1)
            labels = np.asarray(test["bs_failure"])[score].astype(str)
            assert tree.score(test) == pytest.approx((ref.predict(xt) == labels).mean())


RELEASED = pytest.mark.skipif(
    not os.environ.get("WEIGHTSPACE_MD_TABLES"),
    reason="set WEIGHTSPACE_MD_TABLES to a folder holding the paper's released CSVs",
)


@RELEASED
def test_the_paper_table_reproduces_on_the_released_tables():
    # github.com/YefanZhou/ModelDiagnosis, model_diagnosis_dataset/dataframe/ (not shipped here)
    from weightspace.diagnose.protocols import paper_table

    root = os.environ["WEIGHTSPACE_MD_TABLES"]
    train = read_metrics(f"{root}/dataframe_normal_public.csv")
    test = read_metrics(f"{root}/dataframe_noise_public.csv")
    for row in paper_table(train, test):
        for method, published in row["published"].items():
            ours = 100 * row["results"][method]["mean"]
            if (row["case"], method) == ("case 1", "hyperparameter"):
                # a scikit-learn tie-break: the released code's tree seed gives 49.56
                assert ours == pytest.approx(49.54, abs=0.01)
                continue
            # the paper cuts its figures to 2 decimals (78.168 % is printed 78.16)
            assert math.floor(100 * ours + 1e-6) / 100 == published, (row["case"], method, ours)
