"""`--device cuda` on a machine without CUDA: one line, exit status 2, before anything is
written (no output folder, no progress file), for every command that has the flag."""

from __future__ import annotations

import pytest
import torch

from weightspace.cli import main
from weightspace.cli.common import check_device
from weightspace.errors import ConfigError, DeviceError

# every command with a --device flag (its own or its config class's), with the least input
COMMANDS = {
    "demo": ["demo", "--out", "out"],
    "zoo create": ["zoo", "create", "--preset", "digits-demo-quick", "--out", "out"],
    "zoo sparsify": ["zoo", "sparsify", "--zoo", "zoo", "--out", "out"],
    "zoo evaluate": ["zoo", "evaluate", "--zoo", "zoo"],
    "fit": ["fit", "--zoo", "zoo", "--out", "out"],
    "grids generate": ["grids", "generate", "--out", "out"],
    "grids train": ["grids", "train", "--model", "mlp", "--data", "data", "--out", "out"],
}


@pytest.fixture
def no_cuda(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)  # every relative path the command might write lands here
    return tmp_path


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_cuda_without_cuda_is_one_line_before_any_file(name, no_cuda, capsys):
    assert main([*COMMANDS[name], "--device", "cuda"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "error: --device cuda: no CUDA device here; use --device cpu\n"
    assert captured.out == ""
    assert list(no_cuda.iterdir()) == []  # no output folder, no progress file, nothing


def test_every_device_flag_is_covered():
    # a new command with --device must join COMMANDS (and so the test above)
    import argparse

    from weightspace.cli import build_parser
    from weightspace.cli.common import complete

    def commands(parser, prefix=()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from commands(complete(sub), (*prefix, name))
        if any("--device" in a.option_strings for a in parser._actions):
            yield " ".join(prefix)

    assert sorted(commands(build_parser())) == sorted(COMMANDS)


def test_a_config_file_asking_for_cuda_is_refused_too(no_cuda, capsys):
    (no_cuda / "train.json").write_text('{"device": "cuda:1"}')
    assert main(["fit", "--zoo", "zoo", "--out", "out", "--config", "train.json"]) == 2
    assert capsys.readouterr().err.startswith("error: --device cuda:1: no CUDA device here")
    assert sorted(p.name for p in no_cuda.iterdir()) == ["train.json"]


def test_the_check_passes_what_is_there_and_names_a_missing_index(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for device in ("auto", "cpu", "cuda", "cuda:0"):
        check_device(device)  # no error: the machine has them
    with pytest.raises(DeviceError) as err:
        check_device("cuda:3")
    assert str(err.value) == "--device cuda:3: no CUDA device 3 here (1 visible); use --device cpu"
    assert isinstance(err.value, ConfigError) and err.value.field == "--device"
