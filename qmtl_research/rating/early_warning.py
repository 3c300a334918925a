"""Early warning: funds whose grade at their next settlement is predicted to change.

As of a date (default: the panel's last week) each fund's next settlement is
``weeks_to_settlement = ceil(days / 7)`` weeks ahead. Its features are built
exactly like the training samples but with that number of unknown weeks ``r``:
the known part of the grading window is the last ``156 - r`` weeks, the stage-1
forecast stands for the ``r`` unknown weeks, and
``blended_std_pct = sqrt(((156 - r) s^2 + r f^2) / 156)``.

Models are trained and validated **per horizon** (:func:`warnings_by_horizon`): a fund
``r`` weeks from its settlement is scored by the model of the study horizon nearest to
``r`` (4, 13 or 52 weeks by default; ``horizon_used`` says which, e.g. "nearest study horizon:
13 weeks for a fund 30 weeks from its settlement" - add ``r`` to the settings' ``horizons`` to
train the horizon a fund needs): the best SVC kernel at that horizon, a
:class:`~qmtl_research.rating.models.GradeSVC` (probability=True, Platt scaling) trained
on every labelled sample of that horizon settled on or before the as-of date. A warning
is printed only when that horizon's validated (walk-forward) accuracy beats
persistence at the same horizon (the regulatory rule on the blended std is the warning model
instead of the best kernel when it validates better; it gives no probability), and that accuracy stands beside it; funds whose
horizon does not are listed as not scored, with both accuracies.

Current grade: the disclosed grade when present, else the computed grade of the
fund's latest settlement, else the grade of its trailing 156 weeks
(``current_grade_source`` says which).

Evidence: the blended std, the regulatory rule's grade on it, the boundary of
the current grade band in the direction of the predicted change, and the signed
distance ``blended_std_pct - boundary_pct`` (percentage points; > 0 = above it).

Urgency: ``high`` within 4 weeks of the settlement, ``medium`` within 13, else
``low``; rows are sorted by days to settlement, then by probability (descending).

Over 400 lines because the early-warning list, its scoring frame, the per-horizon models and their
backtest share one feature construction; apart they would repeat it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qmtl_research.data.panel import FundPanel
from qmtl_research.errors import InputError
from qmtl_research.rating import measures as M
from qmtl_research.rating.features import window_features
from qmtl_research.rating.forecasters import Forecaster
from qmtl_research.grades import GradeTable
from qmtl_research.rating.labels import make_labels, next_settlement, week_position
from qmtl_research.rating.models import KERNELS, GradeSVC

EARLY_WARNING_COLUMNS = [
    "fund_id", "fund_type", "current_grade", "current_grade_source", "predicted_grade", "probability",
    "model_horizon_weeks", "horizon_used", "model_kernel", "validated_accuracy", "persistence_accuracy",
    "rule_grade", "blended_std_pct", "std_known_pct", "forecast_vol_pct", "boundary_pct",
    "distance_to_boundary_pp", "next_settlement", "weeks_to_settlement", "days_to_settlement", "urgency"]


def urgency_of(days: int) -> str:
    """Urgency of a warning from the days left to the settlement.

    Parameters
    ----------
    days : int
        Days to the next settlement.

    Returns
    -------
    str
        ``"high"`` (at most 28 days), ``"medium"`` (at most 91) or ``"low"``.
    """
    return "high" if days <= 28 else ("medium" if days <= 91 else "low")


def scoring_frame(panel: FundPanel, grade_table: GradeTable, forecaster: Forecaster,
                  as_of: pd.Timestamp | None = None, window: int = 156,
                  risk_free: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features of every fund as of ``as_of`` for its next settlement, plus exclusions
    ``fund_id, reason`` (too short a history, missing benchmark, settlement too far).

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    grade_table : GradeTable
        The grading scheme whose bands decide the grades.
    forecaster : Forecaster
        Stage 1's forecasts of the unobserved weeks' volatility.
    as_of : pandas.Timestamp, optional
        The scoring date; None: the panel's last week.
    window : int, default 156
        Weeks of the grading window.
    risk_free : float, default 0.0
        Weekly risk-free rate (fraction) of the Sharpe ratio.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The features (one row per fund) and the exclusions ``fund_id, reason``.
    """
    dates = panel.dates
    as_of = pd.Timestamp(as_of) if as_of is not None else dates[-1]
    q = week_position(dates, as_of)
    if q < 0:
        raise InputError(f"as-of date {as_of.date()} is before the panel's first week",
                         where="early_warning(as_of)", fix="use a date inside the panel")
    as_of_week = dates[q]
    labels, _ = make_labels(panel, grade_table, window)
    labels = labels[labels["settlement_date"] <= as_of]
    label_rows = labels.groupby("fund_id", sort=False).indices          # one pass, not a mask per fund
    meta, rows, excl = panel.metadata, [], []
    for fund in panel.fund_ids:
        s = next_settlement(panel, fund, as_of)
        days = int((s - as_of).days)
        r = max(1, int(np.ceil(days / 7)))
        col = panel.returns[fund].to_numpy(dtype=float)
        if r > window - 2:
            excl.append((fund, f"next settlement {s.date()} is {r} weeks away (> {window - 2})"))
            continue
        trailing = col[max(0, q - window + 1):q + 1]
        if q - window + 1 < 0 or not np.isfinite(trailing).all():
            excl.append((fund, f"fewer than {window} observed weeks up to {as_of_week.date()}"))
            continue
        known = col[q - (window - r) + 1:q + 1]
        bid = meta.at[fund, "benchmark"] if "benchmark" in meta.columns else None
        if not (isinstance(bid, str) and bid.strip()):
            excl.append((fund, "no benchmark named in the funds metadata (column 'benchmark' empty)"))
            continue
        if bid not in panel.benchmarks.columns:
            excl.append((fund, f"benchmark {bid!r} missing from the benchmarks frame"))
            continue
        b = panel.benchmarks[bid].to_numpy(dtype=float)[q - (window - r) + 1:q + 1]
        if not np.isfinite(b).all():
            excl.append((fund, f"benchmark {bid!r} not observed over the window"))
            continue
        feats = window_features(known, b, risk_free)
        if not all(np.isfinite(v) for v in feats.values()):
            excl.append((fund, "undefined indicator (zero-variance window)"))
            continue
        disclosed = meta.at[fund, "disclosed_grade"] if "disclosed_grade" in meta.columns else pd.NA
        mine = labels.iloc[label_rows.get(fund, [])]
        if not pd.isna(disclosed):
            current, source = int(disclosed), "disclosed"
        elif len(mine):
            current, source = int(mine["grade"].iloc[-1]), "computed at last settlement"
        elif grade_table.measure.kind == "weekly_std" and grade_table.measure.window_weeks == window:
            current, source = grade_table.grade_of(M.annualised_std_pct(trailing)), f"trailing {window} weeks"
        else:
            from qmtl_research.rating.by_scheme import value_at

            v = value_at(panel, fund, as_of_week, grade_table)
            if not np.isfinite(v):
                excl.append((fund, f"no current {grade_table.scheme_id} grade: its window is not observed up to "
                                   f"{as_of_week.date()}"))
                continue
            current, source = grade_table.grade_of(v), f"{grade_table.scheme_id} window up to {as_of_week.date()}"
        rows.append({"fund_id": fund, "fund_type": meta.at[fund, "fund_type"], "prediction_date": as_of_week,
                     "next_settlement": s, "weeks_to_settlement": r, "days_to_settlement": days,
                     "current_grade": current, "current_grade_source": source, **feats})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame, pd.DataFrame(excl, columns=["fund_id", "reason"])
    fc = forecaster(panel, frame[["fund_id", "prediction_date"]])
    frame = frame.merge(fc, on=["fund_id", "prediction_date"], how="left", validate="one_to_one")
    missing = frame["forecast_vol_pct"].isna()
    excl += [(f, f"no stage-1 forecast: {m}") for f, m in zip(frame.loc[missing, "fund_id"],
                                                               frame.loc[missing, "method"])]
    frame = frame.loc[~missing].reset_index(drop=True)
    frame["blended_std_pct"] = M.blended_std_pct(frame["std_known_pct"].to_numpy(),
                                                 frame["forecast_vol_pct"].to_numpy(),
                                                 frame["weeks_to_settlement"].to_numpy(), window)
    frame["rule_grade"] = grade_table.grade_of(frame["blended_std_pct"].to_numpy()).astype(int)
    return frame, pd.DataFrame(excl, columns=["fund_id", "reason"])


def fit_warning_model(train_frame: pd.DataFrame, features: list[str], kernel: str = "RBF",
                      param_grid: dict | None = None, inner_folds: int | None = None, seed: int = 0,
                      as_of: pd.Timestamp | None = None, n_jobs: int = 1, backend: str | None = None) -> GradeSVC:
    """GradeSVC(probability=True) tuned on the samples settled on or before ``as_of`` whose features are
    all finite (samples of funds without a benchmark have none).

    Parameters
    ----------
    train_frame : pandas.DataFrame
        Stage-2 samples (features, ``grade``, ``settlement_date``).
    features : list of str
        Input columns of the SVC.
    kernel : str, default "RBF"
        Display name of the kernel (:data:`~qmtl_research.rating.settings.KERNELS`).
    param_grid : dict, optional
        ``C``/``gamma`` grid; None: ``RatingSettings.param_grid``.
    inner_folds : int, optional
        Tuning folds; None: ``RatingSettings.inner_folds``.
    seed : int, default 0
        Seed of the folds and the SVC.
    as_of : pandas.Timestamp, optional
        Only samples settled on or before it train (None: all).
    n_jobs : int, default 1
        Grid-search workers.
    backend : str, optional
        joblib backend (see :class:`GradeSVC`).

    Returns
    -------
    GradeSVC
        The fitted, probability-calibrated classifier.
    """
    train = train_frame if as_of is None else train_frame[train_frame["settlement_date"] <= as_of]
    train = train[np.isfinite(train[list(features)].to_numpy(dtype=float)).all(axis=1)]   # not the benchmark-less rows
    return GradeSVC(kernel=KERNELS[kernel], features=list(features), param_grid=param_grid,
                    inner_folds=inner_folds, probability=True, random_state=seed, n_jobs=n_jobs,
                    backend=backend).fit(
        train, train["grade"].to_numpy(dtype=int))


def early_warning(scoring: pd.DataFrame, model: GradeSVC, grade_table: GradeTable,
                  include_unchanged: bool = False) -> pd.DataFrame:
    """Predicted grade, its probability and the evidence for every scored fund; only the
    funds whose predicted grade differs from the current one unless ``include_unchanged``.
    Columns :data:`EARLY_WARNING_COLUMNS`, sorted by urgency.

    Parameters
    ----------
    scoring : pandas.DataFrame
        :func:`scoring_frame`'s features of each fund.
    model : GradeSVC
        A fitted probability classifier.
    grade_table : GradeTable
        The grading scheme (bands in percent).
    include_unchanged : bool, default False
        Also list funds whose predicted grade equals the current one.

    Returns
    -------
    pandas.DataFrame
        The warning table; probabilities are fractions, std and boundaries percent.
    """
    if scoring.empty:
        return pd.DataFrame(columns=EARLY_WARNING_COLUMNS)
    out = scoring.copy()
    proba = model.predict_proba(out)
    out["predicted_grade"] = model.predict(out).astype(int)
    cls = list(model.classes_)
    out["probability"] = proba[np.arange(len(out)), [cls.index(g) for g in out["predicted_grade"]]]
    bounds, dist = [], []
    for cur, pred, blended in zip(out["current_grade"], out["predicted_grade"], out["blended_std_pct"]):
        # riskier prediction -> the current band's upper bound, else its lower bound
        bound = grade_table.upper_bound(cur) if grade_table.is_riskier(pred, cur) else grade_table.lower_bound(cur)
        if pred == cur:  # nearest bound of the band
            up, low = grade_table.upper_bound(cur), grade_table.lower_bound(cur)
            bound = up if abs(up - blended) < abs(blended - low) else low
        bounds.append(bound)
        dist.append(blended - bound)
    out["boundary_pct"] = bounds
    out["distance_to_boundary_pp"] = dist
    out["urgency"] = [urgency_of(d) for d in out["days_to_settlement"]]
    for c in ("model_horizon_weeks", "model_kernel", "validated_accuracy", "persistence_accuracy"):
        if c not in out:
            out[c] = np.nan
    if "horizon_used" not in out:
        out["horizon_used"] = ""
    if not include_unchanged:
        out = out[out["predicted_grade"] != out["current_grade"]]
    out = out.sort_values(["days_to_settlement", "probability", "fund_id"], ascending=[True, False, True],
                          kind="stable")
    return out[EARLY_WARNING_COLUMNS].reset_index(drop=True)


def export_early_warning(table: pd.DataFrame, path: str | Path) -> Path:
    """Write the early-warning table as CSV (dates ISO, floats with 6 decimals).

    Parameters
    ----------
    table : pandas.DataFrame
        The warning table.
    path : str or pathlib.Path
        The CSV file written.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, float_format="%.6f", date_format="%Y-%m-%d")
    return path


class _RuleModel:
    """The regulatory rule as a warning model: the grade of ``rule_grade`` (the scheme's bands on the
    blended std), probability NaN (the rule gives none)."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["rule_grade"].to_numpy(dtype=int)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        g = frame["rule_grade"].to_numpy(dtype=int)
        self.classes_ = np.unique(g)
        return np.full((len(g), len(self.classes_)), np.nan)


def nearest_horizon(weeks: int, horizons) -> int:
    """The study horizon nearest to ``weeks`` (ties go to the shorter horizon).

    Parameters
    ----------
    weeks : int
        Weeks to the settlement.
    horizons : iterable of int
        The study horizons (weeks).

    Returns
    -------
    int
        The nearest horizon.
    """
    return min(sorted(horizons), key=lambda h: (abs(h - weeks), h))


def warnings_by_horizon(panel: FundPanel, study, forecaster: Forecaster, *, seed: int = 42,
                        as_of: pd.Timestamp | None = None, include_unchanged: bool = False,
                        only_validated: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Early warnings with one validated model per study horizon (see the module docstring).

    ``study`` is a :class:`~qmtl_research.rating.study.RatingStudy`; its horizons that were
    evaluated provide the models, their datasets and their validated accuracies. Returns the
    warning table (:data:`EARLY_WARNING_COLUMNS`) and the funds not scored, with the reason.
    ``only_validated=False`` scores the funds of a horizon that does not beat persistence too
    (their validated and persistence accuracies say so), for a full prediction list.

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    study : RatingStudy
        The evaluated study.
    forecaster : Forecaster
        Stage 1's forecasts.
    seed : int, default 42
        Seed of the warning models.
    as_of : pandas.Timestamp, optional
        Scoring date; None: the panel's last week.
    include_unchanged : bool, default False
        Also list funds whose predicted grade is unchanged.
    only_validated : bool, default True
        Score only the funds of horizons whose validated accuracy beats persistence.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The warning table and the funds not scored (``fund_id, reason``).
    """
    from qmtl_research.rating.evaluation import PERSISTENCE, RULE

    settings, grade_table = study.settings, study.grade_table
    scoring, excl = scoring_frame(panel, grade_table, forecaster, as_of, settings.window_weeks,
                                  settings.risk_free_weekly)
    excl_rows = [tuple(r) for r in excl.itertuples(index=False)]
    evaluated = {h: r for h, r in study.results.items() if r.evaluation is not None}
    if scoring.empty or not evaluated:
        if not evaluated:
            excl_rows += [(f, "no study horizon could be validated") for f in scoring.get("fund_id", [])]
        return pd.DataFrame(columns=EARLY_WARNING_COLUMNS), pd.DataFrame(excl_rows, columns=["fund_id", "reason"])
    scoring["model_horizon_weeks"] = [nearest_horizon(r, evaluated) for r in scoring["weeks_to_settlement"]]
    scoring["horizon_used"] = [("the horizon it needs" if h == r else
                                f"nearest study horizon: {h} weeks for a fund {r} weeks from its settlement")
                               for h, r in zip(scoring["model_horizon_weeks"], scoring["weeks_to_settlement"])]
    parts = []
    for h, group in scoring.groupby("model_horizon_weeks", sort=True):
        res = evaluated[h]
        table = res.table
        models = table.drop(index=[a for a in (PERSISTENCE,) if a in table.index])   # the SVCs and the rule
        svc = models.drop(index=[a for a in (RULE,) if a in models.index])
        kernel = str(svc["accuracy"].idxmax())
        if RULE in models.index and models.loc[RULE, "accuracy"] > svc.loc[kernel, "accuracy"]:
            kernel = RULE
        acc, pers = float(models.loc[kernel, "accuracy"]), float(table.loc[PERSISTENCE, "accuracy"])
        if only_validated and not acc > pers:
            excl_rows += [(f, f"no warning: the h = {h} weeks model ({kernel}, validated accuracy {acc:.1%}) does "
                              f"not beat persistence ({pers:.1%}) at that horizon") for f in group["fund_id"]]
            continue
        tagged = group.assign(model_kernel=kernel, validated_accuracy=acc, persistence_accuracy=pers)
        if kernel == RULE:   # the regulatory rule on the blended std: no probability
            scored = early_warning(tagged, _RuleModel(), grade_table, include_unchanged=True)
        else:
            model = fit_warning_model(res.dataset.frame, res.screen.selected, kernel, settings.param_grid,
                                      settings.inner_folds, seed, as_of, study.n_jobs, study.backend)
            scored = early_warning(tagged, model, grade_table, include_unchanged=True)
        parts.append(scored)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=EARLY_WARNING_COLUMNS)
    if not include_unchanged and len(table):
        table = table[table["predicted_grade"] != table["current_grade"]]
    table = table.sort_values(["days_to_settlement", "probability", "fund_id"], ascending=[True, False, True],
                              kind="stable").reset_index(drop=True) if len(table) else table
    return table[EARLY_WARNING_COLUMNS], pd.DataFrame(excl_rows, columns=["fund_id", "reason"])


BACKTEST_COLUMNS = ["fold", "settlement_year", "kernel", "prior_accuracy", "prior_persistence_accuracy", "issued",
                    "n_scored", "n_warnings", "n_warnings_right", "n_changes", "n_changes_warned", "note"]


def warning_backtest(study, horizon: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Warnings issued and checked **out of time** on the walk-forward test folds of one horizon.

    For each test year (in order) the warning model is the SVC kernel or the regulatory rule with the
    best accuracy on the **earlier** test years; it issues warnings for that year only when that earlier accuracy beats
    persistence's on the same earlier rows (the rule :func:`warnings_by_horizon` applies now, with
    nothing from the year itself or later). A warning is a sample whose predicted grade differs from
    its grade at the prediction date (``persistence_grade``); it is right when the grade decided at
    the settlement equals the prediction. The first test year has no earlier year and issues none.

    Parameters
    ----------
    study : RatingStudy
        The evaluated study (walk-forward split).
    horizon : int, optional
        Weeks before the settlement; None: the study's default horizon.

    Returns
    -------
    folds : DataFrame :data:`BACKTEST_COLUMNS` (``n_changes``: samples whose grade changed;
        ``n_changes_warned``: of them, warned with the right grade).
    warnings : one row per warning issued (fund_id, settlement_date, fold, kernel, current_grade,
        predicted_grade, true_grade, right).
    """
    from qmtl_research.rating.evaluation import PERSISTENCE, RULE, common

    h = study.settings.horizon_weeks if horizon is None else horizon
    res = study.results.get(h)
    empty = pd.DataFrame(columns=BACKTEST_COLUMNS), pd.DataFrame(
        columns=["fund_id", "settlement_date", "fold", "kernel", "current_grade", "predicted_grade", "true_grade", "right"])
    if res is None or res.evaluation is None or res.evaluation.split != "walk_forward":
        return empty
    pred = common(res.evaluation.predictions).copy()
    frame = res.dataset.frame
    pred["current_grade"] = frame["persistence_grade"].to_numpy(dtype=int)[pred["row"].to_numpy()]
    pred["year"] = pd.to_datetime(pred["settlement_date"]).dt.year
    kernels = [a for a in pred["approach"].unique() if a != PERSISTENCE]   # the SVCs and the rule
    rows, warned = [], []
    for year in sorted(pred["year"].unique()):
        now = pred[pred["year"] == year]
        before = pred[pred["year"] < year]
        fold = str(now["fold"].iloc[0])
        if before.empty:
            rows.append((fold, int(year), None, np.nan, np.nan, False, int(now["row"].nunique()), 0, 0,
                         int((now.drop_duplicates("row")["true_grade"] != now.drop_duplicates("row")["current_grade"]).sum()),
                         0, "no earlier test year to validate on"))
            continue
        acc = {a: float((g["true_grade"] == g["predicted_grade"]).mean()) for a, g in before.groupby("approach")}
        kernel = max(kernels, key=lambda a: (acc.get(a, -1.0), a))
        issued = acc[kernel] > acc.get(PERSISTENCE, np.inf)
        mine = now[now["approach"] == kernel]
        changes = mine["true_grade"] != mine["current_grade"]
        warn = mine[mine["predicted_grade"] != mine["current_grade"]] if issued else mine.iloc[:0]
        right = warn["predicted_grade"] == warn["true_grade"]
        rows.append((fold, int(year), kernel, acc[kernel], acc.get(PERSISTENCE, np.nan), bool(issued), len(mine),
                     len(warn), int(right.sum()), int(changes.sum()),
                     int((changes & (mine["predicted_grade"] == mine["true_grade"])).sum()) if issued else 0,
                     "" if issued else f"{kernel} ({acc[kernel]:.1%}) does not beat persistence "
                                       f"({acc.get(PERSISTENCE, np.nan):.1%}) on the earlier years"))
        warned.append(warn.assign(fold=fold, kernel=kernel, right=right.to_numpy())[
            ["fund_id", "settlement_date", "fold", "kernel", "current_grade", "predicted_grade", "true_grade", "right"]])
    table = pd.DataFrame(rows, columns=BACKTEST_COLUMNS)
    warnings = pd.concat(warned, ignore_index=True) if warned else empty[1]
    return table, warnings
