"""``latticeml bench ml-inference``: site evaluations per second of the ML calculators vs the exact s-d calculator.

Measured in one run on this machine (torch on CPU, its default thread count):

* BP energy model on the triangular lattice: bond invariants within 6a (126 features, ch3 spec §8 variable (a)) and
  the ch3 MLP widths; one evaluation = energy + exchange field on every site by autograd;
* ResNet torque CNN (ch3 spec §7 default: 4 blocks of 64 channels, 10 hexagonally masked 5×5 convolutions);
* exact: dense ED of the s-d model (``SDCalculator(method="ed")``) on growing L×L until one evaluation exceeds
  the time budget; the ratio uses the largest L it finished.

Site evaluations per second = N / (seconds per whole-lattice evaluation), the fastest of the timed calls. Networks
are untrained (inference cost does not depend on the weights). On a machine shared with other work the figures
scatter; the ratios are only meaningful within one run.
"""
from __future__ import annotations

import time

import numpy as np

__all__ = ["run", "ml_timings", "BP_HIDDEN"]

#: ch3 spec §8 MLP widths (after the descriptor)
BP_HIDDEN = [2048, 1024, 512, 256, 128, 64, 64, 64]


def _random_spins(n: int, rng) -> np.ndarray:
    s = rng.standard_normal((n, 3))
    return s / np.linalg.norm(s, axis=1, keepdims=True)


def _seconds_per_call(fn, repeats: int, warmup: bool = True) -> float:
    """Fastest of ``repeats`` timed calls (the least disturbed by other load on a shared machine)."""
    if warmup:
        fn()  # allocations, lazy initialisation
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def ml_timings(L: int, *, quick: bool = False, repeats: int = 2, seed: int = 0) -> dict:
    """Seconds per whole-lattice evaluation and site evaluations per second of the BP and CNN calculators."""
    import torch

    from ..calculators.ml import BPCalculator, CNNFieldCalculator
    from ..lattice import triangular
    from ..ml.networks import build_network

    lattice = triangular(L)
    spins = _random_spins(lattice.N, np.random.default_rng(seed))
    torch.manual_seed(seed)
    bp_net = build_network("bp", descriptor={"kind": "spin_bonds", "lattice": "triangular", "cutoff": 6.0},
                           hidden=[128, 64] if quick else BP_HIDDEN, activation="relu")
    cnn_net = build_network("cnn", lattice="triangular", **({"width": 16, "n_blocks": 2} if quick else {}))
    out = {"L": L, "N": lattice.N, "torch_threads": torch.get_num_threads()}
    for name, calc in (("bp", BPCalculator(bp_net, {"kind": "bp", "field_kind": "spin"}, lattice)),
                       ("cnn", CNNFieldCalculator(cnn_net, {"kind": "cnn", "field_kind": "spin"}, lattice))):
        sec = _seconds_per_call(lambda: calc.compute(spins), repeats)
        n_params = sum(p.numel() for p in calc.network.parameters())
        out[name] = {"seconds_per_evaluation": sec, "site_evaluations_per_second": lattice.N / sec,
                     "parameters": n_params}
    out["bp"]["features"] = bp_net.featurizer.n_features
    out["cnn"]["receptive_field"] = cnn_net.receptive_field
    return out


def _exact_timings(sizes, budget_s: float, seed: int) -> list[dict]:
    from ..calculators.sd import SDCalculator
    from ..lattice import triangular

    warm = triangular(6)  # first call pays one-off compilation/initialisation: keep it out of the timings
    SDCalculator(warm, method="ed").compute(_random_spins(warm.N, np.random.default_rng(seed)))
    rows = []
    for L in sizes:
        lattice = triangular(L)
        calc = SDCalculator(lattice, method="ed")
        spins = _random_spins(lattice.N, np.random.default_rng(seed))
        sec = _seconds_per_call(lambda: calc.compute(spins), 1, warmup=False)
        if sec < 1.0:  # cheap sizes: best of three
            sec = min(sec, _seconds_per_call(lambda: calc.compute(spins), 2, warmup=False))
        rows.append({"L": L, "N": lattice.N, "seconds_per_evaluation": sec, "site_evaluations_per_second":
                     lattice.N / sec})
        if sec > budget_s:
            break
    return rows


def run(quick: bool = False, seed: int = 0) -> dict:
    """Measure ML and exact evaluation rates (see the module docstring)."""
    L_ml = 48 if quick else 150
    # exact first: torch's OpenMP workers keep spinning for a while after a parallel region and would steal the
    # cores from the LAPACK threads of the exact solver
    exact_sizes = (6, 12) if quick else (12, 18, 24, 30, 36, 42, 48)
    exact = _exact_timings(exact_sizes, budget_s=0.5 if quick else 8.0, seed=seed)
    ml = ml_timings(L_ml, quick=quick, repeats=1 if not quick else 2, seed=seed)
    largest = exact[-1]
    rate = largest["site_evaluations_per_second"]
    return {
        "description": "site evaluations per second (N / seconds per whole-lattice field evaluation) of the BP and "
                       "CNN ML calculators on the triangular lattice vs dense ED of the s-d model",
        "ml": ml,
        "exact": {"method": "SDCalculator(method='ed')", "sizes": exact, "largest_L": largest["L"]},
        "ratio_vs_exact": {"bp": ml["bp"]["site_evaluations_per_second"] / rate,
                           "cnn": ml["cnn"]["site_evaluations_per_second"] / rate},
        "note": "ratios compare per-site rates of the ML models at L=%d with exact ED at its largest L=%d "
                "(exact cost per site grows like N^2, ML cost per site is constant)" % (L_ml, largest["L"]),
    }
