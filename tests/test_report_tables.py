"""Report tables and figures that reshape or annotate recorded numbers: nothing is lost or altered."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from qmtl_research.plotting import annotated_matrix  # noqa: E402
from qmtl_research.volatility.views import designs_by_measure as _designs_by_measure  # noqa: E402
from qmtl_research.volatility.evaluation import design_comparison  # noqa: E402


def test_design_comparison_turned_keeps_every_value():
    wf = pd.DataFrame({"RMSE": [7.3161, 7.4302], "QLIKE": [0.71, 0.74], "MSE": [53.5, 55.2], "n_points": [12656, 12656]},
                      index=["LSTM", "GARCH"])
    cv = wf.assign(RMSE=[6.878, 6.751], n_points=[13968, 13968])
    comparison = design_comparison({"walk_forward": wf, "cv 4-fold": cv})
    turned = _designs_by_measure(comparison)
    assert list(turned.index[:2]) == ["RMSE (walk_forward)", "RMSE (cv 4-fold)"]   # a measure's designs adjacent
    assert list(turned.columns) == ["LSTM", "GARCH"]
    assert turned.at["RMSE (cv 4-fold)", "GARCH"] == "6.7510"
    assert turned.at["n_points (walk_forward)", "LSTM"] == "12,656"
    assert turned.at["rank RMSE (cv 4-fold)", "GARCH"] == "1"                       # GARCH best under CV
    assert turned.at["rank RMSE (walk_forward)", "GARCH"] == "2"
    assert set(turned.index) == set(comparison.columns)


def test_annotated_matrix_writes_each_value_with_contrast():
    fig, ax = plt.subplots()
    values = np.array([[0.0, 25.0], [3.0, np.nan]])
    annotated_matrix(ax, values, fmt="d", cmap="Greens", xticklabels=[1, 2], yticklabels=[1, 2])
    texts = {(t.get_position(), t.get_text()): t.get_color() for t in ax.texts}
    assert len(texts) == 3                                    # NaN cells stay blank
    assert texts[((1.5, 0.5), "25")] == "white"               # darkest cell: white text
    assert texts[((0.5, 0.5), "0")] == "0.15"                 # lightest cell: dark text
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "2"]
    assert ax.get_ylim() == (2.0, 0.0)                        # row 0 at the top, as in a printed matrix
    plt.close(fig)
