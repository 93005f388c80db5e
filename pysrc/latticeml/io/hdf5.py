"""HDF5 trajectories: RUN_DIR/trajectory.h5 with resizable datasets, appended in bursts and truncatable on resume.

Layout::

    /fields    (n_frames, *field_shape)  the field at every recorded step (int8 occupations, float64 otherwise)
    /steps     (n_frames,) int64         step count of each frame
    /times     (n_frames,) float64       time of each frame (unit in attrs["time_unit"])
    /energies  (n_frames,) float64       calculator energy of each frame (only if recorded)
    /positions (N, d) float64            site positions of the lattice
    attrs: model, calculator, lattice, stepper (JSON text, listed in attrs["json_attrs"]), seed, field_kind, time_unit,
           latticeml_version, config (resolved YAML text), config_source (the file as given)

The file is open only while a burst of frames is written, so it can be read while a run goes on, and the run
truncates it back to the frame count of its last checkpoint on resume.
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from ..dynamics.base import Observer, State, Stepper

__all__ = ["TrajectoryWriter", "TrajectoryObserver", "read_trajectory"]

_PER_FRAME = ("fields", "steps", "times", "energies")


class TrajectoryWriter:
    """Appends frames (step, time, field, energy) to an HDF5 trajectory file; see the module doc for the layout.

    Parameters
    ----------
    path : path
        File to create (``create=True``) or to append to.
    field_shape, field_dtype :
        Shape and dtype of one frame of the field.
    energies : bool
        Whether frames carry an energy.
    attrs : dict, optional
        File attributes; dict values are stored as JSON text.
    positions : (N, d) array, optional
        Site positions stored once.
    """

    def __init__(self, path, field_shape=None, field_dtype=None, *, energies: bool = True, attrs: dict | None = None,
                 positions: np.ndarray | None = None, create: bool = True):
        self.path = Path(path)
        self.energies = energies
        self._buffer: list[tuple[int, float, np.ndarray, float]] = []
        if create:
            self._create(tuple(field_shape), np.dtype(field_dtype), attrs or {}, positions)
        with h5py.File(self.path, "r") as f:
            self.n_written = len(f["steps"])
            self.energies = "energies" in f

    def _create(self, field_shape, field_dtype, attrs, positions):
        chunk = max(1, min(64, (1 << 20) // max(1, int(np.prod(field_shape)) * field_dtype.itemsize)))
        with h5py.File(self.path, "w") as f:
            f.create_dataset("fields", (0, *field_shape), field_dtype, maxshape=(None, *field_shape),
                             chunks=(chunk, *field_shape))
            f.create_dataset("steps", (0,), np.int64, maxshape=(None,), chunks=(1024,))
            f.create_dataset("times", (0,), np.float64, maxshape=(None,), chunks=(1024,))
            if self.energies:
                f.create_dataset("energies", (0,), np.float64, maxshape=(None,), chunks=(1024,))
            if positions is not None:
                f.create_dataset("positions", data=np.asarray(positions, dtype=np.float64))
            json_keys = [key for key, value in attrs.items() if isinstance(value, (dict, list))]
            for key, value in attrs.items():
                f.attrs[key] = json.dumps(value, default=_plain) if key in json_keys else value
            f.attrs["json_attrs"] = json.dumps(json_keys)

    @property
    def n_buffered(self) -> int:
        """Frames appended but not yet written."""
        return len(self._buffer)

    @property
    def n_frames(self) -> int:
        """Frames appended so far (written and buffered)."""
        return self.n_written + len(self._buffer)

    def append(self, step: int, time: float, field: np.ndarray, energy: float | None = np.nan) -> None:
        """Buffer one frame; ``energy`` None (a calculator without energy: CNN torque model, KPM) is stored as NaN."""
        energy = np.nan if energy is None else float(energy)
        self._buffer.append((int(step), float(time), np.array(field, copy=True), energy))

    def flush(self) -> None:
        """Write the buffered frames in one burst and close the file."""
        if not self._buffer:
            return
        steps, times, fields, energies = zip(*self._buffer)
        n0, n1 = self.n_written, self.n_written + len(steps)
        with h5py.File(self.path, "a") as f:
            for name, values in zip(_PER_FRAME, (fields, steps, times, energies)):
                if name in f:
                    f[name].resize(n1, axis=0)
                    f[name][n0:n1] = np.asarray(values, dtype=f[name].dtype)
            f.flush()
        self.n_written = n1
        self._buffer.clear()

    def truncate(self, n_frames: int) -> None:
        """Drop every frame after the first ``n_frames`` (buffered ones included)."""
        self._buffer.clear()
        with h5py.File(self.path, "a") as f:
            for name in _PER_FRAME:
                if name in f and len(f[name]) > n_frames:
                    f[name].resize(n_frames, axis=0)
        self.n_written = min(self.n_written, n_frames)


def _plain(value):
    """JSON fallback for numpy scalars and arrays inside metadata dicts."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


class TrajectoryObserver(Observer):
    """Records the field (and the calculator energy, if ``energies``) every ``stride`` steps into a writer.

    Frames are buffered and written every ``flush_every`` frames and whenever the simulation checkpoints.
    """

    def __init__(self, writer: TrajectoryWriter, stride: int = 1, *, energies: bool = True, flush_every: int = 100):
        super().__init__(stride)
        self.writer = writer
        self.energies = energies and writer.energies
        self.flush_every = int(flush_every)

    def observe(self, state: State, stepper: Stepper) -> None:
        energy = self._energy(state, stepper)
        self.writer.append(state.step, state.time, state.field, energy)
        if self.writer.n_buffered >= self.flush_every:
            self.writer.flush()

    def _energy(self, state: State, stepper: Stepper):
        if not self.energies:
            return np.nan
        try:
            return stepper.calculator.energy(state.field)
        except NotImplementedError:  # a calculator of move energies only (ML kMC): frames carry NaN
            self.energies = False
            return np.nan

    def flush(self) -> None:
        self.writer.flush()

    def position(self) -> int:
        return self.writer.n_frames

    def restore(self, position: int) -> None:
        self.writer.truncate(position)


def read_trajectory(path) -> dict:
    """Load a trajectory file: a dict of arrays (``fields``, ``steps``, ``times``, ``energies`` and ``positions``
    where present) plus ``attrs`` (JSON attributes decoded)."""
    with h5py.File(path, "r") as f:
        out = {name: f[name][()] for name in (*_PER_FRAME, "positions") if name in f}
        json_keys = json.loads(f.attrs.get("json_attrs", "[]"))
        out["attrs"] = {key: json.loads(value) if key in json_keys else value
                        for key, value in f.attrs.items() if key != "json_attrs"}
    return out
