"""The token dataset over a zoo: splits by model, lazy reads, normalization from train only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config

from weightspace.errors import ConfigError
from weightspace.tokens.augment import Permute, TwoViews
from weightspace.tokens.dataset import (
    SplitConfig,
    ZooTokens,
    fit_normalizer,
    split_models,
    split_rows,
    zoo_spec,
)
from weightspace.tokens.normalize import LayerNormalizer
from weightspace.tokens.tokenizers import LayerTokenizer
from weightspace.zoo import create_zoo, open_zoo


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    path = tmp_path_factory.mktemp("zoo")
    create_zoo(tiny_config(seeds=5, shard_size=4), path, progress=False)  # 10 models, 3 ckpts
    return open_zoo(path)


def test_splits_are_by_model_disjoint_complete_and_seeded():
    ids = np.repeat(np.arange(100), 5)
    parts = split_models(ids)
    assert [len(parts[s]) for s in ("train", "val", "test")] == [70, 15, 15]
    assert set().union(*parts.values()) == set(range(100))
    assert not (parts["train"] & parts["val"] or parts["train"] & parts["test"])
    assert split_models(ids) == parts
    assert split_models(ids, SplitConfig(seed=1)) != parts


def test_split_rows_keep_all_checkpoints_of_a_model_together(zoo):
    model_ids = zoo.column("model_id")
    seen = {}
    for split in ("train", "val", "test"):
        for row in split_rows(zoo, split):
            assert seen.setdefault(int(model_ids[row]), split) == split
    assert len(seen) == zoo.num_models
    last = split_rows(zoo, "train", epochs=[2])
    assert set(zoo.column("epoch")[last].tolist()) == {2}
    with pytest.raises(ConfigError, match="split"):
        split_rows(zoo, "training")


def test_normalizer_is_fitted_on_the_training_split_only(zoo):
    norm = fit_normalizer(zoo)
    train = zoo.flat(split_rows(zoo, "train"))
    expected = LayerNormalizer(zoo_spec(zoo)).fit(train)
    torch.testing.assert_close(norm.mean_, expected.mean_)
    everything = LayerNormalizer(zoo_spec(zoo)).fit(zoo.flat(np.arange(len(zoo))))
    assert not torch.allclose(norm.std_, everything.std_)


def test_items_are_the_normalized_tokens_of_their_checkpoint(zoo, monkeypatch):
    norm = fit_normalizer(zoo)
    data = ZooTokens(zoo, "test", normalizer=norm)
    assert len(data) == len(split_rows(zoo, "test"))
    reads = []
    original = type(zoo).weights
    monkeypatch.setattr(
        type(zoo), "weights", lambda self, rows: reads.append(len(rows)) or original(self, rows)
    )
    sample = data[1]
    assert reads == [1]  # one checkpoint read from its shard, not the zoo
    row = data.rows[1]
    expected = data.tokenizer.tokenize(norm.transform(zoo.flat([row])))
    assert torch.equal(sample.tokens, expected.tokens[0])
    assert sample.properties["test_acc"] == pytest.approx(zoo.column("test_acc")[row])
    assert sample.properties["epoch"] == zoo.column("epoch")[row]


def test_loader_batches_and_augments(zoo):
    tok = LayerTokenizer(zoo_spec(zoo), 32)
    data = ZooTokens(zoo, "train", tokenizer=tok, epochs=[1, 2], properties=("test_acc", "lr"))
    batches = list(data.loader(batch_size=4, shuffle=True, num_workers=2))
    assert sum(len(b) for b, _ in batches) == len(data)
    batch, props = batches[0]
    assert batch.tokens.shape == (4, tok.num_tokens, 32) and props["lr"].shape == (4,)
    a, b = TwoViews(Permute(tok))(batch)
    assert not torch.equal(a.tokens, b.tokens)


def test_mismatched_tokenizer_and_unknown_property_are_rejected(zoo):
    from weightspace.zoo.architectures import ArchConfig, weight_spec

    other = LayerTokenizer(weight_spec(ArchConfig("mlp", input_shape=(1, 8, 8))))
    with pytest.raises(ConfigError, match="tokenizer"):
        ZooTokens(zoo, tokenizer=other)
    with pytest.raises(ConfigError, match="property"):
        ZooTokens(zoo, properties=("accuracy",))


def test_zoo_flat_is_in_state_dict_order(zoo):
    """The manifest stores parameters with sorted keys; the flat vector must not follow them."""
    spec = zoo_spec(zoo)
    assert list(zoo.keys) == list(spec.keys)
    assert torch.equal(zoo.flat([3])[0], spec.flatten(zoo.model(3).state_dict()))
