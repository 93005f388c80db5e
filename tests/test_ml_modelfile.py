"""Model files: round trip of weights + metadata; mismatched lattice / model / descriptor refused by name."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from latticeml.calculators.classical import HeisenbergCalculator  # noqa: E402
from latticeml.calculators.ml import BPCalculator, CNNFieldCalculator, MLCalculator  # noqa: E402
from latticeml.errors import LatticeMLError, ModelMismatchError  # noqa: E402
from latticeml.lattice import square, triangular  # noqa: E402
from latticeml.ml.modelfile import load_model, read_metadata, save_model  # noqa: E402
from latticeml.ml.networks import build_network  # noqa: E402


def _bp_file(path, lattice, model):
    torch.manual_seed(0)
    net = build_network("bp", descriptor={"kind": "spin_bonds", "lattice": lattice.name, "cutoff": 1.01},
                        hidden=[8])
    net.set_normalization(torch.rand(net.featurizer.n_features), 1 + torch.rand(net.featurizer.n_features), 2.5)
    return save_model(path, net, {"lattice": lattice.describe(), "model": model, "field_kind": "spin"}), net


def test_round_trip_predictions_and_metadata(tmp_path):
    lat = square(5)
    exact = HeisenbergCalculator(lat, J=1.0)
    path, net = _bp_file(tmp_path / "m.pt", lat, exact.metadata)
    calc = MLCalculator.from_file(path, lat, model=exact.metadata, dtype="float64")
    assert isinstance(calc, BPCalculator) and calc.field_kind == "spin"
    s = np.random.default_rng(0).standard_normal((lat.N, 3))
    ref = net.double().attach(lat)(torch.as_tensor(s)[None])
    res = calc.compute(s)
    assert res.energy == pytest.approx(float(ref["energy"][0].detach()), rel=1e-12)
    assert np.allclose(res.forces, ref["forces"][0].numpy(), atol=1e-12)
    meta = read_metadata(path)
    assert meta["kind"] == "bp" and meta["latticeml_version"] and meta["descriptor"]["cutoff"] == 1.01
    # normalisation buffers travel with the weights
    loaded, _ = load_model(path)
    assert float(loaded.energy_scale) == 2.5


def test_other_lattice_is_refused_by_name(tmp_path):
    lat = square(5)
    path, _ = _bp_file(tmp_path / "m.pt", lat, HeisenbergCalculator(lat).metadata)
    with pytest.raises(ModelMismatchError, match=r"lattice 'name': model file has 'square', simulation has "
                                                 r"'triangular'"):
        MLCalculator.from_file(path, triangular(6))
    # another size of the same lattice is fine: the model is local
    MLCalculator.from_file(path, square(9), model=HeisenbergCalculator(square(9)).metadata)


def test_other_model_parameters_are_refused_by_name(tmp_path):
    lat = square(5)
    path, _ = _bp_file(tmp_path / "m.pt", lat, HeisenbergCalculator(lat, J=1.0).metadata)
    with pytest.raises(ModelMismatchError) as err:
        MLCalculator.from_file(path, lat, model=HeisenbergCalculator(lat, J=0.5, field=(0, 0, 0.1)).metadata)
    msg = str(err.value)
    assert "model parameter 'J': model file has 1.0, simulation has 0.5" in msg
    assert "model parameter 'field'" in msg
    # solver choices are not model parameters: an ED-trained model serves a KPM reference run
    MLCalculator.from_file(path, lat, model=dict(HeisenbergCalculator(lat, J=1.0).metadata, method="kpm"))
    with pytest.raises(ModelMismatchError, match="model parameter 'model'"):
        MLCalculator.from_file(path, lat, model={"model": "sd_triangular", "J": 1.0, "field": [0.0, 0.0, 0.0],
                                                 "shell": 1})


def test_other_descriptor_is_refused_by_name(tmp_path):
    lat = square(5)
    path, _ = _bp_file(tmp_path / "m.pt", lat, {})
    with pytest.raises(ModelMismatchError,
                       match="descriptor setting 'cutoff': model file has 1.01, simulation has 1.5"):
        load_model(path, descriptor={"kind": "spin_bonds", "lattice": "square", "cutoff": 1.5})


def test_cnn_file_and_foreign_files(tmp_path):
    torch.manual_seed(0)
    lat = triangular(6)
    net = build_network("cnn", lattice="triangular", width=4, n_blocks=1, tail=[])
    path = save_model(tmp_path / "cnn.pt", net, {"lattice": lat.describe(), "model": {}, "field_kind": "spin"})
    calc = MLCalculator.from_file(path, lat)
    assert isinstance(calc, CNNFieldCalculator)
    s = np.random.default_rng(1).standard_normal((lat.N, 3))
    assert calc.compute(s).energy is None and calc.forces(s).shape == (lat.N, 3)
    junk = tmp_path / "junk.pt"
    torch.save({"weights": torch.zeros(3)}, junk)
    with pytest.raises(LatticeMLError, match="not a latticeml model file"):
        load_model(junk)
    with pytest.raises(LatticeMLError, match="does not exist"):
        load_model(tmp_path / "missing.pt")


def test_device_auto_and_missing_gpu(tmp_path):
    lat = square(5)
    path, _ = _bp_file(tmp_path / "m.pt", lat, HeisenbergCalculator(lat).metadata)
    calc = MLCalculator.from_file(path, lat, device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert calc.device.type == expected
    assert next(calc.network.parameters()).device.type == expected
    if not torch.cuda.is_available():
        with pytest.raises(LatticeMLError, match=r"config field 'device': device='cuda' but torch sees no GPU"):
            MLCalculator.from_file(path, lat, device="cuda")
