"""``twins-2023``: the sparsified-twins study (Honegger, Schürholt & Borth 2023) end to end on a
digits zoo: train the zoo, sparsify every model by magnitude pruning and by variational
dropout, compare the twins with their originals, and set the findings beside the paper's.

Every step resumes: the zoo and each twin zoo are reused when finished.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from weightspace.errors import ConfigError
from weightspace.reproduce.registry import Result, Row, bars
from weightspace.sparsify.compare import compare_twins, crossover, summary_table
from weightspace.sparsify.config import SparsifyConfig
from weightspace.sparsify.report import twins_section, write_figures
from weightspace.sparsify.run import content_hash, sparsify_zoo
from weightspace.zoo import create_zoo, open_zoo, preset
from weightspace.zoo.reader import Zoo
from weightspace.zoo.storage import MANIFEST, atomic_write_bytes


def study_configs(quick: bool) -> tuple[str, SparsifyConfig, SparsifyConfig]:
    """(zoo preset, magnitude config, VD config) of the full or the quick study.

    Both methods get the same training budget: magnitude pruning ramps its sparsity up over as
    many fine-tuning epochs as VD trains (undertrained originals improve with any further
    training, so a shorter fine-tuning would mix training length into the comparison). The
    quick run is 5 epochs of each, with the KL ramp compressed to them (same end weight, 0.01).
    """
    epochs = 5 if quick else 25
    return (
        "digits-demo-quick" if quick else "digits-demo",
        SparsifyConfig(method="magnitude", schedule="gradual", finetune_epochs=epochs),
        SparsifyConfig(method="vd", vd_epochs=epochs, kl_ramp=epochs),
    )


def _twin(zoo: Zoo, out: Path, config: SparsifyConfig) -> Zoo:
    """The twin zoo in ``out``: made now, or reused when an earlier run made it with exactly
    these settings from this zoo's content (other settings are an error, never silently
    reused; twins of a zoo since retrained are made again)."""
    if (out / MANIFEST).is_file():
        link = open_zoo(out).manifest.get("twin", {}).get("original", {})
        if link.get("content_sha256") != content_hash(zoo):
            shutil.rmtree(out)  # derived from an earlier zoo of this run directory: stale
    if not (out / MANIFEST).is_file():
        return sparsify_zoo(zoo, out, config, progress=bars())
    twin = open_zoo(out)
    if twin.manifest.get("twin", {}).get("config") != config.to_dict():
        raise ConfigError(
            "--out",
            f"a run directory whose {out.name} was made with this study's settings",
            str(out),
            "It holds twins made with other settings (an older study): choose another --out "
            f"or remove {out}",
        )
    return twin


def reproduce_twins(
    out_dir: str | Path, quick: bool = False, log: Callable[[str], None] = print
) -> Result:
    """Run the study into ``out_dir``; returns the paper-vs-ours rows and the group table
    (also written: ``twins.json``, ``twins.md``, ``twins.html`` and three PNG figures)."""
    out = Path(out_dir)
    name, mp_config, vd_config = study_configs(quick)
    log(f"zoo {name} -> {out / 'zoo'}")
    zoo = create_zoo(preset(name), out / "zoo", progress=bars())
    log(f"magnitude pruning, {len(mp_config.sparsity)} levels -> {out / 'twin-magnitude'}")
    mp = compare_twins(zoo, _twin(zoo, out / "twin-magnitude", mp_config))
    log(f"variational dropout, {vd_config.vd_epochs} epochs -> {out / 'twin-vd'}")
    vd = compare_twins(zoo, _twin(zoo, out / "twin-vd", vd_config))
    cross = crossover(mp, vd)
    table = summary_table([mp, vd])
    atomic_write_bytes(
        out / "twins.json", json.dumps({"mp": mp, "vd": vd, "crossover": cross}, indent=1).encode()
    )
    atomic_write_bytes(out / "twins.md", (table + "\n").encode())
    atomic_write_bytes(out / "twins.html", twins_section([mp, vd], cross).encode())
    write_figures([mp, vd], out)
    return Result(
        rows=_rows(mp, vd, cross),
        tables=[table],
        notes=_notes(mp, vd, cross),
        setup=f"{zoo.num_models} models of {name}; magnitude: {mp_config.scope}, "
        f"{mp_config.schedule}, {mp_config.finetune_epochs} fine-tuning epoch(s); "
        f"VD: {vd_config.vd_epochs} epochs, Adam {vd_config.vd_lr:g}; VD - MP paired per model",
    )


def _nearest(result: dict, level: float) -> dict:
    return min(result["groups"], key=lambda g: abs(g["sparsity_mean"] - level))


def _loss_row(measure: str, paper: str, group: dict) -> Row:
    """Original minus twin accuracy, with the interval over the group's independent units."""
    loss = group["loss"]
    low, high = loss["low"], loss["high"]
    return Row(
        measure,
        paper,
        loss["value"],
        math.nan if low is None else low,
        math.nan if high is None else high,
        note=_units(loss["test_units"], loss["unit"]),
    )


def _units(count: int, unit: str) -> str:
    return f"test_units {count}, unit {unit}"


def _rows(mp: dict, vd: dict, cross: dict) -> list[Row]:
    final = vd["groups"][-1]
    at80 = _nearest(mp, 0.8)
    return [
        Row("VD sparsity after its last epoch", "~0.80 (MNIST, 25 epochs)", final["sparsity_mean"]),
        _loss_row("VD accuracy loss (original - twin)", "~0.02 (MNIST)", final),
        _loss_row(f"MP accuracy loss at sparsity {at80['sparsity_mean']:.2f}", "small", at80),
        *(
            Row(
                f"VD - MP accuracy {where} 80 % sparsity (paired per model)",
                paper,
                cross[side]["vd_minus_mp"],
                cross[side]["low"],
                cross[side]["high"],
                note=f"{cross[side]['finding']}; {_units(cross[side]['test_units'], cross['unit'])}"
                f" ({cross[side]['n']} models); against the mean MP curve "
                f"{cross['unpaired'][side]['vd_minus_mp']:+.3f}",
            )
            for side, where, paper in (
                ("below", "below", "< 0 (MP better)"),
                ("above", "at/above", "> 0 (VD better)"),
            )
        ),
        Row("VD twin agreement with original (top-1)", "high", final["agreement_mean"]),
        Row("VD twin Cohen's kappa", "high", final["kappa_mean"]),
        Row("Pearson r, original vs VD twin accuracy", "high", final["pearson"]),
        Row(
            f"Pearson r, original vs MP twin at {at80['sparsity_mean']:.2f}",
            "high",
            at80["pearson"],
        ),
    ]


def _notes(mp: dict, vd: dict, cross: dict) -> list[str]:
    """The crossover's finding per side, from its interval over independent units: "as
    published" only where the interval excludes 0 on the paper's side."""
    notes = []
    for side, where in (("below", "below"), ("above", "at/above")):
        part = cross[side]
        if part["n"] == 0:
            notes.append(
                f"no model's final VD twin lies {where} 80 % sparsity within its own pruning "
                "range: the crossover is not tested there"
            )
            continue
        notes.append(
            f"crossover {where} 80 %: VD - MP {part['text']} over {part['test_units']} "
            f"{cross['unit']}(s), {part['n']} models: {part['finding']}"
        )
    spread = np.std(vd["points"]["original_test_acc"])
    notes.append(f"originals' test-accuracy spread (std) {spread:.3f}: correlations need spread")
    return notes
