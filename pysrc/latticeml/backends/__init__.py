"""Kernel backends: the small arrays-in/arrays-out protocol behind solvers and steppers.

``get_backend()`` returns the backend chosen by the ``backend=`` argument or the ``LATTICEML_BACKEND``
environment variable:

* ``python`` (default): numpy/scipy reference kernels, complete and what CI tests;
* ``julia``: JuliaCore (LatticeMLCore.jl) through juliacall; an error if no Julia runtime loads;
* ``auto``: Julia when it loads, otherwise Python with a one-line notice.

Every kernel name in :data:`KERNELS` exists in the Python backend; the Julia backend provides the same names
(see ``JuliaCore/src``) and :func:`latticeml.backends.julia.missing_kernels` lists any that it lacks.
"""
from __future__ import annotations

import importlib
import os
import sys

__all__ = ["KERNELS", "get_backend", "PythonBackend", "BackendUnavailable", "backend_status"]

#: kernel name -> "module:function" of its Python reference implementation.
#: Signatures are documented at each function; JuliaCore mirrors them one to one.
KERNELS: dict[str, str] = {
    # exact diagonalization and Fermi statistics
    "eigh": "latticeml.electrons.ed:eigh",
    "fermi": "latticeml.electrons.ed:fermi",
    "chemical_potential": "latticeml.electrons.ed:chemical_potential",
    "band_energy": "latticeml.electrons.ed:band_energy",
    "grand_potential": "latticeml.electrons.ed:grand_potential",
    "density_matrix": "latticeml.electrons.ed:density_matrix",
    # fast exact low-rank ΔE of Falicov-Kimball hops
    "fk_move_energies": "latticeml.electrons.lowrank:fk_move_energies",
    # spin-fermion (s-d) local density-matrix blocks and exchange fields
    "spin_blocks_ed": "latticeml.electrons.ed:spin_blocks",
    "kpm_spin_blocks": "latticeml.electrons.kpm:kpm_spin_blocks",
    # time stepping kernels (in place on caller-owned arrays where noted)
    "cayley_rotate": "latticeml.dynamics.kernels:cayley_rotate",
    "langevin_ou": "latticeml.dynamics.kernels:langevin_ou",
    "brownian_step": "latticeml.dynamics.kernels:brownian_step",
    "metropolis_hop_probabilities": "latticeml.dynamics.kernels:metropolis_hop_probabilities",
}

_ENV = "LATTICEML_BACKEND"
_CHOICES = ("python", "julia", "auto")


class BackendUnavailable(RuntimeError):
    pass


class PythonBackend:
    """Reference kernels, resolved lazily from :data:`KERNELS`."""

    name = "python"

    def __getattr__(self, item):
        if item not in KERNELS:
            raise AttributeError(f"backend 'python' has no kernel {item!r}; kernels: {sorted(KERNELS)}")
        mod, fn = KERNELS[item].split(":")
        f = getattr(importlib.import_module(mod), fn)
        setattr(self, item, f)
        return f


_cache: dict[str, object] = {}


def get_backend(backend: str | None = None):
    """Return the kernel backend named by ``backend`` or ``$LATTICEML_BACKEND`` (default ``python``)."""
    name = (backend or os.environ.get(_ENV) or "python").strip().lower()
    if name not in _CHOICES:
        raise ValueError(f"{_ENV}/backend={name!r} is not one of {', '.join(_CHOICES)}")
    if name == "python":
        return _cache.setdefault("python", PythonBackend())
    try:
        if "julia" not in _cache:
            from . import julia as _julia

            _cache["julia"] = _julia.JuliaBackend()
        return _cache["julia"]
    except BackendUnavailable as err:
        if name == "julia":
            raise
        if not _cache.get("_auto_noticed"):
            print(f"latticeml: Julia backend unavailable ({err}); using the Python backend", file=sys.stderr)
            _cache["_auto_noticed"] = True
        return get_backend("python")


def backend_status() -> dict:
    """What `latticeml info` reports about backends."""
    out = {"selected": os.environ.get(_ENV, "python"), "python": "available", "kernels": sorted(KERNELS)}
    try:
        from . import julia as _julia

        out["julia"] = _julia.probe()
    except Exception as err:  # noqa: BLE001 - report, never fail `info`
        out["julia"] = f"unavailable: {err}"
    return out
