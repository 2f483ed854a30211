"""A logistic probe that does not converge is reported once, in the table, instead of flooding
the terminal with scikit-learn's warnings."""

from __future__ import annotations

import warnings

from conftest import tiny_config
from sklearn.exceptions import ConvergenceWarning

from weightspace.probe import run as probe_run
from weightspace.probe.features import WeightStatistics
from weightspace.probe.probes import LogisticProbe
from weightspace.zoo import create_zoo


class Stubborn(LogisticProbe):
    def fit(self, X, y, X_val=None, y_val=None):  # noqa: ANN001, ANN201
        warnings.warn("lbfgs failed to converge", ConvergenceWarning, stacklevel=2)
        return super().fit(X, y, X_val, y_val)


def test_non_convergence_is_one_note_in_the_table(tmp_path, monkeypatch):
    zoo = create_zoo(tiny_config(activation=["tanh", "relu"], seeds=3), tmp_path, progress=False)
    report = probe_run.run_probes(zoo, [WeightStatistics()], bootstrap=0)
    assert not report.unconverged  # the real probe converges: no note
    monkeypatch.setattr(probe_run, "LogisticProbe", Stubborn)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = probe_run.run_probes(zoo, [WeightStatistics()], bootstrap=0)
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert report.unconverged == {"s(W)": ["activation"]}
    assert "not converged (logistic probe, 1000 iterations): s(W): activation" in report.markdown()
