"""What a config may name: lattices, models (field + calculator), steppers and initial conditions.

Each registry is a dict name -> spec. Adding a model is one line: ``MODELS["name"] = ModelSpec(...)`` or
``MODELS["name"] = "package.module:SPEC"`` (resolved lazily, so heavy modules are imported only when used).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError
from .schema import REQUIRED, Param

__all__ = ["ModelSpec", "StepperSpec", "InitialSpec", "LATTICES", "MODELS", "STEPPERS", "INITIAL", "resolve"]


@dataclass(frozen=True)
class ModelSpec:
    """A model a config can name.

    Attributes
    ----------
    field_kind : str
        "occupation", "spin" or "displacement" (decides the allowed initial conditions).
    params : dict[str, Param]
        The keys allowed under ``model:`` besides ``name``.
    build : callable (lattice, params) -> Calculator
    steppers : tuple of str
        Names in :data:`STEPPERS` that can move this field.
    n_particles : callable (lattice, params) -> int, optional
        Particle count of occupation models.
    field_shape : callable (lattice, params) -> tuple, optional
        Shape of the field; default (N, 3) for spins and (N,) otherwise.
    check : callable (raw, params, lattice) -> None, optional
        Cross-field checks (raises ConfigError) and defaults that depend on other fields (filled into ``params``).
    """

    field_kind: str
    params: dict[str, Param]
    build: Callable
    steppers: tuple[str, ...]
    n_particles: Callable | None = None
    field_shape: Callable | None = None
    check: Callable | None = None

    def shape(self, lattice, params) -> tuple:
        if self.field_shape is not None:
            return tuple(self.field_shape(lattice, params))
        return (lattice.N, 3) if self.field_kind == "spin" else (lattice.N,)


@dataclass(frozen=True)
class StepperSpec:
    """A stepper a config can name: ``params`` allowed under ``dynamics:`` and ``build(calculator, params, model)``."""

    params: dict[str, Param]
    build: Callable


def resolve(registry: dict, name: str) -> Any:
    """The spec registered under ``name``, importing it first when registered as ``"module:attr"``."""
    spec = registry[name]
    if isinstance(spec, str):
        module, attr = spec.split(":")
        spec = registry[name] = getattr(importlib.import_module(module), attr)
    return spec


# ---------------------------------------------------------------------------------------------- lattices
#: lattice kind -> "module:builder" taking the linear size L
LATTICES: dict[str, str] = {
    "square": "latticeml.lattice:square",
    "triangular": "latticeml.lattice:triangular",
    "simple_cubic": "latticeml.lattice:simple_cubic",
}


# ---------------------------------------------------------------------------------------------- models
def _fk_build(lattice, p):
    from ..calculators.exact import FalicovKimballCalculator

    return FalicovKimballCalculator(lattice, U=p["U"], filling_c=p["filling_c"], T=p["T"], t=p["t"],
                                    energy_kind=p["energy_kind"], method=p["method"])


#: f-electron density of all author data, (13/30)² (spec ch2 §1)
FK_DEFAULT_RHO_F = 0.18778


def _fk_particles(lattice, p) -> int:
    return p["n_f"] if p["n_f"] is not None else int(round(p["rho_f"] * lattice.N))


def _fk_check(raw, p, lattice):
    """Exactly one of n_f and rho_f sets the particle count (rho_f = 0.18778 when neither is given)."""
    if p["n_f"] is not None and p["rho_f"] is not None:
        raise ConfigError("model.n_f", "give either n_f (particle count) or rho_f (density), not both")
    if p["n_f"] is None and p["rho_f"] is None:
        p["rho_f"] = FK_DEFAULT_RHO_F
    if lattice.N < 2:
        raise ConfigError("lattice.L", f"{lattice.N} site leaves no room for an f-electron to hop; use L >= 2")
    n_f = _fk_particles(lattice, p)
    if not 0 < n_f < lattice.N:
        raise ConfigError("model.n_f" if p["n_f"] is not None else "model.rho_f",
                          f"gives {n_f} f-electrons on {lattice.N} sites; it must be between 1 and {lattice.N - 1}")


_FK = ModelSpec(
    field_kind="occupation",
    params={
        "U": Param("float", 2.0, "on-site f-c repulsion in units of t"),
        "t": Param("float", 1.0, "nearest-neighbour hopping", low=0, low_open=True),
        "filling_c": Param("float", 0.55, "c-electron filling per site", low=0, high=1, low_open=True, high_open=True),
        "rho_f": Param("float", None, f"f-electron density N_f/N (default {FK_DEFAULT_RHO_F})", low=0, high=1,
                       low_open=True, high_open=True),
        "n_f": Param("int", None, "f-electron count (instead of rho_f)", low=1),
        "T": Param("float", 0.05, "temperature of the c-electrons and of the kMC", low=0, low_open=True),
        "energy_kind": Param("choice", "internal", choices=("internal", "free")),
        "method": Param("choice", "lowrank", choices=("lowrank", "full")),
    },
    build=_fk_build, steppers=("kmc", "kmc_nfold"), n_particles=_fk_particles, check=_fk_check,
)


def _heisenberg_build(lattice, p):
    from ..calculators.classical import HeisenbergCalculator

    return HeisenbergCalculator(lattice, J=p["J"], field=p["field"])


_HEISENBERG = ModelSpec(
    field_kind="spin",
    params={"J": Param("float", 1.0, "exchange, > 0 ferromagnetic"),
            "field": Param("vector3", (0.0, 0.0, 0.0), "uniform external field")},
    build=_heisenberg_build, steppers=("llg",),
)


def _harmonic_build(lattice, p):
    from ..calculators.classical import HarmonicCalculator

    return HarmonicCalculator(K=p["K"])


_HARMONIC = ModelSpec(
    field_kind="displacement",
    params={"K": Param("float", 1.0, "stiffness of every mode", low=0, low_open=True),
            "components": Param("int", 1, "modes per site", low=1)},
    build=_harmonic_build, steppers=("langevin", "brownian"),
    field_shape=lambda lattice, p: (lattice.N,) if p["components"] == 1 else (lattice.N, p["components"]),
)

def _sd_build(lattice, p):
    from ..calculators.sd import SDCalculator

    return SDCalculator(lattice, t1=p["t1"], t3=p["t3"], J=p["J"], mu=p["mu"], T_el=p["T_el"], h_ext=p["h_ext"],
                        method=p["method"], ed_check_every=p["ed_check_every"], device=p["device"],
                        twists=p["twists"])


def _sd_check(raw, p, lattice):
    from ..calculators.sd import check_solver_options
    from ..models.sd import check_triangular

    check_triangular(lattice, "model 'sd_triangular'", field="lattice.kind", fix="set kind: triangular")
    check_solver_options(p["method"], p["T_el"], p["device"], p["twists"], prefix="model.")


# chapter-3 parameters as defaults (spec ch3 §2); the hopping enters as -t (see latticeml.models.sd)
_SD = ModelSpec(
    field_kind="spin",
    params={
        "t1": Param("float", 1.0, "nearest-neighbour hopping"),
        "t3": Param("float", -0.85, "third-neighbour hopping"),
        "J": Param("float", 1.0, "s-d exchange coupling"),
        "mu": Param("float", -3.5, "chemical potential (grand canonical)"),
        "T_el": Param("float", 0.01, "electron temperature of the Fermi function", low=0),
        "h_ext": Param("float", 0.0, "Zeeman field along z on the local spins (chapter 3: 0.005)"),
        "method": Param("choice", "fast", choices=("ed", "kpm", "fast"),
                        doc="exact field: dense ED, KPM, or warm-started CheFSI (exact, fastest along dynamics)"),
        "ed_check_every": Param("int", 100, "'fast': calls between dense-ED restarts (0: never)", low=0),
        "device": Param("str", None, "None (numpy), 'cpu', 'cuda' or 'auto': torch device of 'ed' and 'fast'"),
        "twists": Param("int", 1, "'ed': Bloch twists per direction k, the field of the kL×kL torus holding k×k "
                                  "copies of the spins (fewer finite-size effects)", low=1),
    },
    build=_sd_build, steppers=("llg",), check=_sd_check,
)

def _ml_build(lattice, p):
    from ..calculators.ml import MLCalculator

    return MLCalculator.from_file(p["file"], lattice, device=p["device"], dtype=p["dtype"])


def _check_model_file(p, lattice, kinds: tuple[str, ...], field_kind: str) -> dict:
    """The file of ``model.file`` must hold a model of one of ``kinds`` trained on this lattice kind; its path is
    stored absolute so that a resume from another directory finds it. Returns the file's metadata."""
    from pathlib import Path

    from ..electrons.torch_dense import resolve_device
    from ..errors import LatticeMLError

    try:
        from ..ml.modelfile import check_compatible, read_metadata
    except ImportError:
        raise ConfigError("model.name", "ML models need torch: pip install 'latticeml[ml]'") from None
    p["file"] = str(Path(p["file"]).expanduser().resolve())
    try:
        meta = read_metadata(p["file"])
        if meta["kind"] not in kinds:
            raise LatticeMLError(f"{p['file']!r} is a {meta['kind']!r} model; this model name runs "
                                 f"{' or '.join(kinds)} models")
        check_compatible(meta, lattice=lattice, field_kind=field_kind, source=repr(p["file"]))
    except LatticeMLError as err:
        raise ConfigError("model.file", str(err)) from None
    resolve_device(p["device"], "model.device")  # the device rule of the exact side and of ml.train.torch_device
    return meta


def _ml_fk_check(raw, p, lattice):
    meta = _check_model_file(p, lattice, ("fk_delta_e",), "occupation")
    if p["T"] is None:  # the kMC temperature of the exact model the network learned
        p["T"] = float(meta.get("model", {}).get("T", 0.05))
    _fk_check(raw, p, lattice)


_ML_PARAMS = {
    "file": Param("str", REQUIRED, "model file written by 'latticeml train'"),
    "device": Param("str", "cpu", "'cpu', 'cuda' or 'auto' (the GPU when torch sees one)"),
    "dtype": Param("choice", "float32", choices=("float32", "float64"), doc="inference precision"),
}

# trained networks in place of the exact calculator. Spin models: the network sees only the electronic field, so an
# external field goes under dynamics.h_ext (as in chapter 3, where H_ext is removed from the training targets)
_ML_SPIN = ModelSpec(
    field_kind="spin", params=_ML_PARAMS, build=_ml_build, steppers=("llg",),
    check=lambda raw, p, lattice: _check_model_file(p, lattice, ("bp", "cnn"), "spin"),
)
_ML_FK = ModelSpec(
    field_kind="occupation",
    params={**_ML_PARAMS,
            "rho_f": _FK.params["rho_f"], "n_f": _FK.params["n_f"],
            "T": Param("float", None, "kMC temperature (default: the T of the model file's exact model)", low=0,
                       low_open=True)},
    build=_ml_build, steppers=("kmc", "kmc_nfold"), n_particles=_fk_particles, check=_ml_fk_check,
)

#: model name -> ModelSpec (or "module:attr" of one)
MODELS: dict[str, ModelSpec | str] = {
    "falicov_kimball": _FK,
    "heisenberg": _HEISENBERG,
    "harmonic": _HARMONIC,
    "sd_triangular": _SD,
    "ml_spin": _ML_SPIN,
    "ml_fk": _ML_FK,
}


# ---------------------------------------------------------------------------------------------- steppers
def _kmc_build(calc, p, model):
    from ..dynamics import KineticMC

    return KineticMC(calc, T=model["T"] if p["T"] is None else p["T"])


def _kmc_nfold_build(calc, p, model):
    from ..dynamics.kmc_fast import NFoldKMC

    return NFoldKMC(calc, T=model["T"] if p["T"] is None else p["T"], refresh_radius=p["refresh_radius"],
                    clock=p["clock"])


def _llg_build(calc, p, model):
    from ..dynamics import LLG

    return LLG(calc, dt=p["dt"], alpha=p["alpha"], T=p["T"], scheme=p["scheme"], gamma=p["gamma"], h_ext=p["h_ext"])


def _langevin_build(calc, p, model):
    from ..dynamics import Langevin

    return Langevin(calc, dt=p["dt"], gamma=p["gamma"], T=p["T"], mass=p["mass"])


def _brownian_build(calc, p, model):
    from ..dynamics import Brownian

    return Brownian(calc, dt=p["dt"], gamma=p["gamma"], T=p["T"])


_DT = Param("float", REQUIRED, "time step", low=0, low_open=True)
_T = Param("float", REQUIRED, "temperature (k_B = 1)", low=0)

#: stepper name -> StepperSpec
STEPPERS: dict[str, StepperSpec | str] = {
    "kmc": StepperSpec({"T": Param("float", None, "Metropolis temperature; default model.T", low=0)}, _kmc_build),
    "kmc_nfold": StepperSpec({
        "T": Param("float", None, "Metropolis temperature; default model.T", low=0),
        "refresh_radius": Param("float", None, "refresh cached rates within this distance of a move "
                                "(the model's cutoff; omit to refresh all, as exact long-range models need)", low=0),
        "clock": Param("choice", "exponential", choices=("exponential", "attempts")),
    }, _kmc_nfold_build),
    "llg": StepperSpec({
        "dt": Param("float", 0.1, "time step in (γJS)^-1", low=0, low_open=True),
        "alpha": Param("float", 0.05, "Gilbert damping", low=0),
        "T": Param("float", 0.0, "noise temperature", low=0),
        "scheme": Param("choice", "sib", choices=("sib", "heun")),
        "gamma": Param("float", 1.0, "gyromagnetic ratio", low=0, low_open=True),
        "h_ext": Param("vector3", None, "external field added to the calculator's"),
    }, _llg_build),
    "langevin": StepperSpec({"dt": _DT, "T": _T, "gamma": Param("float", 1.0, "friction rate", low=0, low_open=True),
                             "mass": Param("float", 1.0, "mode mass", low=0, low_open=True)}, _langevin_build),
    "brownian": StepperSpec({"dt": _DT, "T": _T, "gamma": Param("float", 1.0, "friction", low=0, low_open=True)},
                            _brownian_build),
}


# ---------------------------------------------------------------------------------------------- initial fields
@dataclass(frozen=True)
class InitialSpec:
    """An initial condition a config can name: ``params`` allowed under ``initial:``, ``make(lattice, shape,
    n_particles, params, rng) -> field`` and an optional ``check(lattice, params)`` run at validation."""

    params: dict[str, Param]
    make: Callable
    check: Callable | None = None


def _random_occupation(lattice, shape, n_particles, p, rng):
    occ = np.zeros(shape, dtype=np.int8)
    occ[rng.choice(shape[0], size=n_particles, replace=False)] = 1
    return occ


def _random_spins(lattice, shape, n_particles, p, rng):
    from ..models.sd import random_spins

    return random_spins(shape[0], rng)


def _ferro_spins(lattice, shape, n_particles, p, rng):
    d = np.asarray(p["direction"], dtype=np.float64)
    if not np.linalg.norm(d) > 0:
        raise ConfigError("initial.direction", "must be a non-zero vector, e.g. [0, 0, 1]")
    return np.broadcast_to(d / np.linalg.norm(d), shape).copy()


def _check_skyrmion(lattice, p):
    from ..models.sd import check_triangular

    check_triangular(lattice, "the skyrmion-lattice ansatz", field="lattice.kind", fix="set kind: triangular")
    if any(n % 12 for n in lattice.shape):
        raise ConfigError("lattice.L", f"the triple-Q skyrmion lattice (|Q| = π/3) is periodic on L ≡ 0 mod 12, got "
                                       f"L = {lattice.shape[0]}; use 12, 24, 36, ...")


def _skyrmion_spins(lattice, shape, n_particles, p, rng):
    from ..models.sd import random_frame, skyrmion_lattice

    frame = random_frame(rng) if p["random_orientation"] else None
    return skyrmion_lattice(lattice, A=p["A"], M=p["M"], phi=p["phi"], frame=frame)


def _perturbed_skyrmion_spins(lattice, shape, n_particles, p, rng):
    from ..models.sd import perturbed_skyrmion_lattice

    return perturbed_skyrmion_lattice(lattice, rng, A0=p["A"], phi0=p["phi"], d_phi=p["d_phi"], d_A=p["d_A"],
                                      d_m=p["d_m"], random_orientation=p["random_orientation"])


# the ansatz of spec ch3 §5: A = 0.7, φ = π/2 gives charge -2 per 48 sites
_SKYRMION = {
    "A": Param("float", 0.7, "out-of-plane amplitude of the triple-Q ansatz"),
    "phi": Param("float", float(np.pi / 2), "phase φ of the out-of-plane part (radians)"),
}

#: field kind -> initial kind -> InitialSpec
INITIAL: dict[str, dict[str, InitialSpec]] = {
    "occupation": {"random": InitialSpec({}, _random_occupation)},
    "spin": {
        "random": InitialSpec({}, _random_spins),
        "ferro": InitialSpec({"direction": Param("vector3", (0.0, 0.0, 1.0), "spin direction")}, _ferro_spins),
        "skyrmion": InitialSpec({
            **_SKYRMION,
            "M": Param("float", 0.0, "uniform out-of-plane offset"),
            "random_orientation": Param("bool", False, "rotate the whole texture by a random SO(3) frame"),
        }, _skyrmion_spins, _check_skyrmion),
        "perturbed_skyrmion": InitialSpec({
            **_SKYRMION,
            "d_phi": Param("float", 0.5, "site phases φ_i = φ + U(±d_phi)", low=0),
            "d_A": Param("float", 0.3, "site amplitudes A_i = A (1 + U(±d_A))", low=0),
            "d_m": Param("float", 0.2, "site offsets m_i = U(±d_m)", low=0),
            "random_orientation": Param("bool", True, "rotate the whole texture by a random SO(3) frame"),
        }, _perturbed_skyrmion_spins, _check_skyrmion),
    },
    "displacement": {
        "zero": InitialSpec({}, lambda lattice, shape, n, p, rng: np.zeros(shape)),
        "gaussian": InitialSpec({"sigma": Param("float", 1.0, "standard deviation", low=0)},
                                lambda lattice, shape, n, p, rng: p["sigma"] * rng.standard_normal(shape)),
    },
}
