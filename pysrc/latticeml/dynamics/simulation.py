"""The run loop: step, observe, checkpoint, show progress; resume from a checkpoint bitwise-exactly."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np

from .base import Observer, State, Stepper

__all__ = ["Simulation"]


class Simulation:
    """Runs ``stepper`` on ``state`` until ``state.step == n_steps``, calling ``observers`` after each step.

    Observers see the initial state (step 0) and every step that is a multiple of their stride. Every
    ``checkpoint_every`` steps (and at the end) the observers are flushed and a checkpoint is written atomically to
    ``checkpoint_path``: the state, ``stepper.state_dict()``, ``calculator.checkpoint_state()`` when the calculator
    has one (restored by its ``restore_checkpoint_state``; otherwise the calculator's cache is rebuilt by ``reset``,
    which must then give bitwise the same numbers), the observers' positions and the random generator's
    ``bit_generator.state``. :meth:`from_checkpoint` restores all of it, so an interrupted and resumed run is
    bitwise identical to an uninterrupted one.

    Parameters
    ----------
    state : State
    stepper : Stepper
    seed : int or numpy.random.Generator
        Seed of the run's generator (``np.random.default_rng(seed)``), or the generator itself.
    n_steps : int
        Step count at which the run ends (a resumed run continues to the same count).
    observers : sequence of Observer
    checkpoint_every : int, optional
        Steps between checkpoints; requires ``checkpoint_path``.
    checkpoint_path : path, optional
    progress : bool
        Show a tqdm progress bar (only when stderr is a terminal).
    log : logging.Logger, optional
        Receives one line per checkpoint and a summary at the end.
    """

    def __init__(self, state: State, stepper: Stepper, *, seed, n_steps: int, observers: list[Observer] = (),
                 checkpoint_every: int | None = None, checkpoint_path=None, progress: bool = True,
                 log: logging.Logger | None = None):
        if checkpoint_every is not None and (int(checkpoint_every) < 1 or checkpoint_path is None):
            raise ValueError("checkpoint_every must be a positive integer and needs checkpoint_path")
        self.state = state
        self.stepper = stepper
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.n_steps = int(n_steps)
        self.observers = list(observers)
        self.checkpoint_every = None if checkpoint_every is None else int(checkpoint_every)
        self.checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        self.progress = progress
        self.log = log or logging.getLogger("latticeml.dynamics")
        self._started = False

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_payload(self) -> dict:
        calc = self.stepper.calculator
        return {
            "state": self.state.copy(),
            "stepper": self.stepper.state_dict(),
            "calculator": calc.checkpoint_state() if hasattr(calc, "checkpoint_state") else None,
            "rng": self.rng.bit_generator.state,
            "observers": [o.position() for o in self.observers],
            "n_steps": self.n_steps,
        }

    def checkpoint(self) -> None:
        """Flush the observers, then write the checkpoint (so it never counts output that is not on disk)."""
        from ..io.checkpoint import save_checkpoint

        for obs in self.observers:
            obs.flush()
        save_checkpoint(self.checkpoint_path, self.checkpoint_payload())

    @classmethod
    def from_checkpoint(cls, checkpoint_path, stepper: Stepper, *, observers: list[Observer] = (), **kwargs):
        """Rebuild a simulation from a checkpoint; ``stepper`` and ``observers`` are freshly built as for the run.

        The observers are rewound to their checkpointed positions (output written after the checkpoint is dropped).
        ``kwargs`` are those of the constructor except ``seed`` and ``checkpoint_path`` (taken from the checkpoint);
        ``n_steps`` defaults to the checkpointed one (a larger value extends the run).
        """
        from ..io.checkpoint import load_checkpoint

        payload = load_checkpoint(checkpoint_path)
        rng = np.random.Generator(getattr(np.random, payload["rng"]["bit_generator"])())  # the run's own kind
        rng.bit_generator.state = payload["rng"]
        kwargs.setdefault("n_steps", payload["n_steps"])
        sim = cls(payload["state"], stepper, seed=rng, observers=observers, checkpoint_path=checkpoint_path, **kwargs)
        stepper.prepare(sim.state)
        stepper.load_state_dict(payload["stepper"])
        if payload["calculator"] is not None:
            stepper.calculator.restore_checkpoint_state(payload["calculator"])
        for obs, pos in zip(sim.observers, payload["observers"]):
            obs.restore(pos)
        sim._started = True
        return sim

    # ------------------------------------------------------------------ loop
    def _progress_bar(self):
        from tqdm.auto import tqdm

        return tqdm(total=self.n_steps, initial=self.state.step, unit="step", dynamic_ncols=True,
                    disable=not (self.progress and sys.stderr.isatty()))

    def run(self) -> State:
        """Run to ``n_steps``; returns the final state."""
        state, stepper = self.state, self.stepper
        if not self._started:
            stepper.prepare(state)
            for obs in self.observers:
                obs(state, stepper)
            self._started = True
        t0, step0, checkpointed_at = time.perf_counter(), state.step, None
        with self._progress_bar() as bar:
            while state.step < self.n_steps:
                stepper.step(state, self.rng)
                for obs in self.observers:
                    obs(state, stepper)
                if self.checkpoint_every and state.step % self.checkpoint_every == 0:
                    self.checkpoint()
                    checkpointed_at = state.step
                    self.log.info("checkpoint at step %d (t = %g), %.3g steps/s", state.step, state.time,
                                  (state.step - step0) / max(time.perf_counter() - t0, 1e-12))
                bar.update(1)
        if self.checkpoint_path is not None and checkpointed_at != state.step:  # also for a run of zero steps
            self.checkpoint()
        else:
            for obs in self.observers:
                obs.flush()
        elapsed = time.perf_counter() - t0
        summary = stepper.summary()
        self.log.info("finished at step %d (t = %g) after %.3f s%s", state.step, state.time, elapsed,
                      f"; {summary}" if summary else "")
        return state
