"""Reproduction targets named after the dissertation's figures.

``latticeml reproduce TARGET [--quick] [--out DIR]`` runs ``TARGETS[TARGET]`` and writes
``DIR/TARGET/metrics.json`` (our numbers beside the dissertation's, each with tolerance and a pass flag) plus PNG
figures. Each target function has the signature ``fn(out_dir: Path, quick: bool, seed: int) -> list[Metric]``.
"""
from __future__ import annotations

import importlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["TARGETS", "Metric", "run", "list_targets"]

TARGETS: dict[str, str] = {
    "fig2.4": "latticeml.reproduce.ch2:fig2_4",
    "fig2.5": "latticeml.reproduce.ch2:fig2_5",
    "fig2.6": "latticeml.reproduce.ch2:fig2_6",
    "fig2.7": "latticeml.reproduce.ch2:fig2_7",
    "fig2.8": "latticeml.reproduce.ch2:fig2_8",
    "fig2.9": "latticeml.reproduce.ch2:fig2_9",
    "fig2.11": "latticeml.reproduce.ch2:fig2_11",
    "fig3.3": "latticeml.reproduce.ch3:fig3_3",
    "fig3.4": "latticeml.reproduce.ch3_ml:fig3_4",
    "fig3.7": "latticeml.reproduce.ch3_ml:fig3_7",
    "fig3.8": "latticeml.reproduce.ch3:fig3_8",
    "fig3.10": "latticeml.reproduce.ch3_ml:fig3_10",
    "fig3.11": "latticeml.reproduce.ch3_ml:fig3_11",
    "fig3.12": "latticeml.reproduce.ch3_ml:fig3_12",
    "fig3.13": "latticeml.reproduce.ch3_ml:fig3_13",
    "fig3.14": "latticeml.reproduce.ch3_ml:fig3_14",
    "fig3.16": "latticeml.reproduce.ch3_ml:fig3_16",
}


@dataclass
class Metric:
    """One number of a reproduction: ours, the dissertation's, the tolerance rule and whether it passes."""

    name: str
    value: float
    target: float | str | None = None
    tolerance: str = ""
    passed: bool | None = None
    note: str = ""


def _resolve(target: str):
    mod, fn = TARGETS[target].split(":")
    try:
        module = importlib.import_module(mod)
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith("latticeml"):
            return None
        raise
    return getattr(module, fn, None)


def list_targets() -> dict[str, str]:
    return {t: ("available" if _resolve(t) is not None else "not implemented") for t in TARGETS}


def run(target: str, *, quick: bool = False, out: str | Path = "reproduce-out", seed: int = 0) -> dict:
    from ..errors import LatticeMLError

    if target not in TARGETS:
        raise LatticeMLError(f"unknown target {target!r}; `latticeml reproduce --list` shows the targets")
    fn = _resolve(target)
    if fn is None:
        raise LatticeMLError(f"target {target} is not implemented yet")
    out_dir = Path(out) / target
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    metrics = fn(out_dir, quick=quick, seed=seed)
    payload = {
        "target": target,
        "quick": quick,
        "seed": seed,
        "seconds": round(time.time() - t0, 2),
        "metrics": [asdict(m) for m in metrics],
        "all_passed": all(m.passed is not False for m in metrics),
        "figures": sorted(p.name for p in out_dir.glob("*.png")),
    }
    (out_dir / "metrics.json").write_text(json.dumps(payload, indent=2, default=float))
    return payload
