"""User-facing errors: the CLI prints them as one line and exits 2 (no traceback)."""
from __future__ import annotations

__all__ = ["LatticeMLError", "ConfigError", "ModelMismatchError"]


class LatticeMLError(Exception):
    """Base of errors that are the user's to fix; the message must say what and how."""


class ConfigError(LatticeMLError, ValueError):
    """A configuration value is invalid. ``field`` is the dotted key path (e.g. ``model.U``)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"config field '{field}': {message}")


class ModelMismatchError(LatticeMLError, ValueError):
    """A model file does not fit the simulation it was loaded into; the message names what differs."""
