"""Failure labels by "room for improvement" (RFI) along one hyperparameter axis.

For a configuration (width, batch size, data) with seed-mean test accuracy a, the RFI along an
axis is the best accuracy reachable by moving only along that axis in one direction, minus a.
Temperature (lr / batch size) rises as the batch shrinks, so ``rfi_inc_temp`` looks at batch
sizes <= the current one and ``rfi_dec_temp`` at >=; width and data look at larger values.
"""

from __future__ import annotations

import numpy as np

RFI = ("rfi_inc_temp", "rfi_dec_temp", "rfi_width", "rfi_data")
LABELS = ("bs_failure", "width_vs_batch", "data_vs_batch")
NOT_COUNTED = "optimal"  # no failure to diagnose: the paper leaves these rows out


def counted(labels: np.ndarray) -> np.ndarray:
    """The rows that count (a boolean mask): every row not labelled 'optimal'.

    The paper drops 'optimal' rows before fitting and scoring (a tree never predicts that
    label); fitting, `MDTree.score` and `evaluate` all select rows with this one function.

        >>> counted(np.array(["small", "optimal", "large"])).tolist()
        [True, False, True]
    """
    return np.asarray(labels).astype(str) != NOT_COUNTED


def _rfi(
    acc: np.ndarray, axis: np.ndarray, others: tuple[np.ndarray, ...], larger: bool
) -> np.ndarray:
    """Best accuracy over rows equal in ``others`` with axis >= (or <=) the row's, minus its own."""
    key = np.stack(others, 1) if others else np.zeros((len(acc), 0))
    out = np.zeros(len(acc))
    for i in range(len(acc)):
        same = (key == key[i]).all(1)
        reach = same & ((axis >= axis[i]) if larger else (axis <= axis[i]))
        out[i] = acc[reach].max() - acc[i]
    return out


def _compare(first: np.ndarray, second: np.ndarray, names: tuple[str, str]) -> np.ndarray:
    """names[0] where first > second, names[1] where smaller, 'optimal' on a tie."""
    out = np.full(len(first), NOT_COUNTED, dtype=object)
    out[first > second] = names[0]
    out[first < second] = names[1]
    return out


def derive_labels(
    width: np.ndarray, bs: np.ndarray, data: np.ndarray, test_acc: np.ndarray
) -> dict[str, np.ndarray]:
    """RFI columns and the three labels from a configuration grid (one row per configuration).

    ``bs_failure`` is 'small' (temperature too small: the batch is too large) when increasing
    temperature helps more, 'large' when decreasing it does, 'optimal' on a tie.

        >>> derive_labels(np.ones(2), np.array([16, 64]), np.ones(2), np.array([90.0, 80.0]))[
        ...     "bs_failure"].tolist()
        ['optimal', 'small']
    """
    width, bs, data = (np.asarray(v, dtype=float) for v in (width, bs, data))
    acc = np.asarray(test_acc, dtype=float)
    out = {
        "rfi_inc_temp": _rfi(acc, bs, (width, data), larger=False),
        "rfi_dec_temp": _rfi(acc, bs, (width, data), larger=True),
        "rfi_width": _rfi(acc, width, (bs, data), larger=True),
        "rfi_data": _rfi(acc, data, (bs, width), larger=True),
    }
    temperature = np.maximum(out["rfi_inc_temp"], out["rfi_dec_temp"])
    out["bs_failure"] = _compare(out["rfi_inc_temp"], out["rfi_dec_temp"], ("small", "large"))
    out["width_vs_batch"] = _compare(out["rfi_width"], temperature, ("width", "batch"))
    out["data_vs_batch"] = _compare(out["rfi_data"], temperature, ("data", "batch"))
    return out
