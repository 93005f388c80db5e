"""`latticeml simulate`: a run directory from a YAML config, and its exact resume.

RUN_DIR holds::

    config.yaml      the resolved config (defaults filled): the run can be repeated or resumed from it
    trajectory.h5    frames of the field, steps, times, energies (see :mod:`latticeml.io.hdf5`)
    checkpoint.pkl   the last checkpoint (atomic; see :mod:`latticeml.io.checkpoint`)
    log.txt          what happened, with rates and counters
    snapshot.png     the final field
    final.vtk/.ovf   the final spins for ParaView / OVF viewers (``output.vtk`` / ``output.ovf``)
"""
from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import numpy as np

from ..analysis.spin import skyrmion_charge
from ..dynamics import Simulation, State
from ..errors import LatticeMLError
from .checkpoint import atomic_write_bytes
from .config import build_lattice, dump_config, load_config
from .export import write_ovf, write_vtk
from .hdf5 import TrajectoryObserver, TrajectoryWriter
from .paths import make_output_dir
from .registry import INITIAL, MODELS, STEPPERS, resolve
from .schema import Param
from .snapshot import save_snapshot

__all__ = ["simulate", "resume", "build_run"]

CONFIG, TRAJECTORY, CHECKPOINT = "config.yaml", "trajectory.h5", "checkpoint.pkl"
LOG, SNAPSHOT = "log.txt", "snapshot.png"


def build_run(cfg: dict):
    """Lattice, model spec, calculator and stepper of a resolved config."""
    lattice = build_lattice(cfg["lattice"])
    spec = resolve(MODELS, cfg["model"]["name"])
    calculator = spec.build(lattice, cfg["model"])
    stepper_cfg = cfg["dynamics"]
    stepper = resolve(STEPPERS, stepper_cfg["stepper"]).build(calculator, stepper_cfg, cfg["model"])
    return lattice, spec, calculator, stepper


def _initial_field(cfg: dict, lattice, spec, rng: np.random.Generator) -> np.ndarray:
    init = cfg["initial"]
    make = INITIAL[spec.field_kind][init["kind"]].make
    n_particles = spec.n_particles(lattice, cfg["model"]) if spec.n_particles else None
    return make(lattice, spec.shape(lattice, cfg["model"]), n_particles, init, rng)


def _seeds(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the initial field and for the dynamics, both from the config's seed."""
    init_ss, dyn_ss = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_ss), np.random.default_rng(dyn_ss)


def _prepare_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise LatticeMLError(f"--out: run directory {out_dir} exists and is not empty; pass --overwrite to "
                                 "replace it, or choose another directory")
        if not (out_dir / CONFIG).is_file():
            raise LatticeMLError(f"--out: {out_dir} is not a latticeml run directory (no {CONFIG}); refusing to "
                                 "delete it with --overwrite, choose another directory")
        shutil.rmtree(out_dir)
    make_output_dir(out_dir)


def _logger(run_dir: Path) -> logging.Logger:
    log = logging.getLogger(f"latticeml.run.{run_dir.resolve()}")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = logging.FileHandler(run_dir / LOG, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    log.addHandler(handler)
    return log


def _close_logger(log: logging.Logger) -> None:
    for handler in list(log.handlers):
        handler.close()
        log.removeHandler(handler)


def _observer(cfg: dict, writer: TrajectoryWriter) -> TrajectoryObserver:
    out = cfg["output"]
    return TrajectoryObserver(writer, out["stride"], energies=out["energies"], flush_every=out["flush_every"])


def _finish(run_dir: Path, cfg: dict, lattice, spec, state: State, stepper, log, quiet: bool) -> None:
    if cfg["output"]["snapshot"]:
        title = f"{cfg['model']['name']} on {lattice.name} {lattice.shape}, step {state.step} (t = {state.time:g})"
        save_snapshot(run_dir / SNAPSHOT, lattice, state.field, spec.field_kind, title)
    if spec.field_kind == "spin":
        m = state.field.mean(axis=0)
        charge = f", skyrmion charge {skyrmion_charge(lattice, state.field):.6g}" if lattice.name == "triangular" else ""
        log.info("final spins: magnetization (%.6g, %.6g, %.6g)%s", *m, charge)
    if cfg["output"]["vtk"]:
        write_vtk(run_dir / "final.vtk", lattice.positions, state.field, title=f"step {state.step}")
    if cfg["output"]["ovf"]:
        write_ovf(run_dir / "final.ovf", lattice, state.field, title=f"step {state.step}")
    if not quiet:
        print(f"latticeml simulate: {run_dir}: step {state.step}/{cfg['dynamics']['n_steps']}, "
              f"t = {state.time:g} {stepper.time_unit}".rstrip(), file=sys.stderr)


def simulate(config_path, out_dir, quiet: bool = False, overwrite: bool = False, seed: int | None = None) -> State:
    """Run the simulation described by the YAML file ``config_path`` into the new run directory ``out_dir``.

    ``seed`` replaces the config's seed (ensembles of one config). Returns the final state. Raises
    :class:`~latticeml.errors.ConfigError` for an invalid config (before anything is written) and
    :class:`~latticeml.errors.LatticeMLError` if ``out_dir`` is in use.
    """
    from .. import __version__

    cfg = load_config(config_path)
    if seed is not None:
        cfg["seed"] = Param("int", 0, low=0).check("seed", seed)
    lattice, spec, calculator, stepper = build_run(cfg)
    init_rng, dyn_rng = _seeds(cfg["seed"])
    state = State(_initial_field(cfg, lattice, spec, init_rng))
    # everything that can fail on the config has run: only now touch the run directory
    run_dir = Path(out_dir)
    _prepare_dir(run_dir, overwrite)
    config_text = dump_config(cfg)
    atomic_write_bytes(run_dir / CONFIG, config_text.encode())
    attrs = {"model": cfg["model"], "calculator": calculator.describe(), "lattice": lattice.describe(),
             "stepper": stepper.describe(), "seed": cfg["seed"], "field_kind": spec.field_kind,
             "time_unit": stepper.time_unit, "latticeml_version": __version__, "config": config_text,
             "config_source": Path(config_path).read_text()}
    writer = TrajectoryWriter(run_dir / TRAJECTORY, state.field.shape, state.field.dtype,
                              energies=cfg["output"]["energies"], attrs=attrs, positions=lattice.positions)
    log = _logger(run_dir)
    try:
        log.info("latticeml %s: simulate %s -> %s (seed %d)", __version__, config_path, run_dir, cfg["seed"])
        log.info("model %s on %r; stepper %s", calculator.describe(), lattice, stepper.describe())
        sim = Simulation(state, stepper, seed=dyn_rng, n_steps=cfg["dynamics"]["n_steps"],
                         observers=[_observer(cfg, writer)], checkpoint_every=cfg["output"]["checkpoint_every"],
                         checkpoint_path=run_dir / CHECKPOINT, progress=not quiet, log=log)
        state = sim.run()
        _finish(run_dir, cfg, lattice, spec, state, stepper, log, quiet)
    finally:
        _close_logger(log)
    return state


def resume(run_dir, quiet: bool = False) -> State:
    """Continue the run in ``run_dir`` from its last checkpoint to the configured step count.

    Output written after that checkpoint is dropped first, so the finished trajectory is bitwise identical to the one
    of an uninterrupted run with the same config.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise LatticeMLError(f"--resume: {run_dir} is not a latticeml run directory (no {CONFIG})")
    make_output_dir(run_dir, option="--resume")  # writable: the log, trajectory and checkpoints grow in it
    cfg = load_config(run_dir / CONFIG)
    lattice, spec, calculator, stepper = build_run(cfg)
    try:
        writer = TrajectoryWriter(run_dir / TRAJECTORY, create=False)
    except OSError as err:
        raise LatticeMLError(f"--resume: cannot open {run_dir / TRAJECTORY} ({err}); start the run again") from None
    log = _logger(run_dir)
    try:
        sim = Simulation.from_checkpoint(
            run_dir / CHECKPOINT, stepper, observers=[_observer(cfg, writer)], n_steps=cfg["dynamics"]["n_steps"],
            checkpoint_every=cfg["output"]["checkpoint_every"], progress=not quiet, log=log)
        log.info("resume from step %d (t = %g), trajectory truncated to %d frames", sim.state.step, sim.state.time,
                 writer.n_frames)
        state = sim.run()
        _finish(run_dir, cfg, lattice, spec, state, stepper, log, quiet)
    finally:
        _close_logger(log)
    return state
