"""The out-of-time forecast panel of stage 1 (the paper's Figure 6 flow, without look-ahead).

One row per (fund, forecast origin ``t``) for every origin of the walk-forward test period,
including the origin one week after the panel's last week (the "now" forecast; its
realised target is NaN). Columns (:data:`PANEL_COLUMNS` + one per model):

``fund_id, fund_type``
``origin``        first week forecast (``t``)
``info_date``     ``t - 1``: the last week whose return the row uses (stage 2's prediction date)
``date``          ``t + h - 1``: the last week of the target month
``fit_date``      the scheduled refit in force at ``t`` (LSTMs: trained on samples whose last
                  output week is before it - with ``lstm_retrain = "yearly"`` before the latest
                  yearly date, see the training table; GARCH: estimated on returns before it)
``garch_fit_date``  the GARCH estimation used by the row (= ``fit_date``, or later for a fund
                  that reached ``min_train_obs`` returns between refits; NaT without GARCH)
``y``             the realised 1-month annualised vol (%) of weeks ``t .. t+h-1`` (NaN if not observed)
``<model>``       each model's forecast of ``y`` (%)
``note``          why a model has no forecast in the row ("" when all have one)

A row is present when the fund has the ``window`` one-month vols before ``t`` (so every
model but GARCH-based ones can forecast; GARCH rows wait for the fund's first estimation).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
from tqdm import tqdm

from qmtl_research.volatility import registry
from qmtl_research.volatility.garch_panel import GarchPanelResult, garch_walk_forward
from qmtl_research.volatility.series import series_walk_forward
from qmtl_research.volatility.samples import gather, r_columns, sigma_columns, y_columns
from qmtl_research.volatility.splits import WalkForwardSchedule, first_origin_position, retrain_dates
from qmtl_research.volatility.targets import realized_vol

PANEL_COLUMNS = ["fund_id", "fund_type", "origin", "info_date", "date", "fit_date", "garch_fit_date", "y"]


def _features(model: str, window: int) -> list[str]:
    return sigma_columns(window) + (r_columns(window) if registry.get(model).needs_garch else [])


def build_walk_forward(returns: pd.DataFrame, fund_type: pd.Series, config, schedule: WalkForwardSchedule,
                       progress: bool = True):
    """Walk-forward forecasts of every model; returns ``(forecasts, garch, training, series)``.

    Each model is driven by its registry kind (:mod:`~qmtl_research.volatility.registry`).
    ``returns``: usable funds only (checked histories). ``garch`` is the
    :class:`~qmtl_research.volatility.garch_panel.GarchPanelResult` (None without GARCH-based
    models); ``training`` lists every LSTM fit (refit date, model, samples, epochs, seconds);
    ``series`` maps each ``"series"`` model to its
    :class:`~qmtl_research.volatility.series.SeriesPanelResult` (fits and failures).

    Parameters
    ----------
    returns : DataFrame
        Weekly simple returns (fractions) of the usable funds.
    fund_type : Series
        fund_id -> fund type.
    config : Stage1Config
        Models and hyper-parameters.
    schedule : WalkForwardSchedule
        Test origins and refit dates.
    progress : bool
        Show progress bars.

    Returns
    -------
    tuple
        ``(forecasts, garch, training, series)``.
    """
    models = list(config.models)
    w, h = config.window, config.horizon
    grid = schedule.grid
    target = realized_vol(returns.reindex(grid), w)
    garch: GarchPanelResult | None = None
    if registry.garch_based(models):
        garch = garch_walk_forward(returns, schedule.refit_dates, config.garch, horizon=h, progress=progress)
    cond = garch.cond_vol.reindex(columns=target.columns) if garch else None
    fcst = garch.forecast.reindex(columns=target.columns) if garch else None
    t_vals = target.to_numpy(dtype=float, na_value=np.nan)
    r_vals = cond.to_numpy(dtype=float, na_value=np.nan) if garch else np.full(t_vals.shape, np.nan)
    g_vals = fcst.to_numpy(dtype=float, na_value=np.nan) if garch else np.full(t_vals.shape, np.nan)
    arrays = (t_vals, r_vals, g_vals)
    n_grid, n_funds = t_vals.shape
    fit_pos = (garch.fit_pos.reindex(columns=target.columns).fillna(-1).to_numpy(int) if garch
               else np.full((n_grid, n_funds), -1))
    first_fit = np.where((fit_pos >= 0).any(axis=0), np.where(fit_pos >= 0, fit_pos, n_grid).min(axis=0), n_grid)

    # every sample of the grid with complete sigma inputs (training and test rows come from it)
    p_first = first_origin_position(w)
    pos = np.repeat(np.arange(p_first, n_grid), n_funds)
    col = np.tile(np.arange(n_funds), n_grid - p_first)
    sig_ok = np.isfinite(np.stack([t_vals[pos + k, col] for k in range(-w, 0)], axis=1)).all(axis=1)
    pos, col = pos[sig_ok], col[sig_ok]
    samples = gather(target, None, None, pos, col, w, h, arrays=arrays)
    samples["_pos"], samples["_col"] = pos, col
    out_ok = samples[y_columns(h)].notna().all(axis=1).to_numpy()
    r_ok = samples[r_columns(w)].notna().all(axis=1).to_numpy()
    first_fit_row = first_fit[col]

    test_start = int(grid.get_loc(schedule.test_start))
    refits = [int(grid.get_loc(d)) for d in schedule.refit_dates]
    is_test = pos >= test_start
    test = samples.loc[is_test].copy()
    for m in models:
        test[m] = np.nan
    series = {}
    test_pos, test_col = test["_pos"].to_numpy(), test["_col"].to_numpy()
    for m in models:
        kind = registry.get(m).kind
        if kind == "rule":                      # nothing to learn: the rule reads the sample rows
            test[m] = registry.get(m).build(config).fit(test).predict(test)
        elif kind == "garch":
            test[m] = test["garch_1m"].to_numpy()
        elif kind == "series":
            series[m] = series_walk_forward(m, config, returns, retrain_dates(schedule, config.challenger_refit),
                                            progress=progress)
            grid_values = series[m].forecast.reindex(index=grid, columns=target.columns).to_numpy(dtype=float)
            test[m] = grid_values[test_pos, test_col]

    training = []
    learned = [m for m in models if registry.get(m).kind == "learned"]
    estimators = {m: registry.get(m).build(config, warm_start=True) for m in learned}
    test_idx = {}
    for k, f_pos in enumerate(refits):
        end = refits[k + 1] if k + 1 < len(refits) else n_grid
        test_idx[f_pos] = np.flatnonzero((test_pos >= f_pos) & (test_pos < end))
    # retraining: every refit date, or (lstm_retrain yearly) the yearly ones; the latest weights forecast
    # every segment up to the next retraining, in one prediction call per model and training
    retrain = {int(grid.get_loc(d)) for d in retrain_dates(schedule, config.lstm_retrain)}
    due = {m: True for m in learned}
    pending: dict[str, list[np.ndarray]] = {m: [] for m in learned}
    bar = tqdm(refits, desc=f"stage-1 walk-forward ({schedule.refit} refits)", unit="refit",
               disable=not progress or not learned)
    for f_pos in bar:
        if f_pos in retrain:
            due = {m: True for m in learned}
        rows = test_idx[f_pos]
        if not len(rows):
            continue
        for m in learned:
            need_r = registry.get(m).needs_garch
            if due[m] or not hasattr(estimators[m], "weights_"):
                train_mask = out_ok & (pos + h - 1 < f_pos)
                if need_r:
                    train_mask &= r_ok & (first_fit_row <= f_pos)
                if not train_mask.any():
                    continue
                _predict_pending(test, estimators[m], m, pending[m])
                train = samples.loc[train_mask, ["fund_id", "origin", *_features(m, w), *y_columns(h)]]
                t0 = time.perf_counter()
                est = estimators[m].fit(train, train[y_columns(h)].to_numpy())
                due[m] = False
                training.append({"design": "walk_forward", "fit_date": grid[f_pos], "model": m,
                                 "n_samples": int(train_mask.sum()), "n_train": est.n_train_,
                                 "epochs_run": est.epochs_run_, "warm": est.n_fits_ > 1,
                                 "final_loss": est.history_["loss"][-1] if est.history_.get("loss") else np.nan,
                                 "final_val_loss": est.history_.get("val_loss", [np.nan])[-1],
                                 "seconds": round(time.perf_counter() - t0, 3)})
            seg = test.iloc[rows]
            usable = seg[_features(m, w)].notna().all(axis=1).to_numpy().copy()
            if need_r:
                usable &= np.isfinite(seg["garch_1m"].to_numpy())      # a GARCH estimation serves the row
            if usable.any():
                pending[m].append(rows[usable])
    for m in learned:
        _predict_pending(test, estimators[m], m, pending[m])

    forecasts = _panel(test, fund_type, schedule, grid, fit_pos, models, garch, config, series)
    return forecasts, garch, pd.DataFrame(training), series


def _predict_pending(test: pd.DataFrame, est, model: str, pending: list) -> None:
    """Forecast the rows of ``pending`` (positions of ``test``) with ``est``'s current weights, in one
    call, and empty the list."""
    if not pending:
        return
    rows = np.concatenate(pending) if len(pending) > 1 else pending[0]
    test.iloc[rows, test.columns.get_loc(model)] = est.predict(test.iloc[rows])
    pending.clear()


def _panel(test: pd.DataFrame, fund_type: pd.Series, schedule, grid, fit_pos, models, garch, config,
           series=None) -> pd.DataFrame:
    pos = test["_pos"].to_numpy()
    col = test["_col"].to_numpy()
    out = pd.DataFrame({
        "fund_id": test["fund_id"].to_numpy(),
        "fund_type": fund_type.reindex(test["fund_id"]).fillna("unknown").astype(str).to_numpy(),
        "origin": grid[pos],
        "info_date": grid[pos - 1],
        "date": test["date"].to_numpy(),
        "fit_date": schedule.fit_date_of(grid[pos]),
        "garch_fit_date": pd.DatetimeIndex(np.where(fit_pos[pos, col] >= 0, grid[np.maximum(fit_pos[pos, col], 0)],
                                                    pd.NaT)),
        "y": test["y"].to_numpy(),
    })
    for m in models:
        out[m] = test[m].to_numpy(dtype=float)
    out["note"] = _notes(out, models, garch, config, series or {})
    return out.sort_values(["origin", "fund_id"], kind="stable").reset_index(drop=True)


def _notes(panel: pd.DataFrame, models, garch, config, series) -> np.ndarray:
    """Why a model has no forecast in a row."""
    notes = np.full(len(panel), "", dtype=object)
    failures = {}
    if garch is not None:
        for f in garch.failures:
            failures.setdefault(f["fund_id"], f["message"])
    series_failures = {m: {} for m in series}
    for m, res in series.items():
        for f in res.failures:
            series_failures[m].setdefault(f["fund_id"], f["message"])
    garch_models = registry.garch_based(models)
    gone_all = np.isnan(panel[models].to_numpy(dtype=float))
    fund_ids = panel["fund_id"].to_numpy()
    no_fit = panel["garch_fit_date"].isna().to_numpy()
    memo: dict[tuple, str] = {}          # one note per (fund, models without a forecast, fitted yet)
    for i in np.flatnonzero(gone_all.any(axis=1)):
        key = (fund_ids[i], gone_all[i].tobytes(), bool(no_fit[i]))
        if key not in memo:
            memo[key] = _note(fund_ids[i], [m for m, g in zip(models, gone_all[i]) if g], bool(no_fit[i]),
                              garch_models, failures, series_failures, config)
        notes[i] = memo[key]
    return notes


def _note(fid, gone: list[str], no_fit: bool, garch_models, failures: dict, series_failures: dict, config) -> str:
    """Why the models ``gone`` have no forecast in a row of fund ``fid`` (``no_fit``: no GARCH(1,1)
    estimation serves the row)."""
    parts = []
    if any(m in garch_models for m in gone):
        if fid in failures:
            why = failures[fid]
        elif no_fit:
            why = (f"no GARCH(1,1) estimate yet (a fund needs {config.garch.min_train_obs} weekly returns "
                   f"before an estimation)")
        else:
            why = "GARCH(1,1) estimation failed at this fit"
        parts.append(f"{', '.join(m for m in gone if m in garch_models)}: {why}")
    for m in [m for m in gone if m in series_failures]:
        why = series_failures[m].get(fid) or (
            f"no estimate yet (a fund needs {config.garch.min_train_obs} weekly returns before an estimation)"
            if no_fit else "estimation failed at this fit")
        parts.append(f"{m}: {why}")
    others = [m for m in gone if m not in garch_models and m not in series_failures]
    if others:
        parts.append(f"{', '.join(others)}: no model trained before this origin")
    return "; ".join(parts)
