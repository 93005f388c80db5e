"""Atomic checkpoint files: a run's complete dynamical state, written so that a crash never leaves half a file.

A checkpoint is a pickled dict (state, stepper and calculator caches, the random generator's ``bit_generator``
state, observer positions). It is trusted local data written by this package: load only checkpoints you made.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

from ..errors import LatticeMLError

__all__ = ["atomic_write_bytes", "save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT"]

#: version of the checkpoint layout; bump when the payload changes incompatibly
CHECKPOINT_FORMAT = 1


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, ``os.replace``.

    Readers (and a resume after SIGKILL) see either the old file or the new one, never a partial write.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # make the rename itself durable
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` (a dict of arrays, numbers, strings and nested dicts) atomically to ``path``."""
    atomic_write_bytes(path, pickle.dumps({"format": CHECKPOINT_FORMAT, **payload}, protocol=pickle.HIGHEST_PROTOCOL))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise LatticeMLError(f"no checkpoint at {path}: the run never reached its first checkpoint; start it again")
    try:
        with open(path, "rb") as fh:
            payload = pickle.load(fh)
    except PermissionError:
        raise LatticeMLError(f"checkpoint {path} is not readable (permission denied)") from None
    except Exception as err:  # truncated or foreign files raise EOFError, UnpicklingError, ValueError, ...
        raise LatticeMLError(f"checkpoint {path} is damaged ({type(err).__name__}); it is written atomically, so "
                             "another program changed it: restore it or start the run again") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise LatticeMLError(f"checkpoint {path} has format {found}, this latticeml reads "
                             f"{CHECKPOINT_FORMAT}; rerun with the latticeml version that wrote it")
    return payload
