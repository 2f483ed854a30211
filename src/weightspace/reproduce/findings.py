"""The seed findings, each end to end on zoos we train here (digits, CNN-s): the paper's numbers
beside ours, with 95 % bootstrap intervals over independent units (test models -- each with its
own seed -- for probes, networks for generated ones; none below 8 units), and every compared
difference judged against the published direction from its interval. Everything lands in the
run directory and is reused when run again.

The papers' zoos are MNIST/CIFAR/SVHN zoos of ~1,000 models x 25-50 epochs; ours are digits zoos
of 64 (``--quick``) or 128 models, so the numbers are comparable in direction, not in value.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weightspace.encoders import SANE, HyperRep, HyperRepresentation, load_encoder
from weightspace.models.sane import SANEConfig
from weightspace.probe.features import EncoderFeatures, FlatWeights, WeightStatistics
from weightspace.probe.report import ProbeReport
from weightspace.probe.run import run_probes
from weightspace.reproduce.registry import Result, Row, bars, judge
from weightspace.stats import HIGHER, Estimate, mean_estimate, paired_estimate, two_sample_estimate
from weightspace.storage import atomic_write_json, read_json
from weightspace.train.config import fingerprint
from weightspace.train.trainer import TrainConfig
from weightspace.zoo.create import create_zoo
from weightspace.zoo.presets import preset
from weightspace.zoo.reader import Zoo, open_zoo

Log = Callable[[str], None]
# tanh/relu x two inits x two learning rates x dropout or not; seeds make the sibling groups
FULL_ZOO = preset("digits-demo").with_changes(name="reproduce-digits")  # 128 models, 16 groups
QUICK_ZOO = preset("digits-demo-quick").with_changes(
    name="reproduce-digits-quick", seeds=8, epochs=4, batch_size=32, dropout=0.0
)  # 64 models, each its own seed: ~10 independent test models, enough for an interval
SANE_SIZES = SANEConfig(
    d_model=64, heads=4, encoder_layers=2, decoder_layers=2, latent=16, window=64
)
PAPER_2021 = {  # MNIST-Hyp, R² (EcD / s(W) / W), Schürholt et al. 2021, table 2
    "test_acc": {"HyperRep": 0.949, "s(W)": 0.815, "W": 0.747},
    "epoch": {"HyperRep": 0.500, "s(W)": 0.332, "W": 0.258},
    "ggap": {"HyperRep": 0.274, "s(W)": 0.244, "W": 0.234},
}


@dataclass(frozen=True)
class Given:
    """A zoo the user points a reproduction at (``weightspace reproduce NAME --zoo DIR``),
    opened read-only and hash-verified, instead of the digits zoo trained in the run directory;
    ``epochs``, when given, are the zoo epochs whose checkpoints the encoders train on and the
    probes score (a 1,000-model zoo holds 26,000 checkpoints at 25 epochs)."""

    zoo: Path | None = None
    epochs: tuple[int, ...] | None = None


DIGITS = Given()


@dataclass(frozen=True)
class Setting:
    """Where and how one reproduction runs: its directory, quick or full, the log, the zoo."""

    out: Path
    quick: bool
    log: Log
    given: Given = DIGITS


def _zoo(setting: Setting) -> Zoo:
    out, quick, log, given = setting.out, setting.quick, setting.log, setting.given
    if given.zoo is not None:
        zoo = open_zoo(given.zoo)
        zoo.check_epochs(given.epochs, "--zoo-epochs")
        log(f"zoo {zoo.name} from {given.zoo}: {zoo.num_models} models, {len(zoo)} checkpoints")
        return zoo
    config = QUICK_ZOO if quick else FULL_ZOO
    log(f"zoo {config.name} into {out / 'zoo'} (resumed if partial)")
    return create_zoo(config, out / "zoo", progress=bars())


FITTED_ON = "fitted-on.json"  # in the encoder's folder once its fit is done


def fitted_encoder(
    out: Path, name: str, zoo: Zoo, make: Callable[[], HyperRepresentation], log: Log = print
) -> HyperRepresentation:
    """A fitted encoder from ``out/name`` when it was fitted on this zoo's content with these
    settings (recorded in ``fitted-on.json``), else ``make()`` trained on ``zoo`` there; the
    training checkpoints there, so an interrupted fit resumes."""
    path, begun = out / name, out / f"{name}.fitting-on.json"  # begun: beside, fit owns path
    encoder = make()
    model = encoder.config.to_dict() if encoder.config is not None else encoder.preset
    identity = {"zoo_sha256": zoo.content_sha256, "kind": encoder.kind, "model": model}
    key = fingerprint(encoder.train or TrainConfig(), 1, identity)
    if (path / FITTED_ON).is_file():
        if read_json(path / FITTED_ON, "reproduction cache") == key:
            return load_encoder(path)
        log(f"{name} in {path} was fitted on another zoo or with other settings: refitting")
    if begun.is_file() and read_json(begun, "reproduction cache") == key:
        log(f"resuming {name} in {path}")  # cut short: its training checkpoint carries on
    else:
        shutil.rmtree(path, ignore_errors=True)  # another fit, finished or cut short
        log(f"fitting {name}")
    atomic_write_json(begun, key)
    encoder.out = path
    encoder.fit(zoo)
    atomic_write_json(path / FITTED_ON, key)
    begun.unlink()
    return encoder


def _sane(setting: Setting, name: str, zoo: Zoo, **train) -> HyperRepresentation:
    """The reproductions' SANE (d 64; 15 or 25 epochs) with ``train`` changes, in ``out/name``."""
    config = _train(setting, (15, 25), **train)
    make = lambda: SANE(config=SANE_SIZES, train=config)  # noqa: E731
    return fitted_encoder(setting.out, name, zoo, make, setting.log)


def _hyperrep(setting: Setting, name: str, zoo: Zoo, **train) -> HyperRepresentation:
    """The reproductions' 2021 autoencoder (tiny or small; 10 or 40 epochs) in ``out/name``."""
    config = _train(setting, (10, 40), **train)
    size = "tiny" if setting.quick else "small"
    make = lambda: HyperRep(size, train=config)  # noqa: E731
    return fitted_encoder(setting.out, name, zoo, make, setting.log)


def _train(setting: Setting, epochs: tuple[int, int], **changes) -> TrainConfig:
    return TrainConfig(
        epochs=epochs[0] if setting.quick else epochs[1],
        progress=bars(),
        zoo_epochs=setting.given.epochs,
        **changes,
    )


NO_INTERVAL = (float("nan"), float("nan"))


def _score_row(report: ProbeReport, method: str, key: str, paper: str) -> Row:
    """A method's probe score with its interval (none when the split has too few units)."""
    low, high = report.intervals.get(method, {}).get(key, NO_INTERVAL)
    return Row(f"{key} R², {method}", paper, report.scores[method][key], low, high)


def _probe_rows(report: ProbeReport, paper: dict, names: dict[str, str]) -> list[Row]:
    return [
        _score_row(report, method, key, f"{values[short]:.3f}")
        for key, values in paper.items()
        for short, method in names.items()
    ]


def _difference_row(
    report: ProbeReport, a: str, b: str, key: str, paper: str, expected: str = HIGHER
) -> Row:
    """score(a) - score(b) with its paired interval over the split's independent test units,
    judged against the published direction ``expected``."""
    low, high = report.difference(a, b, key)[1:] if report.boot else NO_INTERVAL
    diff = report.scores[a][key] - report.scores[b][key]
    return Row(f"{key} R², {a} − {b}", paper, diff, low, high, verdict=judge(low, high, expected))


def _estimate_row(measure: str, paper: str, estimate: Estimate, expected: str = "") -> Row:
    """A mean over independent units (networks, models); judged when ``expected`` is given."""
    low, high = estimate.low, estimate.high
    note = "" if estimate.has_interval else f"{estimate.units} {estimate.unit}s: no interval"
    return Row(
        measure,
        paper,
        estimate.value,
        low,
        high,
        note,
        judge(low, high, expected) if expected else "",
    )


def hyperreps_2021(
    out: Path, quick: bool = False, log: Log = print, given: Given = DIGITS
) -> Result:
    """W vs s(W) vs the 2021 attention autoencoder, on test accuracy, epoch and gen. gap; and
    the same autoencoder trained without permutation augmentation."""
    setting = Setting(out, quick, log, given)
    zoo = _zoo(setting)
    encoder = _hyperrep(setting, "hyperrep", zoo)
    fixed = _hyperrep(setting, "hyperrep-no-permutation", zoo, permute=False)
    no_perm = "HyperRep, no permutation augmentation"
    report = run_probes(
        zoo,
        [
            FlatWeights(),
            WeightStatistics(),
            EncoderFeatures(encoder, "HyperRep"),
            EncoderFeatures(fixed, no_perm),
        ],
        epochs=given.epochs,
    )
    names = {"HyperRep": "HyperRep", "s(W)": "s(W)", "W": "W"}
    rows = _probe_rows(report, PAPER_2021, names)
    rows += [
        _difference_row(
            report,
            "HyperRep",
            "s(W)",
            k,
            f"{PAPER_2021[k]['HyperRep'] - PAPER_2021[k]['s(W)']:+.3f}",
        )
        for k in PAPER_2021
    ]
    test = encoder.split_.rows(zoo, "test", given.epochs)
    train_rows = encoder.split_.rows(zoo, "train", given.epochs)
    for name, model in (("HyperRep", encoder), (no_perm, fixed)):
        for split, chosen in (("training", train_rows), ("test", test)):
            rows.append(
                Row(
                    f"reconstruction R² ({split} models), {name}",
                    "—",
                    reconstruction_r2(model, zoo, chosen),
                )
            )
    rows.append(
        _difference_row(report, "HyperRep", no_perm, "test_acc", "> 0 (augmentation needed)")
    )
    paper_gap = PAPER_2021["test_acc"]["s(W)"] - PAPER_2021["test_acc"]["W"]
    rows.append(_difference_row(report, "s(W)", "W", "test_acc", f"{paper_gap:+.3f}"))
    return Result(
        rows,
        tables=[report.title() + "\n\n" + report.markdown()],
        setup=f"{zoo.num_models} models of {zoo.name}, {report.split['kind']} split; HyperRep "
        f"{'tiny' if quick else 'small'}, {encoder.train_config_.epochs} epochs",
        notes=[
            "reconstruction R²: 1 - squared error / variance over the models of the split, on "
            "the per-layer standardized weights (the encoder's own normalizer)"
        ],
    )


def reconstruction_r2(encoder: HyperRepresentation, zoo: Zoo, rows: np.ndarray) -> float:
    """R² of ``encoder``'s reconstructions of ``rows`` against the originals, over all values
    standardized per layer (so every layer counts by its size, not by its weights' scale)."""
    norm = encoder.normalizer_
    original = norm.transform(zoo.flat(rows)).double()
    error = (norm.transform(encoder.reconstruct(zoo, rows)).double() - original).square().sum()
    return float(1.0 - error / (original - original.mean(0)).square().sum())


def sane_2024(out: Path, quick: bool = False, log: Log = print, given: Given = DIGITS) -> Result:
    """SANE's embeddings (each pooling) vs W, s(W) and the 2021 autoencoder."""
    setting = Setting(out, quick, log, given)
    zoo = _zoo(setting)
    encoder = _sane(setting, "sane", zoo)
    hyperrep = _hyperrep(setting, "hyperrep", zoo)
    methods = [FlatWeights(), WeightStatistics(), EncoderFeatures(hyperrep, "HyperRep")]
    methods += [EncoderFeatures(encoder, f"SANE ({p})", p) for p in ("mean", "layer", "tokens")]
    report = run_probes(zoo, methods, epochs=given.epochs)
    rows = []
    for method in report.scores:
        paper = "≈0.96 (SANE, CNN zoos)" if method.startswith("SANE") else "—"
        rows.append(_score_row(report, method, "test_acc", paper))
    best = max(
        (m for m in report.scores if m.startswith("SANE")),
        key=lambda m: report.scores[m]["test_acc"],
    )
    rows.append(_difference_row(report, best, "s(W)", "test_acc", "> 0"))
    rows.append(_difference_row(report, best, "HyperRep", "test_acc", "≈ 0 (matches 2021)"))
    return Result(
        rows,
        tables=[report.title() + "\n\n" + report.markdown()],
        setup=f"{zoo.num_models} models, SANE d 64, {encoder.train_config_.epochs} epochs",
        notes=[
            "haloed-window generation is not exercised here: a digits CNN-s is 48 tokens, one "
            "window of 64 (the decoder's halo logic is covered by the test suite)"
        ],
    )


GENERATIVE_2022 = {  # Schürholt et al. 2022: S_KDE30 on MNIST (transfer: SVHN -> MNIST)
    ("samples", "zero-shot"): "0.686",
    ("samples", "after 1 epoch"): "0.837",
    ("samples", "transfer, after 1 epoch"): "0.869",
    ("random init", "zero-shot"): "≈0.10",
    ("random init", "after 1 epoch"): "0.206",
    ("random init", "transfer, after 1 epoch"): "0.206",
}


def generative_2022(
    out: Path, quick: bool = False, log: Log = print, given: Given = DIGITS
) -> Result:
    """KDE samples of the best models' embeddings vs random initialization, zero-shot, after one
    epoch of fine-tuning and after one epoch on a new task (transfer); the same without
    layer-wise normalization (the paper: generation fails) and with the behavioural loss (2025);
    and the generation table (novelty, baselines, diversity)."""
    from weightspace.generate.evaluate import NoveltyConfig, generation_markdown, generation_table
    from weightspace.generate.networks import random_networks
    from weightspace.generate.run import SampleConfig, load_networks, sample_weights
    from weightspace.zoo.datasets import load_dataset

    setting = Setting(out, quick, log, given)
    zoo = _zoo(setting)
    encoders = {
        "SANE": _sane(setting, "sane", zoo),
        "SANE, no layer-wise normalization": _sane(
            setting, "sane-raw", zoo, layer_normalization=False
        ),
        "SANE + behavioural loss": _sane(setting, "sane-behaviour", zoo, behaviour_weight=0.9),
    }
    n = 10 if quick else 50
    splits = load_dataset(zoo.dataset)
    arch = zoo.arch(0)  # a reproduction zoo holds one architecture
    rows, tables, samples, measured = [], [], {}, {}
    for name, encoder in encoders.items():
        flats, anchors = sample_weights(encoder, zoo, SampleConfig("kde30", n=n))
        samples[name] = (flats, anchors)
        log(f"{name}: fine-tuning {n} samples on the task and on a new one, one epoch each")
        nets = load_networks(arch, zoo, flats, splits, 0)
        found, measured[name] = _generation_rows(f"samples ({name})", "samples", nets, splits)
        rows += found
    found, random = _generation_rows("random init", "random init", random_networks(arch, n), splits)
    rows += found
    for name in encoders:
        rows += _versus_random(f"samples ({name})", measured[name], random)
    config = NoveltyConfig(
        n=min(n, 10) if quick else 20,
        references=30 if quick else 100,
        match_steps=4 if quick else 8,
    )
    for name in ("SANE", "SANE + behavioural loss"):
        log(f"generation table of {name}: novelty, baselines at matched accuracy, diversity")
        table = generation_table(encoders[name], zoo, *samples[name], config)
        tables.append(f"Generation table, {name}:\n\n" + generation_markdown(table))
    return Result(
        rows,
        tables=tables,
        setup=f"{zoo.num_models} models; SANE d 64, {encoders['SANE'].train_config_.epochs} "
        "epochs; KDE over the top "
        "30 % by validation accuracy; transfer: the digits with renamed classes, last layer "
        "re-initialized",
        notes=[
            "paper, no layer-wise normalization: generated models fail (no number given); "
            "transfer in the paper is SVHN -> MNIST, ours a relabelled digits task"
        ],
    )


def _generation_rows(label: str, paper_key: str, nets: list, splits) -> list[Row]:  # noqa: ANN001
    """Zero-shot, 1-epoch fine-tuned and 1-epoch transferred test accuracy of ``nets``."""
    from weightspace.generate.networks import finetune_curves, relabel, with_new_head

    curves = finetune_curves(nets, splits, 1)
    measured = {
        "zero-shot": curves[:, 0],
        "after 1 epoch": curves[:, 1],
        "transfer, after 1 epoch": finetune_curves(with_new_head(nets), relabel(splits), 1)[:, 1],
    }
    rows = []
    for what, acc in measured.items():
        paper = GENERATIVE_2022[(paper_key, what)] + " (MNIST)"
        rows.append(_estimate_row(f"test acc {what}, {label}", paper, _networks(acc)))
    return rows, measured


def _networks(acc: np.ndarray) -> Estimate:
    """The mean over generated networks, each an independent draw (of the sampler or init)."""
    return mean_estimate(acc, "network")


def _versus_random(label: str, ours: dict, random: dict) -> list[Row]:
    """Samples minus random initialization, zero-shot and after one epoch: two independent
    sets of networks, each resampled on its own."""
    rows = []
    for what in ("zero-shot", "after 1 epoch"):
        paper = GENERATIVE_2022[("samples", what)], GENERATIVE_2022[("random init", what)]
        rows.append(
            _estimate_row(
                f"test acc {what}, {label} − random init",
                f"{paper[0]} vs {paper[1]}",
                two_sample_estimate(ours[what], random[what], "network"),
                HIGHER,
            )
        )
    return rows


def behaviour_2025(
    out: Path, quick: bool = False, log: Log = print, given: Given = DIGITS
) -> Result:
    """SANE with and without the behavioural loss: agreement of reconstructions with their
    originals on test images, and the accuracy probe."""
    from weightspace.models.agreement import top1_agreement
    from weightspace.zoo.datasets import load_dataset

    setting = Setting(out, quick, log, given)
    zoo = _zoo(setting)
    plain = _sane(setting, "sane", zoo)
    with_b = _sane(setting, "sane-behaviour", zoo, behaviour_weight=0.9)
    rows_test = plain.split_.rows(zoo, "test", given.epochs)
    images = load_dataset(zoo.dataset).test_x
    report = run_probes(
        zoo,
        [EncoderFeatures(plain, "SANE"), EncoderFeatures(with_b, "SANE + behaviour")],
        epochs=given.epochs,
    )
    rows, agreement = [], {}
    model_of = zoo.column("model_id")[rows_test]
    for name, encoder, paper in (
        ("SANE", plain, "0.50 (SVHN)"),
        ("SANE + behaviour", with_b, "0.87 (SVHN)"),
    ):
        per_row = np.array(
            [top1_agreement(zoo, [r], encoder.reconstruct(zoo, [r]), images) for r in rows_test]
        )
        # a model's checkpoints are not independent: one mean per test model, the unit
        agreement[name] = np.array([per_row[model_of == m].mean() for m in np.unique(model_of)])
        estimate = mean_estimate(agreement[name], "model")
        rows.append(_estimate_row(f"top-1 agreement with originals, {name}", paper, estimate))
    gain = paired_estimate(agreement["SANE + behaviour"], agreement["SANE"], "model")
    rows.append(
        _estimate_row("top-1 agreement, SANE + behaviour − SANE", "+0.37 (SVHN)", gain, HIGHER)
    )
    for name, paper in (("SANE", "0.742 (SVHN)"), ("SANE + behaviour", "0.886 (SVHN)")):
        rows.append(_score_row(report, name, "test_acc", paper))
    return Result(
        rows,
        tables=[report.markdown()],
        setup=f"{zoo.num_models} models; behavioural weight 0.9 (structure share β 0.1)",
    )
