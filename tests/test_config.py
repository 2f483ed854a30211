import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weightspace.errors import ConfigError
from weightspace.zoo import Factor, ZooConfig, preset
from weightspace.zoo.presets import PRESETS


def test_grid_times_seeds():
    config = ZooConfig(activation=["tanh", "relu"], lr=[1e-3, 1e-4, 1e-5], seeds=3)
    specs = config.members((1, 8, 8), 10)
    assert len(specs) == 18
    assert [s.model_id for s in specs] == list(range(18))
    assert {s.seed for s in specs} == {1, 2, 3}


def test_random_factors_are_drawn_per_model_and_reproducible():
    config = ZooConfig(lr={"loguniform": [1e-4, 1e-2]}, seeds=20, random_seeds=True, seed=5)
    lrs = [s.lr for s in config.members((1, 8, 8), 10)]
    assert len(set(lrs)) == 20 and all(1e-4 <= v <= 1e-2 for v in lrs)
    assert lrs == [s.lr for s in config.members((1, 8, 8), 10)]
    assert len({s.seed for s in config.members((1, 8, 8), 10)}) == 20


@pytest.mark.parametrize(
    "raw, field, allowed",
    [
        ({"optimizer": "rmsprop"}, "optimizer", "'adam', 'sgd'"),
        ({"activation": ["tanh", "swish"]}, "activation", "'relu'"),
        ({"architecture": "vgg"}, "architecture", "'cnn-s'"),
        ({"epochs": -1}, "epochs", "integer >= 0"),
        ({"lr": 0}, "lr", "a number in"),
        ({"dropout": 1.5}, "dropout", "a number in"),
        ({"lr": {"normal": [0, 1]}}, "lr", "loguniform"),
        ({"dataset": {"name": "digits", "val_fraction": 0.9}}, "val_fraction", "fraction"),
        ({"checkpoint_epochs": [0, 99], "epochs": 5}, "checkpoint_epochs", "0..5"),
        ({"sedes": 3}, "sedes", "seeds"),
        ({"dataset": {"nme": "digits"}}, "nme", "name"),
    ],
)
def test_bad_config_value_names_field_and_allowed_values(raw, field, allowed):
    with pytest.raises(ConfigError) as info:
        ZooConfig.from_dict(raw)
    assert field in str(info.value) and allowed in str(info.value)


def test_config_file_round_trip(tmp_path):
    config = preset("digits-hyp")
    path = tmp_path / "zoo.json"
    path.write_text(json.dumps(config.to_dict()))
    assert ZooConfig.from_file(path) == config
    toml = tmp_path / "zoo.toml"
    toml.write_text(
        'architecture = "mlp"\nlr = {loguniform = [1e-4, 1e-2]}\n[dataset]\nname = "tetris"\n'
    )
    loaded = ZooConfig.from_file(toml)
    assert loaded.lr == Factor((1e-4, 1e-2), "loguniform") and loaded.dataset.name == "tetris"


@settings(max_examples=40, deadline=None)
@given(
    lrs=st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=3, unique=True),
    dropout=st.lists(st.sampled_from([0.0, 0.1, 0.5]), min_size=1, max_size=3, unique=True),
    seeds=st.integers(1, 5),
    epochs=st.integers(0, 9),
)
def test_to_dict_from_dict_round_trip(lrs, dropout, seeds, epochs):
    config = ZooConfig(lr=lrs, dropout=dropout, seeds=seeds, epochs=epochs)
    again = ZooConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert again.members((1, 8, 8), 10) == config.members((1, 8, 8), 10)


def test_presets_follow_the_paper():
    hyp = PRESETS["mnist-hyp10-fixed"]
    assert len(hyp.activation.values) * len(hyp.init.values) * hyp.seeds == 160
    assert hyp.batch_size == 10 and hyp.epochs == 50
    assert PRESETS["cifar10-seed"].seeds == 1000 and PRESETS["cifar10-seed"].architecture == "cnn-l"
    assert len(PRESETS["digits-hyp"].members((1, 8, 8), 10)) >= 200
    with pytest.raises(ConfigError, match="digits-tiny"):
        preset("digits-tiy")
