"""Bounded memory: fitting from streamed tokens equals fitting from tokens in memory; an
interrupted import continues where it stopped and gives the same zoo."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config

from weightspace import SANE, TrainConfig
from weightspace.models.losses import block_variances, streamed_block_variances
from weightspace.zoo import create_zoo, open_zoo
from weightspace.zoo.imports import Checkpoint, write_zoo


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    path = tmp_path_factory.mktemp("zoo")
    return create_zoo(tiny_config(seeds=3, shard_size=4), path, progress=False)


def test_streamed_block_variances_equal_the_in_memory_ones():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(20, 6, 5, generator=g) * torch.arange(1, 6)  # (N, n, T)
    mask = (torch.rand(6, 5, generator=g) > 0.2).float()
    positions = torch.stack(
        [torch.arange(6), torch.tensor([0, 0, 1, 1, 2, 2]), torch.zeros(6, dtype=torch.long)], 1
    )
    whole = block_variances(tokens, mask, positions, 3)
    chunked = streamed_block_variances(tokens.split(7), mask, positions, 3)
    assert torch.allclose(whole, chunked, rtol=1e-6)
    # a direct computation for block 1 (tokens 2 and 3, real values only)
    values = tokens[:, 2:4][mask[2:4].bool().expand(20, -1, -1)].double()
    assert whole[1].item() == pytest.approx(values.var(unbiased=False).item(), rel=1e-5)


def test_fit_from_streamed_tokens_equals_fit_in_memory(zoo):
    def fit(memory_mb):
        train = TrainConfig(epochs=2, batch_size=4, progress=False, memory_mb=memory_mb)
        return SANE("tiny", train=train).fit(zoo)

    held, streamed = fit(4096.0), fit(0.0)
    assert [h["loss"] for h in held.history_] == [h["loss"] for h in streamed.history_]
    for a, b in zip(
        held.model_.state_dict().values(), streamed.model_.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert np.array_equal(held.transform(zoo), streamed.transform(zoo))


class Interrupt(Exception):
    pass


def checkpoints(zoo, stop_after=None):
    for r in range(len(zoo)):
        if stop_after is not None and r == stop_after:
            raise Interrupt
        yield Checkpoint(
            int(zoo.column("model_id")[r]),
            int(zoo.column("epoch")[r]),
            values={"test_acc": float(zoo.column("test_acc")[r])},
            load=lambda r=r: (zoo.state_dict(r), ""),
        )


def test_an_interrupted_import_resumes_and_gives_the_same_zoo(zoo, tmp_path):
    source = {"format": "test", "path": "x"}
    whole = write_zoo(tmp_path / "whole", checkpoints(zoo), name="z", source=source, shard_size=4)
    with pytest.raises(Interrupt):
        write_zoo(
            tmp_path / "part", checkpoints(zoo, stop_after=9), name="z", source=source, shard_size=4
        )
    assert not (tmp_path / "part").exists()
    leftovers = list(tmp_path.glob(".part.*.importing"))
    assert len(leftovers) == 1 and len(list((leftovers[0] / "shards").glob("*.safetensors"))) == 2
    reads = []

    def counted():
        for c in checkpoints(zoo):
            load = c.load
            c.load = lambda load=load, c=c: reads.append(c.model_id) or load()
            yield c

    resumed = write_zoo(tmp_path / "part", counted(), name="z", source=source, shard_size=4)
    assert len(reads) == len(zoo) - 8  # the two finished shards (8 checkpoints) are not read again
    assert not list(tmp_path.glob(".part.*.importing"))
    rows = np.arange(len(zoo))
    assert torch.equal(resumed.flat(rows), whole.flat(rows))
    assert resumed.table.drop(["shard", "shard_row"]).equals(
        whole.table.drop(["shard", "shard_row"])
    )


def test_a_users_folder_named_like_a_work_directory_is_never_touched(zoo, tmp_path):
    mine = tmp_path / ".out.abc.importing"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    (tmp_path / "out.importing").mkdir()  # the name the old writer removed
    write_zoo(tmp_path / "out", checkpoints(zoo), name="z", source={"format": "t"}, shard_size=4)
    assert (mine / "notes.txt").read_text() == "mine" and (tmp_path / "out.importing").is_dir()
    assert len(open_zoo(tmp_path / "out")) == len(zoo)


def test_large_shards_are_not_kept_mapped_after_a_read(zoo, monkeypatch):
    from weightspace.zoo import reader

    zoo = open_zoo(zoo.root)
    zoo.flat([0, 1])
    assert zoo._handles  # small shards stay open: no header parsed twice
    monkeypatch.setattr(reader, "KEEP_OPEN_BYTES", 0)  # every shard counts as large now
    first = zoo.flat([0, 1, len(zoo) - 1])
    assert not zoo._handles  # closed: its mapped pages leave the process
    assert torch.equal(first, zoo.flat([0, 1, len(zoo) - 1]))


def test_scattered_rows_read_alone_equal_a_contiguous_read(zoo, tmp_path):
    zoo = write_zoo(tmp_path / "one", checkpoints(zoo), name="z", source={"format": "t"})
    shard = zoo.table.column("shard").to_numpy()
    rows = np.flatnonzero(shard == shard[0])
    assert len(rows) >= 9  # two rows far apart in one shard take the row-by-row path
    picked = [int(rows[0]), int(rows[-1])]
    whole = zoo.flat(rows)  # contiguous
    assert torch.equal(zoo.flat(picked), whole[[0, -1]])
