"""Julia backend: the kernels of JuliaCore (module ``LatticeMLCore``) called through juliacall.

This is the only module that imports juliacall, and it does so lazily, when :class:`JuliaBackend` is first built.
Before that it

* looks for a Julia runtime (``PYTHON_JULIAPKG_EXE``, juliacall's own ``PYTHON_JULIACALL_EXE``/``_BINDIR``,
  ``julia`` on ``PATH``, juliaup's installs, and the Julia that juliapkg installed or resolved before) and raises
  :class:`~latticeml.backends.BackendUnavailable` when there is none, so juliacall never starts its automatic
  Julia download; the runtime found is handed to juliapkg through ``PYTHON_JULIAPKG_EXE`` for the same reason;
* sets juliacall's options: ``PYTHON_JULIACALL_HANDLE_SIGNALS=yes`` (required with Julia threads) and
  ``PYTHON_JULIACALL_THREADS`` (``$OMP_NUM_THREADS`` when set, else ``auto``), each only if the user has not.

Then it loads LatticeMLCore: from the juliapkg environment when it was declared there (a ``juliapkg.json`` listing
JuliaCore as a development package, resolved online on first import), otherwise straight from the ``JuliaCore``
folder of this source tree, which also works offline (``PYTHON_JULIAPKG_OFFLINE=yes``) because the package needs
only Julia's standard library.

Array conventions. numpy arrays go in without copies: juliacall wraps each as a ``PyArray`` with numpy's shape and
strides, so an (N, 3) C-order array is an N×3 matrix in Julia, row i being site i, exactly as in Python (no
transpose; only the memory order differs, and kernels that need BLAS make a column-major copy themselves). Julia's
results come back through ``np.asarray``, which wraps the Julia array's memory (Fortran order) without a copy.
Stepper kernels allocate their result in numpy and let the in-place Julia kernel (``cayley_rotate!`` ...) overwrite
it. Site indices are 0-based in Python and 1-based in Julia: :meth:`JuliaBackend.fk_move_energies` adds 1.
Julia's argument errors (``ArgumentError``, ``DomainError``, ``DimensionMismatch``) are raised as ``ValueError``,
as the Python kernels do.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np

from . import KERNELS, BackendUnavailable

__all__ = ["JuliaBackend", "probe", "find_julia_runtime", "missing_kernels", "JULIACORE_DIR", "RUNTIME_MISSING"]

#: LatticeMLCore's source tree, at the top of the repository next to ``pysrc``
JULIACORE_DIR = Path(__file__).resolve().parents[3] / "JuliaCore"

RUNTIME_MISSING = ("Julia runtime not found: set PYTHON_JULIAPKG_EXE to a julia binary "
                   "(and PYTHON_JULIAPKG_OFFLINE=yes offline)")

_JULIA_EXE = "julia.exe" if os.name == "nt" else "julia"


def _executable(path) -> str | None:
    """``path`` when it names an executable file (directly or through ``PATH``), else None."""
    if not path:
        return None
    found = shutil.which(str(path))
    return os.path.abspath(found) if found else None


def _version_key(version: str) -> tuple[int, ...]:
    """(1, 10, 4) from juliaup's "1.10.4+0.x64.linux.gnu", for newest-first ordering."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def _juliaup_executables() -> list[str]:
    """Julia binaries installed by juliaup, newest first, read from its ``juliaup.json`` (nothing is run)."""
    depot = os.environ.get("JULIAUP_DEPOT_PATH") or os.path.join(os.path.expanduser("~"), ".julia")
    home = Path(depot) / "juliaup"
    try:
        installed = json.loads((home / "juliaup.json").read_text()).get("InstalledVersions", {})
    except (OSError, ValueError, AttributeError):
        return []
    paths = []
    for version in sorted(installed, key=_version_key, reverse=True):
        info = installed[version]
        if "BinaryPath" in info:
            paths.append(str(home / info["BinaryPath"]))
        elif "Path" in info:
            paths.append(str(home / info["Path"] / "bin" / _JULIA_EXE))
    return paths


def _juliapkg_executables() -> list[str]:
    """The Julia juliapkg resolved before (its meta file) and the one it installs into its own prefix."""
    try:
        from juliapkg.state import STATE
    except ImportError:
        return []
    paths = []
    try:
        paths.append(json.loads(Path(STATE["meta"]).read_text())["executable"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    paths.append(os.path.join(STATE["install"], "bin", _JULIA_EXE))
    return paths


def find_julia_runtime() -> str | None:
    """Path of a Julia executable for juliacall, or None; found without running or downloading anything.

    Looked for in this order: ``PYTHON_JULIAPKG_EXE``, ``PYTHON_JULIACALL_EXE``, ``$PYTHON_JULIACALL_BINDIR/julia``,
    ``julia`` on ``PATH``, juliaup's installed versions, and juliapkg's own install location.
    """
    bindir = os.environ.get("PYTHON_JULIACALL_BINDIR")
    candidates = [os.environ.get("PYTHON_JULIAPKG_EXE"), os.environ.get("PYTHON_JULIACALL_EXE"),
                  os.path.join(bindir, _JULIA_EXE) if bindir else None, "julia",
                  *_juliaup_executables(), *_juliapkg_executables()]
    for candidate in candidates:
        found = _executable(candidate)
        if found:
            return found
    return None


def _set_juliacall_options(runtime: str) -> None:
    """juliacall's options, which only take effect before its first import; the user's own settings win."""
    if "juliacall" in sys.modules:
        warnings.warn("juliacall was imported before latticeml's Julia backend, so its thread and signal options "
                      "were not set by latticeml (set PYTHON_JULIACALL_HANDLE_SIGNALS=yes yourself)", stacklevel=3)
        return
    # with the runtime named, juliapkg uses it as is and never downloads or upgrades Julia
    os.environ.setdefault("PYTHON_JULIAPKG_EXE", runtime)
    # Julia threads need Julia's signal handling (juliacall warns and may crash otherwise)
    os.environ.setdefault("PYTHON_JULIACALL_HANDLE_SIGNALS", "yes")
    os.environ.setdefault("PYTHON_JULIACALL_THREADS", os.environ.get("OMP_NUM_THREADS") or "auto")


# `using LatticeMLCore` from the juliapkg environment, or from this source tree when it is not declared there; one
# expression per `seval` (older PythonCall parses a single one), each run in the newest world
_LOAD_CORE = ('Base.identify_package("LatticeMLCore") === nothing && push!(LOAD_PATH, {path})',
              "using LatticeMLCore", "LatticeMLCore")

_CUDA_HINT = ('add CUDA.jl to the juliapkg environment: python -c "import juliapkg; '
              "juliapkg.add('CUDA', '052768ef-5323-5732-b1bb-66c8b64840ba'); juliapkg.resolve()\"")

_loaded: dict = {}

# the LatticeMLCore functions behind the kernels (steppers through their in-place `!` forms)
_JULIA_FUNCTIONS = ("eigh", "fermi", "chemical_potential", "band_energy", "grand_potential", "density_matrix",
                    "spin_blocks", "fk_move_energies", "kpm_spin_blocks", "csc_matrix", "cayley_rotate!",
                    "langevin_ou!", "brownian_step!", "metropolis_hop_probabilities")


def _load_core():
    """Start Julia (once per process) and return ``(Main, LatticeMLCore)``; BackendUnavailable if impossible."""
    if "core" in _loaded:
        return _loaded["main"], _loaded["core"]
    runtime = find_julia_runtime()
    if runtime is None:
        raise BackendUnavailable(RUNTIME_MISSING)
    if not (JULIACORE_DIR / "Project.toml").is_file():
        raise BackendUnavailable(f"JuliaCore not found at {JULIACORE_DIR}: the Julia backend needs a source checkout "
                                 "of latticeml (pip install -e .)")
    _set_juliacall_options(runtime)
    try:
        from juliacall import Main
    except ImportError as err:
        raise BackendUnavailable(f"juliacall is not installed ({err}): pip install 'latticeml[julia]'") from err
    except Exception as err:  # noqa: BLE001 - juliapkg/juliacall raise plain Exceptions when Julia will not start
        raise BackendUnavailable(f"juliacall could not start Julia at {runtime}: {err}") from err
    try:
        for statement in _LOAD_CORE:
            core = Main.seval(statement.format(path=f'raw"{JULIACORE_DIR}"'))
    except Exception as err:  # noqa: BLE001 - a JuliaError while loading the package
        raise BackendUnavailable(f"LatticeMLCore did not load from {JULIACORE_DIR}: {err}") from err
    if os.environ.get("LATTICEML_JULIA_DEVICE", "cpu").strip().lower() == "cuda":
        try:
            Main.seval("using CUDA")  # loads LatticeMLCoreCUDAExt, which defines use_cuda!
            Main.seval("LatticeMLCore.use_cuda!(true)")
        except Exception as err:  # noqa: BLE001
            raise BackendUnavailable(f"LATTICEML_JULIA_DEVICE=cuda but CUDA is unusable ({err}); {_CUDA_HINT}") from err
    _loaded.update(main=Main, core=core,
                   argument_error=Main.seval("e -> e isa Union{ArgumentError, DomainError, DimensionMismatch}"))
    return Main, core


def _as_float_array(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


class JuliaBackend:
    """The kernels of :data:`latticeml.backends.KERNELS`, computed by LatticeMLCore in Julia.

    Same names, signatures and return types as the Python reference kernels (see each one there); building the
    object starts Julia, or raises :class:`~latticeml.backends.BackendUnavailable` when no runtime is found.
    """

    name = "julia"

    def __init__(self):
        main, self._core = _load_core()
        self._kernels = {name: main.seval(f"LatticeMLCore.{name}") for name in _JULIA_FUNCTIONS}

    def __repr__(self) -> str:
        return f"JuliaBackend({self.info()!r})"

    def info(self) -> str:
        """LatticeMLCore's version, the Julia version, its thread count and the compute device."""
        return str(self._core.backend_info())

    def _call(self, function: str, *args, **kwargs):
        """Run the Julia function ``function``, turning its argument errors into ValueError as in Python."""
        from juliacall import JuliaError

        try:
            return self._kernels[function](*args, **kwargs)
        except JuliaError as err:
            if _loaded["argument_error"](err.exception):
                raise ValueError(f"{function}: {err}") from None
            raise

    # exact diagonalization and Fermi statistics
    def eigh(self, h):
        if hasattr(h, "toarray"):  # scipy.sparse, as the Python kernel accepts
            h = h.toarray()
        eps, psi = self._call("eigh", np.asarray(h))
        return np.asarray(eps), np.asarray(psi)

    def fermi(self, eps, mu, T):
        eps = _as_float_array(eps)
        return np.asarray(self._call("fermi", eps.reshape(-1), float(mu), float(T))).reshape(eps.shape)

    def chemical_potential(self, eps, n_target, T):
        return float(self._call("chemical_potential", _as_float_array(eps), float(n_target), float(T)))

    def band_energy(self, eps, mu, T):
        return float(self._call("band_energy", _as_float_array(eps), float(mu), float(T)))

    def grand_potential(self, eps, mu, T):
        return float(self._call("grand_potential", _as_float_array(eps), float(mu), float(T)))

    def density_matrix(self, eps, psi, mu, T):
        return np.asarray(self._call("density_matrix", _as_float_array(eps), np.asarray(psi), float(mu), float(T)))

    def spin_blocks_ed(self, eps, psi, mu, T):
        return np.asarray(self._call("spin_blocks", _as_float_array(eps), np.asarray(psi), float(mu), float(T)))

    # fast exact low-rank ΔE of Falicov-Kimball hops
    def fk_move_energies(self, eps, psi, occ, moves, U, n_c, T, energy_kind="internal"):
        psi = np.asarray(psi)
        if np.iscomplexobj(psi):
            raise ValueError("fk_move_energies expects the real eigenvectors of the real symmetric FK matrix")
        # Julia's sites are 1-based
        moves_1based = np.asarray(moves, dtype=np.int64).reshape(-1, 2) + 1
        return np.asarray(self._call("fk_move_energies", _as_float_array(eps), psi, np.asarray(occ), moves_1based,
                                     float(U), float(n_c), float(T), str(energy_kind)))

    # spin-fermion local density-matrix blocks by the kernel polynomial method
    def kpm_spin_blocks(self, H, mu, T, bounds, num_moments=1000, *, kernel=None, lattice_shape=None,
                        probing_period=None, block_size=512, sites=None):
        if hasattr(H, "tocsc"):  # scipy.sparse: hand over the compressed columns, Julia rebuilds the matrix
            csc = H.tocsc()
            H = self._call("csc_matrix", csc.shape[0], csc.shape[1], csc.indptr, csc.indices, csc.data)
        elif isinstance(H, np.ndarray):
            pass
        else:
            raise TypeError(f"the Julia kpm_spin_blocks needs a dense or scipy.sparse H, got {type(H).__name__}; "
                            "use the Python backend for matrix-free operators")
        shape = None if lattice_shape is None else np.asarray(lattice_shape, dtype=np.int64)
        return np.asarray(self._call("kpm_spin_blocks", H, float(mu), float(T), _as_float_array(bounds),
                                     int(num_moments), kernel=kernel, lattice_shape=shape,
                                     probing_period=None if probing_period is None else int(probing_period),
                                     block_size=int(block_size),
                                     sites=None if sites is None else np.asarray(sites, dtype=np.int64).ravel() + 1))

    # time-stepping kernels: the result is a fresh numpy array that the in-place Julia kernel overwrites
    def cayley_rotate(self, spins, omega, dt):
        out = np.array(spins, dtype=np.float64, order="C")
        self._call("cayley_rotate!", out, _as_float_array(omega), float(dt))
        return out

    def langevin_ou(self, p, mass, gamma, T, dt, xi):
        out = np.array(p, dtype=np.float64)
        # numpy broadcasts trailing axes and Julia leading ones: hand over full-shape arrays
        mass = float(mass) if np.ndim(mass) == 0 else np.array(np.broadcast_to(mass, out.shape), dtype=np.float64)
        self._call("langevin_ou!", out, mass, float(gamma), float(T), float(dt),
                   np.array(np.broadcast_to(xi, out.shape), dtype=np.float64))
        return out

    def brownian_step(self, q, force, gamma, T, dt, xi):
        out = np.array(q, dtype=np.float64)
        self._call("brownian_step!", out, np.array(np.broadcast_to(force, out.shape), dtype=np.float64),
                   float(gamma), float(T), float(dt), np.array(np.broadcast_to(xi, out.shape), dtype=np.float64))
        return out

    def metropolis_hop_probabilities(self, dE, T, n_directions=4):
        dE = _as_float_array(dE)
        p = self._call("metropolis_hop_probabilities", dE.reshape(-1), float(T), int(n_directions))
        return np.asarray(p).reshape(dE.shape)


def missing_kernels() -> list[str]:
    """Names in :data:`~latticeml.backends.KERNELS` without a Julia twin (empty when the protocol is complete)."""
    return sorted(name for name in KERNELS if not callable(getattr(JuliaBackend, name, None)))


def probe() -> str:
    """One line for ``latticeml info``: the running Julia backend, or where it would start; never starts Julia.

    Raises :class:`~latticeml.backends.BackendUnavailable` (reported as "unavailable: ...") without a runtime.
    """
    if "core" in _loaded:
        return f"loaded: {_loaded['core'].backend_info()}"
    runtime = find_julia_runtime()
    if runtime is None:
        raise BackendUnavailable(RUNTIME_MISSING)
    if importlib.util.find_spec("juliacall") is None:
        raise BackendUnavailable("juliacall is not installed: pip install 'latticeml[julia]'")
    return f"available, not started: Julia at {runtime}, LatticeMLCore at {JULIACORE_DIR} (LATTICEML_BACKEND=julia)"
