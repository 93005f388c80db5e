"""Growth-law fits for coarsening lengths: power laws, log-log slopes, logarithmic growth, straight lines.

Every fit works on a documented time window and returns a :class:`Fit` with parameter values, one-sigma
uncertainties (from the covariance of the least-squares problem, scaled by the residual variance when no
``sigma`` is given) and the window actually used, so a reported exponent always says where it was measured.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import LatticeMLError

__all__ = ["Fit", "fit_power_law", "fit_loglog", "fit_log", "fit_linear"]


@dataclass
class Fit:
    """Result of a growth fit.

    params / errors: parameter name -> value / one-sigma uncertainty; ``window`` = (x_min, x_max) actually used;
    ``n_points`` in the window; ``rms`` = root-mean-square residual in the fitted quantity; ``model`` = formula.
    """

    model: str
    params: dict[str, float]
    errors: dict[str, float]
    window: tuple[float, float]
    n_points: int
    rms: float
    extras: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return self.params[name]


def _window(x, y, sigma, window, positive_x=False):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    s = None if sigma is None else np.broadcast_to(np.asarray(sigma, dtype=float), x.shape)
    lo, hi = (-np.inf, np.inf) if window is None else window
    keep = (x >= lo) & (x <= hi) & np.isfinite(y)
    if positive_x:
        keep &= x > 0
    if s is not None:
        keep &= s > 0
    return x[keep], y[keep], (None if s is None else s[keep])


def _weighted_lstsq(A, b, sigma):
    """Least squares A p ≈ b; returns p, covariance, residuals (covariance scaled by χ²/dof without sigma)."""
    w = np.ones(len(b)) if sigma is None else 1.0 / sigma
    Aw, bw = A * w[:, None], b * w
    p, *_ = np.linalg.lstsq(Aw, bw, rcond=None)
    resid = b - A @ p
    cov = np.linalg.pinv(Aw.T @ Aw)
    dof = len(b) - A.shape[1]
    if sigma is None:
        cov = cov * (resid @ resid / dof if dof > 0 else np.nan)
    return p, cov, resid


def _need(n, k, what):
    if n < k:
        raise LatticeMLError(f"{what}: only {n} usable points in the fit window; need at least {k} "
                             "(widen the window)")


def fit_linear(x, y, *, sigma=None, window=None) -> Fit:
    """Straight line y = a + b x (e.g. ΔV_AB against φ); ``extras['r']`` is Pearson's correlation coefficient."""
    x, y, s = _window(x, y, sigma, window)
    _need(len(x), 3, "fit_linear")
    p, cov, resid = _weighted_lstsq(np.stack([np.ones_like(x), x], axis=1), y, s)
    err = np.sqrt(np.diag(cov))
    return Fit("a + b*x", {"a": p[0], "b": p[1]}, {"a": err[0], "b": err[1]}, (x.min(), x.max()), len(x),
               float(np.sqrt(np.mean(resid**2))), {"r": float(np.corrcoef(x, y)[0, 1])})


def fit_loglog(x, y, *, sigma=None, window=None) -> Fit:
    """Power law y = c x^slope by a straight line in log-log (``sigma`` = absolute errors of y).

    Points with x ≤ 0 or y ≤ 0 are dropped. Params: ``slope`` and ``log_c`` (natural log of the prefactor).
    """
    x, y, s = _window(x, y, sigma, window, positive_x=True)
    keep = y > 0
    x, y = x[keep], y[keep]
    s = None if s is None else s[keep] / y  # error of ln y
    _need(len(x), 3, "fit_loglog")
    p, cov, resid = _weighted_lstsq(np.stack([np.ones_like(x), np.log(x)], axis=1), np.log(y), s)
    err = np.sqrt(np.diag(cov))
    return Fit("exp(log_c) * x**slope", {"log_c": p[0], "slope": p[1]}, {"log_c": err[0], "slope": err[1]},
               (x.min(), x.max()), len(x), float(np.sqrt(np.mean(resid**2))))


def fit_log(t, y, *, sigma=None, window=None) -> Fit:
    """Logarithmic growth y = a + b ln t (arrested coarsening, T8)."""
    t, y, s = _window(t, y, sigma, window, positive_x=True)
    _need(len(t), 3, "fit_log")
    p, cov, resid = _weighted_lstsq(np.stack([np.ones_like(t), np.log(t)], axis=1), y, s)
    err = np.sqrt(np.diag(cov))
    return Fit("a + b*ln(t)", {"a": p[0], "b": p[1]}, {"a": err[0], "b": err[1]}, (t.min(), t.max()), len(t),
               float(np.sqrt(np.mean(resid**2))))


def fit_power_law(t, y, *, sigma=None, window=None, l0: float | None = None) -> Fit:
    """Growth law y = ℓ0 + A t^α on a window (Fig 2.6 inset: ℓ = ⟨s⟩^{1/2}).

    With ``l0`` given (e.g. ℓ at t = 0) only A and α are fitted, as a straight line of ln(y − ℓ0) against
    ln t; otherwise ℓ0, A and α are all free (nonlinear least squares started from the log-log fit with
    ℓ0 = 0.9·min y). Params: ``l0``, ``A``, ``alpha`` (``l0`` has zero error when fixed).
    """
    from scipy.optimize import curve_fit

    if l0 is not None:
        t_w, y_w, s_w = _window(t, y, sigma, window, positive_x=True)
        ll = fit_loglog(t_w, y_w - l0, sigma=s_w)
        A = float(np.exp(ll["log_c"]))
        return Fit("l0 + A*t**alpha", {"l0": float(l0), "A": A, "alpha": ll["slope"]},
                   {"l0": 0.0, "A": A * ll.errors["log_c"], "alpha": ll.errors["slope"]}, ll.window,
                   ll.n_points, float(np.sqrt(np.mean((y_w - l0 - A * t_w ** ll["slope"]) ** 2))))
    t, y, s = _window(t, y, sigma, window, positive_x=True)
    _need(len(t), 4, "fit_power_law")
    start_l0 = 0.9 * float(np.min(y))
    try:
        guess = fit_loglog(t, y - start_l0)
        p0 = (start_l0, float(np.exp(guess["log_c"])), guess["slope"])
    except LatticeMLError:
        p0 = (start_l0, 1.0, 0.5)

    def model(tt, l0_, A_, alpha_):
        return l0_ + A_ * tt**alpha_

    p, cov = curve_fit(model, t, y, p0=p0, sigma=s, absolute_sigma=s is not None, maxfev=20000)
    err = np.sqrt(np.diag(cov))
    resid = y - model(t, *p)
    return Fit("l0 + A*t**alpha", dict(zip(("l0", "A", "alpha"), map(float, p))),
               dict(zip(("l0", "A", "alpha"), map(float, err))), (t.min(), t.max()), len(t),
               float(np.sqrt(np.mean(resid**2))))
