"""The command line across architectures: `fit`, `embed`, `probe` and `sample` on a park (and on
zoos given one by one), with the park's held-out architecture kept out of training."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest

from weightspace.cli import main
from weightspace.encoders import load_encoder
from weightspace.zoo import create_park, open_park, open_zoo, park_preset

FIT = ["--preset", "tiny", "--epochs", "1", "--batch-size", "8", "--quiet"]


@pytest.fixture(scope="module")
def park(tmp_path_factory):
    config = park_preset("digits-park-tiny")
    config = replace(config, base=config.base.with_changes(epochs=1))
    root = tmp_path_factory.mktemp("across") / "park"
    create_park(config, root, progress=False)
    return open_park(root)


@pytest.fixture(scope="module")
def run(park, tmp_path_factory):
    out = tmp_path_factory.mktemp("across-run") / "run"
    assert main(["fit", "--zoo", str(park.root), "--out", str(out), *FIT]) == 0
    return out


def test_fit_on_a_park_leaves_its_held_out_members_out(park, run):
    encoder = load_encoder(run)
    seen = [m.name for m in park.members if m.name not in park.held_out]
    assert encoder.pool_.names == seen and len(seen) == len(park.members) - 1
    assert encoder.model_config_.positions == "sinusoidal"  # "auto" for a pool


def test_fit_on_zoos_given_one_by_one_is_the_same_pool(park, tmp_path):
    out = tmp_path / "run"
    zoos = [a for m in park.members[:2] for a in ("--zoo", str(m.zoo.root))]
    assert main(["fit", *zoos, "--out", str(out), *FIT, "--epochs", "1"]) == 0
    assert load_encoder(out).pool_.names == [m.name for m in park.members[:2]]
    everything = tmp_path / "all"
    argv = ["fit", "--zoo", str(park.root), "--include-held-out", "--out", str(everything), *FIT]
    assert main(argv) == 0
    assert load_encoder(everything).pool_.names == [m.name for m in park.members]


def test_embed_writes_one_table_for_every_member_with_its_name(park, run, tmp_path):
    out = tmp_path / "e.parquet"
    assert main(["embed", "--model", str(run), "--zoo", str(park.root), "--out", str(out)]) == 0
    table = pq.read_table(out)
    sizes = {m.name: len(m.zoo) for m in park.members}
    assert table.num_rows == sum(sizes.values())
    names = table.column("zoo").to_pylist()
    assert {n: names.count(n) for n in sizes} == sizes
    # the rows are each zoo's own, embedded as `transform` does (the held-out one included)
    held = park.member(park.held_out[0]).zoo
    mine = np.asarray(table.column("embedding").to_pylist())[np.asarray(names) == held.name]
    np.testing.assert_allclose(mine, load_encoder(run).transform(held), rtol=1e-5, atol=1e-6)


def test_probe_across_scores_seen_and_unseen_architectures(park, run, capsys):
    argv = ["probe", "--zoo", str(park.root), "--model", str(run), "--bootstrap", "50"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "4 architectures" in text and "| method | seen architectures | unseen" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert any(r.startswith("| s(W)") for r in rows) and any("moments)" in r for r in rows)
    # an "unseen" score of an architecture the encoder saw in training is refused
    seen = next(m.name for m in park.members if m.name not in park.held_out)
    assert main([*argv, "--held-out", seen]) == 2
    assert "never saw" in capsys.readouterr().err


def test_probe_of_several_zoos_refuses_unknown_held_out_names(park, capsys):
    zoos = [a for m in park.members for a in ("--zoo", str(m.zoo.root))]
    assert main(["probe", *zoos, "--held-out", "nope"]) == 2
    assert "--held-out" in capsys.readouterr().err
    assert main(["probe", *zoos, "--held-out", park.members[0].name, "--bootstrap", "20"]) == 0
    assert "s(W)" in capsys.readouterr().out  # statistics alone, no encoder needed


def test_sample_networks_of_the_unseen_architecture_from_its_prompts(park, run, tmp_path):
    held = park.member(park.held_out[0]).zoo
    out = tmp_path / "samples"
    argv = ["sample", "--model", str(run), "--zoo", str(held.root), "--n", "2", "--out", str(out)]
    assert main(argv) == 0
    samples = open_zoo(out)
    assert len(samples) == 2
    assert samples.weights([0]).keys() == held.weights([0]).keys()  # its architecture's layers
