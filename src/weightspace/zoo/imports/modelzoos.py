"""The Model Zoos dataset (modelzoos.cc): one Ray Tune trial folder per model.

    trial/params.json                  the trial's config: ``model::nlin``, ``optim::lr``, ``seed``
    trial/result.json                  one JSON line per reported epoch: metrics,
                                       ``training_iteration`` (Ray counts from 1) and a nested
                                       ``config`` (the trial's parameters again)
    trial/checkpoint_000025/checkpoints   ``torch.save(state_dict)`` (older zoos: checkpoint_25)

Which line belongs to which checkpoint: a zoo that stores the initialization
(``checkpoint_000000``) reported it as its first line, so checkpoint ``e`` reads line ``e``;
without one, line ``e - 1``. The line's ``training_iteration`` must then equal its position + 1,
which a torn or reordered file violates: such checkpoints get no metrics.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from weightspace.errors import FileFormatError
from weightspace.zoo.imports.common import (
    FACTORS,
    METRICS,
    ImportOptions,
    factor_value,
    lazy_load,
    with_architecture,
)
from weightspace.zoo.imports.writer import Checkpoint

CHECKPOINT = re.compile(r"checkpoint_0*(\d+)$")
TYPES = {"CNN": ("cnn-s",), "CNN2": ("cnn-l",), "CNN3": ("cnn-l",), "MLP": ("mlp",)}


def read_modelzoos(root: Path, options: ImportOptions):  # noqa: ANN201
    """(checkpoints streamed in trial order, registry architecture or None)."""
    trials = sorted({p.parent for p in root.rglob("params.json")})
    if not trials:
        raise FileFormatError(
            root,
            "no trial folder with a params.json found",
            "Point to the folder that holds the Ray Tune trial folders",
        )
    kinds = {_read_params(trials[0] / "params.json")[0].get("model::type")}
    return with_architecture(_checkpoints(trials, options), options, TYPES.get(kinds.pop(), ()))


def _checkpoints(trials: list[Path], options: ImportOptions) -> Iterator[Checkpoint]:
    for model_id, trial in enumerate(trials):
        params, problem = _read_params(trial / "params.json")
        lines = _read_results(trial / "result.json")
        if not params and lines:  # params.json lost: the lines carry the config too
            params = next((ln["config"] for ln in lines if isinstance(ln.get("config"), dict)), {})
        factors = {FACTORS[k]: factor_value(k, v) for k, v in params.items() if k in FACTORS}
        folders = sorted(
            (int(m.group(1)), entry)
            for entry in trial.iterdir()
            if (m := CHECKPOINT.match(entry.name))
        )
        if not folders:
            values = {**factors, "file": trial.name}
            yield Checkpoint(model_id, 0, None, values, f"{trial.name}: no checkpoint")
            continue
        offset = 0 if folders[0][0] == 0 else 1
        for epoch, entry in folders:
            metrics = _metrics(lines, epoch - offset)
            file = entry / "checkpoints" if entry.is_dir() else entry
            yield Checkpoint(
                model_id,
                epoch,
                values={**factors, **metrics, "file": f"{trial.name}/{entry.name}"},
                problem=problem,
                load=lazy_load(file, options.strip_prefix),
            )


def _metrics(lines: list[dict], index: int) -> dict:
    """The metrics of line ``index``; none when it is missing or out of order."""
    if not 0 <= index < len(lines) or lines[index].get("training_iteration") != index + 1:
        return {}
    line = lines[index]
    return {
        name: float(line[k])
        for k, name in METRICS.items()
        if isinstance(line.get(k), (int, float)) and not isinstance(line.get(k), bool)
    }


def _read_params(path: Path) -> tuple[dict, str]:
    try:
        params = json.loads(path.read_text())
        if not isinstance(params, dict):
            raise ValueError("not a JSON object")
        return params, ""
    except (OSError, ValueError, UnicodeDecodeError) as err:
        return {}, f"{path}: unreadable params.json ({err})"


def _read_results(path: Path) -> list[dict]:
    """The JSON lines of Ray Tune's result.json in file order; a torn last line is dropped."""
    if not path.is_file():
        return []
    lines = []
    for text in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(text)
        except ValueError:
            continue  # a torn last line of an interrupted run
        if isinstance(entry, dict):
            lines.append(entry)
    return lines
