"""`weightspace zoo evaluate`: an imported folder of checkpoints (trained here, saved as plain
PyTorch state dicts with a metadata.csv) gets its accuracy computed by the package, equal to the
accuracy measured directly on the same task; the imported values stay beside it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from weightspace.cli import main
from weightspace.zoo import open_zoo
from weightspace.zoo.architectures import ArchConfig, build_model
from weightspace.zoo.datasets import DatasetConfig, load_dataset
from weightspace.zoo.evaluate import evaluate_checkpoints, with_metrics


def _accuracy(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((net.eval()(x).argmax(1) == y).float().mean())


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory):
    """Three small MLPs trained on the digits for a few steps, saved at two epochs each, with
    their directly measured test accuracies."""
    root = tmp_path_factory.mktemp("ckpts")
    splits = load_dataset(DatasetConfig("digits"))
    lines, known = ["file,model_id,epoch,test_acc"], {}
    for m in range(3):
        torch.manual_seed(m)
        net = build_model(ArchConfig("mlp", (1, 8, 8), 10, activation="relu"))
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
        for epoch in (0, 1):
            for _ in range(epoch * (5 + 10 * m)):  # models of different quality
                optimizer.zero_grad()
                F.cross_entropy(net.train()(splits.train_x), splits.train_y).backward()
                optimizer.step()
            name = f"m{m}_e{epoch}.pt"
            torch.save(net.state_dict(), root / name)
            known[(m, epoch)] = _accuracy(net, splits.test_x, splits.test_y)
            lines.append(f"{name},{m},{epoch},0.5")  # the logged value: deliberately wrong
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root, known


def test_zoo_evaluate_computes_the_known_accuracy_and_keeps_the_imported(
    trained_folder, tmp_path, capsys
):
    root, known = trained_folder
    out = tmp_path / "zoo"
    assert main(["zoo", "import", "--from", "folder", str(root), "--out", str(out)]) == 0
    assert main(["zoo", "evaluate", "--zoo", str(out)]) == 2  # no task attached yet: one clear line
    assert "zoo attach" in capsys.readouterr().err
    attach = ["zoo", "attach", "--zoo", str(out), "--dataset", "digits", "--arch", "mlp"]
    assert main([*attach, "--activation", "relu"]) == 0
    assert main(["zoo", "evaluate", "--zoo", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "evaluated 6 checkpoints" in text and "largest difference to the imported" in text
    zoo = open_zoo(out)  # the table and its hash were rewritten together
    columns = (zoo.column("model_id"), zoo.column("epoch"), zoo.column("test_acc"))
    computed = {(int(m), int(e)): float(a) for m, e, a in zip(*columns, strict=True)}
    assert computed == pytest.approx(known, abs=1e-6)
    assert len(set(np.round(list(known.values()), 3))) > 2  # the models really differ
    assert np.all(zoo.column("imported_test_acc") == 0.5)
    for name in ("train_acc", "val_acc", "val_loss", "test_loss"):
        assert np.isfinite(zoo.column(name)).all()
    # evaluating again keeps the first imported values, not our own computed ones
    assert main(["zoo", "evaluate", "--zoo", str(out), "--quiet"]) == 0
    assert np.all(open_zoo(out).column("imported_test_acc") == 0.5)


def test_chunked_evaluation_equals_one_at_a_time(trained_folder, tmp_path):
    root, _ = trained_folder
    out = tmp_path / "zoo"
    assert main(["zoo", "import", "--from", "folder", str(root), "--out", str(out)]) == 0
    attach = ["zoo", "attach", "--zoo", str(out), "--dataset", "digits", "--arch", "mlp"]
    assert main([*attach, "--activation", "relu"]) == 0
    zoo = open_zoo(out)
    together = evaluate_checkpoints(zoo, chunk=4, image_batch=97)
    alone = evaluate_checkpoints(zoo, chunk=1)
    for name, values in together.items():
        np.testing.assert_allclose(values, alone[name], rtol=1e-5, atol=1e-6)
    swapped = dict(together, test_acc=together["test_acc"][::-1].copy())  # negative control
    assert not np.allclose(swapped["test_acc"], alone["test_acc"])


def test_with_metrics_adds_columns_the_zoo_lacked():
    import pyarrow as pa

    table = pa.table({"model_id": [0, 1], "test_acc": [0.1, 0.2]})
    out = with_metrics(table, {"test_acc": np.array([0.3, 0.4]), "val_acc": np.array([1.0, 0.0])})
    assert out.column("test_acc").to_pylist() == [0.3, 0.4]
    assert out.column("imported_test_acc").to_pylist() == [0.1, 0.2]
    assert (
        out.column("val_acc").to_pylist() == [1.0, 0.0]
        and "imported_val_acc" not in out.column_names
    )
