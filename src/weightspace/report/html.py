"""``report.html`` from a demo run directory: one self-contained page (styles inline, figures
as embedded PNG), rebuilt at any time with ``weightspace report RUN_DIR``."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from weightspace.errors import FileFormatError
from weightspace.figures import png
from weightspace.generate.evaluate import COLUMNS, group_label
from weightspace.probe.report import BEATEN
from weightspace.report import figures
from weightspace.report.tables import probe_report, sampling_table
from weightspace.zoo.reader import open_zoo
from weightspace.zoo.storage import atomic_write_bytes, read_json

RESULTS, REPORT = "results.json", "report.html"
SECTIONS = ("zoo", "encoder", "embeddings", "probes", "sampling", "timings", "software")
FIX = "Run `weightspace demo --out RUN_DIR` first (it resumes a partial run)"

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead { background: #f3f3f3; } td.best { font-weight: bold; background: #eef6ee; }
figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #555; }
img { max-width: 100%; height: auto; } .meta { color: #555; font-size: 0.9em; }
"""


def build_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` from ``results.json``, the zoo and the embeddings."""
    run = Path(run_dir)
    results = read_json(run / RESULTS, "results.json", FIX)
    missing = [k for k in SECTIONS if k not in results]
    if missing:
        raise FileFormatError(run / RESULTS, f"missing the entries {missing}", FIX)
    try:
        page = _page(run, results)
    except KeyError as err:
        raise FileFormatError(run / RESULTS, f"missing the entry {err}", FIX) from None
    atomic_write_bytes(run / REPORT, page.encode())
    return run / REPORT


def _page(run: Path, results: Mapping) -> str:
    zoo = open_zoo(run / results["zoo"]["path"])
    model_id, epoch, acc = (zoo.column(c) for c in ("model_id", "epoch", "test_acc"))
    group = zoo.column("activation") if "activation" in zoo.table.column_names else None
    embeddings = _embeddings(run / results["embeddings"]["path"])
    probes, sampling = results["probes"], results["sampling"]
    scores = {m["name"]: m["scores"] for m in probes["methods"]}
    predictions = {
        m["name"]: (np.asarray(m["true"]), np.asarray(m["predicted"])) for m in probes["methods"]
    }
    groups = {g["name"]: np.asarray(g["curves"]) for g in sampling["groups"]}
    timings = results["timings"]
    t = results["zoo"]
    pooling = results["embeddings"]["pooling"]
    n_epochs = sampling["finetune_epochs"]
    parts = [
        f"<h1>weightspace demo</h1><p class='meta'>{_meta(results)}</p>",
        "<p>A population of networks is trained, a hyper-representation (SANE) learns their "
        "weights, linear probes read model properties from the embeddings, and new networks "
        "are sampled from them. Every number on this page was measured in this run.</p>",
        _headlines(scores, sampling),
        f"<h2>1. The zoo</h2><p>{t['models']} models, {t['checkpoints']} checkpoints "
        f"({html.escape(t['name'])}); trained in {timings['zoo']:.0f} s.</p>",
        _figure(
            figures.zoo_accuracy(model_id, epoch, acc, group),
            "Test accuracy per epoch, one line per model; bold: the median per activation.",
        ),
        f"<h2>2. The hyper-representation</h2><p>SANE trained for "
        f"{len(results['encoder']['history'])} epochs in {timings['encoder']:.0f} s with the "
        "reconstruction, contrastive and behavioural losses.</p>",
        _figure(
            figures.training_curves(results["encoder"]["history"]),
            "Training losses per epoch; right: R² of a ridge probe of test accuracy on the "
            "validation models.",
        ),
        _figure(
            figures.projection(embeddings, acc, epoch),
            f"Every checkpoint's embedding ({html.escape(pooling)} pooling) on its first two "
            "principal components.",
        ),
        "<h2>3. Probes: what the weights tell</h2><p>Linear probes (ridge R², logistic "
        "accuracy for categorical factors), trained on the training models, scored on the "
        f"held-out test models ({len(probes['models']['test'])} models), in "
        f"{timings['probes']:.0f} s.</p>",
        _probe_table(probes),
        _figure(
            figures.predicted_vs_true(
                predictions, {m: row["test_acc"] for m, row in scores.items()}
            ),
            "Predicted vs true test accuracy of the test models' checkpoints.",
        ),
        f"<h2>4. Generated networks</h2><p>{len(groups['samples'])} networks sampled by "
        f"<code>{html.escape(sampling['method'])}</code> around {sampling['anchors']} anchors "
        f"(the best training checkpoints of the {html.escape(str(sampling['activation']))} "
        f"models, mean test accuracy {sampling['anchor_test_acc']:.3f}), against anchors and "
        f"random initializations; fine-tuned for {n_epochs} epochs "
        f"(Adam, lr 1e-3), and on a new task: the same images with the classes renamed, the "
        f"last layer re-initialized; in {timings['sampling']:.0f} s.</p>",
        _sampling_table(sampling),
        _figure(
            figures.zero_shot({n: g[:, 0] for n, g in groups.items()}),
            "Zero-shot test accuracy, one dot per network.",
        ),
        _figure(figures.finetuning(groups), "Test accuracy while fine-tuning (mean ± std)."),
        "<p class='meta'>Novelty: relative distance to the nearest anchor checkpoint after "
        "permutation alignment (0 = a copy).</p>",
        "<h3>Memorization or generalization?</h3><p>The measures of Zeng et al. (2025) for the "
        "samples and for cheap generators at matched validation accuracy: the distance to the "
        "nearest anchor after permutation alignment, the highest overlap (IoU) of the wrongly "
        "classified test images with any anchor's, and the mean aligned distance between two "
        "networks of a group (0 = all the same).</p>",
        _generation_table(sampling["generation"]),
    ]
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>weightspace demo</title><style>{STYLE}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def _headlines(scores: Mapping[str, Mapping[str, float]], sampling: Mapping) -> str:
    r2 = {m: row["test_acc"] for m, row in scores.items()}
    best = max(r2, key=lambda m: r2[m])
    groups = {g["name"]: np.asarray(g["curves"]) for g in sampling["groups"]}
    zero = {n: f"{c[:, 0].mean():.3f}" for n, c in groups.items()}
    transfer = {g["name"]: np.asarray(g["transfer"])[:, -1].mean() for g in sampling["groups"]}
    items = [
        f"Test accuracy from the weights alone, linear probes' test R²: {html.escape(best)} "
        f"{r2[best]:.3f} (the best), "
        + ", ".join(f"{html.escape(m)} {v:.3f}" for m, v in r2.items() if m != best)
        + ".",
        f"Sampled networks, zero-shot (no training): test accuracy {zero['samples']} "
        f"(anchors {zero['anchors']}, random initialization {zero['random init']}).",
        f"On a new task (the digits with renamed classes, a new last layer, "
        f"{sampling['transfer_epochs']} epoch(s) of fine-tuning): test accuracy "
        + ", ".join(f"{html.escape(n)} {t:.3f}" for n, t in transfer.items())
        + ".",
    ]
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _embeddings(path: Path) -> np.ndarray:
    try:
        column = pq.read_table(path, columns=["embedding"]).column("embedding")
    except (OSError, KeyError) as err:
        raise FileFormatError(path, f"cannot read the embeddings ({err})", FIX) from None
    return np.asarray(column.combine_chunks().flatten()).reshape(len(column), -1)


def _meta(results: Mapping) -> str:
    software = results["software"]
    versions = ", ".join(f"{k} {v}" for k, v in software.items())
    return html.escape(
        f"total {results['timings']['total']:.0f} s on {results['device']} "
        f"({results['torch_threads']} threads); {versions}"
    )


def _figure(fig, caption: str) -> str:  # noqa: ANN001
    data = base64.b64encode(png(fig)).decode()
    return (
        f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _probe_table(probes: Mapping) -> str:
    report = probe_report(probes)
    head = "".join(f"<th>{html.escape(t.label)}</th>" for t in report.targets)
    rows = []
    for method in report.scores:
        cells = []
        for t in report.targets:
            value = report.scores[method][t.key]
            low, high = report.intervals.get(method, {}).get(t.key, (float("nan"),) * 2)
            text = f"{value:.3f}" + (
                f" <small>[{low:.2f}, {high:.2f}]</small>" if low == low else ""
            )
            if report.beaten(method, t.key):
                text += f" {BEATEN}"
            best = report.best(t.key) == method
            cells.append(f"<td class='best'>{text}</td>" if best else f"<td>{text}</td>")
        rows.append(f"<tr><td>{html.escape(method)}</td>{''.join(cells)}</tr>")
    return (
        f"<p class='meta'>{html.escape(report.title())}. [low, high]: 95 % bootstrap interval "
        f"over test models; bold: the best; {BEATEN}: below the best beyond that noise.</p>"
        f"<table><thead><tr><th>method</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _generation_table(rows: list[Mapping]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["networks", "n", *COLUMNS.values()])
    body = []
    for r in rows:
        name = group_label(r)
        cells = [html.escape(name), str(r["n"])] + [f"{r[k]:.3f}" for k in COLUMNS]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _sampling_table(sampling: Mapping) -> str:
    epochs = sampling["finetune_epochs"]
    header, rows = sampling_table(sampling, sorted({0, min(1, epochs), epochs}))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
