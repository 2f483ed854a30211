"""`weightspace zoo create | info | import | presets`."""

from __future__ import annotations

import argparse
from dataclasses import fields, replace

from weightspace.cli.common import (
    check_device,
    config_flags,
    group,
    input_argument,
    output_arguments,
    start_over,
)
from weightspace.errors import WeightspaceError


def _zoo_create(args: argparse.Namespace) -> None:
    check_device(args.device)  # before anything is written
    from weightspace.zoo import ZooConfig, create_zoo, preset

    if (args.preset is None) == (args.config is None):
        raise WeightspaceError("zoo create: give exactly one of --preset NAME or --config FILE")
    # flags of ZooConfig's plain fields override the preset or file (factors: in the file)
    flags = {f.name for f in fields(ZooConfig)} & set(vars(args))
    overrides = {k: getattr(args, k) for k in flags}
    from weightspace.zoo.presets import PARK_PRESETS

    if args.preset in PARK_PRESETS:
        _park_create(args, PARK_PRESETS[args.preset], overrides)
        return
    config = preset(args.preset) if args.preset else ZooConfig.from_file(args.config)
    config = replace(config, **overrides)
    if args.data_root is not None:
        config = replace(config, dataset=replace(config.dataset, root=args.data_root))
    start_over(args)
    zoo = create_zoo(
        config, args.out, backend=args.backend, device=args.device, progress=not args.quiet
    )
    print(f"wrote {zoo.num_models} models, {len(zoo)} checkpoints to {args.out}")


def _park_create(args: argparse.Namespace, park, overrides: dict) -> None:
    """`zoo create --preset <park>`: the flags change the shared base config of its zoos."""
    from weightspace.errors import ConfigError
    from weightspace.zoo.park import ARCH_KEYS, create_park

    per_member = sorted(set(overrides) & {*ARCH_KEYS, "name"})
    if per_member:
        raise ConfigError(
            f"--{per_member[0].replace('_', '-')}",
            "no architecture flag for a park (each member names its own)",
            overrides[per_member[0]],
            "Drop the flag, or write a park config in Python (weightspace.zoo.park.ParkConfig)",
        )
    base = replace(park.base, **overrides)
    if args.data_root is not None:
        base = replace(base, dataset=replace(base.dataset, root=args.data_root))
    park = replace(park, base=base)
    start_over(args)
    result = create_park(
        park, args.out, backend=args.backend, device=args.device, progress=not args.quiet
    )
    print(
        f"wrote a park of {len(result.members)} architectures, {result.num_models} models "
        f"to {args.out}"
    )


def describe_park(park) -> str:
    """One line per member of a park: name, family, parameters, models (and held-out mark)."""
    lines = [f"park {park.name}: {len(park.members)} architectures, {park.num_models} models"]
    lines.append(f"{'member':32s} {'family':6s} {'params':>7s} {'models':>6s}")
    for m in park.members:
        mark = "  (suggested held out)" if m.name in park.held_out else ""
        params = m.zoo.manifest["architecture"]["num_parameters"]
        lines.append(f"{m.name:32s} {m.family:6s} {params:7d} {m.zoo.num_models:6d}{mark}")
    return "\n".join(lines)


def describe_input(task: dict) -> str:
    """How the networks' inputs are made from the task's images, in words."""
    steps = ["pixels in [0, 1]"]
    if task.get("grayscale"):
        steps.append("grayscale (channel mean)")
    transform = task.get("transform", "standardize")
    if transform == "standardize":
        steps.append("standardized per channel with the training split's mean and std")
    elif transform == "meanstd":
        steps.append(f"(x - {task.get('mean')}) / {task.get('std')}")
    root = f"; data: {task['root']}" if task.get("root") else ""
    return ", then ".join(steps) + root


def describe_zoo(zoo) -> str:
    """A plain-text summary: counts, status, and the test-accuracy distribution per epoch."""
    import numpy as np

    m = zoo.manifest
    columns = zoo.table.column_names
    epoch, status, models = zoo.column("epoch"), zoo.column("status"), zoo.column("model_id")
    config = m["architecture"]["config"] or {}
    arch = config.get("name") or (
        f"your network {config['module']}" if "module" in config else "an unregistered network"
    )
    if "module_path" in config:
        arch += f" (from {config['module_path']}: pass --module-path to use it)"
    task = (m["dataset"] or {}).get("config") or {}
    dataset = task.get("name", "unknown data")
    source = f", imported from {m['source']['format']}" if m.get("source") else ""
    lines = [
        f"zoo {m['name']}: {zoo.num_models} models, {len(zoo)} checkpoints, "
        f"{arch} ({m['architecture']['num_parameters']} parameters) on {dataset}{source}",
        "status: "
        + ", ".join(
            f"{s} {len(np.unique(models[status == s]))} models, {(status == s).sum()} checkpoints"
            for s in sorted(set(status))
        ),
    ]
    if task:
        lines.append("input: " + describe_input(task))
    if "problem" in columns and (status == "bad").any():
        problems = zoo.column("problem")[status == "bad"]
        rows = np.flatnonzero(status == "bad")
        lines.append("bad checkpoints (row: problem):")
        lines += [f"  {r}: {p}" for r, p in zip(rows[:10], problems[:10], strict=False)]
        if len(rows) > 10:
            lines.append(f"  ... and {len(rows) - 10} more")
    if "test_acc" in columns:
        acc = zoo.column("test_acc").astype(float)
        lines += ["", "epoch  checkpoints  test_acc  min    q25    median q75    max"]
        for e in np.unique(epoch):
            a = acc[(epoch == e) & np.isfinite(acc)]
            if len(a) == 0:
                continue
            q = np.quantile(a, [0.0, 0.25, 0.5, 0.75, 1.0])
            row = f"{e:5d}  {len(a):11d}  {a.mean():8.3f}  "
            lines.append(row + " ".join(f"{v:.3f}" for v in q))
    if "evaluation" in m:
        e = m["evaluation"]
        lines += [
            "",
            f"samples by {e['config']['method']} around {len(e['anchors']['rows'])} anchors "
            f"(anchor test_acc {e['anchors']['test_acc_mean']:.3f}): zero-shot test_acc "
            f"{e['zero_shot_test_acc']['mean']:.3f} ± {e['zero_shot_test_acc']['std']:.3f}, "
            f"novelty {e['novelty']['mean']:.3f} (min {e['novelty']['min']:.3f})",
        ]
    varying = [
        c
        for c in ("activation", "dropout", "init", "optimizer", "lr", "weight_decay")
        if c in columns and len(set(zoo.column(c).tolist())) > 1
    ]
    if varying:
        lines.append("")
        lines.append(
            "varying factors: "
            + ", ".join(f"{c} {sorted(set(zoo.column(c).tolist()))}" for c in varying)
        )
    return "\n".join(lines)


def _zoo_info(args: argparse.Namespace) -> None:
    from weightspace.zoo import open_zoo
    from weightspace.zoo.park import is_park, open_park

    if is_park(args.zoo):
        print(describe_park(open_park(args.zoo, verify=not args.no_verify)))
        return
    print(describe_zoo(open_zoo(args.zoo, verify=not args.no_verify)))


def _zoo_presets(args: argparse.Namespace) -> None:
    from weightspace.zoo import PRESETS
    from weightspace.zoo.presets import preset_note

    print(f"{'preset':26s} {'architecture':13s} {'dataset':14s} {'models':>7s} {'epochs':>6s}")
    for name, config in sorted(PRESETS.items()):
        n = _count(config)
        print(
            f"{name:26s} {config.architecture:13s} {config.dataset.name:14s} "
            f"{n:7d} {config.epochs:6d}"
        )
    from weightspace.zoo.presets import PARK_PRESETS

    for name, park in sorted(PARK_PRESETS.items()):
        kinds = f"park ({len(park.architectures)})"
        print(
            f"{name:26s} {kinds:13s} {park.base.dataset.name:14s} "
            f"{park.num_models():7d} {park.base.epochs:6d}"
        )
    notes = [(name, preset_note(name)) for name in sorted(PRESETS) if preset_note(name)]
    for name, note in notes:
        print(f"\n{name}: {note}")


def _zoo_evaluate(args: argparse.Namespace) -> None:
    check_device(args.device)
    import numpy as np
    from tqdm import tqdm

    from weightspace.zoo.evaluate import IMPORTED, evaluate_zoo
    from weightspace.zoo.reader import open_zoo

    total = len(open_zoo(args.zoo))
    with tqdm(total=total, unit="checkpoint", disable=args.quiet) as bar:
        zoo = evaluate_zoo(
            args.zoo,
            module=args.module,
            module_path=args.module_path,
            chunk=args.chunk,
            device=args.device,
            progress=bar.update,
        )
    print(f"evaluated {total} checkpoints of {zoo.root} on {zoo.dataset.name}")
    for name in ("train_acc", "val_acc", "test_acc"):
        values = zoo.column(name).astype(float)
        line = f"  {name}: mean {np.nanmean(values):.4f}"
        if IMPORTED + name in zoo.table.column_names:
            imported = zoo.column(IMPORTED + name).astype(float)
            both = np.isfinite(imported) & np.isfinite(values)
            if both.any():
                gap = np.abs(imported[both] - values[both]).max()
                line += f" (largest difference to the imported values: {gap:.4f})"
        print(line)


def _count(config) -> int:
    from weightspace.zoo.config import FACTORS

    total = config.seeds
    for name in FACTORS:
        total *= len(getattr(config, name).grid())
    return total


def register(commands: argparse._SubParsersAction) -> None:
    zoo = group(commands, "zoo", "create, import and inspect model zoos")
    create = zoo.add_parser(
        "create", help="train a zoo or a park preset (resumes a partial directory)"
    )
    create.add_argument("--preset", help="a preset name (see `weightspace zoo presets`)")
    create.add_argument("--config", help="a .json or .toml zoo config")
    output_arguments(create, "the zoo directory to write (a partial one is resumed)")
    create.add_argument("--backend", default="inprocess", choices=("inprocess", "ray"))
    create.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    create.add_argument("--data-root", help="folder of the dataset files (mnist, cifar10, svhn)")
    create.add_argument("--quiet", action="store_true", help="no progress bar")
    # --seeds, --epochs, ... (Factors: in --config)
    config_flags(create, "weightspace.zoo.config:ZooConfig")
    create.set_defaults(run=_zoo_create)
    info = zoo.add_parser(
        "info", help="counts, status and accuracy per epoch of a zoo (a park: its members)"
    )
    input_argument(info, help="the zoo or park directory", old="DIR")
    info.add_argument("--no-verify", action="store_true", help="skip the sha256 checks")
    info.set_defaults(run=_zoo_info)
    presets = zoo.add_parser("presets", help="list the zoo presets")
    presets.set_defaults(run=_zoo_presets)
    evaluate = zoo.add_parser(
        "evaluate", help="compute every checkpoint's loss and accuracy on the attached task"
    )
    input_argument(evaluate, help="the zoo directory (its task attached)", old="DIR")
    evaluate.add_argument("--module", help="your network as package.module:Class, if attached")
    evaluate.add_argument(
        "--module-path", help="the folder --module is found in (default: the working directory)"
    )
    evaluate.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    evaluate.add_argument("--chunk", type=int, default=32, help="checkpoints evaluated at once")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.set_defaults(run=_zoo_evaluate)
