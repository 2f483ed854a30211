"""`weightspace zoo import | attach | export`: bring your own zoo, and take ours elsewhere."""

from __future__ import annotations

import argparse

from weightspace.cli.common import (
    config_flags,
    defer,
    group,
    input_argument,
    output_arguments,
    start_over,
)
from weightspace.config import config_from_args
from weightspace.errors import ConfigError


def _import(args: argparse.Namespace) -> None:
    from weightspace.zoo.imports import ImportOptions, attach, import_zoo

    options = config_from_args(ImportOptions, args)
    if args.module is not None and options.dataset is None:
        raise ConfigError("--module", "--dataset too (the network's input)", args.module)
    if args.module is not None:  # found and built before anything is written
        from weightspace.zoo.architectures import build_module

        build_module(args.module, args.module_path)
    start_over(args, (args.path,), ours=_zoos_only)  # `--split-by-architecture`: zoos in it
    result = import_zoo(args.source, args.path, args.out, options)
    zoos = result if isinstance(result, list) else [result]
    for zoo in zoos:
        if args.module is not None:
            zoo = attach(zoo.root, module=args.module, module_path=args.module_path)
        bad = int((zoo.column("status") == "bad").sum())
        print(
            f"imported {zoo.num_models} models, {len(zoo)} checkpoints to {zoo.root}"
            + (
                f" ({bad} bad checkpoints: see `weightspace zoo info --zoo {zoo.root}`)"
                if bad
                else ""
            )
        )
        if zoo.manifest["architecture"]["config"] is None:
            print(
                "  its network is known from its weights only: fit, embed and probe work; to run "
                f"the networks, `weightspace zoo attach --zoo {zoo.root} --arch NAME` or --module"
            )


def _zoos_only(path) -> bool:  # noqa: ANN001
    return all((child / "manifest.json").is_file() for child in path.iterdir())


def _attach(args: argparse.Namespace) -> None:
    from weightspace.cli.zoo import describe_zoo
    from weightspace.zoo.imports import attach

    zoo = attach(
        args.zoo,
        dataset=args.dataset,
        data_root=args.data_root,
        arch=args.arch,
        module=args.module,
        module_path=args.module_path,
        activation=args.activation,
        **{k: getattr(args, k) for k in TASK_FLAGS if getattr(args, k, None) is not None},
    )
    print(describe_zoo(zoo).splitlines()[0])


TASK_FLAGS = ("transform", "mean", "std", "grayscale")
MODULE_PATH_HELP = "the folder --module is found in (default: the working directory)"


def _export(args: argparse.Namespace) -> None:
    from weightspace.zoo.imports import export_zoo

    out = export_zoo(args.zoo, args.to, args.out, overwrite=args.overwrite)
    print(f"wrote {out} ({args.to} layout)")


def _source_flag(imports: argparse.ArgumentParser) -> None:
    from weightspace.zoo.imports import FORMATS

    imports.add_argument("--from", dest="source", required=True, choices=FORMATS)


def _to_flag(export: argparse.ArgumentParser) -> None:
    from weightspace.zoo.imports import EXPORT_FORMATS

    export.add_argument("--to", required=True, choices=EXPORT_FORMATS)


def register(commands: argparse._SubParsersAction) -> None:
    zoo = group(commands, "zoo", "create, import and inspect model zoos")
    imports = zoo.add_parser("import", help="import a zoo: Model Zoos, Small CNN Zoo, a folder")
    defer(imports, _source_flag)  # the choices live next to the readers (torch)
    imports.add_argument("path", help="the folder of the zoo to import")
    output_arguments(imports, "the zoo directory to write (a cut-short import resumes)")
    imports.add_argument("--module", help="your network as package.module:Class (needs --dataset)")
    imports.add_argument("--module-path", help=MODULE_PATH_HELP)
    config_flags(imports, "weightspace.zoo.imports:ImportOptions")
    imports.set_defaults(run=_import)

    attach = zoo.add_parser("attach", help="record an imported zoo's task and network")
    input_argument(attach, old="DIR")
    attach.add_argument("--dataset", help="the task the networks were trained on")
    attach.add_argument("--data-root", help="folder of that dataset's files")
    attach.add_argument("--arch", help="a registry network the weights fit")
    attach.add_argument("--module", help="your network as package.module:Class")
    attach.add_argument("--module-path", help=MODULE_PATH_HELP)
    attach.add_argument("--activation", help="the networks' activation, with --arch")
    attach.add_argument(
        "--transform",
        choices=("standardize", "unit", "meanstd"),
        help="the networks' input: standardize (training statistics; default), unit ([0, 1] "
        "pixels) or meanstd (--mean/--std)",
    )
    attach.add_argument("--mean", type=float, nargs="+", help="per-channel input mean")
    attach.add_argument("--std", type=float, nargs="+", help="per-channel input std")
    attach.add_argument(
        "--grayscale",
        action="store_true",
        default=None,
        help="average the colour channels (CIFAR10-GS, SVHN-GS of the Small CNN Zoo)",
    )
    attach.set_defaults(run=_attach)

    export = zoo.add_parser("export", help="write a zoo in the Model Zoos or Small CNN Zoo layout")
    input_argument(export, old="DIR")
    defer(export, _to_flag)
    output_arguments(
        export,
        "a new folder",
        overwrite="replace an earlier export at --out, once the new one is complete",
    )
    export.set_defaults(run=_export)
