"""Diagnostic figures (matplotlib, no pyplot state) and the run that writes them as PNGs."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from weightspace.figures import png
from weightspace.graphs.config import DiagnoseConfig
from weightspace.graphs.data import Graph
from weightspace.graphs.dbgnn import DBGNN, DBGNNConfig
from weightspace.graphs.diagnostics import (
    GRAPH_FAMILIES,
    energy_trace,
    family_graph,
    impulse_response,
)
from weightspace.graphs.mpnn import GCN
from weightspace.storage import atomic_write_bytes, atomic_write_json


def diagnostic_models(config: DiagnoseConfig) -> dict[str, torch.nn.Module]:
    torch.manual_seed(config.seed)
    dbgnn = DBGNN(
        DBGNNConfig(
            node_in=1,
            edge_in=1,
            hidden_node=config.hidden,
            hidden_edge=config.hidden,
            layers=config.layers,
            steps=config.steps,
            delta=config.delta,
        )
    )
    gcn = GCN(1, config.hidden, config.layers * config.steps)
    return {"DBGNN (per step)": dbgnn.eval(), "GCN (per layer)": gcn.eval()}


def run_diagnostics(config: DiagnoseConfig, out: Path) -> dict:
    """Write energy.png, impulse.png and diagnostics.json under ``out``; return the numbers."""
    models = diagnostic_models(config)
    edge_index, n = family_graph("grid", config.size)
    x = torch.randn(n, 1, generator=torch.Generator().manual_seed(config.seed))
    graph = Graph(x, edge_index, torch.ones(edge_index.shape[1], 1))
    energies = {name: energy_trace(m.node_states, graph) for name, m in models.items()}
    responses = {
        (family, name): impulse_response(m.node_states, *family_graph(family, config.size), 1)
        for family in GRAPH_FAMILIES
        for name, m in models.items()
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "energy.png", png(energy_figure(energies)))
    atomic_write_bytes(out / "impulse.png", png(impulse_figure(responses)))
    summary = {
        "config": asdict(config),
        "energy": energies,
        "reach": {f"{f} / {m}": reach(r).tolist() for (f, m), r in responses.items()},
    }
    atomic_write_json(out / "diagnostics.json", summary)
    return summary


def reach(response: np.ndarray, share: float = 1e-3) -> np.ndarray:
    """Per step, the farthest hop whose magnitude is at least ``share`` of that step's peak."""
    peak = response.max(1, keepdims=True)
    above = response >= share * np.where(peak > 0, peak, np.inf)
    hops = np.arange(response.shape[1])
    return np.where(above, hops, 0).max(1)


def energy_figure(energies: dict[str, list[float]]) -> Figure:
    fig = Figure(figsize=(5.5, 3.4), layout="constrained")
    ax = fig.subplots()
    for name, values in energies.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set(xlabel="step / layer", ylabel="Dirichlet energy tr(XᵀLX)/tr(XᵀX)", yscale="log")
    ax.set_title("Random-init networks on a grid graph")
    ax.legend()
    return fig


def impulse_figure(responses: dict[tuple[str, str], np.ndarray]) -> Figure:
    """One heat map per (graph family, model): log10 magnitude by hop (y) and step (x),
    normalized per step so the front is visible whatever the overall scale."""
    families = sorted({f for f, _ in responses}, key=GRAPH_FAMILIES.index)
    names = list(dict.fromkeys(m for _, m in responses))
    fig = Figure(figsize=(3.2 * len(names), 2.4 * len(families)), layout="constrained")
    axes = fig.subplots(len(families), len(names), squeeze=False)
    for i, family in enumerate(families):
        for j, name in enumerate(names):
            r = responses[(family, name)]
            peak = r.max(1, keepdims=True)
            rel = np.log10(np.maximum(r / np.where(peak > 0, peak, 1), 1e-8))
            image = axes[i, j].imshow(rel.T, aspect="auto", origin="lower", vmin=-8, vmax=0)
            axes[i, j].set(title=f"{family}: {name}", xlabel="step", ylabel="hop distance")
    fig.colorbar(image, ax=axes, label="log10 magnitude / step peak")
    return fig
