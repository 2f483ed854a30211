"""Imported zoos work in every command: files written in the exact published layouts (Small CNN
Zoo with TensorFlow names and bias-before-kernel order, Model Zoos trial folders with nested
configs, Lightning-style checkpoints), then import -> fit -> embed -> probe -> sample -> info;
and export -> import gives back the same zoo."""

from __future__ import annotations

import csv
import gzip
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import torch
from conftest import tiny_config

from weightspace.cli import main
from weightspace.zoo import ArchConfig, build_model, create_zoo, open_zoo
from weightspace.zoo.dataset_files import IDX_FILES

STEPS = (0, 1, 2, 3, 20, 40, 60, 80, 86)


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root):
    rng = np.random.default_rng(0)
    root.mkdir()
    for key, name in IDX_FILES.items():
        n = 120 if key.startswith("train") else 40
        array = rng.integers(0, 256, (n, 28, 28)) if key.endswith("x") else rng.integers(0, 10, n)
        _write_idx(root / name, array)


def tf_layout(net):
    """Flat TensorFlow rows of a Small CNN network: varnames sorted, each bias before its kernel."""
    names = {"features.0": "conv2d", "features.3": "conv2d_1", "features.6": "conv2d_2"}
    names["head"] = "dense"
    entries = []
    for key, value in net.state_dict().items():
        layer, _, leaf = key.rpartition(".")
        if value.dim() == 4:
            value = value.permute(2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)
        elif value.dim() == 2:
            value = value.T
        tf_leaf = "kernel" if leaf == "weight" else "bias"
        entries.append((f"sequential/{names[layer]}/{tf_leaf}:0", value.contiguous()))
    return sorted(entries)


def write_smallcnn(root, models=8, steps=STEPS[:3]):
    root.mkdir()
    rows, metrics = [], []
    layout = None
    for m in range(models):
        for step in steps:
            torch.manual_seed(100 * m + step)
            act = "relu" if m % 2 else "tanh"
            net = build_model(ArchConfig("smallcnn", (1, 28, 28), activation=act))
            entries = tf_layout(net)
            rows.append(torch.cat([v.reshape(-1) for _, v in entries]).numpy())
            if layout is None:
                start, layout = 0, []
                for name, v in entries:
                    shape = "(" + ", ".join(map(str, v.shape)) + ("," if v.dim() == 1 else "") + ")"
                    layout.append((name, start, start + v.numel(), v.numel(), shape))
                    start += v.numel()
            metrics.append(
                {
                    "config.activation": act,
                    "config.b_init": "zeros",
                    "config.dataset": "mnist",
                    "config.dnn_architecture": "cnn",
                    "config.dropout": 0.0,
                    "config.epochs": 86,
                    "config.epochs_between_checkpoints": 20,
                    "config.init_std": 0.05,
                    "config.l2reg": 1e-4 * (1 + m % 3),
                    "config.learning_rate": 1e-3 * (1 + m % 4),
                    "config.num_layers": 3,
                    "config.num_units": 16,
                    "config.optimizer": "adam",
                    "config.random_seed": 1000 + m,
                    "config.train_fraction": 1.0,
                    "config.w_init": "he_normal",
                    "modeldir": f"gs://smallcnnzoo/mnist/run_{m:04d}",
                    "step": step,
                    "test_accuracy": 0.1 + 0.01 * m + 0.001 * step,
                    "test_loss": 2.0 - 0.01 * m,
                    "train_accuracy": 0.12 + 0.01 * m + 0.001 * step,
                    "train_loss": 1.9 - 0.01 * m,
                }
            )
    np.save(root / "weights.npy", np.stack(rows).astype(np.float32))
    buffer = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pylist(metrics), buffer)
    (root / "metrics.csv.gz").write_bytes(gzip.compress(buffer.getvalue()))
    text = "varname,start_idx,end_idx,size,shape\n" + "".join(
        f'{n},{a},{b},{s},"{sh}"\n' for n, a, b, s, sh in layout
    )
    (root / "layout.csv").write_text(text)


def run_pipeline(zoo_dir, tmp_path):
    """fit (tiny, 1 epoch) -> embed -> probe -> sample -> info, all through the CLI."""
    run, emb, samples = tmp_path / "sane", tmp_path / "emb.parquet", tmp_path / "samples"
    base = ["--zoo", str(zoo_dir)]
    fit = ["fit", *base, "--model", "sane", "--preset", "tiny", "--epochs", "1", "--quiet"]
    assert main([*fit, "--batch-size", "4", "--out", str(run)]) == 0
    assert main(["embed", "--model", str(run), *base, "--out", str(emb)]) == 0
    assert pq.read_table(emb).num_rows == len(open_zoo(zoo_dir))
    assert main(["probe", *base, "--json", str(tmp_path / "probe.json")]) == 0
    assert "test_acc" in json.dumps(json.loads((tmp_path / "probe.json").read_text()))
    assert main(["sample", "--model", str(run), *base, "--n", "2", "--out", str(samples)]) == 0
    assert len(open_zoo(samples)) == 2
    assert main(["zoo", "info", "--zoo", str(zoo_dir)]) == 0


def test_smallcnn_layout_imports_and_runs_every_command(tmp_path, capsys):
    write_smallcnn(tmp_path / "small", models=12)  # 12 seeds: 2 test models for the probe
    write_mnist(tmp_path / "mnist")
    out = tmp_path / "zoo"
    args = ["zoo", "import", "--from", "smallcnn", str(tmp_path / "small"), "--out", str(out)]
    assert main([*args, "--dataset", "mnist", "--data-root", str(tmp_path / "mnist")]) == 0
    zoo = open_zoo(out)
    assert zoo.arch(0).name == "smallcnn" and zoo.manifest["architecture"]["num_parameters"] == 4970
    assert zoo.num_models == 12 and sorted(set(zoo.column("epoch"))) == [0, 1, 2]
    # row of model 3 step 2 holds exactly that network, its kernels in PyTorch layout
    torch.manual_seed(100 * 3 + 2)
    net = build_model(ArchConfig("smallcnn", (1, 28, 28), activation="relu"))
    row = int(np.flatnonzero((zoo.column("model_id") == 3) & (zoo.column("epoch") == 2))[0])
    for key, value in net.state_dict().items():
        assert torch.equal(zoo.state_dict(row)[key], value), key
    assert zoo.column("activation")[row] == "relu" and zoo.column("seed")[row] == 1003
    assert zoo.column("test_acc")[row] == pytest.approx(0.132)
    x = torch.randn(3, 1, 28, 28)
    assert torch.allclose(zoo.model(row)(x), net.eval()(x))
    assert zoo.column("modeldir")[row] == "gs://smallcnnzoo/mnist/run_0003"  # its source run
    back = tmp_path / "exported"  # an export gives the runs their published names back
    assert main(["zoo", "export", "--zoo", str(out), "--to", "smallcnn", "--out", str(back)]) == 0
    with gzip.open(back / "metrics.csv.gz", "rt") as handle:
        runs = [line["modeldir"] for line in csv.DictReader(handle)]
    assert runs == zoo.column("modeldir").tolist()
    run_pipeline(out, tmp_path)


def test_smallcnn_layout_refuses_colliding_and_overlapping_variables(tmp_path):
    write_smallcnn(tmp_path / "small", models=2, steps=(0,))
    layout = (tmp_path / "small" / "layout.csv").read_text()
    clash = layout.replace("sequential/conv2d_1/bias:0", "sequential/conv2d/beta:0")
    (tmp_path / "small" / "layout.csv").write_text(clash)
    args = ["zoo", "import", "--from", "smallcnn", str(tmp_path / "small")]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    overlap = layout.replace("16,160,144", "15,159,144")
    (tmp_path / "small" / "layout.csv").write_text(overlap)
    assert main([*args, "--out", str(tmp_path / "b")]) == 2
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def write_trials(root, zoo, epoch0=True):
    """Ray Tune trial folders as the Model Zoos ship them, from our zoo's checkpoints."""
    root.mkdir()
    ids, epochs = zoo.column("model_id"), zoo.column("epoch")
    for m in sorted(set(ids.tolist())):
        trial = root / f"NN_tune_trainable_{m:05d}_{m}_seed={m}"
        trial.mkdir()
        params = {"model::type": "CNN", "model::nlin": "tanh", "optim::lr": 1e-3, "seed": m}
        (trial / "params.json").write_text(json.dumps(params))
        rows = sorted(np.flatnonzero(ids == m), key=lambda r: epochs[r])
        if not epoch0:
            rows = [r for r in rows if epochs[r] > 0]
        lines = []
        for i, r in enumerate(rows):
            line = {k: float(zoo.column(k)[r]) for k in ("test_acc", "train_acc", "val_acc")}
            line.update(train_loss=1.0, training_iteration=i + 1)
            line["config"] = params
            lines.append(json.dumps(line))
            folder = trial / f"checkpoint_{int(epochs[r]):06d}"
            folder.mkdir()
            torch.save(zoo.state_dict(int(r)), folder / "checkpoints")
        (trial / "result.json").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("epoch0", [True, False])
def test_modelzoos_trials_follow_the_epoch_zero_offset_rule(tmp_path, epoch0):
    # 6 seeds x 2 learning rates: the grouped split leaves 2 test models to probe
    made = create_zoo(tiny_config(seeds=6), tmp_path / "made", progress=False)
    write_trials(tmp_path / "trials", made, epoch0)
    out = tmp_path / "zoo"
    args = ["zoo", "import", "--from", "modelzoos", str(tmp_path / "trials"), "--out", str(out)]
    assert main([*args, "--dataset", "digits"]) == 0
    zoo = open_zoo(out)
    for r in range(len(zoo)):  # every checkpoint carries the metrics of its own epoch
        m, e = zoo.column("model_id")[r], zoo.column("epoch")[r]
        src = np.flatnonzero((made.column("model_id") == m) & (made.column("epoch") == e))[0]
        assert zoo.column("test_acc")[r] == pytest.approx(made.column("test_acc")[src])
        assert torch.equal(zoo.flat([r]), made.flat([src]))
    if epoch0:
        run_pipeline(out, tmp_path)


def test_lightning_and_wrapped_checkpoints_import_and_run(tmp_path):
    made = create_zoo(tiny_config(seeds=6), tmp_path / "made", progress=False)
    src = tmp_path / "ckpts"
    src.mkdir()
    lines = ["file,model_id,epoch,test_acc,val_acc,activation"]
    for r in range(len(made)):
        state = {f"model.{k}": v for k, v in made.state_dict(r).items()}
        if r % 2:
            blob = {"state_dict": state, "epoch": 3, "global_step": 30, "optimizer_states": []}
            name = f"r{r}.ckpt"
        else:
            blob, name = {"model": state}, f"r{r}.pt"
        torch.save(blob, src / name)
        acc = f"{made.column('test_acc')[r]},{made.column('val_acc')[r]}"
        lines.append(f"{name},{made.column('model_id')[r]},{made.column('epoch')[r]},{acc},tanh")
    (src / "metadata.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "zoo"
    args = ["zoo", "import", "--from", "folder", str(src), "--out", str(out)]
    assert main([*args, "--dataset", "digits", "--strip-prefix", "model."]) == 0
    zoo = open_zoo(out)
    assert (zoo.column("status") == "ok").all() and zoo.arch(0).name == "cnn-s"
    assert torch.equal(zoo.flat(np.arange(len(zoo))), made.flat(np.arange(len(made))))
    run_pipeline(out, tmp_path)


@pytest.mark.parametrize("layout", ["modelzoos", "smallcnn"])
def test_export_then_import_is_bit_identical(tmp_path, layout):
    made = create_zoo(tiny_config(), tmp_path / "made", progress=False)
    exported = tmp_path / "exported"
    made_dir = str(tmp_path / "made")
    assert main(["zoo", "export", "--zoo", made_dir, "--to", layout, "--out", str(exported)]) == 0
    args = ["zoo", "import", "--from", layout, str(exported), "--out", str(tmp_path / "back")]
    assert main(args) == 0
    back = open_zoo(tmp_path / "back")
    rows = np.arange(len(made))
    assert torch.equal(back.flat(rows), made.flat(rows))
    assert back.keys == made.keys
    for name in ("model_id", "epoch", "test_acc", "train_acc", "test_loss", "ggap", "lr", "seed"):
        assert np.allclose(back.column(name).astype(float), made.column(name).astype(float)), name
    for name in ("activation", "init", "optimizer"):
        assert list(back.column(name)) == list(made.column(name)), name
    for name in ("dropout", "weight_decay", "lr", "test_acc", "seed"):  # 0.0 is written "0"
        assert back.table.schema.field(name).type == made.table.schema.field(name).type, name


def test_attach_gives_an_imported_network_its_task_and_architecture(tmp_path, capsys):
    made = create_zoo(tiny_config(), tmp_path / "made", progress=False)
    src = tmp_path / "ckpts"
    src.mkdir()
    lines = ["file,model_id,epoch,train_acc,val_acc"]
    for r in range(len(made)):  # other key names: nothing matches by name
        state = {f"layer{i}": v for i, v in enumerate(made.state_dict(r).values())}
        torch.save(state, src / f"{r}.pt")
        accs = f"{made.column('train_acc')[r]},{made.column('val_acc')[r]}"
        lines.append(f"{r}.pt,{made.column('model_id')[r]},{made.column('epoch')[r]},{accs}")
    (src / "metadata.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "zoo"
    assert main(["zoo", "import", "--from", "folder", str(src), "--out", str(out)]) == 0
    with pytest.raises(Exception, match="zoo attach"):
        open_zoo(out).dataset  # noqa: B018
    # known from its weights only: fit and embed work, sampling says what to attach
    run = tmp_path / "run"
    fit = ["fit", "--zoo", str(out), "--preset", "tiny", "--epochs", "1", "--batch-size", "4"]
    assert main([*fit, "--quiet", "--out", str(run)]) == 0
    assert (
        main(
            ["embed", "--model", str(run), "--zoo", str(out), "--out", str(tmp_path / "e.parquet")]
        )
        == 0
    )
    sample = ["sample", "--model", str(run), "--zoo", str(out), "--n", "2"]
    assert main([*sample, "--out", str(tmp_path / "s")]) == 2
    assert "zoo attach" in capsys.readouterr().err
    assert main(["zoo", "attach", "--zoo", str(out), "--arch", "mlp", "--dataset", "digits"]) == 2
    args = ["zoo", "attach", "--zoo", str(out), "--dataset", "digits", "--arch", "cnn-s"]
    assert main(args) == 2  # no activation column: the weights cannot tell it
    assert main([*args, "--activation", "tanh"]) == 0
    zoo = open_zoo(out)
    x = torch.randn(4, 1, 8, 8)
    assert torch.allclose(zoo.model(3)(x), made.model(3)(x))
    assert zoo.manifest["architecture"]["spec"]["group_sizes"] == [8, 6, 4, 20]


def test_export_makes_missing_folders_and_attach_asks_for_the_data_root(tmp_path, capsys):
    create_zoo(tiny_config(), tmp_path / "made", progress=False)
    out = tmp_path / "new" / "folder" / "exported"
    made_dir = str(tmp_path / "made")
    assert main(["zoo", "export", "--zoo", made_dir, "--to", "smallcnn", "--out", str(out)]) == 0
    assert (out / "weights.npy").is_file() and (out / "layout.csv").is_file()
    before = (tmp_path / "made" / "manifest.json").read_bytes()
    assert main(["zoo", "attach", "--zoo", str(tmp_path / "made"), "--dataset", "mnist"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --data-root:")
    assert (tmp_path / "made" / "manifest.json").read_bytes() == before
