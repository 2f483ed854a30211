"""A synthetic long-range task: read a class from the marked node exactly k hops away.

Each graph is a path source - ... - target of k hops with random trees of distractor nodes
hanging off it. Every node except the target carries a random class (one-hot); the source is
flagged and the target is flagged. The answer, predicted at the target, is the source's class,
so it has to travel k hops without being mixed with the distractors' classes on the way.
Chance accuracy is 1 / classes.
"""

from __future__ import annotations

import numpy as np
import torch

from weightspace.graphs.config import LongRangeConfig
from weightspace.graphs.data import Graph, both_directions, collate
from weightspace.graphs.dbgnn import DBGNN, DBGNNConfig
from weightspace.graphs.mpnn import MPNN
from weightspace.graphs.training import FitConfig, fit_model


def long_range_graph(
    k: int, classes: int, distractors: float, rng: np.random.Generator, noisy: bool = False
) -> Graph:
    """One graph: nodes 0..k form the path (0 the source, k the target), then distractors.

    x (n, classes + 2): class one-hot, is-source, is-target; y (n,): the source's class at the
    target, -1 elsewhere.
    """
    extra = rng.binomial(int(np.ceil(distractors * (k + 1)) * 2), 0.5) if distractors else 0
    n = k + 1 + extra
    parents = [rng.integers(0, i) if i > k else i - 1 for i in range(1, n)]  # trees off the path
    lines = torch.tensor([parents, list(range(1, n))], dtype=torch.long)
    label = int(rng.integers(0, classes))
    x = torch.zeros(n, classes + 2)
    x[0, label] = 1.0
    if noisy:  # every other node but the target carries a decoy class
        decoys = torch.from_numpy(rng.integers(0, classes, n - 1))
        x[torch.arange(1, n), decoys] = 1.0
        x[k, :classes] = 0.0
    x[0, classes], x[k, classes + 1] = 1.0, 1.0
    y = torch.full((n,), -1, dtype=torch.long)
    y[k] = label
    return Graph(x, both_directions(lines), torch.ones(2 * (n - 1), 1), None, y)


def long_range_data(config: LongRangeConfig, k: int, count: int, seed: int) -> list[Graph]:
    rng = np.random.default_rng([config.seed, k, seed])
    return [
        long_range_graph(k, config.classes, config.distractors, rng, config.decoys)
        for _ in range(count)
    ]


def _loss(graphs: list[Graph]):  # noqa: ANN202 - a training.LossFn
    def loss(model: torch.nn.Module, items: np.ndarray) -> torch.Tensor:
        batch = collate([graphs[i] for i in items])
        mask = batch.y >= 0
        return torch.nn.functional.cross_entropy(model(batch)[mask], batch.y[mask])

    return loss


@torch.no_grad()
def graph_accuracy(model: torch.nn.Module, graphs: list[Graph]) -> float:
    """Node-classification accuracy over the labelled nodes (label >= 0) of ``graphs``."""
    model.eval()
    batch = collate(graphs)
    mask = batch.y >= 0
    return float((model(batch)[mask].argmax(1) == batch.y[mask]).float().mean())


def run_long_range(
    config: LongRangeConfig,
    log=print,  # noqa: ANN001
    progress: bool = False,
) -> dict[str, dict[int, float]]:
    """Test accuracy by k of a DBGNN and an MPNN of equal depth and width, each trained from
    scratch per k; returns ``{model: {k: accuracy}}``. ``progress``: a bar over the fits."""
    from tqdm import tqdm

    results: dict[str, dict[int, float]] = {"DBGNN": {}, "MPNN": {}}
    bar = tqdm(total=2 * len(config.distances), desc="longrange", unit="fit", disable=not progress)
    for k in config.distances:
        train = long_range_data(config, k, config.train_graphs, 0)
        val = long_range_data(config, k, config.test_graphs, 1)
        test = long_range_data(config, k, config.test_graphs, 2)
        for name, kind, activation in (("DBGNN", DBGNN, "leaky_relu"), ("MPNN", MPNN, "relu")):
            torch.manual_seed(config.seed)
            model = kind(network_config(config, activation))
            fit = FitConfig(epochs=config.epochs, batch_size=32, lr=config.lr, seed=config.seed)
            graphs = train + val
            items = np.arange(len(graphs))
            history = fit_model(model, _loss(graphs), items[: len(train)], items[len(train) :], fit)
            results[name][k] = graph_accuracy(model, test)
            bar.update()
            log(f"k={k:3d} {name:5s} test accuracy {results[name][k]:.3f} ({len(history)} epochs)")
    bar.close()
    return results


def network_config(config: LongRangeConfig, activation: str) -> DBGNNConfig:
    return DBGNNConfig(
        node_in=config.classes + 2,
        edge_in=1,
        out=config.classes,
        hidden_node=config.hidden,
        hidden_edge=config.hidden,
        layers=config.layers,
        steps=config.steps,
        activation=activation,
    )
