"""`weightspace grids generate | info | train`: power-grid stability datasets and baselines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from weightspace.cli.common import (
    check_device,
    config_flags,
    defer,
    group,
    input_argument,
    output_arguments,
    start_over,
)
from weightspace.config import config_from_args, sections_from_args


def _generate(args: argparse.Namespace) -> None:
    from weightspace.powergrid import (
        DatasetConfig,
        GenerateConfig,
        PowerGridConfig,
        SimulationConfig,
        generate_dataset,
    )

    sections = {"grid": PowerGridConfig, "simulation": SimulationConfig, "dataset": DatasetConfig}
    config = GenerateConfig(**sections_from_args(args, sections))
    check_device(config.simulation.device)  # before anything is written
    start_over(args)
    dataset = generate_dataset(config, args.out, backend=args.backend, progress=not args.quiet)
    timing = dataset.manifest["timing"]
    print(
        f"wrote {len(dataset)} grids of {config.grid.nodes} nodes "
        f"(M = {config.simulation.perturbations}) to {args.out}; "
        f"{timing['trajectories_per_second']:.0f} trajectories/s"
    )


def _info(args: argparse.Namespace) -> None:
    import numpy as np

    from weightspace.powergrid import open_grid_dataset

    dataset = open_grid_dataset(args.data)
    c = dataset.config
    snbs = np.concatenate([dataset.grid_arrays(i)["snbs"] for i in range(len(dataset))])
    edges = dataset.table.column("num_edges").to_numpy()
    nodes = dataset.table.column("num_nodes").to_numpy()
    print(
        f"{len(dataset)} grids of {c['grid']['nodes']} nodes, M = "
        f"{c['simulation']['perturbations']} perturbations per node, seed {c['dataset']['seed']}"
    )
    print(f"mean degree {np.mean(2 * edges / nodes):.3f}; SNBS mean {snbs.mean():.3f}")
    print(f"simulation: {dataset.manifest['timing']['trajectories_per_second']:.0f} traj/s")


def _load_splits(path: str, seed: int) -> dict[str, list]:
    from weightspace.powergrid import open_grid_dataset, read_zenodo

    root = Path(path)
    if (root / "train" / "input_data.h5").is_file():
        return read_zenodo(root)
    return open_grid_dataset(root).splits(seed=seed)


def _train(args: argparse.Namespace) -> None:
    from weightspace.config import CONFIG_FLAG, read_config_file
    from weightspace.powergrid import GridTrainConfig
    from weightspace.powergrid.compare import compare_baselines, comparison_table
    from weightspace.zoo.storage import atomic_write_json

    config = config_from_args(GridTrainConfig, args)
    check_device(config.device)  # before anything is written
    out = Path(args.out) if args.out else None
    if out is not None:
        from weightspace.storage import check_output_file

        check_output_file(out, args.out_flag, args.overwrite, (args.data, *(args.test or [])))
    splits = _load_splits(args.data, config.seed)
    tests = {"test": splits["test"]}
    for extra in args.test or []:
        whole = _load_splits(extra, config.seed)
        tests[Path(extra).name] = (
            whole["test"] if args.transfer_split == "test" else sum(whole.values(), [])
        )
    log = None if args.quiet else (lambda e: print(json.dumps(e)))
    path = getattr(args, CONFIG_FLAG, None)  # the DBGNN keeps its published depth unless asked
    given = "layers" in vars(args) or (path is not None and "layers" in read_config_file(path))
    results = compare_baselines(
        args.model, splits["train"], splits["valid"], tests, config, args.seeds, log,
        layers=config.layers if given else None, steps=args.steps,
    )  # fmt: skip
    print(comparison_table(results, list(tests)))
    if out is not None:
        meta = {"data": args.data, "tests": list(tests), "config": config.to_dict()}
        atomic_write_json(out, {**meta, "seeds": args.seeds, "steps": args.steps, **results})
        print(f"wrote {out}")


def _model_flag(train: argparse.ArgumentParser) -> None:
    from weightspace.powergrid.config import BASELINES

    train.add_argument("--model", nargs="+", required=True, choices=BASELINES)


def register(commands: argparse._SubParsersAction) -> None:
    grids = group(commands, "grids", "power-grid stability datasets (SNBS) and GNN baselines")
    gen = grids.add_parser("generate", help="simulate a dataset (resumes a partial directory)")
    for name in ("PowerGridConfig", "SimulationConfig", "DatasetConfig"):
        config_flags(gen, f"weightspace.powergrid.config:{name}")
    output_arguments(gen, "the dataset directory to write (a partial one is resumed)")
    gen.add_argument("--backend", default="inprocess", choices=("inprocess", "ray"))
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(run=_generate)
    info = grids.add_parser("info", help="counts, mean degree and SNBS of a dataset")
    input_argument(info, "--data", "the power-grid dataset directory", old="DIR")
    info.set_defaults(run=_info)
    train = grids.add_parser("train", help="fit baselines, print R^2 in-distribution and transfer")
    defer(train, _model_flag)
    train.add_argument("--data", required=True, help="a generated dataset or a Zenodo folder")
    train.add_argument("--test", nargs="*", help="more datasets to test on (size transfer)")
    train.add_argument(
        "--transfer-split",
        default="all",
        choices=("all", "test"),
        help="which grids of the --test datasets to score (default: all of them)",
    )
    output_arguments(
        train, "also write the results in a directory", file="baselines.json", required=False
    )
    train.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    train.add_argument(
        "--seeds", type=int, default=3, help="training seeds per model (mean and interval)"
    )
    train.add_argument(
        "--steps", type=int, help="DBGNN Dirac steps per layer (default: the published 12)"
    )
    config_flags(train, "weightspace.powergrid.config:GridTrainConfig")
    train.set_defaults(run=_train)
