"""Heterogeneous park zoos: the park-cnn family, park configs, create/open/resume, tokens."""

import json
import os

import pytest
import torch

from weightspace.errors import ConfigError, FileFormatError
from weightspace.tokens.tokenizers import LayerTokenizer
from weightspace.zoo import ArchConfig, ZooConfig, build_model, weight_spec
from weightspace.zoo.members import ModelSpec
from weightspace.zoo.park import (
    ParkConfig,
    count_parameters,
    create_park,
    draw_architectures,
    is_park,
    member_name,
    open_park,
)
from weightspace.zoo.population import Population
from weightspace.zoo.presets import PARK_PRESETS, park_preset


def _park_cnn(hidden, kernel=3, residual=False, pool="gap", **kw):
    return ArchConfig("park-cnn", (1, 8, 8), 10, hidden=hidden, kernel=kernel,
                      residual=residual, pool=pool, **kw)  # fmt: skip


def _n(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "hidden, kernel, pool, expected",
    [
        # conv k*k*c_in*c_out + c_out per stage, then the head c_L*10 + 10
        ((8, 16), 3, "gap", (9 * 8 + 8) + (9 * 8 * 16 + 16) + (16 * 10 + 10)),
        ((16, 16, 16), 3, "max", 160 + 2 * (9 * 16 * 16 + 16) + 170),  # 4,970
        ((8, 32, 16), 5, "max", (25 * 8 + 8) + (25 * 8 * 32 + 32) + (25 * 32 * 16 + 16) + 170),
        ((4, 8, 8, 4, 8), 5, "gap", 104 + 808 + 1608 + 804 + 808 + 90),
    ],
)
def test_park_cnn_parameter_count_and_shapes(hidden, kernel, pool, expected):
    net = build_model(_park_cnn(hidden, kernel, pool=pool))
    assert _n(net) == expected
    assert count_parameters({"architecture": "park-cnn", "hidden": hidden, "kernel": kernel}) == (
        expected
    )
    x = torch.randn(3, 1, 8, 8)
    assert net.stem(x).shape == (3, hidden[0], 4 if pool == "max" else 8, 4 if pool == "max" else 8)
    assert net(x).shape == (3, 10)
    assert [m.kernel_size for m in net.modules() if isinstance(m, torch.nn.Conv2d)] == [
        (kernel, kernel)
    ] * len(hidden)


@pytest.mark.parametrize("hidden", [(8, 16, 8), (16, 8, 4), (4, 8, 16), (8, 4, 4, 16)])
def test_residual_adds_the_first_stage_on_the_shared_channels(hidden):
    torch.manual_seed(0)
    skip = build_model(_park_cnn(hidden, residual=True, activation="relu"))
    plain = build_model(_park_cnn(hidden, activation="relu"))
    plain.load_state_dict(skip.state_dict())  # the skip has no weights: same keys
    x = torch.randn(5, 1, 8, 8)
    s, y = skip.stem(x), skip.body(skip.stem(x))
    c = min(hidden[0], hidden[-1])
    y = torch.cat([y[:, :c] + s[:, :c], y[:, c:]], 1)
    assert torch.equal(skip(x), skip.head(skip.post(y)))
    assert not torch.allclose(skip(x), plain(x))  # negative control: the skip matters


def test_knobs_are_checked_and_left_out_of_dicts_at_defaults():
    old = ArchConfig("cnn-s").to_dict()
    assert set(old) == {"name", "input_shape", "num_classes", "activation", "dropout", "init",
                        "hidden"}  # fmt: skip
    assert ArchConfig(**old) == ArchConfig("cnn-s")
    assert not {"kernel", "residual", "pool"} & set(ZooConfig().to_dict())
    arch = _park_cnn((8, 16, 8), kernel=5, residual=True, pool="max")
    assert ArchConfig(**arch.to_dict()) == arch
    assert ZooConfig.from_dict(ZooConfig(architecture="park-cnn", kernel=5).to_dict()).kernel == 5
    for bad in ({"kernel": 4}, {"pool": "avg"}, {"residual": True, "hidden": (8, 8)},
                {"hidden": (8,)}, {"hidden": (4, 4, 4, 4, 4, 4)}):  # fmt: skip
        with pytest.raises(ConfigError):
            _park_cnn(**{"hidden": (8, 8, 8), **bad})
    with pytest.raises(ConfigError, match="park-cnn"):
        ArchConfig("cnn-s", kernel=5)  # a knob another architecture would ignore


def _splits(n_train=24, n_eval=8):
    from weightspace.zoo.datasets import Splits

    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_train + 2 * n_eval, 1, 8, 8, generator=g)
    y = torch.randint(0, 10, (len(x),), generator=g)
    a, b = n_train, n_train + n_eval
    return Splits(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], 10)


@pytest.mark.parametrize(
    "hidden, residual, pool", [((8, 16, 8), True, "max"), ((4, 8, 16), True, "gap"),
                               ((16, 8, 4), True, "gap"), ((8, 16), False, "max")],
)  # fmt: skip
def test_batched_path_equals_vmap_path_for_park_cnn(hidden, residual, pool):
    specs = [
        ModelSpec(i, 10 + i, _park_cnn(hidden, 3, residual, pool, dropout=0.3 * (i % 2)),
                  "adam", 1e-3 * (1 + i), 1e-4)
        for i in range(3)
    ]  # fmt: skip
    fast, slow = Population(specs, _splits(), 8), Population(specs, _splits(), 8)
    slow.program = None
    assert fast.program is not None
    a, b = fast.train(2), slow.train(2)
    for key in a.weights:
        torch.testing.assert_close(a.weights[key], b.weights[key], atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(a.metrics, b.metrics, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(PARK_PRESETS))
def test_tokens_to_weights_exact_for_every_park_architecture(name):
    for member, _, config in park_preset(name).member_configs():
        knobs = {k: getattr(config, k) for k in ("hidden", "kernel", "residual", "pool")}
        arch = ArchConfig(config.architecture, (1, 8, 8), 10, **knobs)
        spec = weight_spec(arch)
        flat = torch.stack([spec.flatten(build_model(arch).state_dict()) for _ in range(2)])
        for size in (0, 288):
            tok = LayerTokenizer(spec, token_size=size)
            assert torch.equal(tok.detokenize(tok.tokenize(flat).tokens), flat), member


def test_digits_park_preset_meets_its_brief():
    park = park_preset("digits-park")
    counts = [count_parameters(a) for a in park.architectures]
    assert park.num_models() >= 500 and len(park.architectures) >= 20
    assert 1_000 <= min(counts) < 1_100 and 19_000 < max(counts) <= 20_000
    train = [a for a, n in zip(park.architectures, park.member_names(), strict=True)
             if n not in park.held_out]  # fmt: skip
    deeper, wider, mlp = (park.architectures[park.member_names().index(n)] for n in park.held_out)
    cnns = [a for a in train if a["architecture"] == "park-cnn"]
    assert len(deeper["hidden"]) > max(len(a["hidden"]) for a in cnns)
    assert max(wider["hidden"]) > max(max(a["hidden"]) for a in cnns)
    assert mlp["architecture"] == "mlp" and any(a["architecture"] == "mlp" for a in train)
    assert any(a["residual"] for a in cnns) and any(a["pool"] == "max" for a in cnns)


def test_drawn_architectures_are_distinct_and_in_range():
    archs = draw_architectures(12, 3, "park-cnn", (2, 3, 4), params=(1_000, 20_000))
    assert len({json.dumps(a) for a in archs}) == 12
    assert all(1_000 <= count_parameters(a) <= 20_000 for a in archs)
    assert archs == draw_architectures(12, 3, "park-cnn", (2, 3, 4), params=(1_000, 20_000))
    assert archs != draw_architectures(12, 4, "park-cnn", (2, 3, 4), params=(1_000, 20_000))
    with pytest.raises(ConfigError):  # more than the ranges hold
        draw_architectures(10, 0, "mlp", (1,), params=(0, 10**6))


def _tiny(epochs=1):
    base = ZooConfig(dataset="digits", seeds=2, epochs=epochs, batch_size=64, lr=3e-3)
    archs = ({"architecture": "park-cnn", "hidden": [4, 8, 4], "residual": True, "pool": "max"},
             {"architecture": "mlp", "hidden": [16]})  # fmt: skip
    return ParkConfig("tiny", base, archs, held_out=(member_name(1, archs[1]),))


def test_create_open_and_resume_a_park(tmp_path):
    out = tmp_path / "park"
    park = create_park(_tiny(), out, progress=False)
    assert is_park(out) and not is_park(park.members[0].zoo.root)
    again = open_park(out)
    assert [m.name for m in again.members] == ["a00-cnn-4x8x4-k3-res-max", "a01-mlp-16"]
    assert [m.family for m in again.members] == ["cnn", "mlp"] and again.num_models == 4
    assert again.held_out == ("a01-mlp-16",)
    cnn = again.members[0].zoo
    assert cnn.arch(0).residual and cnn.arch(0).pool == "max"  # the knobs survive the manifest
    net = cnn.model(0)
    assert net.residual and _n(net) == count_parameters(again.members[0].architecture)
    # resume: a finished member is not retrained, a lost one is rebuilt, park.json last
    manifest = out / "a00-cnn-4x8x4-k3-res-max" / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    (out / "park.json").unlink()
    for f in sorted((out / "a01-mlp-16").rglob("*"), reverse=True):
        f.rmdir() if f.is_dir() else f.unlink()
    (out / "a01-mlp-16").rmdir()
    resumed = create_park(_tiny(), out, progress=False)
    assert manifest.stat().st_mtime_ns == stamp and is_park(out)
    torch.testing.assert_close(resumed.members[1].zoo.weights([0])["net.1.weight"],
                               again.members[1].zoo.weights([0])["net.1.weight"])  # fmt: skip
    with pytest.raises(ConfigError, match="different config"):
        create_park(_tiny(epochs=2), out, progress=False)


def test_create_park_refuses_a_foreign_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="empty or new"):
        create_park(_tiny(), tmp_path, progress=False)
    assert os.listdir(tmp_path) == ["notes.txt"]


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "not found"),
        ("{not json", "not valid JSON"),
        ({"format": "something", "version": 1, "members": []}, "expected"),
        ({"format": "weightspace.park", "version": 1, "members": []}, "non-empty"),
        (
            {
                "format": "weightspace.park",
                "version": 1,
                "members": [{"name": "x", "path": "../x", "architecture": {}, "family": "cnn"}],
            },
            "leaves",
        ),  # fmt: skip
        ({"format": "weightspace.park", "version": 1, "members": [{"name": "x"}]}, "needs"),
    ],
)
def test_bad_park_file_is_a_file_format_error(tmp_path, content, problem):
    if content is not None:
        text = content if isinstance(content, str) else json.dumps(content)
        (tmp_path / "park.json").write_text(text)
    with pytest.raises(FileFormatError, match=problem):
        open_park(tmp_path)


def test_zoo_info_prints_one_line_per_member(tmp_path, capsys):
    from weightspace.cli import main

    create_park(_tiny(), tmp_path / "p", progress=False)
    main(["zoo", "info", "--zoo", str(tmp_path / "p")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "park tiny: 2 architectures, 4 models"
    assert lines[2].split() == ["a00-cnn-4x8x4-k3-res-max", "cnn", "678", "2"]
    assert lines[3].split()[:4] == ["a01-mlp-16", "mlp", "1210", "2"]


def test_zoo_create_trains_a_park_preset_and_refuses_architecture_flags(tmp_path, capsys):
    from weightspace.cli import main

    out = tmp_path / "p"
    argv = ["zoo", "create", "--preset", "digits-park-tiny", "--out", str(out), "--quiet"]
    assert main([*argv, "--hidden", "4"]) == 2 and not out.exists()
    assert "--hidden" in capsys.readouterr().err
    assert main([*argv, "--epochs", "1"]) == 0
    park = open_park(out)
    assert len(park.members) == 4 and park.num_models == 16
    assert all(m.zoo.config.epochs == 1 for m in park.members)  # the flag changed the base
    (held,) = park.held_out  # the deepest member: unseen in the quick reproduction
    depth = {m.name: len(m.architecture["hidden"]) for m in park.members}
    assert depth[held] > max(d for n, d in depth.items() if n != held)
