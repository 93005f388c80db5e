"""Dynamics: the evolving state, steppers (kinetic Monte Carlo, LLG, Langevin, Brownian) and the run loop.

Every stepper talks to a calculator through the calculator protocol only, so exact and learned calculators are
interchangeable. ``Simulation`` runs the loop with observers, atomic checkpoints and exact resume.
"""
from .base import Observer, Recorder, State, Stepper
from .kmc import KineticMC, neighbor_hops
from .langevin import Brownian, Langevin
from .llg import LLG
from .simulation import Simulation

__all__ = ["State", "Stepper", "Observer", "Recorder", "KineticMC", "neighbor_hops", "LLG", "Langevin", "Brownian",
           "Simulation"]
