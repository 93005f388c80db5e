"""FK ΔE surrogate: covariant reconstruction under D4, move_energies data -> per-class training -> ML kinetic MC."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from latticeml.calculators.base import Calculator, ExactMovesMixin, Result  # noqa: E402
from latticeml.calculators.ml import FKDeltaECalculator, MLCalculator  # noqa: E402
from latticeml.descriptors.fk import DIRECTIONS  # noqa: E402
from latticeml.dynamics.base import State  # noqa: E402
from latticeml.dynamics.kmc import KineticMC  # noqa: E402
from latticeml.lattice import square  # noqa: E402
from latticeml.ml.data import RunSpec, generate_dataset, load_dataset  # noqa: E402
from latticeml.ml.fk import fk_class_datasets, train_fk_model  # noqa: E402
from latticeml.ml.modelfile import save_model  # noqa: E402
from latticeml.ml.networks import FKDeltaEModel, build_network  # noqa: E402

RC = 3.0  # 28 features: a small stand-in for the 316 of R_c = 10.01


class LatticeGas(ExactMovesMixin, Calculator):
    """Cheap exact occupation model for the test: E = -V1 Σ_nn n_i n_j - V2 Σ_nnn n_i n_j."""

    field_kind = "occupation"

    def __init__(self, lattice, V1=1.0, V2=-0.4):
        self.lattice = lattice
        self.A = V1 * lattice.adjacency(1) + V2 * lattice.adjacency(2)
        self.metadata = {"model": "lattice_gas", "V1": V1, "V2": V2}

    def compute(self, fields, *, forces=False):
        n = np.asarray(fields, dtype=float)
        return Result(-0.5 * float(n @ self.A @ n))


def _model_file(tmp_path, lattice, net, meta_model):
    return save_model(tmp_path / "fk.pt", net, {"lattice": lattice.describe(), "model": meta_model,
                                                "field_kind": "occupation", "target": "move_energies"})


def test_predicted_move_energies_permute_with_d4(tmp_path):
    """For any weights, ΔE_pred(g·occ) at g(i) along g(d) equals ΔE_pred(occ) at i along d (frame-consistent)."""
    torch.manual_seed(0)
    lat = square(12)
    net = FKDeltaEModel(rc=RC, n_features=28, channels=[4, 4], hidden=[8])
    for m in net.nets.values():  # non-trivial output scales so that every target matters
        m.set_normalization(np.zeros(28), np.ones(28), np.arange(m.config["n_out"]) + 1.0, np.ones(m.config["n_out"]))
    calc = MLCalculator.from_file(_model_file(tmp_path, lat, net, {}), lat, dtype="float64")
    assert isinstance(calc, FKDeltaECalculator)
    rng = np.random.default_rng(0)
    occ = (rng.random(lat.N) < 0.3).astype(np.int8)
    sites = np.flatnonzero(occ)
    dE = calc.direction_energies(occ, sites)
    assert np.isfinite(dE).any() and np.isinf(dE).any()
    for op in lat.point_group:
        perm = lat.site_permutation(op)
        occ_g = np.empty_like(occ)
        occ_g[perm] = occ
        dE_g = calc.direction_energies(occ_g, perm[sites])
        dir_map = [int(np.flatnonzero((DIRECTIONS == np.rint(op.R @ d)).all(1))[0]) for d in DIRECTIONS]
        expected = np.empty_like(dE)
        expected[:, dir_map] = dE
        assert np.allclose(dE_g, expected, atol=1e-9), op.name


def test_lattice_gas_data_training_and_ml_kmc(tmp_path):
    lat = square(8)
    path = generate_dataset(tmp_path / "lg.h5", lattice=lat, make_calculator=LatticeGas,
                            make_stepper=lambda c: KineticMC(c, T=0.5), runs=[RunSpec("random", 8, {"filling": 0.3})],
                            steps=30, save_every=1, seed=1, split=(0.67, 0.33, 0.0), target="move_energies")
    ds = load_dataset(path)
    assert ds.targets.shape == (len(ds), lat.N, 4)
    # stored ΔE are the exact ones, NaN exactly where the hop is not allowed
    exact = LatticeGas(lat)
    occ = ds.inputs[3, :, 0].astype(np.int8)
    i = int(np.flatnonzero(occ)[0])
    for d, (dx, dy) in enumerate(DIRECTIONS):
        j = int(lat.site_index(lat.cells[i] + [dx, dy]))
        if occ[j]:
            assert np.isnan(ds.targets[3, i, d])
        else:
            assert ds.targets[3, i, d] == pytest.approx(exact.move_energies(occ, np.array([[i, j]]))[0], abs=1e-5)
    per_class = fk_class_datasets(ds, RC)
    movable = int(np.isfinite(ds.targets).any(-1).sum())  # electrons with an empty neighbour
    n_samples = sum(len(d) for d in per_class.values())
    assert 0.5 * movable < n_samples <= movable  # only zero-reference-sign electrons are dropped
    assert all(np.isfinite(d.targets).all() for d in per_class.values())
    torch.manual_seed(0)
    # P3 is the best-populated class of a random 30% filling; the other networks stay untrained here
    model, trainers = train_fk_model(ds, rc=RC, network={"channels": [8, 8], "hidden": [32, 16]}, classes=["P3"],
                                     lr=3e-3, batch_size=64, max_epochs=50, patience=10)
    assert trainers["P4"] is None and model.class_counts_["P3"] > 500
    pred, true = trainers["P3"].predict(per_class["P3"].subset("val"))
    # the nn + nnn lattice gas is local (inside R_c = 3), so the model must beat the mean predictor by far
    assert np.mean((pred - true) ** 2) < 0.2 * np.mean(np.var(true, axis=0))
    calc = MLCalculator.from_file(_model_file(tmp_path, lat, model, exact.metadata), lat, model=exact.metadata)
    state = State((np.random.default_rng(2).random(lat.N) < 0.3).astype(np.int8))
    kmc = KineticMC(calc, T=0.5)
    kmc.prepare(state)
    n0 = int(state.field.sum())
    rng = np.random.default_rng(3)
    for _ in range(5):
        kmc.step(state, rng)
    assert int(state.field.sum()) == n0 and kmc.accepted > 0


@pytest.mark.parametrize("activation", ["relu", "silu"])
def test_stacked_networks_compute_the_module_function(activation):
    """StackedDeltaENets (kMC inference) = torch.cat of the per-output networks, for a monotone and a
    non-monotone activation (pool/activation order) and for shared-trunk networks with several outputs."""
    from latticeml.ml.fk import StackedDeltaENets
    from latticeml.ml.networks import DeltaENet

    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    for k, n_out in ((3, 1), (1, 4)):
        nets = [DeltaENet(316, n_out, activation=activation).double().eval() for _ in range(k)]
        for net in nets:
            net.set_normalization(rng.normal(size=316), rng.random(316) + 0.5, rng.normal(size=n_out),
                                  rng.random(n_out) + 0.1)
        x = torch.as_tensor(rng.normal(size=(7, 316)))
        with torch.no_grad():
            ref = torch.cat([net(x) for net in nets], dim=1)
        stacked = StackedDeltaENets(nets)
        np.testing.assert_allclose(stacked(x).numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)
        stacked.MAX_ROWS = 3  # large batches go through in slices of rows
        np.testing.assert_allclose(stacked(x).numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)


def test_float32_stacked_inference_equals_module_forward_to_rounding():
    """The kMC fast path in float32 (chunked StackedDeltaENets of the 12 networks of Table 2.2's architecture)
    gives the plain module forward's ΔE to float32 rounding, on batches of kMC size and larger."""
    from latticeml.reproduce.fk_pipeline import FKNetworkSet

    lat = square(24)
    calc = FKNetworkSet.untrained(seed=2).calculator(lat)
    assert calc.dtype == torch.float32 and calc._stacks is not None
    occ = (np.random.default_rng(6).random(lat.N) < 0.19).astype(np.int8)
    sites = np.flatnonzero(occ)
    for batch in (sites[:35], sites):  # one kMC batch; all electrons (P4 beyond StackedDeltaENets.MAX_ROWS)
        fast = calc.direction_energies(occ, batch)
        stacks, calc._stacks = calc._stacks, None  # the plain module call
        ref = calc.direction_energies(occ, batch)
        calc._stacks = stacks
        assert np.array_equal(np.isinf(fast), np.isinf(ref)) and np.isfinite(ref).any()
        finite = np.isfinite(ref)
        np.testing.assert_allclose(fast[finite], ref[finite], rtol=1e-5, atol=1e-5 * np.abs(ref[finite]).max())


def test_calculator_stacked_inference_equals_module_inference(tmp_path):
    torch.manual_seed(0)
    lat = square(12)
    net = FKDeltaEModel(rc=RC, n_features=28, channels=[4, 4], hidden=[8])
    for m in net.nets.values():
        m.set_normalization(np.zeros(28), np.ones(28), np.arange(m.config["n_out"]) + 1.0, np.ones(m.config["n_out"]))
    calc = MLCalculator.from_file(_model_file(tmp_path, lat, net, {}), lat, dtype="float64")
    assert calc._stacks is not None
    occ = (np.random.default_rng(4).random(lat.N) < 0.3).astype(np.int8)
    sites = np.flatnonzero(occ)
    fast = calc.direction_energies(occ, sites)
    calc._stacks = None  # the plain module call
    np.testing.assert_allclose(fast, calc.direction_energies(occ, sites), rtol=1e-12, atol=1e-12)


def test_threaded_class_networks_and_direct_rates_change_nothing(tmp_path):
    """``workers=2`` (class networks in two threads) gives the same ΔE bit for bit, and the cached Metropolis kMC
    gives the same trajectory whether it asks ``direction_energies`` (its fast path) or ``move_energies``."""
    from latticeml.dynamics.kmc_fast import CachedMetropolisKMC

    torch.manual_seed(0)
    lat = square(12)
    net = FKDeltaEModel(rc=RC, n_features=28, channels=[4, 4], hidden=[8])
    calc = MLCalculator.from_file(_model_file(tmp_path, lat, net, {}), lat)
    occ = (np.random.default_rng(4).random(lat.N) < 0.3).astype(np.int8)
    sites = np.flatnonzero(occ)
    serial = calc.direction_energies(occ, sites)
    calc.workers = 2
    np.testing.assert_array_equal(calc.direction_energies(occ, sites), serial)
    finals = []
    for direct in (True, False):
        stepper = CachedMetropolisKMC(calc, T=0.05, interaction_radius=RC)
        assert stepper._direct
        stepper._direct = direct
        state, rng = State(occ.copy()), np.random.default_rng(2)
        for _ in range(4):
            stepper.step(state, rng)
        finals.append((state.field.copy(), stepper.accepted, stepper.evaluated_moves))
    np.testing.assert_array_equal(finals[0][0], finals[1][0])
    assert finals[0][1:] == finals[1][1:] and finals[0][1] > 0
    with pytest.raises(Exception, match="workers"):
        calc.workers = 0


def test_worker_threads_split_the_stacked_class_networks_without_changing_a_bit():
    """The 12 per-output networks (stacked per class), class by class in 2 worker threads, give the serial ΔE
    bit for bit."""
    from latticeml.reproduce.fk_pipeline import FKNetworkSet

    lat = square(24)
    calc = FKNetworkSet.untrained(seed=3).calculator(lat)
    assert calc._stacks is not None
    for density in (0.19, 0.45):  # mixed classes; mostly P2/P1
        occ = (np.random.default_rng(5).random(lat.N) < density).astype(np.int8)
        sites = np.flatnonzero(occ)
        calc.workers = 1
        serial = calc.direction_energies(occ, sites)
        calc.workers = 2
        np.testing.assert_array_equal(calc.direction_energies(occ, sites), serial)
        assert np.isfinite(serial).any()


def test_command_line_generate_train_then_ml_kmc_on_a_larger_lattice(tmp_path, write_config, cli):
    """Chapter 2 by the command line, tiny: exact FK move energies on 12² → fk_delta_e networks → `simulate` with
    model ml_fk on 24² (T and the f-density default to the file's model); a spin model file is refused by name."""
    gen = write_config({"seed": 0, "lattice": {"kind": "square", "L": 12},
                        "model": {"name": "falicov_kimball", "U": 2.0, "T": 0.07},
                        "dynamics": {"stepper": "kmc", "n_steps": 6}, "runs": [{"type": "random", "count": 4}],
                        "save_every": 2, "target": "move_energies", "split": {"train": 0.5, "val": 0.5, "test": 0.0}})
    assert cli.run("generate", gen, "--out", tmp_path / "fk.h5").returncode == 0
    train = write_config({"data": str(tmp_path / "fk.h5"), "network": {"kind": "fk_delta_e", "rc": 3.01},
                          "training": {"loss": "mse", "max_epochs": 2, "batch_size": 32}})
    res = cli.run("train", train, "--out", tmp_path / "net")
    assert res.returncode == 0, res.stderr
    run = {"seed": 1, "lattice": {"kind": "square", "L": 24},
           "model": {"name": "ml_fk", "file": str(tmp_path / "net" / "model.pt")},
           "dynamics": {"stepper": "kmc", "n_steps": 3}, "output": {"stride": 1}}
    res = cli.run("simulate", write_config(run), "--out", tmp_path / "ml", "--quiet")
    assert res.returncode == 0, res.stderr

    from latticeml.io import load_config, read_trajectory

    cfg = load_config(tmp_path / "ml" / "config.yaml")
    assert cfg["model"]["T"] == 0.07 and cfg["dynamics"]["T"] is None  # the kMC runs at the model's T
    traj = read_trajectory(tmp_path / "ml" / "trajectory.h5")
    n_f = round(0.18778 * 576)
    assert traj["fields"].shape == (4, 576) and np.all(traj["fields"].sum(1) == n_f)
    assert np.all(np.isnan(traj["energies"]))  # a ΔE model has no total energy
    assert np.any(traj["fields"][-1] != traj["fields"][0])

    spin_model = tmp_path / "spin.pt"
    save_model(spin_model, build_network("cnn", width=4, n_blocks=1, tail=[], lattice="square"),
               {"kind": "cnn", "lattice": square(4).describe(), "field_kind": "spin"})
    for model_file, needle in [(spin_model, "'cnn' model"), (tmp_path / "nothing.pt", "does not exist")]:
        bad = {**run, "model": {"name": "ml_fk", "file": str(model_file)}}
        res = cli.run("simulate", write_config(bad), "--out", tmp_path / "bad")
        assert res.returncode == 2 and "'model.file'" in res.stderr and needle in res.stderr, res.stderr
