"""Diagnostics: equivariance error (Fig. 3.12) and effective receptive field (Fig. 3.13); CNN training path."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from latticeml.calculators.classical import HeisenbergCalculator  # noqa: E402
from latticeml.calculators.ml import BPCalculator, CNNFieldCalculator  # noqa: E402
from latticeml.dynamics.llg import LLG  # noqa: E402
from latticeml.lattice import triangular  # noqa: E402
from latticeml.ml.data import RunSpec, generate_dataset, load_dataset  # noqa: E402
from latticeml.ml.diagnostics import (effective_receptive_field, equivariance_errors,  # noqa: E402
                                      equivariance_report, plot_equivariance, plot_receptive_field)
from latticeml.ml.networks import build_network  # noqa: E402
from latticeml.ml.train import Trainer  # noqa: E402


def _spins(rng, b, n):
    s = rng.standard_normal((b, n, 3))
    return s / np.linalg.norm(s, axis=-1, keepdims=True)


def _cnn_calc(lat, **kw):
    torch.manual_seed(0)
    net = build_network("cnn", lattice="triangular", **kw)
    return CNNFieldCalculator(net, {"kind": "cnn", "field_kind": "spin"}, lat, dtype="float64")


def _heisenberg_data_and_cnn(tmp_path, lat, steps: int):
    """A small LLG dataset of the Heisenberg model (4 random runs, split 2/1/1) and a fresh small CNN."""
    path = generate_dataset(tmp_path / "tri.h5", lattice=lat, make_calculator=lambda l: HeisenbergCalculator(l),
                            make_stepper=lambda c: LLG(c, dt=0.05, alpha=0.1, T=0.05),
                            runs=[RunSpec("random", 4)], steps=steps, save_every=4, seed=0, split=(0.5, 0.25, 0.25))
    torch.manual_seed(0)
    return load_dataset(path), build_network("cnn", lattice="triangular", width=8, n_blocks=1, tail=[])


def test_exact_field_is_equivariant_and_a_cnn_is_not():
    lat = triangular(6)
    rng = np.random.default_rng(0)
    s = _spins(rng, 3, lat.N)
    exact = HeisenbergCalculator(lat, J=1.0)
    assert np.abs(equivariance_errors(exact, s, rng)).max() < 1e-12
    cnn = _cnn_calc(lat, width=8, n_blocks=1, tail=[])
    assert np.sqrt(np.mean(equivariance_errors(cnn, s, rng) ** 2)) > 1e-3
    # a BP model over bond invariants is exactly equivariant under global spin rotations
    net = build_network("bp", descriptor={"kind": "spin_bonds", "lattice": "triangular", "cutoff": 1.01},
                        hidden=[8])
    bp = BPCalculator(net, {"kind": "bp", "field_kind": "spin"}, lat, dtype="float64")
    assert np.abs(equivariance_errors(bp, s, rng, point_group=False)).max() < 1e-12


def test_receptive_fields_match_the_architectures(tmp_path):
    lat = triangular(16)
    s = _spins(np.random.default_rng(1), 2, lat.N)
    # 3 hexagonal 5x5 convolutions: hexagonal radius 6 cells, so nothing beyond distance 6
    cnn = _cnn_calc(lat, width=4, n_blocks=1, tail=[])
    erf = effective_receptive_field(cnn, s, center=0)
    assert erf["erf"][erf["distance"] > 6.0 + 1e-9].max() == 0.0
    assert erf["erf"][0] > 0 and erf["radius_99"] <= 6.0 + 1e-9
    plot_receptive_field(erf, lat, tmp_path / "erf.png")
    assert (tmp_path / "erf.png").stat().st_size > 0
    # BP with nearest-neighbour bonds: H_i = -dE/dS_i reaches the neighbours of the neighbours (distance <= 2)
    net = build_network("bp", descriptor={"kind": "spin_bonds", "lattice": "triangular", "cutoff": 1.01},
                        hidden=[8])
    bp = BPCalculator(net, {"kind": "bp", "field_kind": "spin"}, lat, dtype="float64")
    erf = effective_receptive_field(bp, s, center=5)
    assert erf["erf"][erf["distance"] > 2.0 + 1e-9].max() == 0.0
    assert erf["erf"][erf["distance"] > 1.5].max() > 0


def test_cnn_training_reduces_relative_l1_and_report(tmp_path):
    lat = triangular(6)
    ds, net = _heisenberg_data_and_cnn(tmp_path, lat, steps=40)
    tr = Trainer(net, ds.subset("train"), ds.subset("val"), lr=3e-3, batch_size=4, max_epochs=8,
                 augment={"point_group": True, "spin_rotation": True, "time_reversal": True})
    before = tr.evaluate("val")
    tr.fit()
    assert tr.best_val_ < 0.8 * before
    calc = CNNFieldCalculator(tr.network, tr.model_metadata(), lat)
    test = ds.subset("test")
    rep = equivariance_report(calc, test.inputs, test.targets, np.random.default_rng(2))
    assert rep["prediction_rms"] > 0 and rep["equivariance_rms"] > 0 and np.isfinite(rep["ratio"])
    plot_equivariance(rep, tmp_path / "eq.png")
    assert (tmp_path / "eq.png").stat().st_size > 0


def test_torque_trained_cnn_outputs_are_projected_perpendicular_to_the_spins():
    lat = triangular(6)
    rng = np.random.default_rng(1)
    s = _spins(rng, 2, lat.N) * 1.3  # SIB midpoint spins are not unit vectors
    raw = _cnn_calc(lat, width=8, n_blocks=1, tail=[])
    projected = CNNFieldCalculator(raw.network, {"kind": "cnn", "field_kind": "spin",
                                                 "output_projection": "perpendicular"}, lat, dtype="float64")
    h_raw, h = raw.compute_batch(s), projected.compute_batch(s)
    unit = s / np.linalg.norm(s, axis=-1, keepdims=True)
    assert np.abs(np.einsum("bic,bic->bi", h_raw, unit)).max() > 1e-3  # the raw output has a part along S
    assert np.abs(np.einsum("bic,bic->bi", h, unit)).max() < 1e-12
    np.testing.assert_allclose(np.cross(unit, h), np.cross(unit, h_raw), atol=1e-12)  # same torque


def test_torque_projected_training_is_recorded_and_refused_for_other_models(tmp_path):
    from latticeml.errors import ConfigError

    lat = triangular(6)
    ds, net = _heisenberg_data_and_cnn(tmp_path, lat, steps=8)
    tr = Trainer(net, ds.subset("train"), ds.subset("val"), max_epochs=1, project_output=True)
    tr.fit()
    meta = tr.model_metadata()
    assert meta["output_projection"] == "perpendicular"
    s = ds.subset("test").inputs
    h = CNNFieldCalculator(tr.network, meta, lat).compute_batch(s)
    assert np.abs(np.einsum("bic,bic->bi", h, s / np.linalg.norm(s, axis=-1, keepdims=True))).max() < 1e-5
    pred, _ = tr.predict(ds.subset("test"))  # the trainer's test metrics see what the calculator returns
    np.testing.assert_allclose(pred, h, atol=1e-5)
    bp = build_network("bp", descriptor={"kind": "spin_bonds", "lattice": "triangular", "cutoff": 1.01}, hidden=[8])
    with pytest.raises(ConfigError, match="project_output"):
        Trainer(bp, ds.subset("train"), ds.subset("val"), project_output=True)
