"""The shared projected Newton iteration (volatility.projected_newton) on a problem with a closed
form: maximise -0.5 ||x - t||^2 subject to x >= 0, whose optimum is max(t, 0) (columns independent)."""
import numpy as np

from qmtl_research.volatility.projected_newton import newton_iteration, projected_direction


def _loglik(x, t):
    return -0.5 * ((x - t) ** 2).sum(axis=1)


def test_reaches_the_box_constrained_optimum_and_reports_convergence():
    rng = np.random.default_rng(4)
    t = rng.normal(size=(50, 3))
    t[0] = [-1.0, -2.0, -3.0]                  # every constraint binds
    t[1] = [1.0, 2.0, 3.0]                     # none binds
    A = np.eye(3)
    x = np.full((50, 3), 5.0)
    converged = np.zeros(50, bool)
    for _ in range(20):
        idx = np.flatnonzero(~converged)
        if not len(idx):
            break
        xi, ti = x[idx], t[idx]
        g = -(xi - ti)
        eye = np.broadcast_to(np.eye(3), (len(idx), 3, 3))

        def trial(todo, cand, ti=ti):
            p = np.maximum(cand, 0.0)
            return p, _loglik(p, ti[todo])

        new, value, done = newton_iteration(
            xi, _loglik(xi, ti), g, xi @ A.T, np.full((len(idx), 3), 1e-9), A,
            lambda active, g=g, eye=eye: projected_direction(A, active, g, eye, eye), trial,
            tol=1e-12, score_tol=1e-14, armijo=1e-4, max_halvings=40)
        x[idx], converged[idx] = new, done
    assert converged.all()
    np.testing.assert_allclose(x, np.maximum(t, 0.0), atol=1e-12)
    assert (x >= 0).all()


def test_direction_holds_active_constraints_and_an_extra_row():
    A = np.eye(3)
    g = np.array([[-1.0, 2.0, 3.0]])
    eye = np.eye(3)[None]
    d, stat = projected_direction(A, np.array([[True, False, False]]), g, eye, eye)
    np.testing.assert_allclose(d, [[0.0, 2.0, 3.0]])           # x0 held at its bound
    assert stat[0] == 13.0                                   # g' I^-1 g on the free parameters
    d, _ = projected_direction(A, np.array([[False, False, False]]), g, eye, eye, extra_row=np.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(d, [[-1.0, 0.0, 3.0]])          # the extra row holds x1
