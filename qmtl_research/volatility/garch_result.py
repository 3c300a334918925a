"""Per-fund GARCH(1,1) fit results, like arch's ``ARCHModelResult``: estimates, standard errors
(robust sandwich and inverse-Hessian), t-statistics, p-values, log-likelihood, flags and a
text ``summary()``.

Standard errors follow arch's ``compute_param_cov`` on the same objective (Gaussian
quasi-likelihood, backcast fixed at the estimation backcast), with analytic instead of
numerical derivatives:

* ``H = -(d^2 loglik / d theta^2) / n`` (the observed curvature per observation, analytic,
  :func:`~qmtl_research.volatility.garch_engine._derivatives_numpy`);
* classic (``cov_type="classic"`` in arch): ``H^-1 / n``;
* robust (arch's default, Bollerslev-Wooldridge): ``H^-1 S H^-1 / n`` with ``S`` the sample
  covariance (``numpy.cov``: demeaned, ``ddof = 1``, as arch) of the per-observation scores.

The optimiser works on returns divided by the fund's ``scale``; results are reported in the
series' units (``mu`` times ``scale``, ``omega`` times ``scale**2``; ``alpha``, ``beta`` are
scale-free), with the covariance transformed by the same diagonal Jacobian. With a zero mean
(``mean="Zero"``) ``mu`` is not a parameter: its row is absent. p-values are two-sided under
the normal approximation (as arch). Estimates on a bound of the parameter space (``alpha = 0``,
``beta = 0``, ``alpha + beta = 1``, ``omega`` at a bound) have no standard asymptotic law: their
standard errors are reported as computed (NaN where the curvature is not positive definite there),
and the result says which parameters are on a bound.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from qmtl_research.volatility.garch_engine import PARAM_NAMES, _Batch, _derivatives_numpy, _filtered


@dataclass(frozen=True)
class GarchFitResult:
    """One fund's GARCH(1,1) fit (in the series' units).

    Attributes
    ----------
    fund_id : str
        The fund (column of the returns panel).
    params : Series
        ``mu`` (return per week, fraction; absent for a zero mean), ``omega`` (squared weekly
        return), ``alpha``, ``beta`` (unitless).
    std_err : Series
        Robust (sandwich) standard errors, the default (as arch's ``cov_type="robust"``).
    std_err_classic : Series
        Inverse-Hessian standard errors (arch's ``cov_type="classic"``).
    tvalues, pvalues : Series
        ``params / std_err`` and the two-sided normal p-values, from the robust errors.
    param_cov, param_cov_classic : DataFrame
        The two covariance matrices of the estimates.
    loglik : float
        Gaussian log-likelihood of the scaled sample at the estimates (arch's ``loglikelihood``
        on returns divided by ``scale``; on the raw series it is ``loglik - n_obs * log(scale)``).
    n_obs : int
        Returns in the estimation sample.
    scale : float
        The divisor of the returns during estimation (std, ddof=1, of the first sample).
    n_iter : int
        Optimiser iterations of the kept start.
    converged : bool
        The optimiser converged.
    on_bound : tuple of str
        Parameters (or ``"alpha+beta"``) on a bound of the parameter space.
    flags : str
        The degenerate-fit flags of :func:`~qmtl_research.volatility.garch.diagnose` (``""``: none).
    tail_df : float
        Student-t degrees of freedom of the standardised residuals (``inf``: Gaussian).
    """

    fund_id: str
    params: pd.Series
    std_err: pd.Series
    std_err_classic: pd.Series
    param_cov: pd.DataFrame = field(repr=False)
    param_cov_classic: pd.DataFrame = field(repr=False)
    loglik: float
    n_obs: int
    scale: float
    n_iter: int
    converged: bool
    on_bound: tuple
    flags: str
    tail_df: float

    @property
    def tvalues(self) -> pd.Series:
        """``params / std_err`` (robust standard errors)."""
        return self.params / self.std_err

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of ``tvalues`` under the standard normal (as arch)."""
        return pd.Series(2.0 * stats.norm.sf(np.abs(self.tvalues.to_numpy())), index=self.params.index)

    @property
    def degenerate(self) -> bool:
        """True when :attr:`flags` is not empty."""
        return self.flags != ""

    def summary(self) -> str:
        """A readable text table of the fit, like arch's ``ARCHModelResult.summary()``.

        Returns
        -------
        str
            Header (fund, model, log-likelihood, observations, scale, convergence, flags) and one
            row per parameter: estimate, robust std. error, t, p-value, classic std. error.
        """
        mean = "Constant" if "mu" in self.params.index else "Zero"
        lines = [
            f"GARCH(1,1) fit: fund {self.fund_id}",
            "=" * 78,
            f"Mean model: {mean:<14} Distribution: Normal (quasi-likelihood)",
            f"Log-likelihood: {self.loglik:<12.4f} Observations: {self.n_obs:<8d} Scale: {self.scale:.6g}",
            f"Converged: {'yes' if self.converged else 'NO'} ({self.n_iter} iterations)   "
            f"On a bound: {', '.join(self.on_bound) or 'none'}",
            f"Flags: {self.flags or 'none'}",
            "-" * 78,
            f"{'':<8}{'coef':>13}{'std err':>13}{'t':>10}{'P>|t|':>10}{'std err (classic)':>20}",
        ]
        for name in self.params.index:
            lines.append(f"{name:<8}{self.params[name]:>13.4e}{self.std_err[name]:>13.4e}"
                         f"{self.tvalues[name]:>10.3f}{self.pvalues[name]:>10.4f}"
                         f"{self.std_err_classic[name]:>20.4e}")
        lines.append("=" * 78)
        lines.append("Standard errors: robust (Bollerslev-Wooldridge sandwich); classic = inverse Hessian. "
                     "Units: mu per week, omega squared weekly return.")
        return "\n".join(lines)


def observation_scores(b: _Batch, theta: np.ndarray) -> np.ndarray:
    """Per-observation scores of the Gaussian log-likelihood, analytic, backcast fixed.

    Parameters
    ----------
    b : _Batch
        The estimation batch (left-aligned scaled returns, mask, backcast).
    theta : ndarray, shape (N, 4)
        ``mu, omega, alpha, beta`` per column (scaled units).

    Returns
    -------
    ndarray, shape (L, N, 4)
        ``d l_t / d theta`` for every observation ``t`` (0 on masked rows), with
        ``d l_t = 0.5 (e_t^2 / h_t - 1) / h_t dh_t + e_t / h_t [mu]``.
    """
    _, _, alpha, beta = theta.T
    eps, eps2, h = _filtered(b, theta)
    n_rows, n_cols = eps.shape
    dh = np.empty((n_rows, n_cols, 4))
    dh[0] = np.column_stack([np.zeros(n_cols), np.ones(n_cols), b.backcast, b.backcast])
    for t in range(1, n_rows):
        forcing = np.column_stack([-2.0 * alpha * eps[t - 1], np.ones(n_cols), eps2[t - 1], h[t - 1]])
        dh[t] = beta[:, None] * dh[t - 1] + forcing
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_h = np.where(b.mask, 1.0 / h, 0.0)
        scores = (0.5 * (eps2 * inv_h - 1.0) * inv_h)[:, :, None] * dh
        scores[:, :, 0] += eps * inv_h
    return np.where(b.mask[:, :, None], scores, 0.0)


def param_covariances(b: _Batch, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust (sandwich) and classic (inverse-Hessian) covariances of the estimates, arch's way.

    Parameters
    ----------
    b : _Batch
        The estimation batch (scaled returns).
    theta : ndarray, shape (N, 4)
        The estimates (scaled units).

    Returns
    -------
    robust, classic : ndarray, shape (N, k, k)
        ``k = 4`` (``mu, omega, alpha, beta``), or 3 without ``mu`` for a zero-mean batch; in
        scaled units. NaN where the curvature is singular or not finite.
    """
    keep = slice(1, 4) if b.zero_mean else slice(0, 4)
    _, _, _, observed = _derivatives_numpy(b, theta)
    scores = observation_scores(b, theta)
    k = keep.stop - keep.start
    robust = np.full((len(theta), k, k), np.nan)
    classic = np.full((len(theta), k, k), np.nan)
    for j in range(len(theta)):
        n = int(b.lengths[j])
        hess = observed[j][keep, keep] / n
        if not np.isfinite(hess).all():
            continue
        try:
            inv_hess = np.linalg.inv(hess)
        except np.linalg.LinAlgError:
            continue
        s = scores[: n, j, keep]
        score_cov = np.cov(s.T)
        classic[j] = inv_hess / n
        robust[j] = inv_hess @ score_cov @ inv_hess / n
    return robust, classic


def _root(variances: np.ndarray) -> np.ndarray:
    """Standard errors from variances; NaN where a variance is negative (the curvature is not
    positive definite, e.g. at a bound) instead of a warning."""
    return np.sqrt(np.where(variances >= 0, variances, np.nan))


def build_result(fund_id: str, theta: np.ndarray, scale: float, robust: np.ndarray, classic: np.ndarray, *,
                 zero_mean: bool, loglik: float, n_obs: int, n_iter: int, converged: bool, flags: str,
                 tail_df: float) -> GarchFitResult:
    """A :class:`GarchFitResult` in the series' units from the scaled estimates and covariances.

    Parameters
    ----------
    fund_id : str
        The fund.
    theta : ndarray, shape (4,)
        ``mu, omega, alpha, beta`` for returns divided by ``scale``.
    scale : float
        The divisor of the returns (> 0).
    robust, classic : ndarray, shape (k, k)
        Covariances in scaled units (:func:`param_covariances`).
    zero_mean : bool
        ``mu`` fixed at 0 (not a parameter).
    loglik, n_obs, n_iter, converged, flags, tail_df
        The fit's diagnostics (see :class:`GarchFitResult`).

    Returns
    -------
    GarchFitResult
    """
    names = list(PARAM_NAMES[1:] if zero_mean else PARAM_NAMES)
    units = np.array([scale, scale ** 2, 1.0, 1.0])[4 - len(names):]
    values = np.asarray(theta, dtype=float)[4 - len(names):] * units
    jac = np.outer(units, units)
    cov_r = pd.DataFrame(robust * jac, index=names, columns=names)
    cov_c = pd.DataFrame(classic * jac, index=names, columns=names)
    bound = tuple(part.split(" on ")[0] for part in flags.split("; ") if " on " in part)
    return GarchFitResult(
        fund_id=fund_id, params=pd.Series(values, index=names),
        std_err=pd.Series(_root(np.diag(cov_r.to_numpy())), index=names),
        std_err_classic=pd.Series(_root(np.diag(cov_c.to_numpy())), index=names),
        param_cov=cov_r, param_cov_classic=cov_c, loglik=float(loglik), n_obs=int(n_obs), scale=float(scale),
        n_iter=int(n_iter), converged=bool(converged), on_bound=bound, flags=flags, tail_df=float(tail_df))
