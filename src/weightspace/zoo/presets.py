"""Named zoo presets after the Model Zoos paper (Schürholt et al., NeurIPS 2022
Datasets), plus small digits zoos for CPUs.

``<dataset>-seed``: 1,000 seeds, all else fixed (tanh, uniform init, Adam 3e-4, wd 0).
``<dataset>-hyp10-fixed`` / ``-hyp10-rand``: the grid activation x dropout x init x optimizer x
lr x weight decay x 10 seeds (seeds 1-10, or random seeds). Batch size 10, 50 epochs.
"""

from __future__ import annotations

from weightspace.errors import ConfigError
from weightspace.zoo.config import Factor, ZooConfig
from weightspace.zoo.datasets import DatasetConfig

# dataset -> the architecture of its published zoo
PUBLISHED = {
    "mnist": "cnn-s",
    "fashion-mnist": "cnn-s",
    "svhn": "cnn-s",
    "cifar10": "cnn-l",
    "tetris": "tetris-mlp",
    "digits": "cnn-s",
}

HYP_GRID = {
    "activation": Factor(("tanh", "relu", "sigmoid", "gelu")),
    "dropout": Factor((0.0, 0.5)),
    "init": Factor(("uniform", "normal", "kaiming_uniform", "kaiming_normal")),
    "optimizer": Factor(("adam", "sgd")),
    "lr": Factor((1e-3, 1e-4)),
    "weight_decay": Factor((1e-3, 1e-4)),
}


def _published(dataset: str) -> dict[str, ZooConfig]:
    base = ZooConfig(
        name=f"{dataset}-seed",
        architecture=PUBLISHED[dataset],
        dataset=DatasetConfig(dataset, root=None if dataset in ("digits", "tetris") else "data"),
        seeds=1000,
        epochs=50,
        batch_size=10,
    )
    hyp = base.with_changes(name=f"{dataset}-hyp10-fixed", seeds=10, **HYP_GRID)
    return {
        base.name: base,
        hyp.name: hyp,
        f"{dataset}-hyp10-rand": hyp.with_changes(name=f"{dataset}-hyp10-rand", random_seeds=True),
    }


def _digits_presets() -> dict[str, ZooConfig]:
    base = ZooConfig(
        architecture="cnn-s", dataset=DatasetConfig("digits"), epochs=10, batch_size=10
    )
    tiny = base.with_changes(name="digits-tiny", seeds=4, epochs=3, batch_size=32, lr=1e-3)
    seeds = base.with_changes(name="digits-seeds", seeds=128, lr=1e-3)
    grid = base.with_changes(
        name="digits-hyp",
        seeds=2,
        # lr one step higher than the paper's grid: 10 epochs on 1,257 digits is short
        **{**HYP_GRID, "init": Factor(("uniform", "kaiming_normal")), "lr": Factor((3e-3, 3e-4))},
    )
    # `weightspace demo`: what varies is what probes should find (tanh/relu, two inits,
    # two learning rates, dropout or not), small enough to train with SANE in minutes
    demo = base.with_changes(
        name="digits-demo",
        seeds=8,
        activation=Factor(("tanh", "relu")),
        init=Factor(("uniform", "kaiming_normal")),
        lr=Factor((3e-3, 3e-4)),
        dropout=Factor((0.0, 0.5)),
    )
    quick = demo.with_changes(name="digits-demo-quick", seeds=2, epochs=8)
    return {c.name: c for c in (tiny, grid, seeds, demo, quick)}


def _all() -> dict[str, ZooConfig]:
    presets = _digits_presets()
    for dataset in PUBLISHED:
        presets.update(_published(dataset))
    return presets


PRESETS: dict[str, ZooConfig] = _all()


def preset(name: str) -> ZooConfig:
    """The zoo config of a named preset (see `PRESETS`)."""
    if name not in PRESETS:
        raise ConfigError(
            "--preset",
            f"one of {', '.join(sorted(PRESETS))}",
            name,
            "List them with `weightspace zoo presets`",
        )
    return PRESETS[name]
