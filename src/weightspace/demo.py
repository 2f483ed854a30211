"""The main job, end to end on the embedded digits data: ``weightspace demo``.

A zoo is trained, SANE (with the behavioural loss) learns it, linear probes on its embeddings
are compared with the weight baselines, new networks are sampled and compared with anchors and
random initialization, zero-shot and while fine-tuning. Everything lands in one run directory:

    RUN/zoo/                the zoo            RUN/sane/              the encoder (resumable)
    RUN/embeddings.parquet  2-D-projectable    RUN/samples/           the sampled networks
    RUN/results.json        every figure       RUN/report.html        the report

Each stage resumes: running the demo again on the same directory reuses the finished zoo and
encoder (an interrupted one continues where it stopped) and recomputes the cheap rest.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from weightspace.encoders import SANE, HyperRep, write_embeddings
from weightspace.errors import ConfigError, WeightspaceError, check_choice
from weightspace.generate.align import nearest_distance
from weightspace.generate.evaluate import NoveltyConfig, generation_markdown, generation_table
from weightspace.generate.networks import (
    finetune_curves,
    random_networks,
    relabel,
    with_new_head,
)
from weightspace.generate.run import SampleConfig, anchor_subset, sample_zoo
from weightspace.models.sane import SANEConfig
from weightspace.probe.features import EncoderFeatures, FlatWeights, WeightStatistics
from weightspace.probe.run import run_probes
from weightspace.report.html import REPORT, RESULTS, build_report
from weightspace.report.tables import probe_report, sampling_table
from weightspace.tokens.dataset import zoo_spec
from weightspace.train.trainer import TrainConfig
from weightspace.zoo.config import ZooConfig
from weightspace.zoo.create import create_zoo
from weightspace.zoo.datasets import load_dataset
from weightspace.zoo.presets import preset
from weightspace.zoo.reader import open_zoo
from weightspace.zoo.storage import atomic_write_json, software_versions

POOLINGS = ("mean", "layer", "tokens")
EMBEDDINGS = "embeddings.parquet"
ZOO, ENCODER, HYPERREP, SAMPLES = "zoo", "sane", "hyperrep", "samples"


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs; `DEMOS` holds the full and the quick one."""

    zoo: ZooConfig
    encoder: SANEConfig
    train: TrainConfig
    sample: SampleConfig = field(default_factory=SampleConfig)
    hyperrep: str = "tiny"  # the 2021 autoencoder's preset, probed beside SANE
    novelty: NoveltyConfig = field(default_factory=NoveltyConfig)  # the generation table
    finetune_epochs: int = 5
    transfer_epochs: int = 1  # on a new task: relabelled digits, last layer re-initialized
    poolings: tuple[str, ...] = ("mean", "layer", "tokens")  # SANE embeddings to probe
    projection_pooling: str = "layer"  # the embedding drawn in 2-D

    def __post_init__(self) -> None:
        for pooling in (*self.poolings, self.projection_pooling):
            check_choice("pooling", pooling, POOLINGS)
        for name in ("finetune_epochs", "transfer_epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ConfigError(name, "an integer >= 0", getattr(self, name))


# between SANE's tiny and small sizes, with a window over the whole CNN-s sequence (48 tokens):
# the behavioural loss decodes whole models
ENCODER_SIZES = SANEConfig(
    d_model=64, heads=4, encoder_layers=2, decoder_layers=2, latent=16, window=64
)

DEMOS: dict[str, DemoConfig] = {
    "full": DemoConfig(
        zoo=preset("digits-demo"),
        encoder=ENCODER_SIZES,
        train=TrainConfig(epochs=25, behaviour_weight=0.9),
        sample=SampleConfig("kde30", n=20),
        finetune_epochs=5,
        hyperrep="small",
        novelty=NoveltyConfig(n=20, references=100),
    ),
    "quick": DemoConfig(
        # 8 random seeds x tanh/relu x two inits (lr and dropout fixed): 32 independent models,
        # whose ~5 test models are too few for an interval (the table says so)
        zoo=preset("digits-demo-quick").with_changes(seeds=8, dropout=0.0, lr=3e-3),
        encoder=ENCODER_SIZES,
        train=TrainConfig(epochs=30, behaviour_weight=0.9),
        sample=SampleConfig("kde30", n=10),
        finetune_epochs=2,
        novelty=NoveltyConfig(n=10, references=30, match_steps=4, match_networks=4),
    ),
}


def run_demo(
    out: str | Path,
    config: DemoConfig | str = "full",
    progress: bool = True,
    log: Callable[[str], None] = print,
    device: str = "auto",
) -> dict:
    """Run every stage into ``out``, write ``results.json`` and ``report.html``; return the
    results. ``device``: cpu, cuda, or auto (CUDA when visible) for the zoo and the encoder."""
    if isinstance(config, str):
        check_choice("demo", config, DEMOS)
        config = DEMOS[config]
    check_choice("device", device, ("auto", "cpu", "cuda"))
    train = replace(config.train, progress=progress, device=device)
    device = train.resolve_device().type
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(
            "--out",
            "a directory (new, or an earlier demo run to resume)",
            str(out),
            "Choose another --out",
        )
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()

    def stage(name: str) -> None:
        timings[name] = round(time.perf_counter() - start - sum(timings.values()), 2)
        log(f"[{sum(timings.values()):6.1f} s] {name} done")

    log(f"zoo: {config.zoo.name} into {out / ZOO}")
    zoo = create_zoo(config.zoo, out / ZOO, device=device, progress=progress)
    stage("zoo")

    log("hyper-representation: SANE with the behavioural loss")
    encoder = SANE(config=config.encoder, train=train, out=out / ENCODER).fit(zoo)
    log(f"hyper-representation: HyperRep ({config.hyperrep}), the 2021 autoencoder")
    hyperrep_train = replace(train, behaviour_weight=None)
    hyperrep = HyperRep(config.hyperrep, train=hyperrep_train, out=out / HYPERREP).fit(zoo)
    stage("encoder")

    write_embeddings(
        out / EMBEDDINGS, zoo, encoder.transform(zoo, pooling=config.projection_pooling)
    )
    methods = [FlatWeights(), WeightStatistics()]
    methods += [EncoderFeatures(encoder, f"SANE ({p})", p) for p in config.poolings]
    methods.append(EncoderFeatures(hyperrep, "HyperRep"))
    log("probes: " + ", ".join(m.name for m in methods))
    probes = run_probes(zoo, methods)
    stage("probes")

    log(f"sampling {config.sample.n} networks ({config.sample.method}) and fine-tuning them")
    sampling = _sampling(encoder, zoo, out, config)
    stage("sampling")

    results = {
        "config": json.loads(json.dumps(asdict(config), default=str)),
        "software": software_versions(),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "zoo": {
            "path": ZOO,
            "name": zoo.name,
            "models": zoo.num_models,
            "checkpoints": len(zoo),
        },
        "encoder": {"path": ENCODER, "history": encoder.history_},
        "embeddings": {"path": EMBEDDINGS, "pooling": config.projection_pooling},
        "probes": {
            "targets": [asdict(t) for t in probes.targets],
            "split": probes.split,
            "methods": [  # a list: the JSON file's keys are sorted, the table's rows are not
                {
                    "name": method,
                    "scores": scores,
                    "intervals": probes.intervals.get(method, {}),
                    "beaten": {t.key: probes.beaten(method, t.key) for t in probes.targets},
                    "true": probes.predictions[method][0].tolist(),
                    "predicted": probes.predictions[method][1].tolist(),
                }
                for method, scores in probes.scores.items()
            ],
            "models": probes.models,
        },
        "sampling": sampling,
    }
    timings["total"] = round(sum(timings.values()), 2)
    results["timings"] = timings
    atomic_write_json(out / RESULTS, results)
    build_report(out)
    log(f"[{timings['total']:6.1f} s] wrote {out / REPORT} and {out / RESULTS}")
    return results


def _sampling(encoder: SANE, zoo, out: Path, config: DemoConfig) -> dict:  # noqa: ANN001
    """Samples vs anchors vs random initialization: zero-shot, fine-tuned, fine-tuned on a new
    task (the digits with renamed classes, the last layer re-initialized), and novelty."""
    samples = _samples(encoder, zoo, out / SAMPLES, config.sample)
    evaluation = samples.manifest["evaluation"]
    anchors = np.asarray(evaluation["anchors"]["rows"])
    arch = samples.arch(0)
    splits = load_dataset(zoo.dataset)
    spec = zoo_spec(zoo)
    anchor_flats = zoo.flat(anchors)
    chosen = anchor_subset(anchors, config.sample.n, config.sample.seed)
    groups = {
        "samples": [samples.model(i) for i in range(len(samples))],
        "anchors": [zoo.model(int(r)) for r in chosen],
        "random init": random_networks(arch, config.sample.n, config.sample.seed),
    }
    table = []
    for name, nets in groups.items():
        curves = finetune_curves(nets, splits, config.finetune_epochs)
        if name == "samples":  # `sample_zoo` measured it already
            novelty = samples.column("novelty")
        else:
            flats = torch.stack([spec.flatten(n.state_dict()) for n in nets])
            novelty = nearest_distance(spec, flats, anchor_flats)
        table.append(
            {"name": name, "curves": curves.tolist(), "novelty": np.asarray(novelty).tolist()}
        )
    flats = torch.stack([spec.flatten(n.state_dict()) for n in groups["samples"]])
    generation = generation_table(encoder, zoo, flats, anchors, config.novelty)
    new_task = relabel(splits)
    for entry, nets in zip(table, groups.values(), strict=True):
        transfer = finetune_curves(with_new_head(nets), new_task, config.transfer_epochs)
        entry["transfer"] = transfer.tolist()
    return {
        "path": SAMPLES,
        "method": config.sample.method,
        "architecture": arch.name,
        "activation": arch.activation,
        "anchors": len(anchors),
        "anchor_test_acc": evaluation["anchors"]["test_acc_mean"],
        "finetune_epochs": config.finetune_epochs,
        "transfer_epochs": config.transfer_epochs,
        "groups": table,
        "generation": generation,
    }


def _samples(encoder: SANE, zoo, path: Path, config: SampleConfig):  # noqa: ANN001, ANN202
    """The samples of an earlier run when it drew them with the same settings from the same
    zoo and encoder (by content), else new ones.

    Samples are a pure function of the zoo, the encoder and the settings, all on disk, and
    `sample_zoo` writes them whole or not at all, so a stale directory is safe to replace.
    """
    if path.exists():
        sources = {"zoo_sha256": zoo.content_sha256, "encoder_sha256": encoder.content_sha256}
        try:
            earlier = open_zoo(path)
            made = earlier.manifest["evaluation"]
            if made["config"] == asdict(config) and made.get("sources") == sources:
                return earlier
        except (WeightspaceError, KeyError):
            pass
        shutil.rmtree(path)
    return sample_zoo(encoder, zoo, path, config)


def summary(results: dict) -> str:
    """The headline numbers as Markdown: the probe table, the sampling and generation tables."""
    probes = results["probes"]
    table = probe_report(probes)
    s = results["sampling"]
    header, rows = sampling_table(s, [0, s["finetune_epochs"]])
    lines = [
        f"zoo {results['zoo']['name']}: {results['zoo']['models']} models, "
        f"{results['zoo']['checkpoints']} checkpoints; total {results['timings']['total']:.0f} s",
        "",
        "probes, test split (R², τ, or accuracy for categorical factors); " + table.title(),
        table.markdown(),
        "",
        f"generated networks ({s['method']}, {s['anchors']} anchors of mean test accuracy "
        f"{s['anchor_test_acc']:.3f}): test accuracy",
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "novelty and diversity against the memorization baselines:"]
    lines.append(generation_markdown(s["generation"]))
    return "\n".join(lines)
