"""Diagnostics of learned field models: equivariance error (Fig. 3.12) and effective receptive field (Fig. 3.13).

Both act on an ML calculator (:mod:`latticeml.calculators.ml`) that predicts a spin field: the ResNet CNN (not
equivariant by construction, only through augmentation) or a BP model (equivariant under spin rotations by
construction; a useful control).
"""
from __future__ import annotations

import numpy as np

from .augment import random_rotations

__all__ = ["equivariance_errors", "equivariance_report", "effective_receptive_field", "plot_equivariance",
           "plot_receptive_field"]


def _predict(calc, fields: np.ndarray) -> np.ndarray:
    """Predicted fields (B, N, 3) of a batch of spin configurations (batched where the calculator can)."""
    if not hasattr(calc, "compute_batch"):  # exact calculators: one configuration at a time
        return np.stack([calc.forces(f) for f in fields])
    out = calc.compute_batch(fields)
    return out["forces"] if isinstance(out, dict) else out


def _perp(h, s):
    return h - np.sum(h * s, axis=-1, keepdims=True) * s


def equivariance_errors(calc, spins: np.ndarray, rng: np.random.Generator, *, point_group: bool = True,
                        spin_rotation: bool = True) -> np.ndarray:
    """err = f(g·R·S) - g·R·f(S) for one random (g, R) per configuration; components (B, N, 3).

    ``g`` is a random operation of the lattice point group (a site permutation), ``R`` a Haar-random rotation.
    Fields are compared through their torque-relevant parts H_⊥ (what LLG uses). ``calc`` is any spin calculator
    with a ``lattice`` attribute (an exact one gives zero up to round-off: a check of the transformations).
    """
    lattice = calc.lattice
    spins = np.asarray(spins, dtype=float).reshape(-1, lattice.N, 3)
    B = len(spins)
    ops = lattice.point_group if point_group else []
    gathers = [np.argsort(lattice.site_permutation(op)) for op in ops] or [np.arange(lattice.N)]
    R = random_rotations(B, rng) if spin_rotation else np.broadcast_to(np.eye(3), (B, 3, 3))
    g = rng.integers(len(gathers), size=B)
    transformed = np.stack([spins[b][gathers[g[b]]] @ R[b].T for b in range(B)])
    f_s = _perp(_predict(calc, spins), spins)
    f_ts = _perp(_predict(calc, transformed), transformed)
    moved = np.stack([f_s[b][gathers[g[b]]] @ R[b].T for b in range(B)])
    return f_ts - moved


def equivariance_report(calc, spins: np.ndarray, exact_fields: np.ndarray, rng: np.random.Generator) -> dict:
    """Equivariance error beside the prediction error on the same configurations (the comparison of Fig. 3.12).

    ``exact_fields`` are the true fields of ``spins`` (B, N, 3). Returns RMS values per component and their ratio
    plus the raw component arrays (for a histogram, :func:`plot_equivariance`).
    """
    spins = np.asarray(spins, dtype=float).reshape(-1, calc.lattice.N, 3)
    eq = equivariance_errors(calc, spins, rng)
    pred = _perp(_predict(calc, spins), spins) - _perp(np.asarray(exact_fields).reshape(spins.shape), spins)
    eq_rms, pred_rms = float(np.sqrt(np.mean(eq ** 2))), float(np.sqrt(np.mean(pred ** 2)))
    return {"equivariance_rms": eq_rms, "prediction_rms": pred_rms, "ratio": eq_rms / max(pred_rms, 1e-300),
            "equivariance_errors": eq.ravel(), "prediction_errors": pred.ravel()}


def plot_equivariance(report: dict, path) -> None:
    """Histograms of equivariance and prediction error components (Fig. 3.12), written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    both = np.concatenate([report["equivariance_errors"], report["prediction_errors"]])
    bins = np.linspace(np.quantile(both, 0.001), np.quantile(both, 0.999), 80)
    ax.hist(report["prediction_errors"], bins=bins, alpha=0.6, density=True, label="prediction error")
    ax.hist(report["equivariance_errors"], bins=bins, alpha=0.6, density=True, label="equivariance error")
    ax.set_yscale("log")
    ax.set_xlabel("error component")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def effective_receptive_field(calc, spins: np.ndarray, center: int = 0) -> dict:
    """Effective receptive field E(j) = ⟨Σ_{a,b} |∂ŷ^a_{center} / ∂S^b_j|⟩ over ``spins`` (B, N, 3).

    Following Luo et al. (2017), as in Fig. 3.13.

    Returns ``{"erf": (N,), "distance": (N,) minimum-image distance of each site from the centre,
    "radius_95", "radius_99"}``: the smallest radii holding 95% and 99% of Σ_j E(j).
    """
    torch = calc._torch
    lattice = calc.lattice
    spins = np.asarray(spins, dtype=float).reshape(-1, lattice.N, 3)
    erf = np.zeros(lattice.N)
    for s in spins:
        x = calc._tensor(s[None]).requires_grad_(True)
        y = calc.field_tensor(x)[0, center]
        for a in range(3):
            (grad,) = torch.autograd.grad(y[a], x, retain_graph=a < 2)
            erf += grad[0].abs().sum(-1).double().cpu().numpy()
    erf /= len(spins)
    dist = lattice.distance(center, np.arange(lattice.N))
    order = np.argsort(dist, kind="stable")
    cum = np.cumsum(erf[order]) / max(erf.sum(), 1e-300)

    def radius(q):
        return float(dist[order][min(np.searchsorted(cum, q), len(cum) - 1)])

    return {"erf": erf, "distance": dist, "radius_95": radius(0.95), "radius_99": radius(0.99)}


def plot_receptive_field(erf: dict, lattice, path, center: int = 0) -> None:
    """E(j) in real space around ``center`` (Fig. 3.13), log colour scale, with the 95% / 99% radii, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    r = lattice.minimum_image(lattice.positions - lattice.positions[center])
    values = erf["erf"]
    positive = values > 0
    fig, ax = plt.subplots(figsize=(4.5, 4))
    sc = ax.scatter(r[positive, 0], r[positive, 1], c=values[positive], s=12, cmap="viridis",
                    norm=LogNorm(vmin=values[positive].min(), vmax=values.max()))
    for q in ("95", "99"):
        ax.add_patch(plt.Circle((0, 0), erf[f"radius_{q}"], fill=False, ls="--", lw=0.8, label=f"{q}%"))
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(loc="upper right", fontsize=7)
    fig.colorbar(sc, ax=ax, label="E(j)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
