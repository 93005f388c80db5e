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

__all__ = ["TARGETS", "Metric", "run", "list_targets", "describe", "last_result"]

TARGETS: dict[str, str] = {
    "fig2.4": "latticeml.reproduce.ch2:fig2_4",
    "fig2.5": "latticeml.reproduce.ch2:fig2_5",
    "fig2.6": "latticeml.reproduce.ch2:fig2_6",
    "fig2.7": "latticeml.reproduce.ch2:fig2_7",
    "fig2.8": "latticeml.reproduce.ch2:fig2_8",
    "fig2.9": "latticeml.reproduce.ch2:fig2_9",
    "fig2.11": "latticeml.reproduce.ch2:fig2_11",
    "fig3.3": "latticeml.reproduce.ch3_ml:fig3_3",
    "fig3.4": "latticeml.reproduce.ch3_ml:fig3_4",
    "fig3.7": "latticeml.reproduce.ch3_ml:fig3_7",
    "fig3.8": "latticeml.reproduce.ch3:fig3_8",
    "fig3.9": "latticeml.reproduce.ch3:fig3_9",
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


def describe(target: str, width: int = 110) -> str:
    """One line on what ``target`` reproduces: the first paragraph of its function's docstring, cut to ``width``."""
    fn = _resolve(target)
    doc = (fn.__doc__ or "").strip() if fn is not None else ""
    line = " ".join(doc.split("\n\n")[0].split())  # the first paragraph
    return line if len(line) <= width else line[:width - 1] + "…"


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def last_result(target: str, out: str | Path) -> str | None:
    """Summary of the ``metrics.json`` that a run of ``target`` left in ``out`` (None when there is none): scale,
    judged metrics passed, the failing ones with their values, run time."""
    path = Path(out) / target / "metrics.json"
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text())
        judged = [m for m in payload["metrics"] if m["passed"] is not None]
        failing = [m for m in judged if not m["passed"]]
        text = (f"{'quick' if payload['quick'] else 'full'} scale, seed {payload['seed']}: "
                f"{len(judged) - len(failing)}/{len(judged)} judged metrics pass")
        if failing:
            text += "; FAIL " + ", ".join(f"{m['name']} = {_short(m['value'])} (target {_short(m['target'])})"
                                          for m in failing)
        return text + f"; {payload['seconds']:.0f} s"
    except (ValueError, KeyError, TypeError) as err:  # a metrics.json from elsewhere or cut short
        return f"unreadable {path} ({type(err).__name__}: {err})"


def run(target: str, *, quick: bool = False, out: str | Path = "reproduce-out", seed: int = 0) -> dict:
    from ..errors import LatticeMLError
    from ..io.paths import make_output_dir

    if target not in TARGETS:
        raise LatticeMLError(f"unknown target {target!r}; `latticeml reproduce --list` shows the targets")
    fn = _resolve(target)
    if fn is None:
        raise LatticeMLError(f"target {target} is not implemented yet")
    out_dir = make_output_dir(Path(out) / target)
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
