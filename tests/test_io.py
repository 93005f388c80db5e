"""Run directories, HDF5 trajectories, atomic checkpoints, snapshots and the ensemble executor."""
import os
import sys

import h5py
import numpy as np
import pytest
import yaml

from latticeml.calculators.classical import HarmonicCalculator, HeisenbergCalculator
from latticeml.dynamics import LLG, Recorder, Simulation, State
from latticeml.ensemble import run_ensemble, simulate_seeds
from latticeml.errors import LatticeMLError
from latticeml.io import load_checkpoint, read_trajectory, save_checkpoint, simulate
from latticeml.io.config import validate_config
from latticeml.io.hdf5 import TrajectoryWriter
from latticeml.io.snapshot import save_snapshot
from latticeml.lattice import square, triangular

HARMONIC = {
    "seed": 3,
    "lattice": {"kind": "square", "L": 4},
    "model": {"name": "harmonic", "K": 2.0, "components": 2},
    "dynamics": {"stepper": "langevin", "n_steps": 40, "dt": 0.1, "T": 0.5},
    "initial": {"kind": "gaussian", "sigma": 0.3},
    "output": {"stride": 4, "checkpoint_every": 10},
}


def test_simulate_writes_a_complete_run_directory(tmp_path, write_config):
    run_dir = tmp_path / "run"
    state = simulate(write_config(HARMONIC), run_dir, quiet=True)
    assert {p.name for p in run_dir.iterdir()} == {"config.yaml", "trajectory.h5", "checkpoint.pkl", "log.txt",
                                                    "snapshot.png"}
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved == validate_config(resolved)  # complete and valid: the run can be repeated from it
    assert resolved["dynamics"]["gamma"] == 1.0 and resolved["model"]["K"] == 2.0

    traj = read_trajectory(run_dir / "trajectory.h5")
    np.testing.assert_array_equal(traj["steps"], np.arange(0, 41, 4))
    np.testing.assert_allclose(traj["times"], 0.1 * traj["steps"])
    assert traj["fields"].shape == (11, 16, 2)
    np.testing.assert_array_equal(traj["fields"][-1], state.field)
    np.testing.assert_allclose(traj["energies"], [0.5 * 2.0 * np.sum(f**2) for f in traj["fields"]])
    assert traj["attrs"]["model"]["K"] == 2.0 and traj["attrs"]["seed"] == 3
    assert traj["attrs"]["lattice"]["shape"] == [4, 4] and "latticeml_version" in traj["attrs"]
    assert traj["positions"].shape == (16, 2)
    assert "checkpoint at step 10" in (run_dir / "log.txt").read_text()
    assert (run_dir / "snapshot.png").read_bytes()[:4] == b"\x89PNG"


def test_same_seed_same_trajectory_and_new_seed_differs(tmp_path, write_config):
    a = simulate(write_config(HARMONIC), tmp_path / "a", quiet=True)
    b = simulate(write_config(HARMONIC), tmp_path / "b", quiet=True)
    c = simulate(write_config({**HARMONIC, "seed": 4}), tmp_path / "c", quiet=True)
    np.testing.assert_array_equal(a.field, b.field)
    assert not np.allclose(a.field, c.field)


def test_existing_run_directory_needs_overwrite(tmp_path, write_config):
    cfg = write_config(HARMONIC)
    simulate(cfg, tmp_path / "run", quiet=True)
    with pytest.raises(LatticeMLError, match="--overwrite"):
        simulate(cfg, tmp_path / "run", quiet=True)
    simulate(cfg, tmp_path / "run", quiet=True, overwrite=True)
    (tmp_path / "notarun").mkdir()
    (tmp_path / "notarun" / "precious.txt").write_text("keep me")
    with pytest.raises(LatticeMLError, match="not a latticeml run directory"):
        simulate(cfg, tmp_path / "notarun", quiet=True, overwrite=True)
    assert (tmp_path / "notarun" / "precious.txt").exists()


def test_trajectory_writer_appends_in_bursts_and_truncates(tmp_path):
    path = tmp_path / "t.h5"
    writer = TrajectoryWriter(path, (3,), np.int8, attrs={"model": {"U": 2.0}, "seed": 1})
    for k in range(5):
        writer.append(k, 0.5 * k, np.full(3, k), energy=-k)
    assert writer.n_frames == 5 and writer.n_buffered == 5
    with h5py.File(path, "r") as f:
        assert len(f["steps"]) == 0  # nothing on disk before the burst
    writer.flush()
    writer.truncate(3)
    reopened = TrajectoryWriter(path, create=False)
    assert reopened.n_frames == 3
    reopened.append(3, 1.5, np.full(3, 7), energy=-7)
    reopened.flush()
    traj = read_trajectory(path)
    np.testing.assert_array_equal(traj["steps"], [0, 1, 2, 3])
    np.testing.assert_array_equal(traj["fields"][:, 0], [0, 1, 2, 7])
    np.testing.assert_array_equal(traj["energies"], [0, -1, -2, -7])
    assert traj["fields"].dtype == np.int8 and traj["attrs"]["model"] == {"U": 2.0}


def test_checkpoint_is_atomic_and_roundtrips(tmp_path):
    path = tmp_path / "ck.pkl"
    rng = np.random.default_rng(5)
    rng.random(3)
    payload = {"state": State(np.arange(4.0), 1.5, 3, {"momentum": np.ones(4)}), "rng": rng.bit_generator.state}
    save_checkpoint(path, payload)
    save_checkpoint(path, payload)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pkl"]  # no temp files left behind
    back = load_checkpoint(path)
    restored = np.random.default_rng()
    restored.bit_generator.state = back["rng"]
    assert restored.random() == rng.random()
    np.testing.assert_array_equal(back["state"].extras["momentum"], np.ones(4))
    with pytest.raises(LatticeMLError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pkl")


def test_simulation_resume_in_process_is_bitwise_exact(tmp_path):
    lat = triangular(5)
    spins = np.random.default_rng(0).standard_normal((lat.N, 3))
    spins /= np.linalg.norm(spins, axis=1, keepdims=True)

    def make(n_steps, observers, **kw):
        stepper = LLG(HeisenbergCalculator(lat, J=1.0, field=(0, 0, 0.2)), dt=0.05, alpha=0.1, T=0.2)
        return Simulation(State(spins.copy()), stepper, seed=11, n_steps=n_steps, observers=observers,
                          progress=False, **kw)

    full = Recorder(stride=3)
    make(60, [full]).run()
    part = Recorder(stride=3)
    make(25, [part], checkpoint_every=10, checkpoint_path=tmp_path / "ck.pkl").run()
    # the run stopped at 25 with its last periodic checkpoint at 20 and a final one at 25; resume from 25
    stepper = LLG(HeisenbergCalculator(lat, J=1.0, field=(0, 0, 0.2)), dt=0.05, alpha=0.1, T=0.2)
    resumed = Simulation.from_checkpoint(tmp_path / "ck.pkl", stepper, observers=[part], n_steps=60, progress=False)
    resumed.run()
    assert part.steps == full.steps
    for a, b in zip(part.fields, full.fields):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bit_generator", ["PCG64", "Philox", "SFC64"])
def test_resume_keeps_the_runs_own_bit_generator(tmp_path, bit_generator):
    def make(n_steps, seed, **kw):
        stepper = LLG(HeisenbergCalculator(triangular(3), J=1.0), dt=0.05, alpha=0.1, T=0.3)
        return Simulation(State(np.tile([0.0, 0.0, 1.0], (9, 1))), stepper, seed=seed, n_steps=n_steps,
                          progress=False, **kw)

    rng = lambda: np.random.Generator(getattr(np.random, bit_generator)(7))  # noqa: E731
    full = make(12, rng()).run().field
    make(5, rng(), checkpoint_every=5, checkpoint_path=tmp_path / "ck.pkl").run()
    resumed = Simulation.from_checkpoint(tmp_path / "ck.pkl", make(0, 0).stepper, n_steps=12, progress=False)
    np.testing.assert_array_equal(resumed.run().field, full)


def test_zero_step_run_still_writes_its_checkpoint(tmp_path):
    stepper = LLG(HeisenbergCalculator(triangular(3), J=1.0), dt=0.05, alpha=0.1)
    Simulation(State(np.tile([0.0, 0.0, 1.0], (9, 1))), stepper, seed=1, n_steps=0, checkpoint_every=5,
               checkpoint_path=tmp_path / "ck.pkl", progress=False).run()
    assert load_checkpoint(tmp_path / "ck.pkl")["state"].step == 0


def test_snapshots_of_each_field_kind(tmp_path):
    lat = square(6)
    rng = np.random.default_rng(0)
    save_snapshot(tmp_path / "occ.png", lat, rng.integers(0, 2, lat.N), "occupation", "occupations")
    tri = triangular(6)
    save_snapshot(tmp_path / "spin.png", tri, rng.standard_normal((tri.N, 3)), "spin")
    save_snapshot(tmp_path / "q.png", lat, rng.standard_normal((lat.N, 2)), "displacement")
    for name in ("occ", "spin", "q"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def _harmonic_energy(K, x):
    return HarmonicCalculator(K).energy(np.asarray(x))


def test_ensemble_serial_and_local_processes_keep_order():
    kwargs = [{"K": k, "x": [1.0, 2.0]} for k in (1.0, 2.0, 3.0)]
    expected = [2.5, 5.0, 7.5]
    assert run_ensemble(_harmonic_energy, kwargs, executor="serial") == expected
    assert run_ensemble(_harmonic_energy, kwargs, workers=2) == expected
    assert run_ensemble(_harmonic_energy, []) == []
    with pytest.raises(LatticeMLError, match="executor"):
        run_ensemble(_harmonic_energy, kwargs, executor="slurm")


def _die(**_):
    os._exit(3)  # a worker that vanishes (killed, or a script that re-spawns at import)


def test_ensemble_names_the_fix_when_a_worker_dies():
    with pytest.raises(LatticeMLError, match="__main__"):
        run_ensemble(_die, [{}, {}], workers=2)


def test_simulate_seeds_makes_one_run_per_seed(tmp_path, write_config):
    config = write_config({**HARMONIC, "output": {"stride": 40, "snapshot": False}})
    runs = simulate_seeds(config, tmp_path / "ens", [5, 6], workers=2)
    assert [r.name for r in runs] == ["seed-0005", "seed-0006"]
    finals = [read_trajectory(r / "trajectory.h5") for r in runs]
    assert [t["attrs"]["seed"] for t in finals] == [5, 6]
    assert not np.array_equal(finals[0]["fields"][-1], finals[1]["fields"][-1])
    single = simulate(config, tmp_path / "single", quiet=True, seed=6)
    np.testing.assert_array_equal(finals[1]["fields"][-1], single.field)
    with pytest.raises(LatticeMLError, match=r"seeds \[4\] appear more than once"):  # one folder, two runs
        simulate_seeds(config, tmp_path / "dup", [4, 4], workers=2)


def test_ensemble_dask_without_dask_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails even where dask is installed
    with pytest.raises(LatticeMLError, match="pip install"):
        run_ensemble(_harmonic_energy, [{"K": 1.0, "x": [1.0]}], scheduler="tcp://127.0.0.1:8786")
