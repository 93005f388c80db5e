"""YAML run configs: parse, validate against the registries, fill defaults.

A config has the sections ``model``, ``lattice``, ``dynamics`` (required), ``initial`` and ``output`` (optional) and a
top-level ``seed``. Every problem raises :class:`~latticeml.errors.ConfigError` naming the dotted field and the fix.
The resolved config (all defaults filled) is what a run directory stores, so a run can be repeated from it.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import ConfigError
from .registry import INITIAL, LATTICES, MODELS, STEPPERS, resolve
from .schema import REQUIRED, Param, check_mapping, read_yaml, validate_section

__all__ = ["load_config", "validate_config", "build_lattice", "dump_config", "EXPORT_FORMATS"]

_SECTIONS = ("model", "lattice", "dynamics", "initial", "output", "seed")

_LATTICE_PARAMS = {
    "kind": Param("choice", REQUIRED, choices=tuple(LATTICES)),
    "L": Param("int", REQUIRED, "linear size (sites per direction)", low=1),
}

_OUTPUT_PARAMS = {
    "stride": Param("int", 1, "steps between trajectory frames", low=1),
    "checkpoint_every": Param("int", None, "steps between checkpoints (default: n_steps/10)", low=1),
    "flush_every": Param("int", 100, "frames buffered before they are written to trajectory.h5", low=1),
    "energies": Param("bool", True, "record the energy with every frame"),
    "snapshot": Param("bool", True, "write snapshot.png of the final field"),
    "vtk": Param("bool", False, "write final.vtk of the final spins (ParaView)"),
    "ovf": Param("bool", False, "write final.ovf of the final spins (OVF 2.0: OOMMF, mumax, Muview)"),
}
#: output keys that export the final spins to a viewer format (latticeml.io.export)
EXPORT_FORMATS = ("vtk", "ovf")


def load_config(path: str | Path) -> dict:
    """Read and validate the YAML config at ``path``; returns the resolved config."""
    return validate_config(read_yaml(path))


def validate_config(raw) -> dict:
    """Validate a parsed config (nested dicts) and return it with every default filled."""
    if not isinstance(raw, dict):
        raise ConfigError("(top level)", f"a config is a mapping with sections {', '.join(_SECTIONS)}; "
                          f"got {type(raw).__name__}")
    for key in raw:
        if key not in _SECTIONS:
            raise ConfigError(str(key), f"unknown section; valid sections: {', '.join(_SECTIONS)}")
    for key in ("model", "lattice", "dynamics"):
        if key not in raw:
            raise ConfigError(key, f"missing section; add a '{key}:' block")
    seed = Param("int", 0, "seed of the random generator", low=0).check("seed", raw.get("seed", 0))

    lat_cfg = validate_section("lattice", check_mapping("lattice", raw["lattice"]), _LATTICE_PARAMS)
    lattice = build_lattice(lat_cfg)

    model_raw = check_mapping("model", raw["model"])
    name = Param("choice", REQUIRED, choices=tuple(MODELS)).check("model.name", _required(model_raw, "model", "name"))
    spec = resolve(MODELS, name)
    model_cfg = validate_section("model", model_raw, spec.params, ignore=("name",))
    if spec.check is not None:
        spec.check(model_raw, model_cfg, lattice)

    dyn_raw = check_mapping("dynamics", raw["dynamics"])
    stepper = _required(dyn_raw, "dynamics", "stepper")
    if stepper not in spec.steppers:
        raise ConfigError("dynamics.stepper", f"{stepper!r} cannot evolve model '{name}' "
                          f"({spec.field_kind} field); use {' or '.join(spec.steppers)}")
    n_steps = Param("int", REQUIRED, "number of steps to run", low=0)
    dyn_params = {"n_steps": n_steps, **resolve(STEPPERS, stepper).params}
    dyn_cfg = validate_section("dynamics", dyn_raw, dyn_params, ignore=("stepper",))

    init_raw = check_mapping("initial", raw.get("initial"))
    choices = INITIAL[spec.field_kind]
    kind = Param("choice", next(iter(choices)), choices=tuple(choices)).check(
        "initial.kind", init_raw.get("kind", next(iter(choices))))
    init_cfg = {"kind": kind, **validate_section("initial", init_raw, choices[kind].params, ignore=("kind",))}
    if choices[kind].check is not None:
        choices[kind].check(lattice, init_cfg)

    out_cfg = validate_section("output", check_mapping("output", raw.get("output")), _OUTPUT_PARAMS)
    for fmt in EXPORT_FORMATS:
        if out_cfg[fmt] and spec.field_kind != "spin":
            raise ConfigError(f"output.{fmt}", f"only spin fields export to {fmt.upper()}; model '{name}' has a "
                                               f"{spec.field_kind} field (remove it)")
    if out_cfg["checkpoint_every"] is None:
        out_cfg["checkpoint_every"] = max(1, dyn_cfg["n_steps"] // 10)
    return {"model": model_cfg, "lattice": lat_cfg, "dynamics": dyn_cfg, "initial": init_cfg, "output": out_cfg,
            "seed": seed}


def _required(section: dict, prefix: str, key: str):
    if key not in section:
        raise ConfigError(f"{prefix}.{key}", f"missing; add '{key}: ...' under '{prefix}:'")
    return section[key]


def build_lattice(lat_cfg: dict):
    """The :class:`~latticeml.lattice.Lattice` of a resolved ``lattice`` section."""
    builder = resolve(LATTICES, lat_cfg["kind"])
    try:
        return builder(lat_cfg["L"])
    except ValueError as err:
        raise ConfigError("lattice.L", str(err)) from None


def dump_config(cfg: dict) -> str:
    """YAML text of a resolved config (sections in the canonical order)."""
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False)
