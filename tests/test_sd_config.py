"""The s-d model of chapter 3 through `latticeml simulate`: config, skyrmion initial states, exact LLG with the fast
method against dense ED, damped-dynamics energy decrease, topological charge, and the VTK/OVF export of the final
spins."""
import numpy as np
import pytest

from latticeml.analysis.spin import skyrmion_charge
from latticeml.io import read_trajectory, simulate
from latticeml.io.export import read_ovf, read_vtk
from latticeml.lattice import triangular
from latticeml.models.sd import skyrmion_lattice

SD_RUN = {
    "seed": 5,
    "lattice": {"kind": "triangular", "L": 12},
    "model": {"name": "sd_triangular", "h_ext": 0.005, "method": "fast"},
    "dynamics": {"stepper": "llg", "n_steps": 30, "dt": 0.1, "alpha": 0.2, "T": 0.0},
    "initial": {"kind": "perturbed_skyrmion"},
    "output": {"stride": 5, "vtk": True, "ovf": True},
}


def _run(cfg, write_config, out):
    simulate(write_config(cfg), out, quiet=True)
    return read_trajectory(out / "trajectory.h5")


@pytest.fixture(scope="module")
def fast_and_ed(tmp_path_factory):
    """The same 12² run with the fast method and with dense ED (shared by the tests below)."""
    import yaml

    root = tmp_path_factory.mktemp("sd")
    out = {}
    for method in ("fast", "ed"):
        cfg = {**SD_RUN, "model": {**SD_RUN["model"], "method": method}}
        path = root / f"{method}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        simulate(path, root / method, quiet=True)
        out[method] = (root / method, read_trajectory(root / method / "trajectory.h5"))
    return out


def test_fast_method_follows_dense_ed_along_the_run(fast_and_ed):
    (_, fast), (_, ed) = fast_and_ed["fast"], fast_and_ed["ed"]
    assert np.array_equal(fast["steps"], ed["steps"]) and fast["fields"].shape == (7, 144, 3)
    assert np.max(np.abs(fast["fields"] - ed["fields"])) < 1e-6
    np.testing.assert_allclose(fast["energies"], ed["energies"], rtol=0, atol=1e-8)
    assert np.max(np.abs(fast["fields"][-1] - fast["fields"][0])) > 1e-2  # the spins did move


def test_damped_exact_llg_lowers_the_energy_and_keeps_the_charge(fast_and_ed):
    """T = 0, α = 0.2: the grand potential decreases along the run (up to the O(Δt³) error of the scheme), and the
    perturbed skyrmion lattice keeps its charge -2 per 48 sites."""
    _, traj = fast_and_ed["fast"]
    e = traj["energies"]
    assert np.all(np.diff(e) < 1e-7) and e[-1] < e[0] - 1e-3
    lat = triangular(12)
    for spins in traj["fields"]:
        np.testing.assert_allclose(np.linalg.norm(spins, axis=1), 1.0, atol=1e-12)
        assert skyrmion_charge(lat, spins) == pytest.approx(-6.0, abs=1e-9)


def test_final_spins_exported_to_vtk_and_ovf(fast_and_ed):
    run_dir, traj = fast_and_ed["fast"]
    lat = triangular(12)
    pos, spins = read_vtk(run_dir / "final.vtk")
    np.testing.assert_allclose(pos[:, :2], lat.positions, atol=1e-15)
    np.testing.assert_allclose(spins, traj["fields"][-1], atol=1e-15)
    np.testing.assert_allclose(read_ovf(run_dir / "final.ovf"), traj["fields"][-1], atol=1e-15)


@pytest.mark.parametrize("A,phi,charge", [(0.7, np.pi / 2, -2), (0.5, np.pi / 4, -1)])
def test_skyrmion_initial_state_has_the_ansatz_charge(A, phi, charge, write_config, tmp_path):
    """The ansatz of spec ch3 §5 (any spin model on the triangular lattice): charge per 48 sites -2 / -1; the
    random global rotation keeps every S_i·S_j of the ansatz."""
    cfg = {"seed": 1, "lattice": {"kind": "triangular", "L": 24},
           "model": {"name": "heisenberg"}, "dynamics": {"stepper": "llg", "n_steps": 0},
           "initial": {"kind": "skyrmion", "A": A, "phi": float(phi), "random_orientation": True},
           "output": {"snapshot": False}}
    spins = _run(cfg, write_config, tmp_path / "run")["fields"][0]
    ansatz = skyrmion_lattice(triangular(24), A=A, phi=phi)
    assert np.max(np.abs(spins - ansatz)) > 0.1
    np.testing.assert_allclose(spins @ spins.T, ansatz @ ansatz.T, atol=1e-12)
    assert skyrmion_charge(triangular(24), spins) == pytest.approx(charge * 576 / 48, abs=1e-9)
