"""The s-d model of chapter 3 through `latticeml simulate`: config, skyrmion initial states, exact LLG with the fast
method against dense ED, damped-dynamics energy decrease, topological charge, and the VTK/OVF export of the final
spins."""
import re
from pathlib import Path

import numpy as np
import pytest

from latticeml.analysis.spin import skyrmion_charge
from latticeml.calculators.sd import SDCalculator
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


def test_recording_energies_does_not_change_the_fast_dynamics(fast_and_ed, write_config, tmp_path):
    """The recorder's energy calls must leave the fast method's tracked subspace alone: the same run without
    energies and with another stride ends on the same spins bit for bit (it drifted by 1e-12 to 1e-9 before)."""
    _, recorded = fast_and_ed["fast"]
    cfg = {**SD_RUN, "output": {"stride": 3, "energies": False}}
    plain = _run(cfg, write_config, tmp_path / "plain")
    assert "energies" not in plain or plain["energies"] is None or len(plain["energies"]) == 0
    np.testing.assert_array_equal(plain["fields"][-1], recorded["fields"][-1])


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


# ---------------------------------------------------------------------------------------------- the command-line path
def test_generate_train_then_ml_llg_on_a_larger_lattice(tmp_path, write_config, cli):
    """Chapter 3 by the command line, tiny: exact s-d data on 12² (skyrmion and random starts, H_ext left to the
    stepper) → CNN → `simulate` with model ml_spin on 24²; bad model files are refused naming model.file."""
    pytest.importorskip("torch")
    gen = write_config({
        "seed": 0, "lattice": {"kind": "triangular", "L": 12}, "model": {"name": "sd_triangular"},
        "dynamics": {"stepper": "llg", "n_steps": 10, "dt": 0.1, "alpha": 0.05, "h_ext": [0.0, 0.0, 0.005]},
        "runs": [{"type": "perturbed_skyrmion", "count": 2}, {"type": "random", "count": 2}],
        "save_every": 5, "split": {"train": 0.5, "val": 0.5, "test": 0.0}})
    res = cli.run("generate", gen, "--out", tmp_path / "sd.h5")
    assert res.returncode == 0, res.stderr
    train = write_config({
        "data": str(tmp_path / "sd.h5"),
        "network": {"kind": "cnn", "width": 4, "n_blocks": 1, "tail": [], "kernel_size": 3},
        "training": {"loss": "mse", "project_output": True, "max_epochs": 2, "batch_size": 4}})
    res = cli.run("train", train, "--out", tmp_path / "cnn")
    assert res.returncode == 0, res.stderr

    from latticeml.ml.data import load_dataset

    ds = load_dataset(tmp_path / "sd.h5")
    assert len(ds) == 4 * 3 and ds.metadata["model"]["h_ext"] == 0.0
    # the targets are the exact electronic field alone (dense ED here, without h_ext)
    sd = SDCalculator(triangular(12))
    np.testing.assert_allclose(ds.targets[0], sd.compute(ds.inputs[0]).forces, atol=1e-7)  # fast vs ED

    run_cfg = {"seed": 1, "lattice": {"kind": "triangular", "L": 24},
               "model": {"name": "ml_spin", "file": "cnn/model.pt"},
               "dynamics": {"stepper": "llg", "n_steps": 4, "dt": 0.1, "alpha": 0.05, "h_ext": [0.0, 0.0, 0.005]},
               "initial": {"kind": "perturbed_skyrmion"}, "output": {"stride": 2, "vtk": True}}
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)  # a relative model path is resolved against the working directory and stored absolute
    try:
        simulate(write_config(run_cfg), tmp_path / "ml", quiet=True)
    finally:
        os.chdir(cwd)
    traj = read_trajectory(tmp_path / "ml" / "trajectory.h5")
    assert traj["fields"].shape == (3, 576, 3) and np.all(np.isnan(traj["energies"]))  # the CNN has no energy
    assert str(tmp_path / "cnn" / "model.pt") in (tmp_path / "ml" / "config.yaml").read_text()
    assert (tmp_path / "ml" / "final.vtk").is_file()

    # the three example configs of this path are valid (their data and model files swapped for these)
    import yaml

    from latticeml.io import validate_config
    from latticeml.ml.data import _parse_generate
    from latticeml.ml.train import _parse_train

    examples = Path(__file__).resolve().parents[1] / "examples" / "configs"
    assert _parse_generate(yaml.safe_load((examples / "sd_generate.yaml").read_text()))["runs"][0].count == 4
    example = yaml.safe_load((examples / "sd_train_cnn.yaml").read_text())
    assert _parse_train({**example, "data": str(tmp_path / "sd.h5")}, tmp_path / "x.yaml")["kind"] == "cnn"
    example = yaml.safe_load((examples / "sd_ml_llg.yaml").read_text())
    example["model"]["file"] = str(tmp_path / "cnn" / "model.pt")
    assert validate_config(example)["lattice"]["L"] == 48

    for lattice, model_file, needle in [({"kind": "square", "L": 24}, tmp_path / "cnn" / "model.pt", "lattice"),
                                        (run_cfg["lattice"], tmp_path / "missing.pt", "does not exist")]:
        bad = {**run_cfg, "lattice": lattice, "model": {"name": "ml_spin", "file": str(model_file)},
               "initial": {"kind": "random"}}
        res = cli.run("simulate", write_config(bad), "--out", tmp_path / "bad")
        assert res.returncode == 2 and "'model.file'" in res.stderr and needle in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()


@pytest.mark.parametrize("model,lattice,field", [
    ({"name": "sd_triangular"}, {"kind": "triangular", "L": 10}, "lattice.L"),
    ({"name": "falicov_kimball"}, {"kind": "square", "L": 12}, "runs[0].type"),
])
def test_generate_refuses_skyrmion_starts_that_cannot_exist(model, lattice, field, write_config, tmp_path):
    from latticeml.errors import ConfigError
    from latticeml.ml.data import generate_from_config

    stepper = "llg" if model["name"] == "sd_triangular" else "kmc"
    cfg = write_config({"lattice": lattice, "model": model, "dynamics": {"stepper": stepper, "n_steps": 2},
                        "runs": [{"type": "perturbed_skyrmion", "count": 1}]})
    with pytest.raises(ConfigError, match=re.escape(f"'{field}'")):
        generate_from_config(cfg, tmp_path / "data.h5")
