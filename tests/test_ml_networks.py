"""ML networks: BP forces are exact gradients, CNN periodicity and hexagonal kernels, Table 2.2 shapes."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from latticeml.lattice import square, triangular  # noqa: E402
from latticeml.ml.augment import SymmetryAugmenter, random_rotations  # noqa: E402
from latticeml.ml.networks import DeltaENet, TorqueResNet, build_network, hexagonal_mask  # noqa: E402


def _spins(rng, n):
    s = rng.standard_normal((n, 3))
    return s / np.linalg.norm(s, axis=1, keepdims=True)


def test_bp_forces_are_minus_energy_gradient():
    torch.manual_seed(0)
    lat = square(4)
    net = build_network("bp", descriptor={"kind": "spin_bonds", "lattice": "square", "cutoff": 1.5},
                        hidden=[16, 16]).double().attach(lat)
    s = torch.as_tensor(_spins(np.random.default_rng(0), lat.N))[None]
    out = net(s)
    # central finite differences of the total energy along random directions
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = torch.as_tensor(rng.standard_normal(s.shape))
        h = 1e-5
        de = (net(s + h * v, forces=False)["energy"] - net(s - h * v, forces=False)["energy"]) / (2 * h)
        assert float(de) == pytest.approx(-float((out["forces"] * v).sum()), rel=1e-6, abs=1e-9)


def test_bp_features_rotation_invariant_and_count():
    lat = triangular(6)
    net = build_network("bp", descriptor={"kind": "spin_bonds", "lattice": "triangular", "cutoff": 1.01},
                        hidden=[8]).double().attach(lat)
    assert net.featurizer.n_features == 6
    s = _spins(np.random.default_rng(2), lat.N)
    R = random_rotations(1, np.random.default_rng(3))[0]
    e1 = net(torch.as_tensor(s)[None], forces=False)["energy"]
    e2 = net(torch.as_tensor(s @ R.T)[None], forces=False)["energy"]
    assert float(e1) == pytest.approx(float(e2), rel=1e-12)


def test_hexagonal_mask_is_the_19_site_hexagon():
    m = hexagonal_mask(5).numpy()
    assert m.sum() == 19
    kept = {(u - 2, v - 2) for u in range(5) for v in range(5) if m[u, v]}
    # closed under the C6 rotation of the triangular lattice in oblique coordinates: (d1, d2) -> (-d2, d1 + d2)
    assert {(-d2, d1 + d2) for d1, d2 in kept} == kept
    # and every kept offset is within 2 lattice constants: |d1 a1 + d2 a2|^2 = d1^2 + d1 d2 + d2^2 <= 4
    assert all(d1 * d1 + d1 * d2 + d2 * d2 <= 4 for d1, d2 in kept)
    assert m[4, 4] == 0 and m[0, 0] == 0 and m[4, 0] == 1 and m[0, 4] == 1


def test_cnn_is_translation_equivariant_and_masked():
    torch.manual_seed(0)
    net = TorqueResNet("triangular", width=8, n_blocks=2, tail=[8]).double()
    x = torch.randn(1, 3, 7, 9, dtype=torch.float64)
    y = net(x)
    y_shift = net(torch.roll(x, shifts=(2, -3), dims=(2, 3)))
    assert torch.allclose(torch.roll(y, shifts=(2, -3), dims=(2, 3)), y_shift, atol=1e-12)
    # a single spin changes outputs only within the hexagonal receptive field: offsets with |d1+d2| large stay put
    x2 = x.clone()
    x2[0, :, 0, 0] += 1.0
    diff = (net(x2) - y).abs().sum(1)[0]
    assert net.receptive_field == 6 * 4 + 1
    assert diff[0, 0] > 0
    assert net.config["lattice"] == "triangular"


def test_cnn_default_matches_ch3_spec():
    net = TorqueResNet("square")
    n_conv = sum(1 for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (5, 5))
    assert n_conv == 10 and net.receptive_field == 41
    n_params = sum(p.numel() for p in net.parameters())
    assert 0.7e6 < n_params < 1.0e6  # spec: "about 0.9 M"; 776,003 with the default layout


def test_delta_e_net_table_2_2_shapes():
    net = DeltaENet(316, 4)
    assert net.head[0].in_features == 32 * 34  # 316 -> 312 -> 104 -> 102 -> 34, 32 channels
    assert net(torch.zeros(5, 316)).shape == (5, 4)


def test_augmenter_keeps_exact_field_relation():
    """Augmenting (S, H_exact(S)) gives (S', H_exact(S')) for a model with the augmented symmetries."""
    from latticeml.calculators.classical import HeisenbergCalculator

    lat = triangular(6)
    calc = HeisenbergCalculator(lat, J=1.0)
    rng = np.random.default_rng(4)
    s = np.stack([_spins(rng, lat.N) for _ in range(3)])
    h = np.stack([calc.forces(x) for x in s])
    aug = SymmetryAugmenter(lat, "spin", time_reversal=True)
    assert aug.group_order == 12
    s2, h2 = aug(torch.as_tensor(s), torch.as_tensor(h), rng)
    for a, b in zip(s2.numpy(), h2.numpy()):
        assert np.allclose(calc.forces(a), b, atol=1e-12)


def test_bp_on_descriptor_library_drives_langevin(tmp_path):
    """A BP model over the ch7 IR descriptor (JT-like 3-component field on D4) gives -∂E/∂Q and runs Langevin."""
    from latticeml.calculators.ml import MLCalculator
    from latticeml.dynamics.base import State
    from latticeml.dynamics.langevin import Langevin
    from latticeml.ml.modelfile import save_model

    torch.manual_seed(0)
    lat = square(6)
    desc = {"kind": "lattice_ir", "lattice": "square", "cutoff": 1.5, "components": ["A1", "B1", "A1"]}
    net = build_network("bp", descriptor=desc, hidden=[8])
    path = save_model(tmp_path / "jt.pt", net, {"lattice": lat.describe(), "model": {"model": "toy"},
                                               "field_kind": "displacement"})
    calc = MLCalculator.from_file(path, lat, model={"model": "toy"}, dtype="float64")
    q = np.random.default_rng(0).standard_normal((lat.N, 3))
    res = calc.compute(q)
    v = np.random.default_rng(1).standard_normal(q.shape)
    h = 1e-5
    fd = (calc.energy(q + h * v) - calc.energy(q - h * v)) / (2 * h)
    assert fd == pytest.approx(-np.sum(res.forces * v), rel=1e-6)
    state = State(q.copy())
    stepper = Langevin(calc, dt=0.01, gamma=1.0, T=0.1)
    stepper.prepare(state)
    stepper.step(state, np.random.default_rng(2))
    assert state.field.shape == q.shape and not np.allclose(state.field, q)


def test_vanished_training_spread_only_centres_the_feature():
    """A feature constant in the training data (or a class seen twice) gets scale 1, so an out-of-sample value moves
    the output by O(1), not by 1e8 as a 1e-8 floor would."""
    net = DeltaENet(n_features=40, n_out=2)
    mean, std = torch.zeros(40), torch.ones(40)
    std[5] = 0.0
    net.set_normalization(mean, std, torch.zeros(2), torch.tensor([0.0, 2.0]))
    assert net.feature_std[5] == 1 and net.feature_std[0] == 1 and net.target_std.tolist() == [1.0, 2.0]
    x = torch.zeros(1, 40)
    shifted = x.clone()
    shifted[0, 5] = 1e-3
    assert (net(shifted) - net(x)).abs().max() < 1.0
