"""Stage-1 evaluation: losses, Tables 2-3, Figures 9-10, Diebold-Mariano tests, model confidence sets.

``predictions`` is a long frame with one row per evaluated (fund, origin) and columns
``fund_id, fund_type, origin, date, y`` and one column per model (the forecast of ``y``,
annualised vol in %); ``date`` is the target's last week (``origin + 3`` weeks). Errors are
``realised - forecast`` (the paper's Figure 10 sign). MSE is in %^2, RMSE in percentage
points of annualised standard deviation, QLIKE is unit-free (see :func:`qlike`).

Tests are run on one time series per model: the **cross-sectional mean loss per target
week** (the panel's funds share each week's shocks, so fund-weeks are not independent).

Over 400 lines because every paper table and test (losses, Tables 2-3, DM, MCS, challengers,
GARCH diagnostics) reads the same long predictions frame; each is a small function.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from qmtl_research.volatility import names
from qmtl_research.volatility.targets import TARGET_WINDOW, expected_sample_std

LOSSES = ("MSE", "QLIKE")


# ------------------------------------------------------------------------------------ losses
def squared_error(y, forecast) -> np.ndarray:
    """``(y - f)^2``: squared error of a 1-month annualised vol forecast, in %^2 (percentage points squared).

    Parameters
    ----------
    y : array-like
        Realised 1-month annualised vol (%).
    forecast : array-like
        Forecast of ``y`` (%).

    Returns
    -------
    ndarray
        ``(y - forecast)^2`` in %^2.
    """
    return (np.asarray(y, float) - np.asarray(forecast, float)) ** 2


def c4(n: int = TARGET_WINDOW) -> float:
    """``E[S] / sigma`` for the sample std (ddof=1) of ``n`` iid normal returns (c4(4) = 0.9213).

    Parameters
    ----------
    n : int
        Returns in the sample (>= 2).

    Returns
    -------
    float
    """
    return float(expected_sample_std(np.ones(n)))


def qlike(y, forecast, n: int = TARGET_WINDOW) -> np.ndarray:
    """QLIKE loss of a 1-month volatility forecast (Patton 2011, the normalised form), unit-free, >= 0.

    * variance proxy: ``s2 = y^2``, the squared realised 1-month annualised vol (%^2), i.e. the
      annualised sample variance (ddof=1) of the ``n`` weekly returns, which is unbiased for
      the month's mean conditional variance;
    * variance forecast: ``h = (f / c4(n))^2``. Every model forecasts the expected **sample
      std** ``f = E[y]`` (the GARCH map, the MSE-trained LSTMs, the naive last value); for a
      constant variance ``E[y^2] = E[y]^2 / c4(n)^2``, so ``f^2`` alone would under-state the
      variance by ``c4(4)^2 = 0.85`` and penalise exactly the unbiased forecasts;
    * loss: ``QLIKE = s2 / h - log(s2 / h) - 1`` (0 when ``h = s2``; scale-free, so low- and
      high-vol funds weigh alike).

    QLIKE ranks forecasts of the conditional variance consistently even though ``s2`` is a
    noisy proxy (Patton 2011); MSE on the vol does so only approximately. ``(f / c4)^2`` is the
    model's variance forecast exactly only for equal weekly variances: GARCH's own
    ``mean(h_1..h_4)`` (= ``E[y^2]``) scores a little better (demo walk-forward: 0.671 vs 0.707),
    but one uniform rule keeps every model's QLIKE a loss of the same forecast. It is undefined
    for a zero realised variance (``y = 0``: a fund whose 4 weekly returns are equal) and
    for a non-positive forecast (``f <= 0``); those entries are NaN here, and the tables
    leave such points out for every model (see :func:`qlike_points`).

    Parameters
    ----------
    y : array-like
        Realised 1-month annualised vol (%), > 0.
    forecast : array-like
        Forecast of ``y`` (%), > 0.
    n : int
        Weeks in the target (the sample-std bias correction ``c4(n)``).

    Returns
    -------
    ndarray
        Unit-free losses (0 for a perfect forecast of the variance).
    """
    y = np.asarray(y, float)
    f = np.asarray(forecast, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (y * y) / (f * f / c4(n) ** 2)
        out = ratio - np.log(ratio) - 1.0
    return np.where((y > 0) & (f > 0) & np.isfinite(ratio), out, np.nan)


def qlike_points(predictions: pd.DataFrame, models) -> pd.Series:
    """True where QLIKE is defined for every model (``y > 0`` and every forecast ``> 0``).

    Parameters
    ----------
    predictions : DataFrame
        One row per evaluated (fund, origin): ``fund_id, fund_type, origin, date, y`` and one forecast
        column per model (annualised vol, %).
    models : sequence of str
        Model columns of ``predictions`` (registered names).

    Returns
    -------
    Series of bool
    """
    ok = predictions["y"] > 0
    for m in models:
        ok &= predictions[m] > 0
    return ok


def _mse(frame: pd.DataFrame, model: str) -> float:
    return float(np.mean(squared_error(frame["y"], frame[model]))) if len(frame) else float("nan")


def _qlike(frame: pd.DataFrame, model: str, n: int = TARGET_WINDOW) -> float:
    return float(np.mean(qlike(frame["y"], frame[model], n))) if len(frame) else float("nan")


# ------------------------------------------------------------------------------------ tables
def error_table(predictions: pd.DataFrame, models, window: int = TARGET_WINDOW) -> pd.DataFrame:
    """Table 2: ``MSE`` (%^2), ``RMSE`` (pp), ``QLIKE`` per model over the evaluated points.

    ``n_points``: points in MSE/RMSE; ``n_qlike``: points in QLIKE (those where it is
    defined for every model, :func:`qlike_points`).

    Parameters
    ----------
    predictions : DataFrame
        One row per evaluated (fund, origin): ``fund_id, fund_type, origin, date, y`` and one forecast
        column per model (annualised vol, %).
    models : sequence of str
        Model columns of ``predictions`` (registered names).
    window : int
        Weeks of the target (4: QLIKE's sample-std bias ``c4(window)``).

    Returns
    -------
    DataFrame
        Index = models; ``MSE`` (%^2), ``RMSE`` (pp), ``QLIKE`` (unit-free), ``n_points``.
    """
    ok = qlike_points(predictions, models)
    rows = {}
    for m in models:
        mse = _mse(predictions, m)
        rows[m] = {"MSE": mse, "RMSE": float(np.sqrt(mse)), "QLIKE": _qlike(predictions.loc[ok], m, window),
                   "n_points": int(len(predictions)), "n_qlike": int(ok.sum())}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


#: a fund "dominates" a loss when its points make more than this share of the model's total loss
DOMINANCE_SHARE = 0.5
#: the trimmed mean cuts this share of the points from each end (scipy.stats.trim_mean)
TRIM_SHARE = 0.1


def _pointwise(predictions: pd.DataFrame, models, window: int) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Per loss: the points it is computed on (Table 2's) and each model's loss per point."""
    ok = qlike_points(predictions, models)
    q = predictions.loc[ok]
    return {"MSE": (predictions, {m: squared_error(predictions["y"], predictions[m]) for m in models}),
            "QLIKE": (q, {m: qlike(q["y"], q[m], window) for m in models})}


def loss_by_fund(predictions: pd.DataFrame, models, window: int = TARGET_WINDOW) -> pd.DataFrame:
    """Each fund's contribution to each model's loss (on Table 2's points).

    Parameters
    ----------
    predictions : DataFrame
        One row per evaluated (fund, origin): ``fund_id, fund_type, origin, date, y`` and one forecast
        column per model (annualised vol, %).
    models : sequence of str
        Model columns of ``predictions`` (registered names).
    window : int
        Weeks of the target (4: QLIKE's sample-std bias ``c4(window)``).

    Returns
    -------
    DataFrame ``loss, model, fund_id, n_points, total`` (sum of the fund's point losses), ``mean``
    (its mean loss) and ``share`` (``total`` over the model's total loss, fraction 0..1), sorted by
    loss, model and share (largest first).
    """
    rows = []
    for loss, (frame, values) in _pointwise(predictions, models, window).items():
        funds = frame["fund_id"].to_numpy()
        for m in models:
            g = pd.DataFrame({"fund_id": funds, "v": values[m]}).groupby("fund_id", sort=True)["v"]
            part = pd.DataFrame({"n_points": g.size(), "total": g.sum(), "mean": g.mean()}).reset_index()
            grand = float(np.sum(values[m]))
            part["share"] = part["total"] / grand if grand > 0 else np.nan
            rows.append(part.assign(loss=loss, model=m))
    cols = ["loss", "model", "fund_id", "n_points", "total", "mean", "share"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.concat(rows, ignore_index=True)[cols]
    return out.sort_values(["loss", "model", "share", "fund_id"], ascending=[True, True, False, True],
                           kind="stable").reset_index(drop=True)


def loss_robust(predictions: pd.DataFrame, models, window: int = TARGET_WINDOW,
                dominance: float = DOMINANCE_SHARE, trim: float = TRIM_SHARE) -> pd.DataFrame:
    """Each stage-1 loss with robust summaries beside its mean, and whether one fund dominates it.

    Parameters
    ----------
    predictions : DataFrame
        The evaluated points (``fund_id, y`` and one forecast column per model).
    dominance : float
        A fund dominates a model's loss when its share of the total exceeds this (0.5: more than half).
    trim : float
        Share cut from each end of the point losses for the trimmed mean.

    Returns
    -------
    DataFrame ``loss, model, n_points, mean`` (= Table 2), ``median`` (of the point losses),
    ``trimmed_mean``, ``median_fund_mean`` (median over funds of their mean loss), ``top_fund``,
    ``top_share`` (its share of the total), ``mean_without_top`` (the mean over the other funds'
    points), ``dominated`` (``top_share > dominance``) and ``note`` (one sentence when dominated).
    """
    from scipy.stats import trim_mean

    by_fund = loss_by_fund(predictions, models, window)
    rows = []
    for loss, (frame, values) in _pointwise(predictions, models, window).items():
        funds = frame["fund_id"].to_numpy()
        for m in models:
            v = np.asarray(values[m], dtype=float)
            mine = by_fund[(by_fund["loss"] == loss) & (by_fund["model"] == m)]
            if len(v) == 0 or mine.empty:
                rows.append((loss, m, 0, *([np.nan] * 4), None, np.nan, np.nan, False, ""))
                continue
            top = mine.iloc[0]
            rest = v[funds != top["fund_id"]]
            dominated = bool(top["share"] > dominance)
            note = (f"fund {top['fund_id']} makes {top['share']:.1%} of {m}'s total {loss} "
                    f"(mean {float(v.mean()):.4g}; {float(rest.mean()) if len(rest) else float('nan'):.4g} without it)"
                    if dominated else "")
            rows.append((loss, m, int(len(v)), float(v.mean()), float(np.median(v)), float(trim_mean(v, trim)),
                         float(mine["mean"].median()), str(top["fund_id"]), float(top["share"]),
                         float(rest.mean()) if len(rest) else np.nan, dominated, note))
    return pd.DataFrame(rows, columns=["loss", "model", "n_points", "mean", "median", "trimmed_mean",
                                       "median_fund_mean", "top_fund", "top_share", "mean_without_top", "dominated",
                                       "note"])


def design_comparison(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Table 2 of each design side by side: rows = models, columns ``<measure> <design>`` for
    RMSE, QLIKE, MSE and the number of points, plus each design's rank by RMSE.

    Parameters
    ----------
    tables : dict of str to DataFrame
        Design name -> its Table 2 (:func:`error_table`).

    Returns
    -------
    DataFrame
    """
    parts = []
    for design, t in tables.items():
        part = t[["RMSE", "QLIKE", "MSE", "n_points"]].copy()
        part["rank RMSE"] = part["RMSE"].rank(method="min").astype(int)
        part.columns = [f"{c} ({design})" for c in part.columns]
        parts.append(part)
    out = pd.concat(parts, axis=1)
    out.index.name = "model"
    return out


def by_fund_type(predictions: pd.DataFrame, models, main: str = names.GARCH_LSTM) -> pd.DataFrame:
    """Table 3: per fund type, mean realised 1-month vol (``std``, %), MSE/RMSE of ``main``
    and the RMSE of the other models (``RMSE <model>``); sorted by the main RMSE, descending.

    Parameters
    ----------
    predictions : DataFrame
        One row per evaluated (fund, origin): ``fund_id, fund_type, origin, date, y`` and one forecast
        column per model (annualised vol, %).
    models : sequence of str
        Model columns of ``predictions`` (registered names).
    main : str
        The model whose MSE/RMSE head the table (the model under validation).

    Returns
    -------
    DataFrame
        Index = fund types; ``std`` (%), ``n_funds``, ``n_points``, ``MSE`` (%^2), ``RMSE`` and
        ``RMSE <model>`` (pp).
    """
    rows = {}
    for ftype, grp in predictions.groupby("fund_type", sort=True):
        row = {"std": float(grp["y"].mean()), "n_funds": int(grp["fund_id"].nunique()), "n_points": len(grp)}
        if main in models:
            row["MSE"] = _mse(grp, main)
            row["RMSE"] = float(np.sqrt(row["MSE"]))
        for m in models:
            if m != main:
                row[f"RMSE {m}"] = float(np.sqrt(_mse(grp, m)))
        rows[ftype] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "fund_type"
    first = ["std", "MSE", "RMSE"] if main in models else ["std"]
    table = table[[*first, *[c for c in table.columns if c not in first]]]
    return table.sort_values("RMSE" if main in models else "std", ascending=False)


ABOVE, BELOW = "above-average volatility funds", "below-average volatility funds"


def high_vol_weeks(predictions: pd.DataFrame, regime) -> pd.Series:
    """Boolean per row: the target week belongs to the high-volatility regime
    (:class:`~qmtl_research.volatility.config.HighVolRegime`).

    ``quantile``: weeks whose cross-sectional mean realised vol (over the evaluated funds) is
    at or above the ``quantile`` of those weekly means; ``window``: target weeks from
    ``start`` to ``end`` inclusive.

    Parameters
    ----------
    predictions : DataFrame
        One row per evaluated (fund, origin): ``fund_id, fund_type, origin, date, y`` and one forecast
        column per model (annualised vol, %).
    regime : HighVolRegime
        How the high-volatility weeks are chosen.

    Returns
    -------
    Series of bool
    """
    dates = pd.to_datetime(predictions["date"])
    if regime.method == "window":
        return (dates >= pd.Timestamp(regime.start)) & (dates <= pd.Timestamp(regime.end))
    weekly = predictions.groupby(dates)["y"].mean()
    if weekly.empty:
        return pd.Series(False, index=predictions.index)
    threshold = float(np.quantile(weekly.to_numpy(), regime.quantile))
    return dates.isin(weekly.index[weekly >= threshold])


def regimes(predictions: pd.DataFrame, models, regime) -> tuple[pd.DataFrame, list[str]]:
    """Figure 9: RMSE per model for funds above / below the cross-fund average of the funds'
    mean realised 1-month vol, and for the high-volatility regime.

    Returns the table (rows = regimes, columns = models and ``n_points``) and notes: a
    regime with no evaluated point is left out (no empty bar) and named in a note.

    Parameters
    ----------
    predictions : DataFrame
        One row per evaluated (fund, origin): ``fund_id, fund_type, origin, date, y`` and one forecast
        column per model (annualised vol, %).
    models : sequence of str
        Model columns of ``predictions`` (registered names).
    regime : HighVolRegime
        The high-volatility regime definition.

    Returns
    -------
    table : DataFrame
        RMSE (pp) per regime (rows) and model (columns), with point counts.
    notes : list of str
        Regimes left out (no evaluated points).
    """
    fund_mean = predictions.groupby("fund_id")["y"].mean()
    above = fund_mean.index[fund_mean > fund_mean.mean()]
    groups = {ABOVE: predictions["fund_id"].isin(above), BELOW: ~predictions["fund_id"].isin(above),
              regime.name(): high_vol_weeks(predictions, regime)}
    notes = []
    kept = {}
    for name, sel in groups.items():
        if sel.sum() == 0:
            notes.append(f"Figure 9: the regime '{name}' has no evaluated forecast in the test period, "
                         "so it is left out.")
        else:
            kept[name] = sel
    table = pd.DataFrame({m: {name: float(np.sqrt(_mse(predictions.loc[sel], m))) for name, sel in kept.items()}
                          for m in models}, index=list(kept))
    table.index.name = "regime"
    table["n_points"] = [int(sel.sum()) for sel in kept.values()]
    return table, notes


def top_volatility(predictions: pd.DataFrame, models, n: int = 20) -> pd.DataFrame:
    """Figure 10: the ``n`` highest realised 1-month vols (fund-dates) with each model's
    prediction and error (realised - prediction); ``|err GARCH-LSTM| - |err LSTM|`` when both exist.

    Parameters
    ----------
    predictions : DataFrame
        One row per evaluated (fund, origin): ``fund_id, fund_type, origin, date, y`` and one forecast
        column per model (annualised vol, %).
    models : sequence of str
        Model columns of ``predictions`` (registered names).
    n : int
        Rows kept.

    Returns
    -------
    DataFrame
        ``fund_id, fund_type, date, realised``, ``pred <model>`` and ``err <model>`` (realised - forecast,
        pp).
    """
    top = predictions.sort_values(["y", "fund_id", "date"], ascending=[False, True, True]).head(n)
    out = top[["fund_id", "fund_type", "date"]].copy()
    out["realised"] = top["y"].to_numpy()
    for m in models:
        out[f"pred {m}"] = top[m].to_numpy()
    for m in models:
        out[f"err {m}"] = (top["y"] - top[m]).to_numpy()
    hybrid, lstm = names.GARCH_LSTM, names.LSTM
    if hybrid in models and lstm in models:
        out[f"|err {hybrid}| - |err {lstm}|"] = out[f"err {hybrid}"].abs() - out[f"err {lstm}"].abs()
    return out.reset_index(drop=True)


# ------------------------------------------------------------------------- tests over weeks
def weekly_losses(predictions: pd.DataFrame, models, loss: str = "MSE", window: int = TARGET_WINDOW) -> pd.DataFrame:
    """Cross-sectional mean loss per target week (rows = weeks, columns = models).

    ``MSE``: squared error (%^2) over all points; ``QLIKE``: over the points where QLIKE is
    defined for every model (:func:`qlike_points`).

    Parameters
    ----------
    predictions : DataFrame
        One row per evaluated (fund, origin): ``fund_id, fund_type, origin, date, y`` and one forecast
        column per model (annualised vol, %).
    models : sequence of str
        Model columns of ``predictions`` (registered names).
    loss : {"MSE", "QLIKE"}
        The loss.
    window : int
        Weeks of the target (4: QLIKE's sample-std bias ``c4(window)``).

    Returns
    -------
    DataFrame
        Rows = target weeks, columns = models.
    """
    if loss == "MSE":
        frame, fn = predictions, squared_error
    elif loss == "QLIKE":
        frame, fn = predictions.loc[qlike_points(predictions, models)], qlike
    else:
        raise ValueError(f"unknown loss {loss!r}; use one of {LOSSES}")
    values = pd.DataFrame({m: (fn(frame["y"], frame[m]) if loss == "MSE" else fn(frame["y"], frame[m], window))
                           for m in models}, index=frame.index)
    return values.groupby(pd.to_datetime(frame["date"])).mean().sort_index()


DM_COLUMNS = ["loss", "model_a", "model_b", "dm_stat", "p_value", "better", "mean_loss_diff", "n_weeks", "lags"]


def dm_tests(predictions: pd.DataFrame, models, h: int = 4, alpha: float = 0.05,
             losses=LOSSES, window: int = TARGET_WINDOW) -> pd.DataFrame:
    """Diebold-Mariano tests for every model pair and loss, with statsmodels'
    :func:`statsmodels.tsa.stattools.diebold_mariano_test`.

    The loss differential is ``d_t = L_a,t - L_b,t`` of the weekly cross-sectional mean
    losses (:func:`weekly_losses`; negative favours ``model_a``), passed to statsmodels as
    the two "forecasts" with the identity criterion. Newey-West HAC variance with
    ``lags = h - 1`` (the 4-week targets of consecutive weeks overlap by 3 weeks),
    Harvey-Leybourne-Newbold small-sample adjustment with ``horizon = h`` and Student-t
    p-values with ``n - 1`` degrees of freedom. ``better`` names the model with the lower
    mean loss when ``p_value < alpha``, else ``"no significant difference"``. NaN statistic
    when the differential has no variance (e.g. identical forecasts) or fewer than 3 weeks.

    Parameters
    ----------
    predictions : DataFrame
        One row per evaluated (fund, origin): ``fund_id, fund_type, origin, date, y`` and one forecast
        column per model (annualised vol, %).
    models : sequence of str
        Model columns of ``predictions`` (registered names).
    h : int
        Forecast horizon in weeks (the HAC lag of the loss differential).
    alpha : float
        Test size for the verdict column.
    losses : sequence of str
        Losses tested (``MSE``, ``QLIKE``).
    window : int
        Weeks of the target (4: QLIKE's sample-std bias ``c4(window)``).

    Returns
    -------
    DataFrame
        One row per model pair and loss: mean loss differential (first minus second), DM statistic
        (positive: the second model is better), p-value and verdict.
    """
    from statsmodels.tsa.stattools import diebold_mariano_test

    rows = []
    for loss in losses:
        weekly = weekly_losses(predictions, models, loss, window=window)
        for a, b in combinations(models, 2):
            pair = weekly[[a, b]].dropna()
            d = (pair[a] - pair[b]).to_numpy()
            n = len(d)
            stat = p = float("nan")
            if n >= 3 and not np.allclose(d, d[0]):
                res = diebold_mariano_test(np.zeros(n), pair[a].to_numpy(), pair[b].to_numpy(),
                                           criterion=lambda _y, f: f, lags=h - 1, harvey_adj=True, horizon=h)
                stat, p = float(res.statistic), float(res.pvalue)
            mean_diff = float(d.mean()) if n else float("nan")
            better = (a if mean_diff < 0 else b) if np.isfinite(p) and p < alpha else "no significant difference"
            rows.append({"loss": loss, "model_a": a, "model_b": b, "dm_stat": stat, "p_value": p, "better": better,
                         "mean_loss_diff": mean_diff, "n_weeks": n, "lags": h - 1})
    return pd.DataFrame(rows, columns=DM_COLUMNS)


MCS_COLUMNS = ["loss", "model", "mean_loss", "mcs_pvalue", "in_mcs", "rank", "n_weeks", "block_size"]


def model_confidence_set(predictions: pd.DataFrame, models, size: float = 0.10, reps: int = 1000,
                         seed: int = 42, losses=LOSSES, window: int = TARGET_WINDOW) -> pd.DataFrame:
    """Hansen-Lunde-Nason model confidence set over all models, with :class:`arch.bootstrap.MCS`.

    On the weekly cross-sectional mean losses (:func:`weekly_losses`), method ``"R"``,
    stationary bootstrap with block size ``round(sqrt(n_weeks))`` (at least 2), ``reps``
    replications, seeded. ``mcs_pvalue``: the MCS p-value of each model; ``in_mcs``: the
    model belongs to the ``1 - size`` confidence set (p-value >= size); ``rank``: by mean loss.

    Parameters
    ----------
    predictions : DataFrame
        One row per evaluated (fund, origin): ``fund_id, fund_type, origin, date, y`` and one forecast
        column per model (annualised vol, %).
    models : sequence of str
        Model columns of ``predictions`` (registered names).
    size : float
        MCS size (0.1: a 90% set).
    reps : int
        Bootstrap replications.
    seed : int
        Bootstrap seed (same seed, same set).
    losses : sequence of str
        Losses (``MSE``, ``QLIKE``).
    window : int
        Weeks of the target (4: QLIKE's sample-std bias ``c4(window)``).

    Returns
    -------
    DataFrame
        One row per model and loss: MCS p-value and membership.
    """
    from arch.bootstrap import MCS

    rows = []
    for loss in losses:
        weekly = weekly_losses(predictions, models, loss, window).dropna()
        n = len(weekly)
        block = max(2, int(round(np.sqrt(n)))) if n else 0
        means = weekly.mean()
        ranks = means.rank(method="min")
        if n < 10 or len(models) < 2:
            pvals = pd.Series(np.nan, index=list(models))
        else:
            mcs = MCS(weekly, size=size, reps=reps, block_size=block, method="R", bootstrap="stationary",
                      seed=seed)
            mcs.compute()
            pvals = mcs.pvalues.iloc[:, 0].reindex(list(models))
        for m in models:
            p = float(pvals[m])
            rows.append({"loss": loss, "model": m, "mean_loss": float(means[m]) if n else float("nan"),
                         "mcs_pvalue": p, "in_mcs": bool(np.isfinite(p) and p >= size),
                         "rank": int(ranks[m]) if n else 0, "n_weeks": n, "block_size": block})
    return pd.DataFrame(rows, columns=MCS_COLUMNS)


# ------------------------------------------------------------- the model under validation vs the others
COMPARISON_COLUMNS = ["model", "kind", "role", "RMSE", "QLIKE", "dm_mse", "p_mse", "dm_qlike", "p_qlike",
                      "in_mcs_mse", "in_mcs_qlike", "fits", "flagged_fits"]


def challenger_table(table2: pd.DataFrame, dm: pd.DataFrame, mcs: pd.DataFrame, validated: str,
                     kinds: dict[str, str], fits: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every model against the model under validation: one row per model (``role`` = "under
    validation", "best challenger" or "challenger"), its ``RMSE`` and ``QLIKE`` (Table 2), the
    Diebold-Mariano statistic and p-value of **its** loss minus the validated model's
    (``dm_mse``, ``p_mse``, ``dm_qlike``, ``p_qlike``; positive = worse than the model under
    validation; from :func:`dm_tests`, HAC variance with HLN correction), its membership of the
    model confidence set per loss (:func:`model_confidence_set`), and for per-fund
    ("series") models the number of estimations and of flagged ones (``fits``,
    ``flagged_fits``; NaN for the others). The best challenger is the lowest RMSE among the
    others. Without the validated model among the models, the DM columns are NaN.

    Parameters
    ----------
    table2 : DataFrame
        :func:`error_table` of the evaluated design.
    dm : DataFrame
        :func:`dm_tests` output.
    mcs : DataFrame
        :func:`model_confidence_set` output.
    validated : str
        The model under validation.
    kinds : dict of str to str
        Model -> registry kind.
    fits : DataFrame, optional
        Series models' estimation table (flag counts).

    Returns
    -------
    DataFrame
    """
    rows = []
    others = [m for m in table2.index if m != validated]
    best = min(others, key=lambda m: table2.at[m, "RMSE"]) if others else None
    for m in table2.index:
        row = {"model": m, "kind": kinds.get(m, ""), "RMSE": float(table2.at[m, "RMSE"]),
               "QLIKE": float(table2.at[m, "QLIKE"]),
               "role": "under validation" if m == validated else ("best challenger" if m == best else "challenger")}
        for loss in LOSSES:
            key = loss.lower()
            stat = p = float("nan")
            if m != validated and len(dm):
                sel = dm.loc[dm["loss"] == loss]
                ab = sel.loc[(sel["model_a"] == m) & (sel["model_b"] == validated)]
                ba = sel.loc[(sel["model_a"] == validated) & (sel["model_b"] == m)]
                if len(ab):
                    stat, p = float(ab["dm_stat"].iloc[0]), float(ab["p_value"].iloc[0])
                elif len(ba):
                    stat, p = -float(ba["dm_stat"].iloc[0]), float(ba["p_value"].iloc[0])
            row[f"dm_{key}"], row[f"p_{key}"] = stat, p
            sel = mcs.loc[(mcs["loss"] == loss) & (mcs["model"] == m)] if len(mcs) else mcs
            row[f"in_mcs_{key}"] = bool(sel["in_mcs"].iloc[0]) if len(sel) else False
        own = fits.loc[fits["model"] == m] if fits is not None and len(fits) else None
        row["fits"] = float(len(own)) if own is not None and len(own) else float("nan")
        row["flagged_fits"] = float((own["flags"].astype(str) != "").sum()) if own is not None and len(own) \
            else float("nan")
        rows.append(row)
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


# ------------------------------------------------------------------------- GARCH diagnostics
DIAGNOSTIC_COLUMNS = ["design", "fund_id", "fit_date", "alpha", "beta", "persistence", "flags", "n_obs"]


def garch_diagnostics(params: pd.DataFrame) -> pd.DataFrame:
    """The degenerate GARCH fits (persistence >= 0.999, beta = 0 with large alpha, a parameter
    on a bound; see :func:`qmtl_research.volatility.garch.diagnose`), one row per fund and
    estimation, from the estimation table of :class:`Stage1Result` (``garch_params``).

    Parameters
    ----------
    params : DataFrame
        The GARCH estimation table (``GarchPanelResult.params`` rows, with ``design``).

    Returns
    -------
    DataFrame
    """
    if params is None or params.empty or "degenerate" not in params:
        return pd.DataFrame(columns=DIAGNOSTIC_COLUMNS)
    bad = params.loc[params["degenerate"].astype(bool)]
    cols = [c for c in DIAGNOSTIC_COLUMNS if c in bad.columns]
    return bad[cols].reset_index(drop=True)


def diagnostics_summary(params: pd.DataFrame) -> pd.DataFrame:
    """Counts of estimations per design and flag kind (``persistence``, ``beta = 0``, ``on a bound``,
    ``near-constant returns``: a tick-rounded NAV such as a money-market fund's).

    Parameters
    ----------
    params : DataFrame
        The GARCH estimation table (with ``design``).

    Returns
    -------
    DataFrame
    """
    if params is None or params.empty:
        return pd.DataFrame(columns=["design", "estimations", "degenerate", "persistence >= 0.999",
                                     "beta = 0 with large alpha", "parameter on a bound", "near-constant returns"])
    rows = []
    for design, grp in params.groupby("design", sort=False):
        flags = grp["flags"].astype(str)
        rows.append({"design": design, "estimations": int(len(grp)), "degenerate": int(grp["degenerate"].sum()),
                     "persistence >= 0.999": int(flags.str.contains("persistence").sum()),
                     "beta = 0 with large alpha": int(flags.str.contains("beta = 0 with").sum()),
                     "parameter on a bound": int(flags.str.contains("bound").sum()),
                     "near-constant returns": int(flags.str.contains("near-constant").sum())})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------- reading
def ordering_text(rmse: dict[str, float]) -> tuple[bool | None, str]:
    """Whether the paper's ordering RMSE(GARCH-LSTM) < RMSE(LSTM) < RMSE(GARCH) holds, in words.

    Parameters
    ----------
    rmse : dict of str to float
        Model -> RMSE (pp).

    Returns
    -------
    holds : bool or None
        None when a model of the ordering is missing.
    text : str
    """
    ranked = sorted(rmse, key=rmse.get)
    found = " < ".join(f"{m} ({rmse[m]:.3f})" for m in ranked)
    hybrid, lstm, garch = names.GARCH_LSTM, names.LSTM, names.GARCH
    if not all(m in rmse for m in (hybrid, lstm, garch)):
        return None, f"RMSE ordering found: {found}. The paper's ordering needs {garch}, {lstm} and {hybrid}."
    holds = rmse[hybrid] < rmse[lstm] < rmse[garch]
    verdict = "holds" if holds else "does not hold"
    return holds, (f"RMSE ordering found: {found}. The paper's ordering {hybrid} < {lstm} < {garch} {verdict}.")
