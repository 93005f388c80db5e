"""The pieces every dynamics run is made of: the evolving :class:`State`, a :class:`Stepper` and :class:`Observer` s."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends import get_backend

__all__ = ["State", "Stepper", "Observer", "Recorder"]


@dataclass
class State:
    """The configuration being evolved: the field (site order of the lattice), time, step count, extras.

    ``extras`` holds further dynamical variables that belong to the state (e.g. Langevin momenta under
    ``"momentum"``); everything in it is saved in checkpoints.
    """

    field: np.ndarray
    time: float = 0.0
    step: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> "State":
        return State(self.field.copy(), self.time, self.step, copy.deepcopy(self.extras))


class Stepper:
    """Base of the time steppers: ``step(state, rng)`` advances ``state`` in place by one step.

    A stepper talks to its ``calculator`` through the calculator protocol only. Whatever it caches between steps is
    returned by :meth:`state_dict` and restored by :meth:`load_state_dict`, so that a resumed run is bitwise
    identical to an uninterrupted one.
    """

    calculator: Any
    #: unit of ``State.time`` (written to the trajectory; empty = the model's natural unit)
    time_unit: str = ""

    def __init__(self, calculator, backend=None):
        self.calculator = calculator
        self.kernels = get_backend(backend)

    def step(self, state: State, rng: np.random.Generator) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def prepare(self, state: State) -> None:
        """Called once before the first step: tell the calculator the configuration, build caches from the state.

        On resume, :meth:`load_state_dict` follows and overrides what this built.
        """
        self.calculator.reset(state.field)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, d: dict) -> None:
        """Restore what :meth:`state_dict` returned."""

    def summary(self) -> dict:
        """Counters and settings worth logging at the end of a run."""
        return {}

    def describe(self) -> dict:
        """Plain-dict description of the stepper and its parameters (stored in run files)."""
        return {"stepper": type(self).__name__}


class Observer:
    """Something called every ``stride`` steps with the state (after the step); subclasses implement ``observe``.

    ``position()`` / ``restore(position)`` let a checkpoint record and rewind how far the observer's output got.
    """

    def __init__(self, stride: int = 1):
        if int(stride) < 1:
            raise ValueError(f"observer stride must be a positive integer, got {stride}")
        self.stride = int(stride)

    def __call__(self, state: State, stepper: Stepper) -> None:
        if state.step % self.stride == 0:
            self.observe(state, stepper)

    def observe(self, state: State, stepper: Stepper) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def flush(self) -> None:
        """Write buffered output (called before each checkpoint and at the end)."""

    def position(self) -> Any:
        return None

    def restore(self, position: Any) -> None:
        """Rewind the output to ``position`` (as returned by :meth:`position` at the checkpoint)."""


class Recorder(Observer):
    """Observer that keeps copies of the field, step and time in memory (lists ``fields``, ``steps``, ``times``)."""

    def __init__(self, stride: int = 1):
        super().__init__(stride)
        self.fields: list[np.ndarray] = []
        self.steps: list[int] = []
        self.times: list[float] = []

    def observe(self, state: State, stepper: Stepper) -> None:
        self.fields.append(np.array(state.field, copy=True))
        self.steps.append(state.step)
        self.times.append(state.time)

    def position(self) -> int:
        return len(self.steps)

    def restore(self, position: int) -> None:
        del self.fields[position:], self.steps[position:], self.times[position:]
