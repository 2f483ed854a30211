"""`weightspace demo --quick` end to end, and `weightspace report` on its run directory."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace

import numpy as np
import pytest

from weightspace.cli import main
from weightspace.demo import DEMOS, run_demo
from weightspace.errors import ConfigError
from weightspace.probe.report import Target
from weightspace.report.tables import probe_report


def test_quick_demo_writes_results_and_a_self_contained_report(demo_run, capsys):
    results = json.loads((demo_run / "results.json").read_text())
    config = DEMOS["quick"]
    assert results["zoo"]["models"] == 32 and results["zoo"]["checkpoints"] == 32 * 9
    assert len(results["encoder"]["history"]) == config.train.epochs
    # the probe table: baselines and every SANE pooling, every target scored
    methods = [m["name"] for m in results["probes"]["methods"]]
    assert methods == ["W", "s(W)", "SANE (mean)", "SANE (layer)", "SANE (tokens)", "HyperRep"]
    targets = [Target(**t).key for t in results["probes"]["targets"]]
    assert targets[:4] == ["test_acc", "test_acc_tau", "epoch", "ggap"]
    split = results["probes"]["split"]
    assert split["siblings"] == 0  # every model its own seed: no sibling in train and test
    # the unit is the model (random seeds); the quick zoo's few test models get no interval
    test_models = results["probes"]["models"]["test"]
    assert split["unit"] == "model" and split["test_units"] == len(test_models) < 8
    for method in results["probes"]["methods"]:
        assert set(method["scores"]) == set(targets)
        assert np.isfinite(method["scores"]["test_acc"])
        assert method["intervals"] == {} and not any(method["beaten"].values())
        assert len(method["true"]) == len(method["predicted"]) > 0
    table = probe_report(results["probes"]).markdown()
    assert f"no intervals: {len(test_models)} independent test models" in table
    assert "bootstrap interval" not in table
    assert results["probes"]["methods"][0]["scores"]["test_acc_tau"] > 0.3  # W ranks accuracy
    # the sampling table: samples, anchors, random init; curves (n, epochs + 1)
    groups = {g["name"]: g for g in results["sampling"]["groups"]}
    assert list(groups) == ["samples", "anchors", "random init"]
    for name, group in groups.items():
        curves = np.asarray(group["curves"])
        assert curves.shape == (config.sample.n, config.finetune_epochs + 1), name
        assert ((curves >= 0) & (curves <= 1)).all()
        assert len(group["novelty"]) == config.sample.n
        transfer = np.asarray(group["transfer"])
        assert transfer.shape == (config.sample.n, config.transfer_epochs + 1), name
    assert np.allclose(groups["anchors"]["novelty"], 0)  # an anchor is its own nearest
    assert min(groups["samples"]["novelty"]) > 0.01  # samples are not copies
    generation = [r["name"] for r in results["sampling"]["generation"]]
    assert generation[0] == "samples" and "Gaussian fit (matched)" in generation
    assert set(results["timings"]) == {"zoo", "encoder", "probes", "sampling", "total"}

    page = (demo_run / "report.html").read_text()
    assert page.count("<img src='data:image/png;base64,") == 6
    assert not re.search(r"""(src|href)=['"]?(https?:|//)""", page)  # nothing fetched
    for method in methods:
        assert f"<td>{method}</td>" in page.replace("&#x27;", "'")
    for name in groups:
        assert f"<td>{name}</td>" in page


def test_report_is_rebuilt_from_the_run_directory(demo_run, capsys):
    before = (demo_run / "report.html").read_text()
    (demo_run / "report.html").unlink()
    assert main(["report", str(demo_run)]) == 0
    assert "report.html" in capsys.readouterr().out
    assert (demo_run / "report.html").read_text() == before  # the same results, the same page


def test_report_without_a_run_says_how_to_make_one(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "results.json not found" in err and "weightspace demo" in err


def test_report_of_a_damaged_results_file_names_the_missing_entry(demo_run, tmp_path, capsys):
    results = json.loads((demo_run / "results.json").read_text())
    del results["sampling"]
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert main(["report", str(tmp_path)]) == 2
    assert "'sampling'" in capsys.readouterr().err


def test_unknown_demo_names_the_choices(tmp_path):
    with pytest.raises(ConfigError, match="'full', 'quick'"):
        run_demo(tmp_path, "huge")
    with pytest.raises(ConfigError, match="device"):
        run_demo(tmp_path, "quick", device="tpu")
    with pytest.raises(ConfigError, match="pooling"):
        replace(DEMOS["quick"], poolings=("mean", "max"))
    with pytest.raises(ConfigError, match="finetune_epochs"):
        replace(DEMOS["quick"], finetune_epochs=-1)
    assert not any(tmp_path.iterdir())  # nothing written
    (tmp_path / "a-file").write_text("keep me")
    with pytest.raises(ConfigError, match="--out"):
        run_demo(tmp_path / "a-file", "quick")
    assert (tmp_path / "a-file").read_text() == "keep me"


def test_running_the_demo_again_reuses_the_zoo_and_the_encoder(demo_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    kept = [run / "zoo" / "manifest.json", *sorted((run / "sane" / "checkpoint").iterdir())]
    stamps = [p.stat().st_mtime_ns for p in kept]
    results = run_demo(run, "quick", progress=False, log=lambda line: None)
    assert [p.stat().st_mtime_ns for p in kept] == stamps  # nothing retrained
    before = json.loads((demo_run / "results.json").read_text())
    assert results["encoder"]["history"] == before["encoder"]["history"]
    np.testing.assert_equal(results["probes"]["methods"], before["probes"]["methods"])
