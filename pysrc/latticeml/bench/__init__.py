"""Benchmarks behind ``latticeml bench NAME``: each prints one JSON object with measured figures and ratios
against its baseline, all measured in the same run (never a timing assertion in tests)."""
from __future__ import annotations

import importlib
import json
import platform
import sys

__all__ = ["BENCHMARKS", "run"]

BENCHMARKS: dict[str, str] = {
    "fk-ed": "latticeml.bench.fk_ed:run",
    "descriptors": "latticeml.bench.descriptors:run",
    "ml-inference": "latticeml.bench.ml_inference:run",
    "fk-ml": "latticeml.bench.fk_ml:run",
    "sd-llg": "latticeml.bench.sd_llg:run",
}


def run(name: str, quick: bool = False, **kwargs) -> dict:
    if name not in BENCHMARKS:
        from ..errors import LatticeMLError

        raise LatticeMLError(f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}")
    mod, fn = BENCHMARKS[name].split(":")
    result = getattr(importlib.import_module(mod), fn)(quick=quick, **kwargs)
    result = {"benchmark": name, **result, "machine": {"python": sys.version.split()[0],
                                                       "platform": platform.platform()}}
    print(json.dumps(result, indent=2, default=float))
    return result
