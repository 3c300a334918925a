"""Stage-2 samples: one row per (fund, settlement date) with the features known
``h`` weeks before the settlement and the grade decided at the settlement.

Timeline for a settlement whose grading window ends at week position ``p``
(156 weeks ``p-155 .. p``) and horizon ``h`` weeks:

* prediction date = week ``p - h``: the last week whose return is known;
* the *known part* of the grading window is weeks ``p-155 .. p-h`` (``156 - h`` weeks);
  its annualised std is ``std_known_pct``;
* the stage-1 forecaster gives ``forecast_vol_pct`` from data up to ``p - h``
  (a one-month forecast, used for all ``h`` unknown weeks);
* ``blended_std_pct = sqrt(((156 - h) * std_known^2 + h * forecast^2) / 156)``
  (variance-scale weighting by weeks, see :func:`~qmtl_research.rating.measures.blended_std_pct`);
* Sharpe ratio, tracking error, information ratio, 97.5 % VaR and beta are
  computed on the known part against the fund's benchmark (risk-free 0 unless
  configured; units in :mod:`qmtl_research.rating.measures`);
* ``persistence_grade`` = grade of the trailing 156 weeks ``p-h-155 .. p-h``
  (today's grade), so a sample needs ``156 + h`` observed weeks; under a scheme whose measure
  is not the 156-week std, the scheme's own grade of its window ending at week ``p - h``;
* ``rule_grade`` = the regulatory table applied to ``blended_std_pct``.

Samples that cannot be built are listed in ``RatingDataset.exclusions`` with the
reason (too short a history, missing benchmark, undefined feature).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from qmtl_research.data.panel import FundPanel
from qmtl_research.errors import InputError
from qmtl_research.rating import measures as M
from qmtl_research.rating.forecasters import Forecaster
from qmtl_research.grades import GradeTable
from qmtl_research.rating.labels import (EXCLUSION_COLUMNS, WINDOW_WEEKS, disclosed_labels, make_labels,
                                         week_position)

#: candidate indicators of the Pearson screen (Figure 7), in display order
CANDIDATE_FEATURES = ["blended_std_pct", "sharpe", "tracking_error_pct", "information_ratio",
                      "var_975_pct", "beta"]
#: indicators that need the fund's benchmark (NaN for a fund without one under missing_benchmark='challengers')
BENCHMARK_FEATURES = ("tracking_error_pct", "information_ratio", "beta")
#: challengers: keep samples without a benchmark for the rule and persistence (the SVCs skip them);
#: exclude: list them as exclusions; error: refuse
MISSING_BENCHMARK = ("challengers", "exclude", "error")
FEATURE_LABELS = {"std_known_pct": "std", "blended_std_pct": "blended std", "sharpe": "Sharpe",
                  "tracking_error_pct": "TE", "information_ratio": "IR", "var_975_pct": "VaR 97.5%",
                  "beta": "Beta"}


@dataclass
class RatingDataset:
    """Stage-2 samples for one horizon. ``frame``: one row per sample (see module doc);
    ``exclusions``: fund_id, settlement_date, reason; ``notes``: counts and conventions.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per sample.
    exclusions : pandas.DataFrame
        Samples left out, with the reason.
    horizon_weeks : int
        Weeks between the prediction date and the settlement.
    window : int, default 156
        Weeks of the grading window.
    notes : dict
        Counts and conventions.
    """

    frame: pd.DataFrame
    exclusions: pd.DataFrame
    horizon_weeks: int
    window: int = WINDOW_WEEKS
    notes: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)


def window_features(r: np.ndarray, b: np.ndarray | None, risk_free: float = 0.0) -> dict[str, float]:
    """All stage-2 indicators of one window of weekly returns ``r`` (benchmark ``b``).

    Parameters
    ----------
    r : numpy.ndarray
        Weekly simple returns of the fund (fractions).
    b : numpy.ndarray or None
        The benchmark's weekly simple returns on the same weeks (None: no benchmark; TE, IR and
        beta are then absent).
    risk_free : float, default 0.0
        Weekly risk-free rate (fraction) of the Sharpe ratio.

    Returns
    -------
    dict of str to float
        ``std_known_pct`` (annualised std, percent), ``sharpe`` (annualised), ``var_975_pct``
        (weekly historical VaR, percent, positive = loss) and, with a benchmark,
        ``tracking_error_pct`` (percent), ``information_ratio`` and ``beta`` (unitless).
    """
    out = {"std_known_pct": M.annualised_std_pct(r),
           "sharpe": M.sharpe_ratio(r, periods_per_year=M.PERIODS_PER_YEAR, risk_free=risk_free),
           "var_975_pct": M.historical_var_pct(r, 0.975)}
    if b is not None:
        out.update(tracking_error_pct=M.tracking_error_pct(r, b),
                   information_ratio=M.information_ratio(r, b), beta=M.beta(r, b))
    return out


def build_rating_dataset(panel: FundPanel, grade_table: GradeTable, horizon: int,
                         forecaster: Forecaster, window: int = WINDOW_WEEKS,
                         risk_free: float = 0.0, missing_benchmark: str = "challengers",
                         progress: bool = True) -> RatingDataset:
    """Build the stage-2 samples of ``panel`` for ``horizon`` weeks before settlement:
    :func:`candidate_samples`, one call of the stage-1 ``forecaster`` for their
    ``(fund_id, prediction_date)`` pairs, then :func:`attach_forecasts`.

    Parameters
    ----------
    grade_table : GradeTable
        Regulatory table for labels, persistence and rule grades.
    horizon : int
        Weeks between the prediction date and the settlement (1 .. window - 2).
    forecaster : callable
        Stage-1 forecaster (:class:`~qmtl_research.rating.forecasters.PanelForecaster` on the run's
        stage-1 forecast panel).
    risk_free : float
        Weekly risk-free rate (fraction) for the Sharpe ratio.
    missing_benchmark : {"challengers", "exclude", "error"}
        Samples of funds whose benchmark is empty, unknown or unobserved in the window keep
        NaN tracking error, information ratio and beta and are scored by the rule and
        persistence only (``challengers``), are excluded and listed (``exclude``), or raise
        :class:`InputError` (``error``).
    """
    cand = candidate_samples(panel, grade_table, horizon, window, risk_free, missing_benchmark, progress)
    cand.notes["forecaster"] = getattr(forecaster, "name", repr(forecaster))
    if cand.frame.empty:
        return cand
    return attach_forecasts(cand, forecaster(panel, cand.frame[["fund_id", "prediction_date"]]), grade_table)


def candidate_samples(panel: FundPanel, grade_table: GradeTable, horizon: int = 4, window: int = WINDOW_WEEKS,
                      risk_free: float = 0.0, missing_benchmark: str = "challengers",
                      progress: bool = True, label: str = "computed") -> RatingDataset:
    """Stage-2 samples before the stage-1 forecast: labels, the known-window indicators,
    persistence grade and the exclusions (arguments as :func:`build_rating_dataset`).

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    grade_table : GradeTable
        The grading scheme of the labels.
    horizon : int, default 4
        Weeks before the settlement.
    window : int, default 156
        Weeks of the grading window.
    risk_free : float, default 0.0
        Weekly risk-free rate (fraction).
    missing_benchmark : {"challengers", "exclude", "error"}
        What happens to samples of funds without a benchmark.
    progress : bool, default True
        Show a progress bar.
    label : {"computed", "disclosed"}
        The grade predicted.

    Returns
    -------
    RatingDataset
    """
    if not 1 <= horizon <= window - 2:
        raise InputError(f"horizon {horizon} weeks is outside 1..{window - 2}", where="horizon",
                         fix="use a horizon such as 4, 13 or 52 weeks")
    if missing_benchmark not in MISSING_BENCHMARK:
        raise InputError(f"missing_benchmark must be one of {MISSING_BENCHMARK}, got {missing_benchmark!r}",
                         where="missing_benchmark")
    labels, excl = make_labels(panel, grade_table, window)
    if label == "disclosed":
        labels, more = disclosed_labels(labels)
        excl = pd.concat([excl, more], ignore_index=True)
    elif label != "computed":
        raise InputError(f"unknown label {label!r}", where="label", fix="use computed or disclosed")
    exclusions = [tuple(r) for r in excl.itertuples(index=False)]
    rets = panel.returns
    bench = panel.benchmarks
    meta = panel.metadata
    dates = panel.dates
    rows = []
    for lab in tqdm(labels.itertuples(index=False), total=len(labels), desc=f"stage-2 features h={horizon}",
                    disable=not progress):
        fund = lab.fund_id
        p = week_position(dates, lab.week_end)
        q = p - horizon  # prediction week
        col = rets[fund].to_numpy(dtype=float)
        if q - window + 1 < 0 or not np.isfinite(col[q - window + 1:q + 1]).all():
            exclusions.append((fund, lab.settlement_date,
                               f"persistence needs {window + horizon} observed weeks before the "
                               f"settlement (h={horizon}); the fund has fewer"))
            continue
        bid = meta.at[fund, "benchmark"] if "benchmark" in meta.columns else None
        known = col[p - window + 1:q + 1]
        b = None
        if isinstance(bid, str) and bid and bid in bench.columns:
            b = bench[bid].to_numpy(dtype=float)[p - window + 1:q + 1]
            if not np.isfinite(b).all():
                b = None
        if b is None:
            msg = (f"benchmark {bid!r} of fund {fund} is empty, not in the benchmarks frame or "
                   f"not observed over the window")
            if missing_benchmark == "error":
                raise InputError(msg, where=f"FundPanel.metadata[{fund}].benchmark",
                                 fix="give the fund a benchmark column of FundPanel.benchmarks, or "
                                     "use missing_benchmark='challengers' or 'exclude'")
            if missing_benchmark == "exclude":
                exclusions.append((fund, lab.settlement_date, msg))
                continue
        feats = window_features(known, b, risk_free)
        if b is None:   # 'challengers': kept for the rule and persistence; the SVCs need TE, IR, beta
            feats.update(tracking_error_pct=np.nan, information_ratio=np.nan, beta=np.nan)
        bad = sorted(k for k, v in feats.items() if not np.isfinite(v) and not (b is None and k in BENCHMARK_FEATURES))
        if bad:
            exclusions.append((fund, lab.settlement_date, f"undefined {bad} (zero-variance window)"))
            continue
        trailing = col[q - window + 1:q + 1]
        m = grade_table.measure
        if m.kind == "weekly_std" and m.window_weeks == window:
            today = grade_table.grade_of(M.annualised_std_pct(trailing))
        else:  # the scheme's own measure on its window ending at the prediction week
            from qmtl_research.rating.by_scheme import value_at

            v = value_at(panel, fund, dates[q], grade_table)
            if not np.isfinite(v):
                exclusions.append((fund, lab.settlement_date, f"persistence: no {grade_table.scheme_id} grade at the "
                                                              f"prediction date {dates[q].date()} (window not observed)"))
                continue
            today = grade_table.grade_of(v)
        rows.append({"fund_id": fund, "fund_type": lab.fund_type, "settlement_date": lab.settlement_date,
                     "settlement_year": lab.settlement_year, "prediction_date": dates[q],
                     "horizon_weeks": horizon, "std_pct": lab.std_pct, "grade": lab.grade,
                     "disclosed_grade": lab.disclosed_grade, **feats,
                     "persistence_grade": today})
    frame = pd.DataFrame(rows)
    notes = {"n_labels": len(labels), "horizon_weeks": horizon, "window": window, "risk_free_weekly": risk_free}
    return RatingDataset(frame, pd.DataFrame(exclusions, columns=EXCLUSION_COLUMNS), horizon, window, notes)


def attach_forecasts(candidates: RatingDataset, forecasts: pd.DataFrame, grade_table: GradeTable) -> RatingDataset:
    """Join stage-1 forecasts (forecaster columns; may hold more pairs than needed) to the
    candidate samples, exclude samples without a forecast (reason listed), and add
    ``blended_std_pct`` and ``rule_grade``.

    Parameters
    ----------
    candidates : RatingDataset
        :func:`candidate_samples`' output.
    forecasts : pandas.DataFrame
        Forecaster output: ``fund_id``, ``prediction_date`` and the forecast annualised std (percent).
    grade_table : GradeTable
        The grading scheme of ``rule_grade``.

    Returns
    -------
    RatingDataset
    """
    horizon, window = candidates.horizon_weeks, candidates.window
    notes = dict(candidates.notes)
    notes.setdefault("forecaster", "given forecasts")
    exclusions = [tuple(r) for r in candidates.exclusions.itertuples(index=False)]
    fc = forecasts.drop_duplicates(["fund_id", "prediction_date"])
    frame = candidates.frame.merge(fc, on=["fund_id", "prediction_date"], how="left", validate="many_to_one")
    if "method" not in frame.columns:
        frame["method"] = notes["forecaster"]
    missing = frame["forecast_vol_pct"].isna()
    for row in frame.loc[missing].itertuples(index=False):
        exclusions.append((row.fund_id, row.settlement_date,
                           f"no stage-1 forecast at {pd.Timestamp(row.prediction_date).date()}: {row.method}"))
    frame = frame.loc[~missing].reset_index(drop=True)
    if frame.empty:
        raise InputError("the stage-1 forecaster gave no forecast for any sample",
                         where=f"forecaster {notes['forecaster']}",
                         fix="see the exclusions; use stage1_model GARCH or EWMA")
    frame["blended_std_pct"] = M.blended_std_pct(frame["std_known_pct"].to_numpy(),
                                                 frame["forecast_vol_pct"].to_numpy(), horizon, window)
    frame["rule_grade"] = grade_table.grade_of(frame["blended_std_pct"].to_numpy()).astype(int)
    frame["persistence_grade"] = frame["persistence_grade"].astype(int)
    frame["grade"] = frame["grade"].astype(int)
    frame = frame.sort_values(["settlement_date", "fund_id"], kind="stable").reset_index(drop=True)
    notes["forecast_methods"] = frame["method"].value_counts().sort_index().to_dict()
    exc = pd.DataFrame(exclusions, columns=EXCLUSION_COLUMNS).sort_values(
        ["fund_id", "settlement_date"], kind="stable").reset_index(drop=True)
    return RatingDataset(frame, exc, horizon, window, notes)
