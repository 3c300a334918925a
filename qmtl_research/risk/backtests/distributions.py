"""Predictive distributions of one-period returns, one per forecast (row ``t``).

The ES backtests need more than the VaR and ES numbers: the probability integral transform
``u_t = F_t(r_t)`` (Du-Escanciano) and draws from ``F_t`` (Acerbi-Szekely p-values). Two
families cover the project's models and a user's files:

* :class:`LocationScale` - ``r_t = mu_t + sigma_t z`` with ``z`` standard normal or a
  Student-t scaled to unit variance (GARCH with its innovation law, EWMA, and the
  distribution implied by a user's VaR and ES, :meth:`LocationScale.from_var_es`);
* :class:`Empirical` - equally weighted scenarios per row (historical simulation, filtered
  historical simulation), ragged rows padded with NaN.

Sign conventions: returns are fractions (0.01 = +1 %); VaR and ES are positive losses;
``confidence`` ``c`` is the VaR level, ``alpha = 1 - c`` the tail probability.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from qmtl_research.errors import InputError
from qmtl_research.risk.input_checks import check_confidence


def _std_t_factor(dof: np.ndarray) -> np.ndarray:
    return np.sqrt((dof - 2.0) / dof)


@dataclass(frozen=True)
class LocationScale:
    """``r_t = mu_t + sigma_t z_t``; ``z`` standard normal (``dof = inf``) or unit-variance Student-t.

    Parameters
    ----------
    mu, sigma : arrays (n,), return units (fractions); ``sigma > 0``.
    dof : array (n,) or scalar; ``inf`` for the normal, ``> 2`` for Student-t.
    """

    mu: np.ndarray
    sigma: np.ndarray
    dof: np.ndarray

    def __post_init__(self):
        mu = np.asarray(self.mu, dtype=float).ravel()
        sigma = np.asarray(self.sigma, dtype=float).ravel()
        dof = np.broadcast_to(np.asarray(self.dof, dtype=float), mu.shape).copy()
        if sigma.shape != mu.shape:
            raise InputError(f"mu has {mu.size} values, sigma {sigma.size}", where="LocationScale")
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all() and (sigma > 0).all()):
            raise InputError("mu and sigma must be finite, sigma > 0", where="LocationScale")
        if not (dof > 2).all():
            raise InputError("Student-t degrees of freedom must exceed 2 (unit variance)", where="LocationScale")
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "dof", dof)

    @property
    def n(self) -> int:
        """Number of rows (forecasts)."""
        return self.mu.size

    def _zppf(self, u, dof):
        normal = ~np.isfinite(dof)
        if normal.all():                 # all normal: no masked copies (the same numbers)
            return special.ndtri(u)
        out = np.empty(np.shape(u))
        out[normal] = special.ndtri(u[normal])
        t = ~normal
        if t.any():
            out[t] = special.stdtrit(dof[t], u[t]) * _std_t_factor(dof[t])
        return out

    def ppf_at(self, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Quantile of the return at probability ``u`` of rows ``rows`` (element-wise).

        Parameters
        ----------
        rows : array of int
            Row (forecast) indices.
        u : array of float
            Probabilities in (0, 1), same shape as ``rows``.

        Returns
        -------
        numpy.ndarray
            Return quantiles (fractions; a low ``u`` gives a negative return, i.e. a loss).
        """
        rows = np.asarray(rows)
        u = np.asarray(u, dtype=float)
        return self.mu[rows] + self.sigma[rows] * self._zppf(u, self.dof[rows])

    def cdf(self, x) -> np.ndarray:
        """``F_t(x_t)`` for every row.

        Parameters
        ----------
        x : array (n,)
            One return per row (fractions).

        Returns
        -------
        numpy.ndarray
            Probabilities in [0, 1], shape (n,).
        """
        z = (np.asarray(x, dtype=float) - self.mu) / self.sigma
        normal = ~np.isfinite(self.dof)
        out = np.empty(self.n)
        out[normal] = special.ndtr(z[normal])
        t = ~normal
        if t.any():
            out[t] = special.stdtr(self.dof[t], z[t] / _std_t_factor(self.dof[t]))
        return out

    def var_es(self, confidence: float) -> tuple[np.ndarray, np.ndarray]:
        """VaR and ES (positive losses) at ``confidence``, closed form.

        Normal: ``VaR = -mu + sigma q``, ``ES = -mu + sigma phi(q) / alpha`` with ``q = Phi^-1(c)``;
        unit-variance t: ``ES = -mu + sigma s f_nu(q) (nu + q^2) / ((nu - 1) alpha)``,
        ``q = t_nu^-1(c)``, ``s = sqrt((nu - 2)/nu)``.

        Parameters
        ----------
        confidence : float
            The level ``c``, a fraction (0.975).

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            VaR and ES per row, positive losses in return units (fractions).
        """
        c = check_confidence(confidence)
        a = 1.0 - c
        zq = np.empty(self.n)
        ze = np.empty(self.n)
        normal = ~np.isfinite(self.dof)
        q = stats.norm.ppf(c)
        zq[normal], ze[normal] = q, stats.norm.pdf(q) / a
        t = ~normal
        if t.any():
            nu = self.dof[t]
            qt = stats.t.ppf(c, nu)
            s = _std_t_factor(nu)
            zq[t] = qt * s
            ze[t] = s * stats.t.pdf(qt, nu) * (nu + qt ** 2) / ((nu - 1.0) * a)
        return -self.mu + self.sigma * zq, -self.mu + self.sigma * ze

    @classmethod
    def from_var_es(cls, var, es, confidence: float, dof: float = math.inf) -> "LocationScale":
        """The location-scale distribution whose VaR and ES at ``confidence`` are ``var`` and ``es``.

        ``sigma = (ES - VaR) / (e - q)``, ``mu = sigma q - VaR`` with ``q``, ``e`` the standard
        VaR and ES of ``z`` (normal, or unit-variance t with ``dof``). Needs ``ES > VaR``.

        Parameters
        ----------
        var, es : array (n,)
            VaR and ES forecasts, positive losses (fractions).
        confidence : float
            Their level ``c``, a fraction.
        dof : float
            ``inf`` for a normal ``z``, else the Student-t degrees of freedom (> 2).

        Returns
        -------
        LocationScale
        """
        c = check_confidence(confidence)
        var = np.asarray(var, dtype=float)
        es = np.asarray(es, dtype=float)
        unit = cls(np.zeros(1), np.ones(1), dof)
        q, e = (float(v[0]) for v in unit.var_es(c))
        if not (es > var).all():
            i = int(np.argmax(~(es > var)))
            raise InputError(f"ES {es[i]!r} is not above VaR {var[i]!r} at row {i}", where="from_var_es",
                             fix="ES must exceed VaR at the same level for a continuous distribution")
        sigma = (es - var) / (e - q)
        return cls(sigma * q - var, sigma, dof)


@dataclass(frozen=True)
class Empirical:
    """Equally weighted return scenarios per row: ``scenarios`` (n, k), NaN = no scenario.

    The distribution of row ``t`` puts mass ``1/m_t`` on each of its ``m_t`` scenarios. With
    ``counts`` given, ``scenarios`` hold only the *smallest* ``k_t <= m_t`` of the ``m_t``
    scenarios (the lower tail, all a backtest needs: a panel of thousands of funds then fits in
    memory); quantiles and ``cdf`` beyond the stored tail are refused / NaN.

    Parameters
    ----------
    scenarios : array (n, k)
        Return scenarios (fractions) per row; NaN pads short rows. Stored sorted.
    counts : array (n,) of int or None
        ``m_t``, the number of scenarios each row stands for; ``None`` = the finite ones stored.
    """

    scenarios: np.ndarray
    counts: np.ndarray | None = None

    def __post_init__(self):
        s = np.asarray(self.scenarios, dtype=float)
        if s.ndim != 2:
            raise InputError(f"scenarios must be 2-d (forecasts x scenarios), got {s.shape}", where="Empirical")
        s = np.sort(s, axis=1)                        # NaN last
        stored = np.isfinite(s).sum(axis=1)
        if (stored == 0).any():
            raise InputError(f"row {int(np.argmax(stored == 0))} has no scenario", where="Empirical")
        counts = stored if self.counts is None else np.asarray(self.counts, dtype=np.int64).ravel()
        if counts.shape != stored.shape or (counts < stored).any():
            raise InputError("counts must cover the stored scenarios of every row", where="Empirical")
        object.__setattr__(self, "scenarios", s)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "stored", stored)

    def _index(self, rows, u) -> np.ndarray:
        k = np.clip(np.ceil(np.asarray(u) * self.counts[rows] - 1e-9).astype(np.int64), 1, self.counts[rows])
        if (k > self.stored[rows]).any():
            raise InputError("quantile beyond the stored tail of the scenarios", where="Empirical",
                             fix="store more of the lower tail (a larger k)")
        return k - 1

    @property
    def n(self) -> int:
        """Number of rows (forecasts)."""
        return self.scenarios.shape[0]

    def ppf_at(self, rows, u) -> np.ndarray:
        """Inverted-cdf quantile: the ``ceil(u m_t)``-th smallest scenario of row ``t``.

        Parameters
        ----------
        rows : array of int
            Row (forecast) indices.
        u : array of float
            Probabilities in (0, 1], same shape as ``rows``.

        Returns
        -------
        numpy.ndarray
            Return quantiles (fractions).
        """
        rows = np.asarray(rows)
        return self.scenarios[rows, self._index(rows, u)]

    def cdf(self, x) -> np.ndarray:
        """``F_t(x_t)`` = share of row ``t``'s scenarios at or below ``x_t`` (NaN where ``x_t`` lies
        beyond a stored tail).

        Parameters
        ----------
        x : array (n,)
            One return per row (fractions).

        Returns
        -------
        numpy.ndarray
            Probabilities in [0, 1] (or NaN), shape (n,).
        """
        x = np.asarray(x, dtype=float)
        below = (self.scenarios <= x[:, None]).sum(axis=1)
        out = below / self.counts
        return np.where((below == self.stored) & (self.stored < self.counts), np.nan, out)

    def var_es(self, confidence: float) -> tuple[np.ndarray, np.ndarray]:
        """VaR and ES of each row's empirical distribution (positive losses).

        VaR ``= -x_(k)`` with ``k = ceil(alpha m)`` (the inverted-cdf quantile, Basel's k-th worst);
        ES is the exact tail mean of the discrete law (Acerbi and Tasche 2002):
        ``ES = -[sum_{i<k} x_(i) + (alpha m - (k - 1)) x_(k)] / (alpha m)``.

        Parameters
        ----------
        confidence : float
            The level ``c``, a fraction (0.975).

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            VaR and ES per row, positive losses in return units (fractions).
        """
        a = 1.0 - check_confidence(confidence)
        m = self.counts
        am = a * m
        rows = np.arange(self.n)
        k = self._index(rows, np.full(self.n, a)) + 1
        xk = self.scenarios[rows, k - 1]
        csum = np.nancumsum(self.scenarios, axis=1)
        head = np.where(k > 1, csum[rows, np.maximum(k - 2, 0)], 0.0)
        es = -(head + (am - (k - 1)) * xk) / am
        return -xk, es
