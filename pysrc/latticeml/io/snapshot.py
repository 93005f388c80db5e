"""PNG snapshot of a field on its lattice: occupations as an image, spins coloured by S_z with in-plane arrows,
modes by value."""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["save_snapshot"]


def save_snapshot(path: str | Path, lattice, field: np.ndarray, field_kind: str, title: str = "") -> None:
    """Write ``field`` (site order of ``lattice``) as a PNG to ``path``.

    Uses a bare matplotlib ``Figure`` (Agg canvas), so the caller's pyplot backend and state are left alone.
    """
    from matplotlib.figure import Figure

    field = np.asarray(field)
    fig = Figure(figsize=(5, 5), dpi=120)
    ax = fig.subplots()
    if field_kind == "occupation" and lattice.name == "square":
        # axis 0 of the image is x (n1); transpose so that x runs to the right
        ax.imshow(lattice.to_image(field).T, origin="lower", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    else:
        pos = lattice.positions
        if field_kind == "spin":
            values, label, cmap, lims = field[:, 2], "$S_z$", "coolwarm", (-1, 1)
        else:
            values = field if field.ndim == 1 else field[:, 0]
            label, cmap, lims = ("occupation" if field_kind == "occupation" else "Q"), "viridis", (None, None)
        marker_size = max(2.0, 2.0e4 / lattice.N)
        sc = ax.scatter(pos[:, 0], pos[:, 1], c=values, cmap=cmap, vmin=lims[0], vmax=lims[1], s=marker_size,
                        marker="h" if lattice.name == "triangular" else "s", linewidths=0)
        if field_kind == "spin":  # in-plane components as arrows, about 32 per direction at most
            from ..plots import draw_spin_arrows

            draw_spin_arrows(ax, lattice, field, stride=max(1, int(np.ceil(max(lattice.shape[:2]) / 32))),
                             width=0.003)
        fig.colorbar(sc, ax=ax, shrink=0.8, label=label)
        ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
