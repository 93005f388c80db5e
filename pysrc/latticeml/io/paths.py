"""Output folders of the commands: created up front, so that a path that cannot be written is a one-line error before
any work is done (not a traceback after it)."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import LatticeMLError

__all__ = ["make_output_dir"]


def make_output_dir(path, option: str = "--out") -> Path:
    """Create the folder ``path`` (and its parents) and check that it is writable; errors name ``option``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise LatticeMLError(f"{option}: {str(path)!r} is a file, not a folder; choose another location")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LatticeMLError(f"{option}: cannot create folder {str(path)!r} ({err.strerror or err}); "
                             "choose a writable location") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise LatticeMLError(f"{option}: folder {str(path)!r} is not writable; choose a writable location")
    return path
