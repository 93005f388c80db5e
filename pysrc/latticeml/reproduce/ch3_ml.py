"""Chapter 3 reproduction targets of the ML models: the CNN torque model and the Behler-Parrinello (BP) energy model
trained on exact LLG data of the triangular-lattice s-d model (spec ch3 §4–§10).

Pipeline shared by all targets (each step cached, so the targets reuse each other's work when they write into the
same ``--out`` folder): exact LLG runs with the exact field at every saved snapshot (``OUT/_data``) → in-memory
:class:`~latticeml.ml.data.Dataset` split by trajectory → :class:`~latticeml.ml.train.Trainer` → model file
(``OUT/_models``) → :class:`~latticeml.calculators.ml.MLCalculator` driving LLG at T = 0 with H_ext = 0.005 ẑ added
outside the network.

Sizes. The exact field along an LLG run (fast method, warm-started CheFSI) costs ≈ 25 ms per SIB step on 12×12 and
≈ 0.3 s on 24×24 (one ED ≈ 2–3 s) on the shared 2-core CPU, one thread. The ``--quick`` tier therefore trains on
**12×12** exact data (spec §11 proposes 24×24 for its CPU tier: the same number of snapshots would cost ≈ 12× the
≈ 2.5 minutes the 12² data take; 12 is the smallest size with a commensurate skyrmion lattice), with a CNN of the
spec's architecture (4 residual blocks + 1 tail conv + linear conv = 10 hexagonally masked 5×5 layers, receptive
field 41) but 32 instead of 64 channels, and a BP model on the bond variables S_i·S_j within r1 = 6 (variable (a) of
the spec's descriptor, 126 features, D6 by augmentation) with a 3-layer SiLU MLP. The full IR descriptor
(``spin_ir``, 1768 features) is kept for the full scale: on the few quick training runs its standardisation divides
by near-zero spreads and the model does not generalise (validation loss 50× training). The BP model also trains on
the CNN's exact runs (the field does not depend on α).

CNN training (both tiers). The loss compares torques: the network output's part along S is projected out before the
loss (``Trainer(project_output=True)``), as in Eq. 3.11 whose T = S × ŷ does not see it, and the calculator projects the
same way at inference. First MSE (``warm_start``), then the relative L1 of Eq. 3.11 (from scratch it stays at the
trivial ŷ = 0). Measured on the quick tier (same 42 test snapshots, fraction of sites with angle(ŷ, y) < 10°):
raw-output MSE as before 0.04 (early stop at 30 epochs) / 0.33 (120 epochs, 28 training runs); torque MSE 0.51
after 30 epochs, 0.57 after 70, and the relative L1 stage adds ≈ 0; the linear RKKY-like kernel H(q) = K(q) S(q)
fitted by least squares gives 0.37. Both training and validation torque MSE stall at ≈ 0.06 (normalised units):
half the training runs give the same 0.06, 4 runs (84 snapshots) reach 0.061 / 0.065 after 110 epochs, and 64
channels learn no faster per epoch (fig3.4 quick: 0.553; random starts 0.41, SkL 0.70; 292 CPU-s).

Why the quick tier stays far from target 4 (≥ 90 % < 10°), measured Nov 2026 (session 3; scripts not in the package).
(1) The 12² truth is mostly a finite-size effect. The exact field of the same 12-periodic texture on the (12k)² torus
(k² Bloch twists of the 288×288 matrix, T_el = 0.01; ``SDCalculator(method="ed", twists=k)``) converges by k = 4 (48²:
within 10° of k = 8 on 97 % of sites, relative RMS 2.5 %), but the 12² field agrees with it on only 41 % of the test
sites (relative RMS difference 0.41; 44 % at T_el = 0.03, 56 % at T_el = 0.1). With a level spacing ≈ 0.04 ≫ T_el, the
small H_⊥ (0.005–0.025) depends on which few levels near μ are occupied: a global, near-discontinuous function of all
spins. The wrong sites are spread over all |H_⊥| quartiles (0.40–0.64 < 10°) and all snapshot times. Even 24² is not
converged: on 24² LLG snapshots the 24² field agrees with the 72² one on 80 % of sites (random 86 %, SkL 73 %; 48² vs
72²: 98.5 %). (2) Against a converged target the field is still not learned to 10°: with the 48² field of the same 12²
snapshots as target (16 twists × 672 snapshots, ≈ 220 CPU-s more) the CNN of this tier reaches 0.71 (train / validation
torque MSE 0.018 / 0.020, 124 CPU-s), width 64 0.73 after 50 MSE epochs (310 CPU-s, same per-epoch curve); a
least-squares linear kernel K(d) (one weight per D6 orbit, fitted after projection to H_⊥) reaches 0.65 / 0.70 / 0.71
for radius 3 / 5 / 6 (0.37 / 0.39 / 0.41 on the 12² field; 0.69 from a quarter of the data; on 24² snapshots against
their 72² field 0.68 with the radius-5 kernel of the 12² snapshots and 0.72 with radius 11 fitted in sample); adding
every cubic term S_a (S_b·S_c) with a within 3 and b, c within 1 gives 0.68 (no gain); the CNN as a correction to the
fitted kernel (a linear skip in the network) 0.72 after 80 epochs, 153 CPU-s (at Adam lr 1e-3 its residual blocks die at
once and the loss stays the kernel's). So the linear RKKY part is ≈ 0.70 and what is left is neither local low order nor
learned by this CNN in minutes. (3) 24² exact data (spec §11 CPU tier; 4 training + 2 test runs of 100 steps saved every
5, 241 CPU-s under load): CNN 0.61 after 50 MSE epochs (49 CPU-s; the relative L1 stage then lowers it to 0.56) and a
plateau of 0.62 by 100 epochs (150 epochs: 0.625, 147 CPU-s, train / validation MSE 0.023 / 0.027); the 12²-trained CNN
scores 0.45 on the same 24² test snapshots. So ≈ 390 CPU-s give 0.62 against 0.55 for the 12² tier's ≈ 310 s, and by (1)
a model of the converged field would itself score only ≈ 0.8 against 24² truth. What it would take: exact data on ≥ 48²
(finite-size effects below 10° on ≥ 98 % of sites), i.e. the GPU tier, and it is open whether a CNN of this family
reaches 90 % there at T_el = 0.01 (on 12-periodic textures with 48² truth it stalls at 0.71–0.72). (4) Dec 2026 (session
7; scripts not in the package): neither the electron temperature nor the CNN's learned-by-augmentation spin symmetry is
the bottleneck at this data size. The whole quick tier with T_el = 0.05 (level spacing 0.04 now smeared, the field
smooth in the spins) gives 0.561 instead of 0.552 (train / validation MSE both ≈ 0.044 at the end of the MSE stage: no
overfitting, a plateau). An exactly SO(3)-equivariant, time-reversal-odd network (vector channels convolved with
hexagonal kernels shared by x, y, z, gated by learned bilinear invariants S·S; 16 vector channels, 4 blocks, 3 s per
epoch) reaches 0.54 on the quick data after one epoch and then only overfits (0.59 at T_el = 0.05; 0.48 / 0.60 / 0.59
with 1/4, 1/2 and all training runs). Against the converged field (48² by 4×4 Bloch twists, same 672 snapshots, 190
CPU-s) the same network gives 0.73 (train / validation MSE 0.021 / 0.064), like the CNN's 0.71–0.73; its learning curve
there (30 epochs each, same 42 test snapshots; validation swings by ±0.05 between epochs) is

    training snapshots   147     294     588     1,596   3,696   5,796
    fraction < 10°       0.658   0.702   0.728   0.795   0.838   0.851   (> 30°: 2.9 % at 3,696, 2.8 % at 5,796)

where the points beyond 588 add 12² runs of other seeds (48 runs: 150 s of exact LLG and 340 s of twisted fields;
session 8, Dec 2026: 200 more runs, 810 s of exact LLG in 2 processes and 2,307 s of twisted fields, then 864 s of
training for the last point). A log-linear fit of all six gives +0.037 per doubling and 90 % at ≈ 13,000 snapshots
(≈ 22× the quick tier's 588; their exact data with the twisted truth take ≈ 2.7 hours on the 2-core machine); the
last three points alone give +0.031 per doubling and ≈ 17,000 (28×). The dissertation's P1 set holds 30,000 × 2,304
sites ≈ 800× the quick tier's. So against the converged field the accuracy keeps growing with the data at a steady
rate (90 % is an extrapolation, not measured), while a model of that field would score only ≈ 0.42 against the
quick tier's 12² truth (point 1).
(5) The same finite-size floor explains the quick fig3.7 fail (BP test MSE of H_⊥ 4.8e-5 against ≤ 3e-6; 4.5e-5 before
the BP runs got seeds apart from the CNN runs' in Dec 2026): the MSE of the 12² truth itself against the 48² field of
the same BP test spins (4×4 twists) is 4.4e-5, recorded by fig3.7 as
``mse_exact_field_vs_twisted_H_perp`` (Dec 2026, session 8), so a BP model of the large-system field would score
the same; on 40 training snapshots that floor is 3.1e-5, which accounts for much of the test/train ratio of 1.8.

===========  =============================================================  ==========================================
target       --quick (CPU, 12×12 exact data)                                full scale (spec §9, GPU)
===========  =============================================================  ==========================================
CNN data     8 random + 8 perturbed-SkL exact runs, 200 steps, α = 0.05,    P1: 30 + 30 runs on 48², 5,000 steps,
             saved every 10, split 6/1/1 runs per type, + 8 + 8 training    saved every 10 (30,000 snapshots)
             runs of other seeds (588 train / 42 val / 42 test snapshots)
CNN model    width 32, 4 blocks, tail [16]; torque MSE 50 epochs then rel.  width 64, tail [32]; MSE 20 epochs, rel.
             L1 (Eq. 3.11) 20 epochs, batch 4                               L1 ≤ 200 epochs, batch 16
BP data      4 random exact runs, 400 steps, α = 0.2 (164 snapshots, split  P5: 40 runs on 48², 10⁴ steps
             2/1/1; seeds [seed + 500, r], apart from the CNN runs' [seed,
             r], whose twins they were until Dec 2026) + the 16 CNN runs
             as extra training runs
BP model     spin_bonds r1 = 6, MLP [128, 64, 32] SiLU, 25 epochs           spin_ir r1 = 6, MLP 2048…64 ReLU, 200 ep.
fig3.3       CNN torque parity per start type (R² of T_x, T_y, T_z) on the   the same on 48²; energetics on 48²
             test runs; exact energetics of the ordered states on 24²
fig3.4       CNN vs exact on the test runs (42 snapshots); diagnostic: the   18 test runs (9,000 snapshots); 4 of them
             exact 12² vs 48² field (4×4 Bloch twists), 12 s                 48² vs 96² (2×2 twists, ≈ 25 CPU-min)
fig3.7       BP parity train/test; BP-LLG final S(q) (from fig3.14 runs);   same on 48²; diagnostic on 4 test
             diagnostic: the exact 12² vs 48² H_⊥ MSE (41 test snapshots)   snapshots, 48² vs 96² (2×2 twists)
fig3.10      CNN-LLG, T = 0, 24×24 perturbed SkL, 1,500 steps               96², until stable (≈ 10⁴ steps)
fig3.11      CNN-LLG, T = 0, 24×24 perturbed SkL, 4,000 steps               48², 25,000 steps
fig3.12      equivariance vs prediction error, 12 test snapshots            all test snapshots on 48²
fig3.13      ERF of one site, 4 test snapshots tiled to 24×24 (+ the reach   48², 50 test snapshots
             of the exact model's J → 0 RKKY kernel, for context)
fig3.14      8 exact + 8 BP runs (same starts), 12×12, α = 0.2, 400 steps   50 + 50 runs on 48², 4,000 steps
fig3.16      BP-LLG, 24×24, 2 random runs, 800 steps                        150² (and 144²), 50 runs, 10⁴ steps
===========  =============================================================  ==========================================

Run times of ``--quick`` measured into a fresh ``--out`` on the shared 2-core CPU, one thread (load ≈ 2–3 from other
jobs). The first CNN target pays the exact CNN data (155 s: 32 runs × 200 steps on 12²) and the training (160 s: 50 + 20
epochs of 588 snapshots): fig3.4 313 s; then fig3.8 117 s (its own 3 exact + 3 CNN runs of 1,500 steps; 208 s since it
has 8 + 8 runs, in 2 processes), fig3.10 13 s, fig3.11 33 s, fig3.12 2 s, fig3.13 3 s. The first BP target pays the BP
and reference exact runs, the 16 base CNN exact runs if not yet there (≈ 80 s) and the BP training and BP-LLG runs:
fig3.14 151 s with the CNN data present; then fig3.7 3 s (15–25 s since its finite-size diagnostic), fig3.16 15 s. So
any single target from an empty ``--out`` finishes in under ≈ 9 minutes (the longest, fig3.8, pays fig3.4's 272–313 s
first). Dec 2026, at default BLAS threads (the small CheFSI passes now run single-threaded, see
:mod:`latticeml.backends.threads`) and with the exact runs in 2 processes (``workers``): fig3.4 243 s from an empty
``--out``, fig3.10 12 s after it, fig3.14 144 s after it (203 s alone). Every long stage is cached and checkpointed
(:mod:`latticeml.reproduce.llg_runs`, training after every epoch), so an interrupted target resumes where it stopped.
Full scale, estimated for one H100 from spec §11 (exact fields by dense ED or CheFSI on 48²; the full scale runs them
through torch on the GPU when one is visible, ``device="auto"``, and so do training and the ML inference and ML-LLG
runs, ``ml_device``; the quick scale keeps all of it on the CPU; these GPU figures are the spec's estimates, not
measured here — no GPU was available):

=====================================================================  ================================
stage                                                                  hours
=====================================================================  ================================
CNN data (P1: 60 runs × 5,000 steps on 48²)                            30–80
CNN training (30,000 snapshots, ≤ 200 epochs)                          10–20 (author: 72 A100-hours)
BP data (P5: 40 runs × 10⁴ steps on 48²)                               40–100
BP training (40,000 snapshots, double backward, 200 epochs)            20–40
fig3.14 exact reference (P6: 50 runs × 4,000 steps on 48²)             20–50
fig3.4, 3.12, 3.13 (inference on the test set)                         < 0.5
fig3.10 (96², ≈ 10⁴ steps), fig3.11 (48², 25,000 steps)                < 0.5 each
fig3.14 BP half and fig3.7 (50 runs × 4,000 steps on 48²)              1–2
fig3.16 (P7: 50 BP runs × 10⁴ steps on 150², batched)                  ≈ 14
=====================================================================  ================================
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from . import Metric
from .llg_runs import CHECKPOINT_EVERY, load_npz, recorded_llg_runs, save_npz

__all__ = ["fig3_3", "fig3_4", "fig3_7", "fig3_10", "fig3_11", "fig3_12", "fig3_13", "fig3_14", "fig3_16", "SCALES",
           "exact_field_runs", "build_dataset", "torque_angle_errors", "cnn_model", "bp_model", "ml_llg_runs"]

#: LLG protocols (spec §4): the exact runs carry the Langevin temperature T = 0.001, the ML runs T = 0
DT, H_EXT, T_EXACT = 0.1, 0.005, 0.001
ALPHA_CNN, ALPHA_BP = 0.05, 0.2
#: CNN augmentation (spec §7): random D6 operation and SO(3) rotation per sample, plus time reversal
AUGMENT_CNN = {"point_group": True, "spin_rotation": True, "time_reversal": True}

SCALES = {
    # ml_device: where trained networks run (inference, ML-LLG); the quick scale stays on the CPU so that its numbers
    # are the ones CI sees, the full scale takes the GPU when torch sees one (training "device" likewise)
    "quick": {
        "ml_device": "cpu",
        # local processes for the exact runs (each CheFSI pass is single-threaded below 36², so 2 cores give ≈ 2×);
        # the full scale keeps 1: its runs share one GPU
        "workers": 2,
        # val/test: 1 + 1 of these runs; training: the other 12 and 16 more runs of their own seeds
        "cnn_data": {"L": 12, "random": 8, "skl": 8, "steps": 200, "stride": 10, "split": (0.75, 0.125, 0.125),
                     "extra_train": {"random": 8, "skl": 8, "seed_offset": 7}},
        "cnn_net": {"width": 32, "n_blocks": 4, "tail": [16], "kernel_size": 5},
        # relative L1 (Eq. 3.11) from scratch stalls at the trivial ŷ = 0: warm start with MSE (both on torques)
        "cnn_train": {"loss": "relative_l1", "max_epochs": 20, "batch_size": 4, "lr": 3e-4, "plateau_patience": 4,
                      "project_output": True,
                      "patience": 10, "augment": AUGMENT_CNN,
                      "warm_start": {"loss": "mse", "max_epochs": 50, "lr": 1e-3, "plateau_patience": 5,
                                     "patience": 15}},
        "bp_data": {"L": 12, "random": 4, "skl": 0, "steps": 400, "stride": 10, "split": (0.5, 0.25, 0.25),
                    "with_cnn_runs": True, "seed_offset": 500},
        # the IR descriptor's standardisation blows up on 2 training runs (features with ~0 spread): on this
        # tier the BP model uses its variable (a) alone, S_i·S_j within r1 = 6, with D6 by augmentation
        "bp_net": {"descriptor": {"kind": "spin_bonds", "lattice": "triangular", "cutoff": 6.0},
                   "hidden": [128, 64, 32], "activation": "silu"},
        "bp_train": {"max_epochs": 25, "batch_size": 4, "lr": 1e-3, "plateau_patience": 4, "patience": 10,
                     "augment": {"point_group": True}},
        # finite-size diagnostic of fig3.4: the exact field vs that of the (kL)² torus (Bloch twists), 42 snapshots
        "fig3.4": {"twist_snapshots": None, "twists": 4},
        "fig3.7": {"twist_snapshots": None, "twists": 4},  # the same finite-size diagnostic on the BP test runs
        "fig3.10": {"L": 24, "steps": 1500, "stride": 50},
        "fig3.11": {"L": 24, "steps": 4000, "stride": 50},
        "fig3.12": {"snapshots": 12},
        "fig3.13": {"snapshots": 4, "tile": 2},
        "fig3.14": {"L": 12, "exact_runs": 8, "steps": 400, "times": (50, 200, 400)},
        "fig3.16": {"L": 24, "runs": 2, "steps": 800, "stride": 10},
    },
    "full": {
        "ml_device": "auto",
        # exact fields on the GPU when torch sees one (SDCalculator device="auto"), else numpy
        "cnn_data": {"L": 48, "random": 30, "skl": 30, "steps": 5000, "stride": 10, "split": (0.6, 0.1, 0.3),
                     "device": "auto"},
        "cnn_net": {"width": 64, "n_blocks": 4, "tail": [32], "kernel_size": 5},
        "cnn_train": {"loss": "relative_l1", "max_epochs": 200, "batch_size": 16, "lr": 1e-3, "plateau_patience": 5,
                      "project_output": True, "device": "auto",
                      "patience": 20, "augment": AUGMENT_CNN,
                      "warm_start": {"loss": "mse", "max_epochs": 20, "plateau_patience": 5, "patience": 20}},
        "bp_data": {"L": 48, "random": 40, "skl": 0, "steps": 10000, "stride": 10, "split": (0.7, 0.15, 0.15),
                    "device": "auto", "seed_offset": 500},
        "bp_net": {"descriptor": {"kind": "spin_ir", "lattice": "triangular", "r1": 6.0, "r2": 2.0},
                   "hidden": [2048, 1024, 512, 256, 128, 64, 64, 64], "activation": "relu"},
        "bp_train": {"max_epochs": 200, "batch_size": 16, "lr": 1e-3, "plateau_patience": 5, "patience": 20,
                     "device": "auto"},
        # 4 twists of a 4608² matrix per snapshot (≈ 6 CPU-min each): a few evenly spaced test snapshots
        "fig3.4": {"twist_snapshots": 4, "twists": 2},
        "fig3.7": {"twist_snapshots": 4, "twists": 2},
        "fig3.10": {"L": 96, "steps": 10000, "stride": 100},
        "fig3.11": {"L": 48, "steps": 25000, "stride": 100},
        "fig3.12": {"snapshots": 500},
        "fig3.13": {"snapshots": 50, "tile": 1},
        "fig3.14": {"L": 48, "exact_runs": 50, "steps": 4000, "times": (50, 200, 1000, 4000), "device": "auto"},
        "fig3.16": {"L": 150, "runs": 50, "steps": 10000, "stride": 10},
    },
}

def _scale(quick: bool) -> dict:
    return SCALES["quick" if quick else "full"]


def _cache(out_dir: Path, name: str) -> Path:
    """Shared cache folder ``OUT/<name>`` beside the per-target folders, so targets reuse data and models."""
    path = Path(out_dir).parent / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tag(*settings) -> str:
    """Short stable hash of settings dicts: cache keys change whenever a setting does."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _digest(array: np.ndarray) -> str:
    """Hash of an array's values (spin configurations in cache keys)."""
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()


# ---------------------------------------------------------------------------------------------- exact data
def exact_field_runs(L: int, starts: list[str], steps: int, stride: int, alpha: float, seed: int,
                     cache: Path | None = None, device: str | None = None,
                     checkpoint_every: int = CHECKPOINT_EVERY, workers: int = 1, fields: bool = True) -> dict:
    """Exact-solver LLG runs that also record the exact exchange field at every saved snapshot.

    SIB, Δt = 0.1, T = 0.001, H_ext = 0.005 ẑ on the spins (added by the stepper, so the recorded field is the
    exchange field alone, the ML target of spec §7). ``starts`` lists "random" or "skl" (perturbed SkL) per run;
    run r uses ``default_rng([seed, r])``. Returns ``{"spins", "fields"}`` (runs, steps // stride + 1, N, 3) and
    ``"steps"``; cached as npz in ``cache`` when given, checkpointed while it runs, and spread over ``workers``
    local processes (see :mod:`latticeml.reproduce.llg_runs`; the result does not depend on ``workers``).
    ``device`` is the SDCalculator's (None: numpy; the full scale asks for ``"auto"``, the GPU when torch sees one);
    it changes the field by ~1e-13, not the cache key. ``fields=False`` records the spins alone (no field evaluation
    at the snapshots, half the storage; cached under its own key).
    """
    key = f"exact{'' if fields else 'spins'}_L{L}_{_tag(starts, steps, stride, alpha)}_seed{seed}"
    return recorded_llg_runs(_ExactRun(L, list(starts), alpha, seed, device), len(starts), steps, stride,
                             fields=fields, cache=cache, key=key, checkpoint_every=checkpoint_every,
                             desc=f"exact LLG {L}x{L}", workers=workers)


class _ExactRun:
    """Run r of :func:`exact_field_runs`: (calculator, stepper, state, rng); a class so worker processes can load it."""

    def __init__(self, L: int, starts: list[str], alpha: float, seed: int, device):
        self.L, self.starts, self.alpha, self.seed, self.device = L, starts, alpha, seed, device

    def __call__(self, r: int):
        from ..calculators.sd import SDCalculator
        from ..dynamics import LLG, State
        from ..lattice import triangular
        from ..models.sd import perturbed_skyrmion_lattice, random_spins

        lat = triangular(self.L)
        rng = np.random.default_rng([self.seed, r])
        spins = random_spins(lat.N, rng) if self.starts[r] == "random" else perturbed_skyrmion_lattice(lat, rng)
        calc = SDCalculator(lat, method="fast", device=self.device)
        return calc, LLG(calc, dt=DT, alpha=self.alpha, T=T_EXACT, h_ext=(0.0, 0.0, H_EXT)), State(spins), rng


def build_dataset(runs: dict, starts: list[str], L: int, split, seed: int, extra: dict | None = None):
    """In-memory :class:`~latticeml.ml.data.Dataset` of exact runs, split by trajectory, stratified by start type."""
    from ..calculators.sd import SDCalculator
    from ..lattice import triangular
    from ..ml.data import Dataset, normalization_stats, split_runs

    lat = triangular(L)
    n_runs, n_saved = runs["spins"].shape[:2]
    type_names = list(dict.fromkeys(starts))
    run_type = np.array([type_names.index(s) for s in starts])
    run_split = split_runs(run_type, tuple(split), np.random.default_rng([seed, 1]))
    inputs = runs["spins"].reshape(-1, lat.N, 3).astype(np.float32)
    targets = runs["fields"].reshape(-1, lat.N, 3).astype(np.float32)
    energy = np.full(len(inputs), np.nan)
    train = np.repeat(run_split, n_saved) == 0
    meta = {"lattice": lat.describe(), "model": dict(SDCalculator(lat).metadata), "field_kind": "spin",
            "target": "forces", **(extra or {})}
    return Dataset(inputs=inputs, targets=targets, energy=energy,
                   run_id=np.repeat(np.arange(n_runs), n_saved).astype(np.int32),
                   run_type=np.repeat(run_type, n_saved).astype(np.int32),
                   split=np.repeat(run_split, n_saved).astype(np.int8),
                   time=np.tile(runs["steps"] * DT, n_runs).astype(float), metadata=meta, run_types=type_names,
                   normalization=normalization_stats(inputs[train], targets[train], energy[train], "spin", lat.N))


def _starts(cfg: dict) -> list[str]:
    return ["random"] * cfg["random"] + ["skl"] * cfg["skl"]


def _dataset(out_dir: Path, cfg: dict, alpha: float, seed: int, workers: int = 1):
    starts = _starts(cfg)
    runs = exact_field_runs(cfg["L"], starts, cfg["steps"], cfg["stride"], alpha, seed, cache=_cache(out_dir, "_data"),
                            device=cfg.get("device"), workers=workers)
    return build_dataset(runs, starts, cfg["L"], cfg["split"], seed, {"llg_alpha": alpha, "llg_T": T_EXACT,
                                                                      "h_ext_on_spins": H_EXT})


def _runs_dataset(out_dir: Path, cfg: dict, alpha: float, seed: int, workers: int = 1):
    """:func:`_dataset` plus the ``extra_train`` runs (own seeds), which join the training split only."""
    ds = _dataset(out_dir, cfg, alpha, seed, workers)
    if not cfg.get("extra_train"):
        return ds
    more = dict(cfg["extra_train"])
    offset = more.pop("seed_offset")
    return _with_extra_training_runs(ds, _dataset(out_dir, dict(cfg, **more, split=(1.0, 0.0, 0.0)), alpha,
                                                  seed + offset, workers))


def _with_extra_training_runs(ds, extra):
    """``ds`` with every run of ``extra`` (same lattice) added to the training split; normalisation recomputed."""
    from ..ml.data import Dataset, normalization_stats

    types = ds.run_types + [f"{t} (extra)" for t in extra.run_types]
    cat = {name: np.concatenate([getattr(ds, name), getattr(extra, name)])
           for name in ("inputs", "targets", "energy", "time")}
    split = np.concatenate([ds.split, np.zeros_like(extra.split)])
    train = split == 0
    return Dataset(**cat, run_id=np.concatenate([ds.run_id, extra.run_id + ds.run_id.max() + 1]),
                   run_type=np.concatenate([ds.run_type, extra.run_type + len(ds.run_types)]), split=split,
                   metadata=dict(ds.metadata, extra_training_runs=extra.metadata.get("llg_alpha")), run_types=types,
                   normalization=normalization_stats(cat["inputs"][train], cat["targets"][train],
                                                     cat["energy"][train], "spin", ds.inputs.shape[1]))


# ---------------------------------------------------------------------------------------------- models
def _train(kind: str, out_dir: Path, quick: bool, seed: int) -> tuple[Path, object]:
    """Train (or load from the cache) the CNN ("cnn") or BP ("bp") model; returns (model path, dataset)."""
    import torch

    from ..ml.modelfile import save_model
    from ..ml.networks import build_network
    from ..ml.train import Trainer, plot_learning_curve

    sc = _scale(quick)
    data_cfg, net_cfg, train_cfg = sc[f"{kind}_data"], sc[f"{kind}_net"], sc[f"{kind}_train"]
    alpha = ALPHA_CNN if kind == "cnn" else ALPHA_BP
    # own seeds per data set: run r of every set starts from default_rng([seed, r]), so without the offset the BP
    # runs would be the CNN runs' twins (same start and noise, other α) and leak into each other's splits
    ds = _runs_dataset(out_dir, data_cfg, alpha, seed + data_cfg.get("seed_offset", 0), sc.get("workers", 1))
    if data_cfg.get("with_cnn_runs"):  # the field does not depend on α: the CNN runs are valid BP training data
        # (the CNN's extra_train runs as well raised the BP test/train MSE ratio from 1.8 to 1.9: not used)
        ds = _with_extra_training_runs(ds, _dataset(out_dir, sc["cnn_data"], ALPHA_CNN, seed, sc.get("workers", 1)))
    path = _model_path(kind, out_dir, quick, seed)
    models = path.parent
    if path.is_file():
        return path, ds
    torch.manual_seed(seed)
    net = build_network("cnn", lattice="triangular", **net_cfg) if kind == "cnn" else build_network("bp", **net_cfg)
    t0 = time.time()
    stages = dict(train_cfg)
    warm = stages.pop("warm_start", None)  # e.g. MSE first: Eq. 3.11 from scratch stays at the trivial ŷ = 0
    history = []
    # a checkpoint per stage after every epoch (full scale: 10-40 GPU-hours of training); a killed job replays the
    # finished stages from their last checkpoints and continues the interrupted one exactly
    stage_list = ([dict(stages, **warm)] if warm else []) + [stages]
    checkpoints = [models / f"{path.stem}.stage{k}.ckpt" for k in range(len(stage_list))]
    for stage, ckpt in zip(stage_list, checkpoints):
        trainer = Trainer(net, ds.subset("train"), ds.subset("val"), seed=seed, checkpoint=ckpt, **stage)
        if ckpt.is_file():
            trainer.resume(ckpt)
        trainer.fit()
        net = trainer.network  # best weights of this stage start the next one
        history += [dict(h, epoch=len(history) + k + 1, loss=trainer.loss_name)
                    for k, h in enumerate(trainer.history_)]
    plot_learning_curve(history, models / f"{path.stem}_learning_curve.png")
    save_model(path, trainer.network, trainer.model_metadata({"train_seconds": time.time() - t0,
                                                               "history": history}))
    for ckpt in checkpoints:
        ckpt.unlink(missing_ok=True)
    return path, ds


def _model_path(kind: str, out_dir: Path, quick: bool, seed: int) -> Path:
    """Cache path of the "cnn" or "bp" model: it names every setting of its data, network and training."""
    sc = _scale(quick)
    data_cfg = sc[f"{kind}_data"]
    if data_cfg.get("with_cnn_runs"):
        data_cfg = dict(data_cfg, cnn_data=sc["cnn_data"])
    return _cache(out_dir, "_models") / f"{kind}_{_tag(data_cfg, sc[f'{kind}_net'], sc[f'{kind}_train'])}_seed{seed}.pt"


def cnn_model(out_dir: Path, quick: bool, seed: int):
    """(model path, dataset) of the CNN torque model (spec §7), trained once per cache folder."""
    return _train("cnn", out_dir, quick, seed)


def bp_model(out_dir: Path, quick: bool, seed: int):
    """(model path, dataset) of the BP energy model with the D6/SO(3) IR descriptor (spec §8)."""
    return _train("bp", out_dir, quick, seed)


def _calculator(path: Path, L: int, device: str = "cpu"):
    """The model file as a calculator on the L×L lattice (a torque-trained CNN projects its output to H_⊥);
    ``device`` is the scale's ``ml_device`` for inference and ML-LLG (the diagnostics of fig3.12/3.13 stay on the
    CPU)."""
    from ..calculators.ml import MLCalculator
    from ..lattice import triangular

    return MLCalculator.from_file(path, triangular(L), device=device)


def ml_llg_runs(calc, spins0: np.ndarray, steps: int, stride: int, alpha: float, *, cache: Path | None = None,
                model: Path | str | None = None) -> np.ndarray:
    """ML-LLG at T = 0 (spec §4) from each start in ``spins0`` (R, N, 3); H_ext ẑ is added outside the network.

    Returns the saved spins (R, steps // stride + 1, N, 3). With ``cache`` (and the ``model`` file that ``calc``
    runs) the runs are cached under :func:`_ml_key` of the model, the starts and these settings, and checkpointed as
    the exact ones (:mod:`latticeml.reproduce.llg_runs`).
    """
    from ..dynamics import LLG, State

    def make_run(r):
        llg = LLG(calc, dt=DT, alpha=alpha, T=0.0, h_ext=(0.0, 0.0, H_EXT))
        return calc, llg, State(np.array(spins0[r], dtype=float)), np.random.default_rng(0)  # rng unused at T = 0

    if cache is not None and model is None:
        raise ValueError("ml_llg_runs: a cache needs the model file (its name enters the cache key)")
    key = None if cache is None else _ml_key(model, spins0, steps, stride, alpha)
    return recorded_llg_runs(make_run, len(spins0), steps, stride, cache=cache, key=key,
                             desc=f"ML LLG {int(np.sqrt(spins0.shape[1]))}²")["spins"]


def _ml_key(path: Path, spins0: np.ndarray, *settings) -> str:
    """Cache key of ML-LLG runs: the model file, the starts and the run settings."""
    return f"ml_{Path(path).stem}_{_tag(_digest(spins0), *settings)}"


def torque_angle_errors(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Angle in degrees between predicted and exact H_⊥ (equivalently between the torques S×H) per site."""
    dot = np.sum(pred * true, axis=-1)
    norms = np.linalg.norm(pred, axis=-1) * np.linalg.norm(true, axis=-1)
    return np.degrees(np.arccos(np.clip(dot / np.maximum(norms, 1e-300), -1.0, 1.0)))


def _predict(calc, spins: np.ndarray) -> np.ndarray:
    """Predicted H_⊥ of a batch (B, N, 3)."""
    from ..ml.data import perpendicular

    out = calc.compute_batch(spins)
    field = out["forces"] if isinstance(out, dict) else out
    return perpendicular(field, spins)


def _test_split(ds, max_rows: int | None = None):
    """(spins, exact H_⊥, run type, run type names) of the test runs; ``max_rows`` evenly spaced snapshots."""
    from ..ml.data import perpendicular

    test = ds.subset("test")
    rows = np.arange(len(test)) if max_rows is None else np.linspace(0, len(test) - 1, max_rows).astype(int)
    spins = test.inputs[rows].astype(float)
    return spins, perpendicular(test.targets[rows].astype(float), spins), test.run_type[rows], test.run_types


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)


# ---------------------------------------------------------------------------------------------- Fig 3.4 (CNN accuracy)
def _r2(pred: np.ndarray, true: np.ndarray) -> float:
    """Coefficient of determination of ``pred`` against ``true`` (1 − SS_res / SS_tot about the mean)."""
    return float(1.0 - np.sum((pred - true) ** 2) / np.sum((true - true.mean()) ** 2))


def fig3_3(out_dir: Path, quick: bool, seed: int) -> list[Metric]:
    """Fig 3.3: parity of the CNN's torque components T = S × H against the exact ones on the test runs, one row per
    start type (perturbed SkL, random), target 2: R² ≥ 0.98 (SkL) and ≥ 0.95 (random) for each of T_x, T_y, T_z.
    Also the exact energetics of the ordered states the SkL runs start from (:func:`.ch3.energetics`)."""
    from .ch3 import energetics

    path, ds = cnn_model(out_dir, quick, seed)
    L = ds.metadata["lattice"]["shape"][0]
    spins, true, run_type, type_names = _test_split(ds)
    pred = _predict(_calculator(path, L, _scale(quick)["ml_device"]), spins)
    t_pred, t_true = np.cross(spins, pred), np.cross(spins, true)
    want = {"skl": 0.98, "random": 0.95}
    plt = _pyplot()
    kinds = list(np.unique(run_type))
    fig, axes = plt.subplots(len(kinds), 3, figsize=(10, 3.3 * len(kinds)), squeeze=False)
    metrics, ranges = [], {}
    for row, k in enumerate(kinds):
        name = type_names[k]
        sel = run_type == k
        r2 = [_r2(t_pred[sel][..., a], t_true[sel][..., a]) for a in range(3)]
        ranges[name] = float(np.ptp(t_true[sel]))
        for a, ax in enumerate(axes[row]):
            x, y = t_true[sel][..., a].ravel(), t_pred[sel][..., a].ravel()
            pick = np.random.default_rng(seed).choice(x.size, min(x.size, 20000), replace=False)
            ax.plot(x[pick], y[pick], ".", ms=1, alpha=0.3)
            lim = [min(x.min(), y.min()), max(x.max(), y.max())]
            ax.plot(lim, lim, "r:", lw=1)
            ax.set(xlabel=f"exact T_{'xyz'[a]}", ylabel=f"CNN T_{'xyz'[a]}", title=f"{name} starts, R² = {r2[a]:.3f}")
        target = want.get(name)
        metrics.append(Metric(f"R2_torque_components_min[{name}]", min(r2), target=target,
                              tolerance=f">= {target} for each of T_x, T_y, T_z" if target else "informational",
                              passed=None if target is None else bool(min(r2) >= target),
                              note=f"R² (T_x, T_y, T_z) = ({r2[0]:.4f}, {r2[1]:.4f}, {r2[2]:.4f}) on "
                                   f"{int(sel.sum())} test snapshots of {L}×{L}"))
    _save(fig, Path(out_dir) / "fig3_3_torque_parity.png")
    if {"skl", "random"} <= ranges.keys():
        metrics.append(Metric("torque_range_random_over_skl", ranges["random"] / ranges["skl"], target=2.0,
                              tolerance="informational (dissertation: ≈ 2)", passed=None))
    return metrics + energetics(out_dir, quick)


def fig3_4(out_dir: Path, quick: bool, seed: int) -> list[Metric]:
    """Fig 3.4: CNN torque accuracy on the test runs: magnitude error ‖ŷ‖ − ‖y‖ and angle(ŷ, y) per site."""
    path, ds = cnn_model(out_dir, quick, seed)
    L = ds.metadata["lattice"]["shape"][0]
    calc = _calculator(path, L, _scale(quick)["ml_device"])
    spins, true, run_type, type_names = _test_split(ds)
    pred = _predict(calc, spins)
    c_norm = float(ds.normalization["target_scale"])
    angle = torque_angle_errors(pred, true).ravel()
    dmag = ((np.linalg.norm(pred, axis=-1) - np.linalg.norm(true, axis=-1)) / c_norm).ravel()
    ymag = (np.linalg.norm(true, axis=-1) / c_norm).ravel()
    plt = _pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
    sel = np.random.default_rng(seed).choice(len(ymag), min(len(ymag), 20000), replace=False)
    ax[0].plot(ymag[sel], np.abs(dmag[sel]), ".", ms=1, alpha=0.3)
    ax[0].set(xscale="log", yscale="log", xlabel="‖y‖ (normalised)", ylabel="|‖ŷ‖ − ‖y‖|")
    ax[1].hist(angle, bins=np.linspace(0, 60, 61), density=True)
    ax[1].axvline(10, color="k", lw=0.8, ls="--")
    ax[1].set(xlabel="angle(ŷ, y) (degrees)", ylabel="density", yscale="log")
    _save(fig, Path(out_dir) / "fig3_4_torque_errors.png")
    per_type = {type_names[k]: float(np.mean(torque_angle_errors(pred[run_type == k], true[run_type == k]) < 10))
                for k in np.unique(run_type)}  # test runs only (the extra training run types have none)
    within10, above30 = float(np.mean(angle < 10)), float(np.mean(angle > 30))
    mag_ok = float(np.mean(np.abs(dmag) < 1e-2))
    finite_size = _finite_size_agreement(out_dir, ds, _scale(quick)["fig3.4"])
    note = f"{len(spins)} test snapshots of {L}×{L}, {angle.size} sites; per start type: " + \
           ", ".join(f"{k} {v:.3f}" for k, v in per_type.items())
    return [
        Metric("fraction_angle_below_10deg", within10, target=0.9, tolerance=">= 0.90", passed=within10 >= 0.9,
               note=note),
        Metric("fraction_angle_above_30deg", above30, target=0.005, tolerance="<= 0.005", passed=above30 <= 0.005),
        Metric("fraction_magnitude_error_below_1e-2", mag_ok, target=0.95, tolerance=">= 0.95 (normalised units)",
               passed=mag_ok >= 0.95,
               note=f"c_norm = {c_norm:.4g}; median |Δ‖y‖| = {np.median(np.abs(dmag)):.3g}"),
        Metric("median_angle_deg", float(np.median(angle)), note="informational"),
        finite_size,
    ]


def _twisted_test_fields(out_dir: Path, ds, cfg: dict):
    """(spins, exact H_⊥ of the L² torus, H_⊥ of the (kL)² torus) on ``cfg["twist_snapshots"]`` test snapshots: the
    same spins' field on the k×k-tiled torus by k² Bloch twists (``SDCalculator(twists=k)``), cached in ``_data``."""
    from ..calculators.sd import SDCalculator
    from ..lattice import triangular
    from ..ml.data import perpendicular

    spins, true, _, _ = _test_split(ds, cfg["twist_snapshots"])
    L, k = ds.metadata["lattice"]["shape"][0], cfg["twists"]
    path = _cache(out_dir, "_data") / f"twisted_L{L}_k{k}_{_tag(_digest(spins))}.npz"
    if path.is_file():
        twisted = load_npz(path)["fields"]
    else:
        calc = SDCalculator(triangular(L), method="ed", twists=k)  # exchange field only, as the stored targets
        twisted = np.stack([calc.compute(s).forces for s in spins])
        save_npz(path, {"fields": twisted})
    return spins, true, perpendicular(twisted, spins)


def _finite_size_agreement(out_dir: Path, ds, cfg: dict) -> Metric:
    """Diagnostic: on how many test sites the exact L² field (the training truth) lies within 10° of the field of
    the same spins on the (kL)² torus, i.e. how far the truth itself is from the large-system field; a model of the
    large-system field scores about this much."""
    spins, true, twisted = _twisted_test_fields(out_dir, ds, cfg)
    L, k = ds.metadata["lattice"]["shape"][0], cfg["twists"]
    within = float(np.mean(torque_angle_errors(true, twisted) < 10))
    return Metric("fraction_exact_field_within_10deg_of_twisted", within, note=(
        f"diagnostic, no target: the exact {L}² field (training truth) vs the {k * L}² field of the same spins "
        f"({k}×{k} Bloch twists) on {len(spins)} test snapshots; finite-size effects of the truth itself"))


# --------------------------------------------------------------------------------------------- Fig 3.10, 3.11 (CNN-LLG)
def _skl_run(out_dir: Path, quick: bool, seed: int, name: str):
    """CNN-LLG at T = 0 from a perturbed SkL on a lattice larger than the training one; returns (lattice, runs, ref)."""
    from ..lattice import triangular
    from ..models.sd import perturbed_skyrmion_lattice, skyrmion_lattice

    cfg = _scale(quick)[name]
    path, _ = cnn_model(out_dir, quick, seed)
    lat = triangular(cfg["L"])
    calc = _calculator(path, cfg["L"], _scale(quick)["ml_device"])
    start = perturbed_skyrmion_lattice(lat, np.random.default_rng([seed, 10]))
    runs = ml_llg_runs(calc, start[None], cfg["steps"], cfg["stride"], ALPHA_CNN, cache=_cache(out_dir, "_runs"),
                       model=path)[0]
    # the perfect ansatz, same (A0, φ0); the exact LLG relaxation of this start on 12² reaches 0.993 of it after
    # 3,000 steps (measured Dec 2026)
    return lat, runs, _s_at_peaks(lat, skyrmion_lattice(lat)), cfg


def _s_at_peaks(lattice, spins) -> float:
    """S(q) at the exact ±Q_η grid points (peak_order with radius 0: 𝓜's 0.1-disc averages 7 points on 96²), the
    quantity of targets 9 and 10."""
    from ..analysis.spin import peak_order, structure_factor

    return peak_order(lattice, structure_factor(lattice, spins), radius=0)


def fig3_10(out_dir: Path, quick: bool, seed: int) -> list[Metric]:
    """Fig 3.10: CNN-LLG (T = 0) restores a perturbed skyrmion lattice on a lattice larger than the training one."""
    from ..analysis.spin import skyrmion_charge, structure_factor
    from ..plots import plot_spin_texture, plot_structure_factor

    lat, runs, reference, cfg = _skl_run(out_dir, quick, seed, "fig3.10")
    q0, q1 = skyrmion_charge(lat, runs[0]), skyrmion_charge(lat, runs[-1])
    m0, m1 = _s_at_peaks(lat, runs[0]), _s_at_peaks(lat, runs[-1])
    plot_spin_texture(lat, runs[0], path=Path(out_dir) / "fig3_10_start.png", title="perturbed SkL (start)")
    plot_spin_texture(lat, runs[-1], path=Path(out_dir) / "fig3_10_final.png",
                      title=f"CNN-LLG, step {cfg['steps']}")
    plot_structure_factor(lat, structure_factor(lat, runs[-1]), path=Path(out_dir) / "fig3_10_sq_final.png",
                          title=f"S(q), CNN-LLG step {cfg['steps']}")
    rel = abs(m1 / reference - 1)
    return [
        Metric("peak_S(Q)_final_over_perfect_ansatz", float(m1 / reference), target=1.0, tolerance="within 15%",
               passed=rel <= 0.15, note=f"{cfg['L']}×{cfg['L']} (training {_scale(quick)['cnn_data']['L']}²): start "
                                        f"{m0:.1f}, final {m1:.1f}, perfect ansatz {reference:.1f}"),
        Metric("skyrmion_charge_final", float(q1), target=float(round(q0)), tolerance="conserved (same integer)",
               passed=bool(round(q1) == round(q0) and abs(q1 - round(q1)) < 1e-6),
               note=f"start {q0:.4f}"),
    ]


def fig3_11(out_dir: Path, quick: bool, seed: int) -> list[Metric]:
    """Fig 3.11: long CNN-LLG run from a perturbed SkL: the peak order 𝓜(t) and the charge stay stable."""
    from ..analysis.spin import skyrmion_charge

    lat, runs, reference, cfg = _skl_run(out_dir, quick, seed, "fig3.11")
    steps = np.arange(len(runs)) * cfg["stride"]
    order = np.array([_s_at_peaks(lat, s) for s in runs])
    charge = np.array([skyrmion_charge(lat, s) for s in runs])
    plt = _pyplot()
    fig, ax = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
    ax[0].plot(steps, order)
    ax[0].axhline(reference, color="k", ls="--", lw=0.8, label="perfect ansatz")
    ax[0].set(ylabel="M = S(Q)")
    ax[0].legend()
    ax[1].plot(steps, charge)
    ax[1].set(xlabel="step", ylabel="Q_top")
    _save(fig, Path(out_dir) / "fig3_11_order.png")
    (Path(out_dir) / "fig3_11_order.json").write_text(json.dumps({"steps": steps.tolist(), "M": order.tolist(),
                                                                  "Q_top": charge.tolist()}))
    half = order[len(order) // 2:]
    plateau = float(half.mean())
    last = order[-max(1, len(order) // 10):].mean()
    return [
        Metric("plateau_S(Q)_over_perfect_ansatz", plateau / reference, target=1.0, tolerance="within 15%",
               passed=abs(plateau / reference - 1) <= 0.15,
               note=f"mean over the second half of {cfg['steps']} steps on {cfg['L']}²: {plateau:.1f}; "
                    f"ansatz {reference:.1f}"),
        # spec target 10 quotes the dissertation's plateau, 305 on 48²; the exact model at the spec's parameters relaxes
        # to ≈ 0.99 of the ansatz (366 on 48²), so that number is recorded, not scored
        Metric("plateau_S(Q)_per_2304_sites", plateau * 2304 / lat.N, target=305.0, tolerance="informational",
               passed=None, note="the dissertation's 48² plateau; the exact 12² relaxation of the same start reaches "
                                 "0.993 of the ansatz (≈ 366 per 2,304 sites), which is the reference scored above"),
        Metric("final_over_plateau", float(last / plateau), target=1.0, tolerance=">= 0.85 (no lasting decay)",
               passed=bool(last / plateau >= 0.85)),
        Metric("charge_changes", float(np.count_nonzero(np.diff(np.round(charge)))), target=0.0,
               tolerance="0 (charge stable)", passed=bool(np.all(np.round(charge) == np.round(charge[0]))),
               note=f"Q_top = {charge[0]:.3f} … {charge[-1]:.3f}"),
    ]


# ---------------------------------------------------------------------------------------------- Fig 3.12, 3.13 (CNN)
def fig3_12(out_dir: Path, quick: bool, seed: int) -> list[Metric]:
    """Fig 3.12: histograms of the equivariance error f(g·R·S) − g·R·f(S) beside the prediction error."""
    from ..ml.diagnostics import equivariance_report, plot_equivariance

    path, ds = cnn_model(out_dir, quick, seed)
    calc = _calculator(path, ds.metadata["lattice"]["shape"][0])
    spins, true, _, _ = _test_split(ds, _scale(quick)["fig3.12"]["snapshots"])
    report = equivariance_report(calc, spins, true, np.random.default_rng(seed))
    plot_equivariance(report, Path(out_dir) / "fig3_12_equivariance.png")
    return [Metric("equivariance_rms_over_prediction_rms", report["ratio"], target=0.5, tolerance="<= 0.5",
                   passed=report["ratio"] <= 0.5,
                   note=f"RMS equivariance {report['equivariance_rms']:.3g}, prediction {report['prediction_rms']:.3g}"
                        f" ({len(spins)} test snapshots, random D6 × SO(3))")]


def fig3_13(out_dir: Path, quick: bool, seed: int) -> list[Metric]:
    """Fig 3.13: effective receptive field of the CNN (Luo et al. 2017) and the radii holding 95% / 99%."""
    from ..lattice import triangular
    from ..ml.diagnostics import effective_receptive_field, plot_receptive_field

    cfg = _scale(quick)["fig3.13"]
    path, ds = cnn_model(out_dir, quick, seed)
    L = ds.metadata["lattice"]["shape"][0]
    spins, _, _, _ = _test_split(ds, cfg["snapshots"])
    tile = cfg["tile"]  # a periodic configuration tiled k×k is a valid configuration of the kL torus
    big = triangular(L * tile)
    tiled = np.stack([big.from_image(np.tile(triangular(L).to_image(s), (tile, tile, 1))) for s in spins])
    calc = _calculator(path, L * tile)
    erf = effective_receptive_field(calc, tiled)
    small_radius = float(triangular(L).distance(0, np.arange(L * L)).max())
    plot_receptive_field(erf, big, Path(out_dir) / "fig3_13_erf.png")
    rkky = _bare_kernel_radii(big, ds.metadata["model"])
    return [
        Metric("radius_95", erf["radius_95"], note=f"{len(spins)} test snapshots tiled to {L * tile}²"),
        Metric("radius_99", erf["radius_99"], target=7.0, tolerance="<= 7 lattice constants",
               passed=erf["radius_99"] <= 7.0 + 1e-9,
               note=f"trained on a {L}-torus, whose sites all lie within {small_radius:.2f} of the centre: "
                    "weight beyond that learned only periodic images of nearer sites"),
        Metric("bare_rkky_kernel_radius_99", rkky["radius_99"], note=f"context, not a CNN figure: the J → 0 linear "
               f"response χ0(r) of the exact model on {L * tile}² (T_el = {rkky['T']}) holds {rkky['within_7']:.0%} "
               f"of Σ_r≠0 |χ0(r)| within r ≤ 7 (95% within {rkky['radius_95']:.2f})"),
    ]


def _bare_kernel_radii(lattice, model: dict) -> dict:
    """Radii holding 95% / 99% of Σ_{r≠0} |χ0(r)|: the reach of the exact field's J → 0 (RKKY) linear response.

    χ0(r) is the inverse FFT of the Lindhard χ0(q) on the lattice's momentum grid (fine k sums, so the kernel is the
    infinite-lattice one folded onto the torus). The on-site term is left out: it does not turn the torque.
    """
    from ..models.sd import bare_susceptibility

    T = float(model.get("T_el", 0.01))
    chi = bare_susceptibility(lattice.shape[0], mu=float(model.get("mu", -3.5)), T=T, t1=float(model.get("t1", 1.0)),
                              t3=float(model.get("t3", -0.85)), k_refine=max(2, 96 // lattice.shape[0]))
    sites = lattice.to_image(np.arange(lattice.N)[:, None].astype(float))[..., 0].astype(int)
    weight = np.zeros(lattice.N)
    weight[sites.ravel()] = np.abs(np.fft.ifft2(chi).real).ravel()
    weight[sites[0, 0]] = 0.0
    dist = lattice.distance(sites[0, 0], np.arange(lattice.N))
    order = np.argsort(dist, kind="stable")
    cum = np.cumsum(weight[order]) / weight.sum()
    at = lambda q: float(dist[order][min(np.searchsorted(cum, q), len(cum) - 1)])  # noqa: E731
    return {"T": T, "radius_95": at(0.95), "radius_99": at(0.99),
            "within_7": float(cum[np.searchsorted(dist[order], 7.0 + 1e-9) - 1])}


# --------------------------------------------------------------------------------------------- Fig 3.7, 3.14, 3.16 (BP)
def _bp_llg_comparison(out_dir: Path, quick: bool, seed: int) -> dict:
    """Exact and BP-LLG ensembles from random starts (α = 0.2) with S(q) at the configured times (cached)."""
    from ..analysis.spin import structure_factor
    from ..lattice import triangular

    cfg = _scale(quick)["fig3.14"]
    cache = _cache(out_dir, "_data")
    sc = _scale(quick)
    key = cache / f"bp_llg_{_tag(cfg)}_{_model_path('bp', out_dir, quick, seed).stem}.npz"  # every setting of the model
    if key.is_file():
        return load_npz(key)
    path, _ = bp_model(out_dir, quick, seed)
    lat = triangular(cfg["L"])
    stride = int(np.gcd.reduce(cfg["times"]))
    # seeds disjoint from the training runs (which use [seed, r])
    exact = exact_field_runs(cfg["L"], ["random"] * cfg["exact_runs"], cfg["steps"], stride, ALPHA_BP, seed + 1000,
                             cache=cache, device=cfg.get("device"), workers=sc.get("workers", 1))["spins"]
    # paired runs: each BP run starts from the initial state of an exact run (as the "same random seeds" of P2),
    # so the comparison measures the dynamics, not the spread of the random starts between two small ensembles
    calc = _calculator(path, cfg["L"], _scale(quick)["ml_device"])
    ml = ml_llg_runs(calc, exact[:, 0], cfg["steps"], stride, ALPHA_BP, cache=_cache(out_dir, "_runs"), model=path)
    idx = [t // stride for t in cfg["times"]]
    out = {"times": np.array(cfg["times"]),
           "sq_exact": np.stack([[structure_factor(lat, exact[r, k]) for k in idx] for r in range(len(exact))]),
           "sq_ml": np.stack([[structure_factor(lat, ml[r, k]) for k in idx] for r in range(len(ml))])}
    save_npz(key, out)
    return out


def fig3_14(out_dir: Path, quick: bool, seed: int) -> list[Metric]:
    """Fig 3.14: S(q) along Γ–K–M, exact vs BP-LLG ensembles (α = 0.2, random starts); ML mean vs exact ±1σ."""
    from ..analysis.spin import structure_factor_path
    from ..lattice import triangular

    cfg = _scale(quick)["fig3.14"]
    lat = triangular(cfg["L"])
    res = _bp_llg_comparison(out_dir, quick, seed)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(res["times"]), figsize=(3.2 * len(res["times"]), 3.2), squeeze=False)
    metrics, inside_all = [], []
    for k, t in enumerate(res["times"]):
        cut = lambda sq: structure_factor_path(lat, sq)  # noqa: E731
        qx, _, ticks = cut(res["sq_exact"][0, k])
        ex = np.stack([cut(s)[1] for s in res["sq_exact"][:, k]])
        ml = np.stack([cut(s)[1] for s in res["sq_ml"][:, k]])
        mean, std, ml_mean = ex.mean(0), ex.std(0, ddof=1), ml.mean(0)
        inside = np.abs(ml_mean - mean) <= std
        inside_all.append(inside)
        ax = axes[0, k]
        ax.fill_between(qx, mean - std, mean + std, alpha=0.3, label="exact ±1σ")
        ax.plot(qx, mean, "C0-")
        ax.errorbar(qx, ml_mean, yerr=ml.std(0, ddof=1), fmt="C3o", ms=3, capsize=2, label="BP mean ± σ")
        ax.set_xticks(list(ticks.values()), list(ticks.keys()))
        ax.set_title(f"step {int(t)}")
        metrics.append(Metric(f"fraction_path_points_in_band_step{int(t)}", float(inside.mean()), target=0.9,
                              tolerance=">= 0.90", passed=bool(inside.mean() >= 0.9),
                              note=f"{len(qx)} path points, {len(ex)} exact / {len(ml)} BP runs on {cfg['L']}²"))
    axes[0, 0].legend(fontsize=7)
    axes[0, 0].set_ylabel("S(q)")
    _save(fig, Path(out_dir) / "fig3_14_sq_path.png")
    total = float(np.mean(np.concatenate(inside_all)))
    return [Metric("fraction_path_points_in_band_all_times", total, target=0.9, tolerance=">= 0.90",
                   passed=total >= 0.9), *metrics]


def fig3_7(out_dir: Path, quick: bool, seed: int) -> list[Metric]:
    """Fig 3.7: BP parity of H_⊥ (train and test MSE) and the final S(q) of the BP-LLG runs (six peaks at ±Q_η)."""
    from ..analysis.spin import bz_momenta, peak_momenta
    from ..lattice import triangular
    from ..ml.data import perpendicular
    from ..ml.train import plot_parity
    from ..plots import plot_structure_factor

    path, ds = bp_model(out_dir, quick, seed)
    L = ds.metadata["lattice"]["shape"][0]
    calc = _calculator(path, L, _scale(quick)["ml_device"])
    mse = {}
    for split in ("train", "test"):
        sub = ds.subset(split)
        spins = sub.inputs.astype(float)
        true = perpendicular(sub.targets.astype(float), spins)
        pred = np.concatenate([_predict(calc, spins[k:k + 8]) for k in range(0, len(spins), 8)])
        mse[split] = float(np.mean((pred - true) ** 2))
        if split == "test":
            plot_parity(pred, true, Path(out_dir) / "fig3_7_parity_test.png", label="H_⊥ component")
    spins, true, twisted = _twisted_test_fields(out_dir, ds, _scale(quick)["fig3.7"])
    floor = float(np.mean((twisted - true) ** 2))
    k = _scale(quick)["fig3.7"]["twists"]
    res = _bp_llg_comparison(out_dir, quick, seed)
    lat = triangular(_scale(quick)["fig3.14"]["L"])
    sq_final = res["sq_ml"][:, -1].mean(0)
    plot_structure_factor(lat, sq_final, path=Path(out_dir) / "fig3_7_sq_bp_final.png",
                          title=f"BP-LLG S(q), step {int(res['times'][-1])}")
    q = bz_momenta(lat).reshape(-1, 2)
    flat = sq_final.ravel().copy()
    flat[np.linalg.norm(q, axis=1) < 1e-9] = -np.inf  # q = 0 carries the magnetisation, not the order
    top6 = q[np.argsort(flat)[::-1][:6]]
    on_peaks = all(np.min(np.linalg.norm(peak_momenta() - p, axis=1)) < 1e-6 for p in top6)
    ratio = mse["train"] / mse["test"] if mse["test"] > 0 else np.inf
    return [
        Metric("bp_mse_test_H_perp", mse["test"], target=3e-6, tolerance="<= 3e-6 (dissertation 9.82e-7)",
               passed=mse["test"] <= 3e-6, note=f"train MSE {mse['train']:.3g}; {L}² data"),
        Metric("bp_mse_test_over_train", mse["test"] / mse["train"], target=1.2, tolerance="<= 1.2",
               passed=mse["test"] / mse["train"] <= 1.2, note=f"train/test = {ratio:.3g}"),
        Metric("bp_llg_six_peaks_on_Q_grid_points", float(on_peaks), target=1.0,
               tolerance="six largest S(q≠0) on ±Q_η", passed=bool(on_peaks),
               note=f"mean over {len(res['sq_ml'])} BP runs at step {int(res['times'][-1])}"),
        Metric("mse_exact_field_vs_twisted_H_perp", floor, note=(
            f"diagnostic, no target: MSE of the exact {L}² H_⊥ (the training truth) against the {k * L}² H_⊥ of the "
            f"same spins ({k}×{k} Bloch twists) on {len(spins)} test snapshots; a model of the large-system field "
            f"scores about this test MSE")),
    ]


def fig3_16(out_dir: Path, quick: bool, seed: int) -> list[Metric]:
    """Fig 3.16: BP-LLG on a lattice larger than the training one: 𝓜(t) and L(t) = 2π/Δk from random starts."""
    from ..analysis.spin import characteristic_length, peak_order, structure_factor
    from ..lattice import triangular
    from ..models.sd import random_spins

    cfg = _scale(quick)["fig3.16"]
    path, _ = bp_model(out_dir, quick, seed)
    lat = triangular(cfg["L"])
    starts = np.stack([random_spins(lat.N, np.random.default_rng([seed + 3000, r])) for r in range(cfg["runs"])])
    calc = _calculator(path, cfg["L"], _scale(quick)["ml_device"])
    runs = ml_llg_runs(calc, starts, cfg["steps"], cfg["stride"], ALPHA_BP, cache=_cache(out_dir, "_runs"),
                       model=path)
    steps = np.arange(runs.shape[1]) * cfg["stride"]
    sq = [structure_factor(lat, runs[:, k]) for k in range(runs.shape[1])]
    order = np.array([peak_order(lat, s) for s in sq])
    length = np.array([characteristic_length(lat, s)[1] for s in sq])
    plt = _pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    ax[0].loglog(steps[1:], order[1:])
    ax[0].set(xlabel="step", ylabel="M(t)")
    ax[1].loglog(steps[1:], length[1:])
    ax[1].set(xlabel="step", ylabel="L(t) = 2π/Δk")
    _save(fig, Path(out_dir) / "fig3_16_growth.png")
    (Path(out_dir) / "fig3_16_growth.json").write_text(json.dumps({"steps": steps.tolist(), "M": order.tolist(),
                                                                   "L": length.tolist()}))
    # middle regime: the decade of steepest growth; late regime: the last decade (spec target 16)
    logt, logL = np.log(steps[1:]), np.log(length[1:])
    slopes = [np.polyfit(logt[(logt >= a) & (logt <= a + np.log(10))], logL[(logt >= a) & (logt <= a + np.log(10))],
                         1)[0] for a in logt if a + np.log(10) <= logt[-1]]
    middle = float(max(slopes)) if slopes else float("nan")
    late_mask = logt >= logt[-1] - np.log(10)
    late = float(np.polyfit(logt[late_mask], logL[late_mask], 1)[0])
    # L = 2π/Δk starts near 2π/(⅔·|Q|/2) ≈ 18 for any L (random spins: flat S(q) over the window), so growth
    # shows only for domains larger than that, and diverges once one domain fills the torus (24²: after ≈ 3,000
    # BP-LLG steps; a 5,000-step run gave slopes 2.1 and 4.7). The 0.7–1.3 regime needs L ≳ 100 (GPU tier: 150²):
    # one 96² run of 4,000 steps (440 s, Nov 2026) grows L from 18.4 to 54.5, steepest decade [400, 4000] slope 0.51.
    return [
        Metric("L(t)_loglog_slope_middle", middle, target="0.7–1.3", tolerance="0.7 <= slope <= 1.3",
               passed=bool(0.7 <= middle <= 1.3), note=f"{cfg['runs']} BP runs on {cfg['L']}², {cfg['steps']} steps; "
                                                        f"L(0) = {length[0]:.1f}"),
        Metric("L(t)_loglog_slope_late", late, target=0.2, tolerance="< 0.2 (saturation)", passed=bool(late < 0.2),
               note=f"final L = {length[-1]:.2f}, 𝓜 = {order[-1]:.2f}"),
    ]
