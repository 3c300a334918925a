"""Expected Shortfall backtests: Acerbi-Szekely Z1/Z2, McNeil-Frey, Du-Escanciano.

Conventions as in :mod:`~qmtl_research.risk.backtests.var_tests`: ``returns`` are realised
returns (fractions), ``var`` and ``es`` the forecasts made before each return (positive
losses), ``confidence`` the level ``c``, ``alpha = 1 - c``. An exception is ``-r_t > VaR_t``.
Small p-values reject the null of a correct ES (or tail) forecast; the ES tests are one-sided
against an *understated* risk, as in their papers, except Du-Escanciano's U test (two-sided).

Over 400 lines because it is the one home of the ES backtests (Acerbi-Szekely Z1/Z2 with their
simulated null, McNeil-Frey, Du-Escanciano), implemented from the papers and kept together with
their shared simulation.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from qmtl_research.errors import InputError
from qmtl_research.risk.input_checks import check_confidence

SIM_EVENTS = 4_000_000    # candidate tail events per simulation block (bounds memory on long panels)


def _arrays(returns, var, es=None):
    r = np.asarray(returns, dtype=float).ravel()
    v = np.asarray(var, dtype=float).ravel()
    arrays = [r, v] + ([np.asarray(es, dtype=float).ravel()] if es is not None else [])
    if any(a.shape != r.shape for a in arrays):
        raise InputError("returns, VaR and ES must have the same length", where="ES backtest")
    if r.size == 0:
        raise InputError("no forecasts to test", where="ES backtest")
    if not all(np.isfinite(a).all() for a in arrays):
        raise InputError("returns, VaR and ES must be finite", where="ES backtest",
                         fix="drop the rows without a forecast first (and list them)")
    return arrays


def acerbi_szekely_z1(returns, var, es) -> float:
    """Acerbi-Szekely (2014) ``Z1`` ("testing ES after VaR").

    Parameters
    ----------
    returns, var, es : arrays (n,), see the module conventions.

    Returns
    -------
    float
        ``Z1 = 1 - (1/N) sum_t I_t L_t / ES_t`` with ``L_t = -r_t`` the loss, ``I_t`` the
        exceptions and ``N = sum I_t``; ``0`` when ``N = 0`` (no evidence against the ES).
        Under the null (the tail beyond VaR correctly forecast) ``E[Z1 | N > 0] = 0``;
        negative values say the ES is understated.

    Notes
    -----
    Acerbi, C. and Szekely, B. (2014), "Backtesting expected shortfall", Risk, December.
    """
    r, v, e = _arrays(returns, var, es)
    hit = -r > v
    if not hit.any():
        return 0.0
    return float(1.0 - np.mean(-r[hit] / e[hit]))


def acerbi_szekely_z2(returns, var, es, confidence: float) -> float:
    """Acerbi-Szekely (2014) ``Z2`` ("testing ES directly").

    Parameters
    ----------
    returns, var, es : arrays (n,); confidence : float, the level ``c`` of VaR and ES.

    Returns
    -------
    float
        ``Z2 = 1 - sum_t I_t L_t / (n alpha ES_t)``. Under a correct model with a continuous
        return law (``P(L_t > VaR_t) = alpha`` and ``ES_t = E[L_t | L_t > VaR_t]``)
        ``E[Z2] = 0`` exactly; negative values say the risk is understated.

    Notes
    -----
    Acerbi and Szekely (2014), Risk, December.
    """
    a = 1.0 - check_confidence(confidence)
    r, v, e = _arrays(returns, var, es)
    hit = -r > v
    return float(1.0 - np.sum(-r[hit] / e[hit]) / (r.size * a))


def bernoulli_positions(n: int, q: float, n_sims: int, rng: np.random.Generator):
    """Positions of the successes of ``n_sims`` independent Bernoulli(``q``) sequences of length ``n``.

    Drawn through geometric gaps, so the cost is proportional to the ``n q n_sims`` successes,
    not to ``n n_sims``.

    Parameters
    ----------
    n : int
        Length of each sequence.
    q : float
        Success probability, in (0, 1].
    n_sims : int
        Number of sequences.
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(sim, t)`` integer arrays: the sequence and the position of each success.
    """
    if not 0.0 < q <= 1.0:
        raise ValueError(f"q must be in (0, 1], got {q}")
    k = int(n * q + 6.0 * math.sqrt(n * q * (1.0 - q)) + 10)
    start = np.full(n_sims, -1, dtype=np.int64)
    active = np.arange(n_sims)
    sims, ts = [], []
    while active.size:
        pos = start[active, None] + np.cumsum(rng.geometric(q, size=(active.size, k)), axis=1)
        keep = pos < n
        sims.append(np.broadcast_to(active[:, None], pos.shape)[keep])
        ts.append(pos[keep])
        last = pos[:, -1]
        more = last < n - 1
        start[active[more]] = last[more]
        active = active[more]
    return np.concatenate(sims), np.concatenate(ts)


def simulate_z(dist, var, es, confidence: float, n_sims: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_sims`` draws of ``(Z1, Z2)`` when returns follow the predictive distributions ``dist``.

    Parameters
    ----------
    dist : :class:`~qmtl_research.risk.backtests.distributions.LocationScale` or
        :class:`~qmtl_research.risk.backtests.distributions.Empirical`, one row per forecast.
    var, es : arrays (n,), the forecasts the statistics use (held fixed).
    confidence : float; n_sims : int; seed : int (same seed, same draws).

    Returns
    -------
    (z1, z2) : arrays (n_sims,)

    Notes
    -----
    Only the tail matters: with ``q_t >= F_t(-VaR_t)`` and ``q = max_t q_t``, draw the periods
    where ``U_t < q`` (a Bernoulli(q) process, :func:`bernoulli_positions`), then ``U_t ~ U(0, q)``
    there, keep those with ``U_t < q_t`` and set ``r_t = F_t^-1(U_t)``; an exception is
    ``-r_t > VaR_t`` as for the observed statistic (it needs ``U_t <= F_t(-VaR_t)``). This is
    exact (thinning), and costs ``O(n q n_sims)``.
    """
    z1, z2 = simulate_z_groups(dist, var, es, confidence, np.zeros(np.size(var), dtype=np.int64), n_sims, seed)
    return z1[:, 0], z2[:, 0]


def simulate_z_groups(dist, var, es, confidence: float, groups, n_sims: int = 1000,
                      seed: int = 0, with_total: bool = False) -> tuple[np.ndarray, ...]:
    """:func:`simulate_z` for many series at once: ``(Z1, Z2)`` of every group on the same paths.

    Parameters
    ----------
    groups : int array (n,), the series (0 .. G-1) of each row; other parameters as
        :func:`simulate_z`.

    with_total : bool
        Also return the statistics of all rows together on the same paths.

    Returns
    -------
    (z1, z2) : arrays (n_sims, G)
        Group ``g``'s statistics on each simulated path restricted to its rows (draws are
        independent over rows, so each group's columns are draws from its own null).
    (z1, z2, z1_all, z2_all) with ``with_total``: ``z1_all, z2_all`` (n_sims,) the statistics
        of all ``n`` rows on each path (a draw from the null of the pooled statistic).
    """
    c = check_confidence(confidence)
    a = 1.0 - c
    v = np.asarray(var, dtype=float)
    e = np.asarray(es, dtype=float)
    g = np.asarray(groups, dtype=np.int64)
    n = v.size
    n_groups = int(g.max()) + 1 if n else 0
    size = np.bincount(g, minlength=n_groups).astype(float)
    q_t = np.minimum(1.0, np.maximum(a, dist.cdf(-v)) * (1.0 + 1e-9) + 1e-15)
    if not np.isfinite(q_t).all():
        raise InputError("the VaR lies beyond the stored tail of a predictive distribution", where="simulate_z")
    q = float(q_t.max())
    rng = np.random.default_rng(seed)
    z1 = np.empty((n_sims, n_groups))
    z2 = np.empty((n_sims, n_groups))
    z1_all = np.empty(n_sims)
    z2_all = np.empty(n_sims)
    block = int(max(1, min(n_sims, SIM_EVENTS // max(1.0, n * q))))
    for b0 in range(0, n_sims, block):
        m = min(block, n_sims - b0)
        sim, t = bernoulli_positions(n, q, m, rng)
        u = rng.uniform(0.0, q, size=t.size)
        near = u < q_t[t]                       # an exception needs u <= F_t(-VaR_t) <= q_t
        sim, t = sim[near], t[near]
        x = dist.ppf_at(t, u[near])
        hit = -x > v[t]
        cell = sim * n_groups + g[t]
        s = np.bincount(cell, weights=np.where(hit, -x / e[t], 0.0), minlength=m * n_groups).reshape(m, n_groups)
        cnt = np.bincount(cell, weights=hit.astype(float), minlength=m * n_groups).reshape(m, n_groups)
        z1[b0:b0 + m] = np.where(cnt > 0, 1.0 - s / np.maximum(cnt, 1.0), 0.0)
        z2[b0:b0 + m] = 1.0 - s / (size * a)
        if with_total:
            s_all, cnt_all = s.sum(axis=1), cnt.sum(axis=1)
            z1_all[b0:b0 + m] = np.where(cnt_all > 0, 1.0 - s_all / np.maximum(cnt_all, 1.0), 0.0)
            z2_all[b0:b0 + m] = 1.0 - s_all / (n * a)
    return (z1, z2, z1_all, z2_all) if with_total else (z1, z2)


def mc_p_value(observed, simulated: np.ndarray):
    """Left-tail Monte Carlo p-value ``(1 + #{Z_sim <= Z_obs}) / (1 + M)`` (Davison-Hinkley 1997).

    Parameters
    ----------
    observed : float or array (G,)
        The observed statistic(s).
    simulated : array (M,) or (M, G)
        Its ``M`` draws under the null (one column per observed value).

    Returns
    -------
    float or numpy.ndarray
        The p-value(s), in (0, 1]; small when the observed value is low (risk understated).
    """
    sim = np.asarray(simulated, dtype=float)
    obs = np.asarray(observed, dtype=float)
    p = (1 + np.sum(sim <= obs + 1e-12, axis=0)) / (1 + sim.shape[0])
    return float(p) if np.ndim(p) == 0 else p


def acerbi_szekely(returns, var, es, confidence: float, dist=None, n_sims: int = 1000, seed: int = 0,
                   simulated=None) -> dict:
    """Acerbi-Szekely Z1 and Z2 with p-values by simulation from the predictive distribution.

    Parameters
    ----------
    returns, var, es : arrays (n,); confidence : float.
    dist : predictive distributions (see :func:`simulate_z`); None gives the statistics only.
    n_sims : int, simulations (1,000 by default); seed : int.
    simulated : (z1, z2) arrays already drawn for these rows (:func:`simulate_z_groups`), or None.

    Returns
    -------
    dict
        ``z1, z1_p, z2, z2_p, n_sims``: left-tail Monte Carlo p-values of the observed statistic
        among ``n_sims`` paths drawn, independently over ``t``, from ``F_t`` (the null).

    Notes
    -----
    Acerbi and Szekely (2014), Risk, December: p-values by simulation as in their section
    "Testing"; the same seed gives the same p-values.
    """
    z1 = acerbi_szekely_z1(returns, var, es)
    z2 = acerbi_szekely_z2(returns, var, es, confidence)
    if simulated is None and dist is None:
        return {"z1": z1, "z1_p": math.nan, "z2": z2, "z2_p": math.nan, "n_sims": 0}
    s1, s2 = simulated if simulated is not None else simulate_z(dist, var, es, confidence, n_sims, seed)
    return {"z1": z1, "z1_p": mc_p_value(z1, s1), "z2": z2, "z2_p": mc_p_value(z2, s2), "n_sims": int(len(s1))}


def mcneil_frey(returns, var, es, scale=None, n_boot: int = 1000, seed: int = 0) -> dict:
    """McNeil-Frey (2000) exceedance-residual test of ES, bootstrap p-value.

    Parameters
    ----------
    returns, var, es : arrays (n,).
    scale : array (n,) or None
        The forecast volatility ``sigma_t`` standardising the residuals (None: 1, raw residuals).
    n_boot : int, bootstrap replications; seed : int.

    Returns
    -------
    dict
        ``stat`` (the t-statistic ``mean(e) / (sd(e)/sqrt(k))`` of the exceedance residuals
        ``e_t = (L_t - ES_t)/sigma_t`` on the ``k`` exceptions), ``p_value``, ``mean_residual``,
        ``n_exceptions``. Null: ``E[e_t] = 0`` (ES correct on the exceptions); alternative
        ``E[e_t] > 0`` (ES understated). p-value: ``(1 + #{t*_b >= t}) / (1 + B)`` with ``t*_b``
        the statistic of ``k`` residuals resampled from the residuals centred at 0 (Efron and
        Tibshirani 1993, section 16.4). ``nan`` with fewer than two exceptions.

    Notes
    -----
    McNeil, A. J. and Frey, R. (2000), "Estimation of tail-related risk measures for
    heteroscedastic financial time series: an extreme value approach", Journal of Empirical
    Finance 7, 271-300.
    """
    r, v, e = _arrays(returns, var, es)
    s = np.ones_like(r) if scale is None else np.asarray(scale, dtype=float).ravel()
    if s.shape != r.shape or not (np.isfinite(s).all() and (s > 0).all()):
        raise InputError("scale must be positive, finite and as long as the returns", where="mcneil_frey")
    hit = -r > v
    k = int(hit.sum())
    if k < 2:
        return {"stat": math.nan, "p_value": math.nan, "mean_residual": math.nan, "n_exceptions": k}
    res = (-r[hit] - e[hit]) / s[hit]
    sd = res.std(ddof=1)
    if sd == 0:
        return {"stat": math.nan, "p_value": math.nan, "mean_residual": float(res.mean()), "n_exceptions": k}
    t = float(res.mean() / (sd / math.sqrt(k)))
    rng = np.random.default_rng(seed)
    centred = res - res.mean()
    boot = centred[rng.integers(0, k, size=(n_boot, k))]
    bsd = boot.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tb = boot.mean(axis=1) / (bsd / math.sqrt(k))
    tb = np.where(bsd > 0, tb, 0.0)
    p = float((1 + np.sum(tb >= t)) / (1 + n_boot))
    return {"stat": t, "p_value": p, "mean_residual": float(res.mean()), "n_exceptions": k}


#: series whose bootstrap draws are stacked at once in :func:`mcneil_frey_groups` (bounds memory)
MF_BATCH = 256


def mcneil_frey_groups(returns, var, es, scale, spans, n_boot: int = 1000, seeds=None) -> list[dict]:
    """:func:`mcneil_frey` of many series of one panel, with the same numbers.

    Parameters
    ----------
    returns, var, es : arrays (n,), the panel's rows, series after series.
    scale : array (n,) or None, as in :func:`mcneil_frey`.
    spans : list of ``(start, stop)`` row ranges, one per series.
    n_boot : int; seeds : one bootstrap seed per series.

    Returns
    -------
    list of dict, one :func:`mcneil_frey` result per span.

    Notes
    -----
    Each series draws its own bootstrap indices from ``numpy.random.default_rng(seed)`` exactly as
    :func:`mcneil_frey`; the resampled means and standard deviations of series with the same number
    of exceptions are then reduced together (the same reduction over each row of ``k`` values, so
    the same floating-point results).
    """
    r, v, e = _arrays(returns, var, es)
    s = np.ones_like(r) if scale is None else np.asarray(scale, dtype=float).ravel()
    if s.shape != r.shape or not (np.isfinite(s).all() and (s > 0).all()):
        raise InputError("scale must be positive, finite and as long as the returns", where="mcneil_frey")
    out: list = [None] * len(spans)
    pending: dict[int, list] = {}
    for j, (a, b) in enumerate(spans):
        hit = -r[a:b] > v[a:b]
        k = int(hit.sum())
        if k < 2:
            out[j] = {"stat": math.nan, "p_value": math.nan, "mean_residual": math.nan, "n_exceptions": k}
            continue
        res = (-r[a:b][hit] - e[a:b][hit]) / s[a:b][hit]
        sd = res.std(ddof=1)
        if sd == 0:
            out[j] = {"stat": math.nan, "p_value": math.nan, "mean_residual": float(res.mean()), "n_exceptions": k}
            continue
        t = float(res.mean() / (sd / math.sqrt(k)))
        rng = np.random.default_rng(seeds[j])
        centred = res - res.mean()
        pending.setdefault(k, []).append((j, t, float(res.mean()), centred[rng.integers(0, k, size=(n_boot, k))]))
    for k, items in pending.items():
        for c0 in range(0, len(items), MF_BATCH):
            chunk = items[c0:c0 + MF_BATCH]
            boot = np.stack([it[3] for it in chunk])
            bsd = boot.std(axis=2, ddof=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                tb = boot.mean(axis=2) / (bsd / math.sqrt(k))
            tb = np.where(bsd > 0, tb, 0.0)
            for g, (j, t, mres, _) in enumerate(chunk):
                out[j] = {"stat": t, "p_value": float((1 + np.sum(tb[g] >= t)) / (1 + n_boot)),
                          "mean_residual": mres, "n_exceptions": k}
    return out


def cumulative_violations(pit, confidence: float) -> np.ndarray:
    """Du-Escanciano cumulative violations ``H_t = (alpha - u_t)/alpha * 1(u_t <= alpha)``.

    ``u_t = F_t(r_t)`` is the probability integral transform of the realised return under the
    forecast distribution. Under the null ``u_t`` i.i.d. U(0,1): ``E[H] = alpha/2``,
    ``Var[H] = alpha (1/3 - alpha/4)``.

    Parameters
    ----------
    pit : array (n,)
        ``u_t`` in [0, 1].
    confidence : float
        The level ``c`` (a fraction); ``alpha = 1 - c``.

    Returns
    -------
    numpy.ndarray
        ``H_t`` in [0, 1], shape (n,).
    """
    a = 1.0 - check_confidence(confidence)
    u = np.asarray(pit, dtype=float).ravel()
    if u.size == 0 or not np.isfinite(u).all() or (u < 0).any() or (u > 1).any():
        raise InputError("PIT values must be finite and in [0, 1]", where="cumulative_violations")
    return np.where(u <= a, (a - u) / a, 0.0)


def du_escanciano_unconditional(pit, confidence: float) -> dict:
    """Du-Escanciano (2017) unconditional ES backtest ``U_ES``.

    Parameters
    ----------
    pit : array (n,), ``u_t = F_t(r_t)``; confidence : float.

    Returns
    -------
    dict
        ``stat = sqrt(n) (mean(H) - alpha/2) / sqrt(alpha (1/3 - alpha/4))`` and its two-sided
        ``p_value`` from N(0, 1) (asymptotic); ``mean_h``. Positive values: losses beyond VaR
        larger or more frequent than forecast.

    Notes
    -----
    Du, Z. and Escanciano, J. C. (2017), "Backtesting expected shortfall: accounting for tail
    risk", Management Science 63(4), 940-958. Estimation risk is ignored (as MATLAB's
    ``esbacktestbyde`` asymptotic p-values).
    """
    a = 1.0 - check_confidence(confidence)
    h = cumulative_violations(pit, confidence)
    stat = float(math.sqrt(h.size) * (h.mean() - a / 2.0) / math.sqrt(a * (1.0 / 3.0 - a / 4.0)))
    return {"stat": stat, "p_value": float(2.0 * special.ndtr(-abs(stat))), "mean_h": float(h.mean())}


def du_escanciano_conditional(pit, confidence: float, lags: int = 1) -> dict:
    """Du-Escanciano (2017) conditional ES backtest ``C_ES(m)`` (Box-Pierce on ``H_t``).

    Parameters
    ----------
    pit : array (n,); confidence : float; lags : int, ``m`` autocorrelations.

    Returns
    -------
    dict
        ``stat = n sum_{j=1}^m rho_j^2`` with ``rho_j = gamma_j / gamma_0``,
        ``gamma_j = (1/(n-j)) sum_{t>j} (H_t - alpha/2)(H_{t-j} - alpha/2)``; ``p_value`` from
        chi-square(``m``) under the null of independent ``H_t`` (asymptotic). ``nan`` when
        ``gamma_0 = 0`` or ``n <= m``.

    Notes
    -----
    Du and Escanciano (2017), Management Science 63(4), 940-958.
    """
    a = 1.0 - check_confidence(confidence)
    h = cumulative_violations(pit, confidence) - a / 2.0
    n = h.size
    if n <= lags or lags < 1:
        return {"stat": math.nan, "p_value": math.nan, "lags": lags}
    g0 = float(h @ h / n)
    if g0 == 0:
        return {"stat": math.nan, "p_value": math.nan, "lags": lags}
    rho = np.array([h[j:] @ h[:-j] / (n - j) for j in range(1, lags + 1)]) / g0
    stat = float(n * np.sum(rho ** 2))
    return {"stat": stat, "p_value": float(special.chdtrc(lags, stat)), "lags": lags}
