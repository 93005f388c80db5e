"""ML-enabled kinetic Monte Carlo of the Falicov–Kimball model (dissertation chapter 2), end to end in minutes.

    python examples/fk_ml_kmc.py            # writes fk_ml_kmc_growth.png and fk_ml_kmc_snapshot.png

1. Exact data: f-configurations on a 30×30 lattice; for each, one diagonalization of the c-electron problem and
   the exact energy change ΔE of every allowed f-electron hop (fast rank-2 update).
2. Descriptor + networks: each mobile f-electron is one sample of its nearest-neighbour class (P4 ... P1): 316
   symmetry-invariant features of its R_c = 10 neighbourhood and the invariant combinations of its hop energies;
   one small Conv1d network per class and output (12 in all).
3. ML kMC: the networks replace the exact solver in a kMC quench (the author's Metropolis process on cached
   rates, recomputed only when stale) on a lattice too large for exact diagonalization at every step, and the
   checkerboard clusters coarsen.

This is the --quick scale shrunk further (few data, few epochs): the networks are rough. ``latticeml reproduce
fig2.4`` trains at the documented sizes and reports the accuracy.
"""
import numpy as np

from latticeml.analysis.fk import checkerboard_clusters, mean_cluster_size
from latticeml.analysis.growth import fit_power_law
from latticeml.dynamics import State
from latticeml.dynamics.kmc_fast import CachedMetropolisKMC
from latticeml.lattice import square
from latticeml.models.falicov_kimball import n_f_for
from latticeml.plots import plot_fk_snapshot, plot_growth
from latticeml.reproduce import fk_pipeline as fk

rng = np.random.default_rng(0)

# --- 1. exact training data on 30×30 (U = 2, ρ_c = 0.55, T = 0.05, N_f = 169) ---------------------------------
train_lattice = square(30)
n_f = n_f_for(train_lattice)
configs = {
    "random": fk.random_configs(train_lattice, n_f, 48, rng),                # the quench start
    "patches": fk.checkerboard_patch_configs(train_lattice, n_f, 30, rng),   # relaxed, checkerboard-rich states
    "clumps": fk.dense_clump_configs(train_lattice, n_f, 18, rng),            # the rare classes (P1, P2)
}
samples = fk.generate_samples(train_lattice, configs, progress=True)
print("samples per class:", samples.counts())

# --- 2. one ΔE network per class and invariant output --------------------------------------------------------
networks, test_rows = fk.train_networks(samples, train_lattice, epochs=4, batch_size=64, seed=0)
accuracy = fk.evaluate_networks(networks, samples, test_rows)
for name in fk.CLASS_ORDER:
    print(f"{name:5s} test MSE of the invariant network targets:", np.round(accuracy[name]["test"]["mse_std"], 3))
exact, predicted = accuracy["parity"]["exact"], accuracy["parity"]["ml"]  # ΔE of +x, −y, −x, +y (inf: blocked)
for d, arrow in enumerate("→↓←↑"):
    ok = np.isfinite(exact[:, d])
    print(f"ΔE{arrow} test MSE / variance (Fig. 2.4's number):",
          round(float(np.mean((predicted[ok, d] - exact[ok, d]) ** 2) / exact[ok, d].var()), 3))

# --- 3. ML kMC quench on 96×96 --------------------------------------------------------------------------------
lattice = square(96)
calculator = networks.calculator(lattice)  # descriptor + networks behind the calculator protocol
# a rate is recomputed only when its f-electron is attempted after a hop within R_c (the descriptor range)
stepper = CachedMetropolisKMC(calculator, T=0.05, interaction_radius=calculator.descriptor.rc)
state = State(fk.random_configs(lattice, n_f_for(lattice), 1, rng)[0])
t_max = 25
mean_size = [mean_cluster_size(checkerboard_clusters(lattice, state.field)[1])]
for _ in range(t_max):
    stepper.step(state, rng)  # one MC sweep = N_f attempts
    mean_size.append(mean_cluster_size(checkerboard_clusters(lattice, state.field)[1]))
print("kMC:", stepper.summary())

# --- 4. growth law of the cluster length ℓ = ⟨s⟩^(1/2): ℓ − ℓ(0) = A t^α ------------------------------------
t = np.arange(t_max + 1)
ell = np.sqrt(np.array(mean_size))
fit = fit_power_law(t, ell, l0=float(ell[0]), window=(2, t_max))
print(f"alpha = {fit['alpha']:.3f} ± {fit.errors['alpha']:.3f} on t ∈ [2, {t_max}] MCS")
tw = t[2:]
plot_growth({"ML kMC, 96×96": (t, ell - ell[0])},
            fits={"fit": (tw, fit["A"] * tw ** fit["alpha"], f"A t^{fit['alpha']:.2f}")},
            ylabel="ℓ(t) − ℓ(0)", path="fk_ml_kmc_growth.png")
plot_fk_snapshot(lattice, state.field, title=f"t = {t_max} MCS", path="fk_ml_kmc_snapshot.png")
