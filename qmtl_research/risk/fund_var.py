"""Fund-level one-week VaR and ES from the stage-1 models, out of time, and their backtests.

For every fund and forecast origin ``t`` of the stage-1 walk-forward panel (``volatility/forecasts``:
the same funds, origins and refit schedule), each model that implies a return distribution gives
the law of the week-``t`` return from the returns before ``t``:

``GARCH``       ``r_t = mu + sigma_t z``, ``z`` the fitted innovation law (Gaussian quasi-likelihood:
                normal; a ``nu`` column in the estimation table: unit-variance Student-t), with
                ``mu`` and ``sigma_t`` from the GARCH(1,1) estimation in force at ``t`` (the stage's
                own walk-forward, :func:`qmtl_research.volatility.garch_panel.garch_walk_forward`, on the
                stage's schedule);
``FHS-GARCH``   filtered historical simulation: ``mu + sigma_t z_s`` over the standardised residuals
                ``z_s = (r_s - mu_s)/sigma_s`` of all the fund's weeks ``s < t`` (Barone-Adesi et al. 1999);
``EWMA``        RiskMetrics, ``sigma_t^2 = lambda sigma_{t-1}^2 + (1-lambda) r_{t-1}^2`` (zero mean,
                normal; :func:`qmtl_research.risk.var.ewma_volatility`);
``Historical``  the fund's last ``historical_window`` weekly returns before ``t``.

VaR and ES at each level are those of that law (closed form, or the exact tail mean of the
discrete law for the simulation models); the realised return of week ``t`` is the outcome. The
"now" origin (no realised return yet) is forecast but not backtested. Rows without a forecast
are listed in ``not_tested`` with the reason. Units: weekly returns, fractions; VaR/ES positive.

>>> fr = fund_risk(panel.returns, stage1)                           # doctest: +SKIP
>>> fr.backtests.query("scope == 'pooled'")                         # doctest: +SKIP
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from qmtl_research.risk.backtests import Empirical, LocationScale, run_panel
from qmtl_research.risk.backtests.suite import P_VALUES, _take
from qmtl_research.volatility.names import EWMA, GARCH

#: the VaR/ES models; GARCH and EWMA carry the stage-1 models' names (volatility/names.py)
FHS_GARCH, HISTORICAL = "FHS-GARCH", "Historical"
MODELS = (GARCH, FHS_GARCH, EWMA, HISTORICAL)
FORECAST_COLUMNS = ["fund_id", "fund_type", "origin", "model", "return", "sigma", "pit"]


class FundRiskConfig(BaseModel):
    """Settings of the fund-level VaR/ES study (defaults are the shipped ones).

    Attributes
    ----------
    levels : tuple of float
        VaR/ES confidence levels, fractions (0.975, 0.99).
    ewma_lambda : float
        RiskMetrics decay in (0, 1), per week.
    ewma_min_obs : int
        Weekly returns before ``t`` an EWMA forecast needs (its start window).
    historical_window : int
        Weeks of the historical simulation (260 = 5 years).
    historical_min_obs : int
        With fewer weekly returns before ``t`` there is no historical forecast.
    n_sims : int
        Acerbi-Szekely simulations and McNeil-Frey bootstrap draws.
    seed : int
        Random seed of those draws.
    dq_lags : int
        Lags of the Engle-Manganelli dynamic quantile test.
    de_lags : int
        Lags of the Du-Escanciano conditional test.
    zone_weeks : int
        Last forecasts (weeks) of a fund counted in its traffic light.
    """

    model_config = ConfigDict(extra="forbid")
    levels: tuple[float, ...] = (0.975, 0.99)
    ewma_lambda: float = Field(0.94, gt=0, lt=1)
    ewma_min_obs: int = Field(30, ge=2, description="returns before t an EWMA forecast needs (its start window)")
    historical_window: int = Field(260, ge=20, description="weeks of the historical simulation (5 years)")
    historical_min_obs: int = Field(104, ge=20, description="fewer returns before t: no historical forecast")
    n_sims: int = Field(1000, ge=99, description="Acerbi-Szekely simulations and McNeil-Frey bootstrap draws")
    seed: int = 0
    dq_lags: int = Field(4, ge=1)
    de_lags: int = Field(1, ge=1)
    zone_weeks: int = Field(250, ge=20, description="last forecasts of a fund in its traffic light")


def level_key(level: float) -> str:
    """``0.975 -> "97.5"`` (column suffixes ``var_97.5``, ``es_97.5``).

    Parameters
    ----------
    level : float
        Confidence level, a fraction.

    Returns
    -------
    str
        The level in percent, without trailing zeros.
    """
    return f"{level * 100:g}"


@dataclass
class FundRisk:
    """The study's products (the ``volatility`` section's ``var_*`` keys).

    Units: weekly returns as fractions; VaR and ES are positive losses (fractions of a week).

    Attributes
    ----------
    forecasts : pandas.DataFrame
        :data:`FORECAST_COLUMNS` (``return`` the realised weekly return, NaN at the "now" origin;
        ``sigma`` the model's weekly volatility, a fraction (NaN for ``Historical``); ``pit`` the realised return's probability
        integral transform) plus ``var_<L>`` and ``es_<L>`` per level (:func:`level_key`).
    backtests : pandas.DataFrame
        ``model``, ``level``, ``scope`` (``pooled`` | ``fund``), ``fund_id`` and the suite's columns
        (:func:`~qmtl_research.risk.backtests.run_panel`).
    not_tested : pandas.DataFrame
        ``fund_id``, ``origin``, ``model``, ``reason``: rows without a forecast.
    summary : dict
        Config, models, levels, counts, the pooled tests per ``"<model> <level>"`` and the share
        of funds rejected at 5 % per test.
    """

    forecasts: pd.DataFrame       # FORECAST_COLUMNS + var_<L>, es_<L> per level
    backtests: pd.DataFrame       # model, level, scope (pooled | fund), fund_id, suite columns
    not_tested: pd.DataFrame      # fund_id, origin, model, reason
    summary: dict


# ------------------------------------------------------------------------- forecasts per fund
def _k_smallest(values: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` smallest of each row (NaN = absent), sorted; NaN padding when fewer."""
    if values.shape[1] <= k:
        return np.sort(values, axis=1)
    part = np.partition(np.where(np.isfinite(values), values, np.inf), k - 1, axis=1)[:, :k]
    part = np.sort(part, axis=1)
    return np.where(np.isfinite(part), part, np.nan)


def _tail_size(counts: np.ndarray, levels) -> int:
    amax = 1.0 - min(levels)
    return int(math.ceil(amax * max(int(counts.max()), 1))) + 2


def _stored_tail_size(windows: np.ndarray, counts: np.ndarray, k: int) -> int:
    """Scenarios to store per row so that ``Empirical.cdf`` is known at every stored tail value.

    A row whose ``k``-th smallest scenario is tied with later ones (a fund with many weeks of the
    same return, e.g. 0.0 for a stale price) would leave ``F(x)`` unknown at that value: the stored
    tail would end inside the tie. Every scenario tied with the ``k``-th smallest is kept, plus
    the next larger one where it exists.
    """
    if windows.shape[1] <= k:
        return k
    kth = _k_smallest(windows, k)[:, -1]
    with np.errstate(invalid="ignore"):
        need = np.where(np.isfinite(kth), (windows <= kth[:, None]).sum(axis=1) + 1, 0)
    return int(max(k, np.minimum(need, counts).max(initial=0)))


def _empirical_rows(windows: np.ndarray, mu: np.ndarray, sigma: np.ndarray, realised: np.ndarray, levels):
    """Tail scenarios ``mu + sigma * w`` (rows = origins), counts and the PIT of the realised returns."""
    counts = np.isfinite(windows).sum(axis=1)
    k = _stored_tail_size(windows, counts, _tail_size(counts, levels))
    tail = mu[:, None] + sigma[:, None] * _k_smallest(windows, k)
    with np.errstate(invalid="ignore"):
        std = (realised - mu) / sigma
    pit = np.where(np.isfinite(realised), (windows <= std[:, None]).sum(axis=1) / np.maximum(counts, 1), np.nan)
    return tail, counts, pit


def _garch_panels(returns: pd.DataFrame, stage1, progress: bool):
    """Weekly ``mu``, ``sigma``, ``dof`` (grid x funds) of the GARCH estimation in force at each week."""
    from qmtl_research.volatility.garch_panel import garch_walk_forward, restricted
    from qmtl_research.volatility.targets import ANNUALISE_PCT

    cfg = stage1.config
    g = getattr(stage1, "garch_walk", None)          # stage 1's own walk-forward (same schedule and settings)
    g = restricted(g, returns, cfg.garch.n_jobs) if g is not None else None
    if g is None:
        g = garch_walk_forward(returns, stage1.schedule.refit_dates, cfg.garch, horizon=cfg.horizon,
                               progress=progress)
    grid = g.cond_vol.index
    sigma = g.cond_vol.to_numpy() / ANNUALISE_PCT
    fpos = g.fit_pos.to_numpy()
    params = g.params
    mu = np.full(sigma.shape, np.nan)
    dof = np.full(sigma.shape, np.inf)
    has_nu = "nu" in params.columns
    pos_of = {d: i for i, d in enumerate(grid)}
    rows_of = params.groupby("fund_id", sort=False).indices      # one pass, not a mask per fund
    for j, fund in enumerate(g.cond_vol.columns):
        if fund not in rows_of:
            continue
        p = params.iloc[rows_of[fund]]
        at = np.array([pos_of[pd.Timestamp(d)] for d in p["fit_date"]])
        m = (p["mu"] * p["scale"]).to_numpy()
        nu = p["nu"].to_numpy(float) if has_nu else np.full(len(p), np.inf)
        col = fpos[:, j]
        idx = np.searchsorted(at, col)                       # exact match: the estimation in force
        ok = (col >= 0) & (idx < len(at))
        ok[ok] &= at[idx[ok]] == col[ok]
        mu[ok, j] = m[idx[ok]]
        dof[ok, j] = nu[idx[ok]]
        back = (col < 0) & np.isfinite(sigma[:, j])           # weeks before the first estimation (back-filled)
        mu[back, j] = m[0]
        dof[back, j] = nu[0]
    return grid, sigma, mu, dof, fpos, g.failures


def fund_risk(returns: pd.DataFrame, stage1, config: FundRiskConfig | None = None,
              progress: bool = False) -> FundRisk:
    """Fund-level VaR/ES forecasts of every model and level, and the backtest suite on them.

    Parameters
    ----------
    returns : DataFrame (weeks x funds), the panel's weekly simple returns (fractions).
    stage1 : :class:`~qmtl_research.volatility.pipeline.Stage1Result` (its public ``forecasts``,
        ``config`` and ``schedule``).
    config : :class:`FundRiskConfig`.

    Returns
    -------
    FundRisk
        ``forecasts`` (one row per fund, origin and model), ``backtests`` (per model and level:
        the pooled row and one per fund), ``not_tested`` and ``summary``.
    """
    from qmtl_research.risk.var import ewma_volatility
    from qmtl_research.volatility.registry import garch_based

    cfg = config or FundRiskConfig()
    levels = tuple(cfg.levels)
    panel = stage1.forecasts
    funds = list(dict.fromkeys(panel["fund_id"].astype(str)))
    rets = returns[funds]
    use_garch = bool(garch_based(stage1.config.models))
    if use_garch:
        grid, g_sigma, g_mu, g_dof, g_pos, g_fail = _garch_panels(rets, stage1, progress)
    else:
        grid = rets.index.append(pd.DatetimeIndex([rets.index[-1] + pd.Timedelta(weeks=1)]))
        g_fail = []
    n_weeks = len(rets.index)
    values = rets.to_numpy(dtype=float)
    pos_of = pd.Series(np.arange(len(grid)), index=grid)
    models = [m for m in MODELS if use_garch or m not in (GARCH, FHS_GARCH)]
    parts, dists, skipped = {m: [] for m in models}, {m: [] for m in models}, []
    ftype = panel.drop_duplicates("fund_id").set_index("fund_id")["fund_type"]

    row_of = panel.groupby(panel["fund_id"].astype(str), sort=False).indices   # one pass (a mask per fund was
    for j, fund in enumerate(funds):                                           # quadratic in the panel)
        rows = panel.iloc[row_of[fund]]
        origins = pd.DatetimeIndex(rows["origin"])
        t = pos_of.reindex(origins).to_numpy()
        if np.isnan(t).any():
            raise ValueError(f"fund {fund}: forecast origins outside the returns grid")
        t = t.astype(int)
        r_all = values[:, j]
        realised = np.where(t < n_weeks, r_all[np.minimum(t, n_weeks - 1)], np.nan)
        first = int(np.argmax(np.isfinite(r_all)))
        hist = r_all[first:]
        n_hist = int(np.isfinite(hist).sum())
        before = t - first                                    # returns of the fund before t
        base = {"fund_id": fund, "fund_type": ftype.get(fund, "unknown"), "origin": origins}

        def add(model, mask, mu, sigma, dist, pit, reason):
            for o in origins[~mask]:
                skipped.append({"fund_id": fund, "origin": o, "model": model, "reason": reason})
            if mask.any():        # columns of the model's frame, built once after the last fund
                parts[model].append({"fund": (fund, base["fund_type"], int(mask.sum())),
                                     "origin": base["origin"][mask].to_numpy(), "return": realised[mask],
                                     "sigma": sigma[mask], "pit": pit[mask], "_mu": mu[mask]})
                dists[model].append(dist(mask))

        if use_garch:
            sig, mu, dof = g_sigma[t, j], g_mu[t, j], g_dof[t, j]
            ok = (g_pos[t, j] >= 0) & np.isfinite(sig) & np.isfinite(mu)
            law = LocationScale(mu[ok], sig[ok], dof[ok]) if ok.any() else None
            pit = np.full(t.size, np.nan)
            if ok.any():
                pit[ok] = law.cdf(np.nan_to_num(realised[ok]))
                pit[ok & ~np.isfinite(realised)] = np.nan
            add(GARCH, ok, mu, sig, lambda m, law=law: law, pit, "no GARCH estimation in force at the origin")
            # FHS: standardised residuals of every week before t
            zs = (r_all - g_mu[:n_weeks, j]) / g_sigma[:n_weeks, j]
            zs_f = zs[first:]
            L = zs_f.size
            win = np.where(np.arange(L)[None, :] < before[:, None], zs_f[None, :], np.nan)
            tail, counts, pitf = _empirical_rows(win, np.nan_to_num(mu), np.where(ok, sig, 1.0), realised, levels)
            okf = ok & (counts >= 2)
            add(FHS_GARCH, okf, mu, sig,
                lambda m, tail=tail, counts=counts: Empirical(tail[m], counts[m]), pitf,
                "no GARCH estimation in force at the origin")
        # EWMA
        sig_e = np.full(t.size, np.nan)
        if n_hist >= 2:
            s_hist, s_next = ewma_volatility(hist[np.isfinite(hist)], cfg.ewma_lambda, cfg.ewma_min_obs)
            s_all = np.r_[s_hist, s_next]
            inside = (before >= 0) & (before <= n_hist)
            sig_e[inside] = s_all[before[inside]]
        oke = (before >= cfg.ewma_min_obs) & np.isfinite(sig_e)
        zero = np.zeros(t.size)
        law_e = LocationScale(zero[oke], sig_e[oke], math.inf) if oke.any() else None
        pit_e = np.full(t.size, np.nan)
        if oke.any():
            pit_e[oke] = np.where(np.isfinite(realised[oke]), law_e.cdf(np.nan_to_num(realised[oke])), np.nan)
        add(EWMA, oke, zero, sig_e, lambda m, law=law_e: law, pit_e,
            f"fewer than {cfg.ewma_min_obs} returns before the origin")
        # historical
        W = cfg.historical_window
        padded = np.r_[np.full(W, np.nan), hist]
        idx = before[:, None] + np.arange(W)[None, :]            # padded[before .. before+W-1] = hist[before-W .. before-1]
        win = padded[np.clip(idx, 0, padded.size - 1)]
        win = np.where(idx < padded.size, win, np.nan)
        okh = np.minimum(before, W) >= cfg.historical_min_obs
        tail, counts, pith = _empirical_rows(win, zero, np.ones(t.size), realised, levels)
        add(HISTORICAL, okh, zero, np.full(t.size, np.nan),
            lambda m, tail=tail, counts=counts: Empirical(tail[m], counts[m]), pith,
            f"fewer than {cfg.historical_min_obs} returns before the origin")

    frames, backtests = [], []
    n_total = {}
    for model in models:
        if not parts[model]:
            continue
        f = _forecast_frame(parts[model], model)
        d = _concat(dists[model])
        for lv in levels:
            v, e = d.var_es(lv)
            f[f"var_{level_key(lv)}"], f[f"es_{level_key(lv)}"] = v, e
        frames.append(f)
        observed = np.isfinite(f["return"].to_numpy())
        n_total[model] = int(observed.sum())
        sub = f.loc[observed].reset_index(drop=True)
        dsub = _take(d, np.flatnonzero(observed))
        for lv in levels:
            key = level_key(lv)
            frame = pd.DataFrame({"series": sub["fund_id"].to_numpy(), "date": sub["origin"].to_numpy(),
                                  "return": sub["return"].to_numpy(), "var": sub[f"var_{key}"].to_numpy(),
                                  "es": sub[f"es_{key}"].to_numpy(), "pit": sub["pit"].to_numpy()})
            if model != HISTORICAL:
                frame["scale"] = sub["sigma"].to_numpy()
            pooled, per, skip = run_panel(frame, lv, dsub, n_sims=cfg.n_sims, seed=cfg.seed, min_obs=2,
                                          dq_lags=cfg.dq_lags, de_lags=cfg.de_lags, zone_days=cfg.zone_weeks)
            backtests.append(pd.DataFrame([{"model": model, "level": lv, "scope": "pooled", "fund_id": "",
                                            "n_funds": int(per.shape[0]), **pooled}]))
            if len(per):
                backtests.append(per.rename(columns={"series": "fund_id"}).assign(model=model, level=lv, scope="fund",
                                                                                  n_funds=1))
            for sid, why in skip.itertuples(index=False):
                skipped.append({"fund_id": sid, "origin": pd.NaT, "model": model,
                                "reason": f"not tested alone at {key} %: {why}"})
        now = ~observed
        for o, fid in zip(f.loc[now, "origin"], f.loc[now, "fund_id"]):
            skipped.append({"fund_id": fid, "origin": o, "model": model,
                            "reason": "forecast only: the week's return is not observed yet"})
    forecasts = pd.concat(frames, ignore_index=True).drop(columns="_mu") if frames else pd.DataFrame(columns=FORECAST_COLUMNS)
    bt = pd.concat(backtests, ignore_index=True) if backtests else pd.DataFrame()
    if len(bt):
        front = ["model", "level", "scope", "fund_id", "n_funds"]
        bt = bt[front + [c for c in bt.columns if c not in front]]
    not_tested = pd.DataFrame(skipped, columns=["fund_id", "origin", "model", "reason"])
    for f in g_fail:
        not_tested.loc[len(not_tested)] = {"fund_id": f["fund_id"], "origin": pd.NaT, "model": GARCH,
                                           "reason": f["message"]}
    summary = _summary(bt, cfg, models, n_total, not_tested)
    return FundRisk(forecasts=forecasts, backtests=bt, not_tested=not_tested, summary=summary)


def _forecast_frame(parts: list[dict], model: str) -> pd.DataFrame:
    """One model's forecast rows of every fund (``parts``: one dict of columns per fund) as one frame."""
    sizes = [p["fund"][2] for p in parts]
    ids, types = (np.repeat(np.array([p["fund"][i] for p in parts], dtype=object), sizes) for i in (0, 1))
    cols = {c: np.concatenate([np.asarray(p[c], dtype=float) for p in parts]) for c in ("return", "sigma", "pit", "_mu")}
    return pd.DataFrame({"fund_id": ids, "fund_type": types, "origin": np.concatenate([p["origin"] for p in parts]),
                         "model": model, **cols})


def _concat(dists):
    if isinstance(dists[0], LocationScale):
        return LocationScale(np.concatenate([d.mu for d in dists]), np.concatenate([d.sigma for d in dists]),
                             np.concatenate([d.dof for d in dists]))
    width = max(d.scenarios.shape[1] for d in dists)
    sc = np.concatenate([np.pad(d.scenarios, ((0, 0), (0, width - d.scenarios.shape[1])), constant_values=np.nan)
                         for d in dists])
    return Empirical(sc, np.concatenate([d.counts for d in dists]))


def _summary(bt: pd.DataFrame, cfg: FundRiskConfig, models, n_total, not_tested) -> dict:
    pooled = bt[bt["scope"] == "pooled"] if len(bt) else bt
    per = bt[bt["scope"] == "fund"] if len(bt) else bt
    out = {"config": cfg.model_dump(mode="json"), "models": list(models), "levels": list(cfg.levels),
           "n_observed": n_total, "n_not_tested": int(len(not_tested)), "pooled": {}, "share_rejected_5pct": {}}
    for _, row in pooled.iterrows():
        key = f"{row['model']} {level_key(row['level'])}"
        out["pooled"][key] = {k: (None if isinstance(row[k], float) and not np.isfinite(row[k]) else row[k])
                              for k in ("n", "exceptions", "expected", "zone", "multiplier", *P_VALUES, "z2")
                              if k in row}
        g = per[(per["model"] == row["model"]) & (per["level"] == row["level"])]
        out["share_rejected_5pct"][key] = {k: float((g[k] < 0.05).mean()) for k in P_VALUES if k in g and len(g)}
    return out
