"""The whole VaR/ES backtest suite on one series, and pooled plus per series on a panel."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from qmtl_research.errors import InputError
from qmtl_research.risk.input_checks import check_confidence
from qmtl_research.risk.backtests import es_tests as es_t
from qmtl_research.risk.backtests import var_tests as var_t

#: p-value columns of :func:`run_suite` and the test each belongs to (the report's table order).
P_VALUES = {"pof_p": "Kupiec POF", "tuff_p": "Kupiec TUFF", "ind_p": "Christoffersen independence",
            "cc_p": "Christoffersen conditional coverage", "dur_p": "Christoffersen-Pelletier duration",
            "dq_p": "Engle-Manganelli DQ", "z1_p": "Acerbi-Szekely Z1", "z2_p": "Acerbi-Szekely Z2",
            "mf_p": "McNeil-Frey", "de_u_p": "Du-Escanciano U", "de_c_p": "Du-Escanciano C"}
ES_P_VALUES = ("z1_p", "z2_p", "mf_p", "de_u_p", "de_c_p")


def run_suite(returns, var, es, confidence: float, dist=None, *, scale=None, pit=None, n_sims: int = 1000,
              seed: int = 0, dq_lags: int = 4, de_lags: int = 1, zone_days: int = 250, simulated=None,
              duration=None, mcneil=None) -> dict:
    """Every VaR and ES backtest of one forecast series (time order).

    Parameters
    ----------
    returns, var : arrays (n,), realised returns (fractions) and VaR forecasts (positive losses).
    es : array (n,) or None, ES forecasts (positive losses); None skips the ES tests.
    confidence : float, the level of VaR and ES.
    dist : predictive distributions (:mod:`~qmtl_research.risk.backtests.distributions`) or None;
        needed for the Acerbi-Szekely p-values and the Du-Escanciano tests (PIT).
    scale : array (n,) or None, forecast volatilities for McNeil-Frey (None: ``dist.sigma``
        when the distribution has one, else raw residuals).
    pit : array (n,) or None, ``F_t(r_t)`` computed elsewhere (e.g. from all scenarios when ``dist``
        stores only the tail); None: ``dist.cdf(returns)``.
    n_sims, seed : simulations / bootstrap replications and their seed.
    dq_lags, de_lags : lags of the DQ and Du-Escanciano conditional tests.
    zone_days : the traffic light and FRTB multiplier use the last ``zone_days`` forecasts.
    simulated, duration, mcneil : results already computed for these rows by :func:`run_panel` (the
        Acerbi-Szekely null draws ``(z1, z2)``, the duration test's and McNeil-Frey's dicts); None
        computes them.

    Returns
    -------
    dict
        ``n, exceptions, expected, rate``; ``pof_lr, pof_p``; ``tuff_first, tuff_lr, tuff_p``;
        ``ind_lr, ind_p, cc_lr, cc_p``; ``dur_lr, dur_p, dur_b``; ``dq_stat, dq_p``;
        ``zone, zone_n, zone_exceptions, multiplier``; with ES: ``z1, z1_p, z2, z2_p``,
        ``mf_stat, mf_p``, ``de_u, de_u_p, de_c, de_c_p`` (NaN where a test cannot be computed:
        too few exceptions, or no distribution).
    """
    c = check_confidence(confidence)
    r = np.asarray(returns, dtype=float)
    v = np.asarray(var, dtype=float)
    if r.shape != v.shape or r.ndim != 1 or r.size == 0:
        raise InputError("returns and VaR must be non-empty 1-d arrays of the same length", where="run_suite")
    if not (np.isfinite(r).all() and np.isfinite(v).all()):
        raise InputError("returns and VaR must be finite", where="run_suite")
    hits = -r > v
    n, x = r.size, int(hits.sum())
    out: dict = {"n": n, "exceptions": x, "expected": n * (1.0 - c), "rate": x / n}
    out["pof_lr"], out["pof_p"] = var_t.kupiec_pof(n, x, c)
    tuff = var_t.kupiec_tuff(hits, c)
    out.update(tuff_first=tuff["first_failure"], tuff_lr=tuff["lr"], tuff_p=tuff["p_value"])
    if n >= 2:
        cc = var_t.conditional_coverage(hits, c)
        out.update(ind_lr=cc["lr_ind"], ind_p=cc["p_ind"], cc_lr=cc["lr"], cc_p=cc["p_value"])
    else:
        out.update(ind_lr=math.nan, ind_p=math.nan, cc_lr=math.nan, cc_p=math.nan)
    dur = duration if duration is not None else var_t.duration_test(hits)
    out.update(dur_lr=dur["lr"], dur_p=dur["p_value"], dur_b=dur["b"])
    dq = var_t.dynamic_quantile(hits, v, c, dq_lags)
    out.update(dq_stat=dq["stat"], dq_p=dq["p_value"])
    last = hits[-zone_days:]
    out.update(zone=var_t.traffic_light(int(last.sum()), last.size, c), zone_n=int(last.size),
               zone_exceptions=int(last.sum()),
               multiplier=var_t.frtb_multiplier(int(last.sum()), int(last.size), c))
    if es is None:
        return out
    e = np.asarray(es, dtype=float)
    asz = es_t.acerbi_szekely(r, v, e, c, dist, n_sims, seed, simulated=simulated)
    out.update(z1=asz["z1"], z1_p=asz["z1_p"], z2=asz["z2"], z2_p=asz["z2_p"])
    if scale is None and dist is not None and hasattr(dist, "sigma"):
        scale = dist.sigma
    mf = mcneil if mcneil is not None else es_t.mcneil_frey(r, v, e, scale, n_sims, seed)
    out.update(mf_stat=mf["stat"], mf_p=mf["p_value"])
    if pit is not None or dist is not None:
        pit = np.clip(np.asarray(pit, dtype=float) if pit is not None else dist.cdf(r), 0.0, 1.0)
        u = es_t.du_escanciano_unconditional(pit, c)
        cd = es_t.du_escanciano_conditional(pit, c, de_lags)
        out.update(de_u=u["stat"], de_u_p=u["p_value"], de_c=cd["stat"], de_c_p=cd["p_value"])
    else:
        out.update(de_u=math.nan, de_u_p=math.nan, de_c=math.nan, de_c_p=math.nan)
    return out


def _take(dist, rows: np.ndarray):
    """The predictive distributions of ``rows`` (same family)."""
    from qmtl_research.risk.backtests.distributions import Empirical, LocationScale

    if dist is None:
        return None
    if isinstance(dist, LocationScale):
        return LocationScale(dist.mu[rows], dist.sigma[rows], dist.dof[rows])
    if isinstance(dist, Empirical):
        return Empirical(dist.scenarios[rows], dist.counts[rows])
    raise TypeError(f"unknown distribution {type(dist).__name__}")


def run_panel(frame: pd.DataFrame, confidence: float, dist=None, *, series: str = "series",
              time: str = "date", n_sims: int = 1000, seed: int = 0, min_obs: int = 2,
              **kwargs) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The suite pooled over a panel and per series.

    Parameters
    ----------
    frame : long DataFrame with ``series``, ``time``, ``return``, ``var`` and optionally ``es``,
        ``pit`` and ``scale`` columns (see :func:`run_suite`); rows of one series in time order
        after sorting by ``(series, time)``.
    confidence : float; dist : predictive distributions aligned with ``frame``'s rows (or None).
    min_obs : series with fewer forecasts are not tested alone (listed in the third frame).
    kwargs : passed to :func:`run_suite`.

    Returns
    -------
    (pooled, per_series, skipped)
        ``pooled``: :func:`run_suite` on all rows (series after series: the independence,
        duration and DQ tests then see the concatenation, so they are reported per series too;
        the pooled traffic light and multiplier count all rows, by the binomial scaling);
        ``per_series``: one row per series; ``skipped``: ``series, reason``.

    Notes
    -----
    The Acerbi-Szekely null draws of every series come from one simulation of the panel (seed
    ``seed + 1``) restricted to the series' rows (draws are independent over rows); when every row
    belongs to a tested series the pooled statistics' null draws are those same paths summed over
    all rows (one simulation instead of two; else the pooled draws use seed ``seed``); McNeil-Frey
    bootstraps use ``seed + i`` (i the series' position), drawn series by series and reduced together
    (:func:`~qmtl_research.risk.backtests.es_tests.mcneil_frey_groups`). The duration tests of all series are
    fitted together (:func:`~qmtl_research.risk.backtests.var_tests.weibull_duration_lr`).
    """
    order = np.lexsort((frame[time].to_numpy(), frame[series].astype(str).to_numpy()))
    f = frame.iloc[order]
    d = _take(dist, order)
    has_es = "es" in f.columns
    es = f["es"].to_numpy(dtype=float) if has_es else None
    pit = f["pit"].to_numpy(dtype=float) if "pit" in f.columns else None
    scale = f["scale"].to_numpy(dtype=float) if "scale" in f.columns else None
    rows, skipped = [], []
    keys = f[series].astype(str).to_numpy()
    bounds = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1], True])
    ret, var = f["return"].to_numpy(float), f["var"].to_numpy(float)
    spans = [(i, a, b) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])) if b - a >= min_obs]
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b - a < min_obs:
            skipped.append({"series": keys[a], "reason": f"{b - a} forecast(s), fewer than {min_obs}"})
    # the costly parts once for every series: the duration MLEs and the Acerbi-Szekely null draws
    hits = -ret > var
    dur = _durations_by_series(hits, spans)
    sims = pooled_sims = None
    if has_es and d is not None and spans:
        group = np.full(len(f), -1, dtype=np.int64)
        for j, (_, a, b) in enumerate(spans):
            group[a:b] = j
        inside = group >= 0
        every = bool(inside.all())
        drawn = es_t.simulate_z_groups(d if every else _take(d, np.flatnonzero(inside)), var[inside], es[inside],
                                       confidence, group[inside], n_sims, seed + 1, with_total=every)
        z1s, z2s = drawn[:2]
        if every:   # every row is in a tested series: the pooled null on the same paths
            pooled_sims = drawn[2:]
    pooled_kw = {**kwargs, "zone_days": len(f)}
    pooled = run_suite(ret, var, es, confidence, d, pit=pit, scale=scale, n_sims=n_sims, seed=seed,
                       simulated=pooled_sims, **pooled_kw)
    mfs = [None] * len(spans)
    if has_es and spans:
        sc = scale if scale is not None else (d.sigma if d is not None and hasattr(d, "sigma") else None)
        mfs = es_t.mcneil_frey_groups(ret, var, es, sc, [(a, b) for _, a, b in spans], n_sims,
                                      [seed + i for i, _, _ in spans])
    for j, (i, a, b) in enumerate(spans):
        idx = np.arange(a, b)
        if has_es and d is not None:
            sims = (z1s[:, j], z2s[:, j])
        res = run_suite(ret[idx], var[idx], es[idx] if has_es else None, confidence, _take(d, idx),
                        pit=None if pit is None else pit[idx], scale=None if scale is None else scale[idx],
                        n_sims=n_sims, seed=seed + i, simulated=sims, duration=dur[j], mcneil=mfs[j], **kwargs)
        rows.append({"series": keys[a], **res})
    return pooled, pd.DataFrame(rows), pd.DataFrame(skipped, columns=["series", "reason"])


def _durations_by_series(hits: np.ndarray, spans) -> list[dict]:
    """The Christoffersen-Pelletier test of every series (one vectorised Weibull fit)."""
    out = [{"lr": math.nan, "p_value": math.nan, "b": math.nan, "n_durations": 0} for _ in spans]
    fit, ds, cs = [], [], []
    for j, (_, a, b) in enumerate(spans):
        h = hits[a:b]
        out[j]["n_durations"] = int(h.sum())
        if h.sum() >= 2:
            d, c = var_t.durations(h)
            fit.append(j)
            ds.append(d)
            cs.append(c)
    if fit:
        width = max(len(d) for d in ds)
        D = np.full((len(fit), width), np.nan)
        C = np.zeros((len(fit), width), dtype=bool)
        for r, (d, c) in enumerate(zip(ds, cs)):
            D[r, :len(d)], C[r, :len(c)] = d, c
        lr, bshape = var_t.weibull_duration_lr(D, C)
        for r, j in enumerate(fit):
            out[j] = {"lr": float(lr[r]), "p_value": var_t._chi2(float(lr[r]), 1), "b": float(bshape[r]),
                      "n_durations": int((~cs[r]).sum())}
    return out
