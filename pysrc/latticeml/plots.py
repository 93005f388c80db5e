"""Figures of the reproduction targets, drawn with matplotlib's non-interactive Agg backend.

Every function returns the matplotlib ``Figure`` and, when ``path`` is given, also writes it there as PNG (and
closes it). matplotlib is imported inside the functions (through :func:`_pyplot`), so importing this module
costs nothing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_fk_snapshot", "plot_growth", "plot_structure_factor_collapse", "plot_correlation",
           "plot_spin_texture", "plot_structure_factor", "draw_spin_arrows"]


def _pyplot():
    """matplotlib.pyplot on the Agg backend (figures are only written to files)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        _pyplot().close(fig)
    return fig

def _label_and_finish(fig, ax, xlabel: str, ylabel: str, title: str | None, path, *, legend: bool = True):
    """Axis labels, optional title and (for curve plots) the legend, then :func:`_finish`."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(fontsize=8)
    return _finish(fig, path)



def plot_fk_snapshot(lattice, occ, *, sigma=None, title: str | None = None, path=None):
    """Snapshot of an FK configuration (Fig 2.7): f-electrons coloured by sublattice, and the Ising field σ.

    Parameters
    ----------
    lattice : square lattice
    occ : (N,) 0/1 f-occupations
    sigma : (N,) Ising field; computed with :func:`latticeml.analysis.fk.ising_field` when omitted
    title : figure title (e.g. the time)
    path : PNG file to write
    """
    from .analysis.fk import ising_field, sublattice_sign

    plt = _pyplot()
    from matplotlib.colors import ListedColormap

    if sigma is None:
        sigma = ising_field(lattice, occ)
    # 0 empty, 1 f on A, 2 f on B
    kind = np.where(np.asarray(occ) != 0, np.where(sublattice_sign(lattice) > 0, 1, 2), 0)
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 4.2))
    axes[0].imshow(lattice.to_image(kind).T, origin="lower", interpolation="nearest",
                   cmap=ListedColormap(["white", "tab:red", "tab:blue"]), vmin=0, vmax=2)
    axes[0].set_title("f-electrons (red: A, blue: B)")
    axes[1].imshow(lattice.to_image(np.asarray(sigma)).T, origin="lower", interpolation="nearest",
                   cmap=ListedColormap(["tab:blue", "tab:red"]), vmin=-1, vmax=1)
    axes[1].set_title("Ising field σ (red: +1, blue: −1)")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_growth(curves: dict, *, fits: dict | None = None, xlabel: str = "t (MCS)", ylabel: str = "length",
                loglog: bool = True, title: str | None = None, path=None):
    """Growth curves (Figs 2.5a,b, 2.6a, 2.8b) with optional fitted laws.

    Parameters
    ----------
    curves : label -> (t, y) or (t, y, yerr)
    fits : label -> (t, y_fit, legend text), drawn dashed
    loglog : logarithmic axes (points with t ≤ 0 are not shown there)
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    for label, data in curves.items():
        t, y = np.asarray(data[0], float), np.asarray(data[1], float)
        err = np.asarray(data[2], float) if len(data) > 2 and data[2] is not None else None
        keep = t > 0 if loglog else np.ones_like(t, bool)
        if err is None:
            ax.plot(t[keep], y[keep], "o-", ms=3, label=label)
        else:
            ax.errorbar(t[keep], y[keep], yerr=err[keep], fmt="o-", ms=3, capsize=2, label=label)
    for label, (t, y, text) in (fits or {}).items():
        ax.plot(t, y, "k--", lw=1, label=text or label)
    if loglog and any(line.get_xdata().size for line in ax.get_lines()):  # nothing with t > 0: keep linear axes
        ax.set_xscale("log")
        ax.set_yscale("log")
    return _label_and_finish(fig, ax, xlabel, ylabel, title, path)


def plot_structure_factor_collapse(curves: dict, *, porod_slope: float | None = -3.0, porod_anchor=None,
                                   title: str | None = None, path=None):
    """Scaling collapse S/L(t)² against |k|L(t) (Fig 2.8a) with a Porod-law guide.

    Parameters
    ----------
    curves : label (e.g. "t = 100") -> (|k| L(t), S / L(t)²), from
        :func:`latticeml.analysis.fk.collapse_coordinates`; zero-|k| points are dropped on the log axes
    porod_slope : slope of the dashed guide line (None: no guide)
    porod_anchor : (x, y) point the guide passes through; default the largest-x point of the first curve
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    anchor = porod_anchor
    for label, (x, y) in curves.items():
        x, y = np.asarray(x, float), np.asarray(y, float)
        keep = (x > 0) & (y > 0)
        ax.plot(x[keep], y[keep], "o", ms=3, label=label)
        if anchor is None and keep.any():
            anchor = (x[keep][-1], y[keep][-1])
    if porod_slope is not None and anchor is not None:
        xs = np.geomspace(anchor[0] / 10, anchor[0], 20)
        ax.plot(xs, anchor[1] * (xs / anchor[0]) ** porod_slope, "k--", lw=1, label=f"$k^{{{porod_slope:g}}}$")
    if anchor is not None:  # some point with |k| > 0 and S > 0 to put on log axes
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("|k| L(t)")
    ax.set_ylabel("S(k, t) / L(t)²")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    return _finish(fig, path)


def plot_correlation(curves: dict, *, xlabel: str = "r", ylabel: str = "C(r)", title: str | None = None,
                     path=None):
    """Correlation functions C(r) (Figs 2.5c,d).

    Parameters
    ----------
    curves : label -> C (r = 0, 1, …) or (r, C) or (r, C, err)
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    for label, data in curves.items():
        if isinstance(data, tuple):
            r, c = np.asarray(data[0]), np.asarray(data[1])
            err = data[2] if len(data) > 2 else None
        else:
            c = np.asarray(data)
            r, err = np.arange(len(c)), None
        ax.errorbar(r, c, yerr=err, fmt="o-", ms=3, capsize=2, label=label)
    ax.axhline(0.0, color="0.6", lw=0.8)
    return _label_and_finish(fig, ax, xlabel, ylabel, title, path)


# ---------------------------------------------------------------------------------------------- spin textures (ch. 3)
def plot_spin_texture(lattice, spins, *, path=None, title: str | None = None, arrows: bool = True,
                      arrow_stride: int = 1):
    """Spin snapshot on the triangular lattice: sites coloured by S_z (coolwarm, [-1, 1]) with in-plane arrows.

    ``arrow_stride`` thins the arrows on large lattices (every k-th cell along n1 and n2).
    """
    plt = _pyplot()
    spins = np.asarray(spins, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 5))
    pos = lattice.positions
    sc = ax.scatter(pos[:, 0], pos[:, 1], c=spins[:, 2], cmap="coolwarm", vmin=-1, vmax=1,
                    s=max(2.0, 20000.0 / lattice.N), marker="h", linewidths=0)
    if arrows:
        draw_spin_arrows(ax, lattice, spins, arrow_stride)
    fig.colorbar(sc, ax=ax, label="$S_z$", shrink=0.8)
    ax.set_aspect("equal")
    return _label_and_finish(fig, ax, "x", "y", title, path, legend=False)


def draw_spin_arrows(ax, lattice, spins, stride: int = 1, width: float = 0.002) -> None:
    """The in-plane components (S_x, S_y) as black arrows centred on every ``stride``-th cell along n1 and n2,
    scaled so that a unit in-plane spin spans 1/1.6 of the arrow spacing (shared by the run snapshots)."""
    pos = lattice.positions
    keep = np.all(lattice.cells % stride == 0, axis=1)
    ax.quiver(pos[keep, 0], pos[keep, 1], spins[keep, 0], spins[keep, 1], angles="xy", scale_units="xy",
              scale=1.6 / stride, width=width, color="k", pivot="mid")


def plot_structure_factor(lattice, sq, *, path=None, title: str | None = None, log: bool = False,
                          mark_peaks: bool = True):
    """S(q) map in the first Brillouin zone (grid momenta folded into it), with the BZ hexagon and the six ±Q_η."""
    from matplotlib.colors import LogNorm

    from .analysis.spin import bz_hexagon, bz_momenta, peak_momenta

    plt = _pyplot()
    q = bz_momenta(lattice).reshape(-1, 2)
    vals = np.asarray(sq, dtype=float).ravel()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    log = log and vals.max() > 0  # an all-zero S(q) has no log scale
    norm = LogNorm(vmin=max(vals.max() * 1e-4, 1e-12), vmax=vals.max()) if log else None
    sc = ax.scatter(q[:, 0], q[:, 1], c=np.maximum(vals, 1e-12) if log else vals, cmap="magma", norm=norm,
                    s=max(4.0, 30000.0 / lattice.N), marker="h", linewidths=0)
    hexagon = bz_hexagon()
    ax.plot(hexagon[:, 0], hexagon[:, 1], color="w", lw=0.8)
    if mark_peaks:
        p = peak_momenta()
        ax.scatter(p[:, 0], p[:, 1], facecolors="none", edgecolors="c", s=60, linewidths=0.8)
    fig.colorbar(sc, ax=ax, label="$S(\\mathbf{q})$", shrink=0.8)
    ax.set_aspect("equal")
    ax.set_facecolor("k")
    return _label_and_finish(fig, ax, "$q_x$", "$q_y$", title, path, legend=False)
