"""Exact resume: a run killed with SIGKILL and resumed equals the uninterrupted run bit for bit, and output written
after the last checkpoint is dropped on resume."""
import os
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest
import yaml

from latticeml.io import load_checkpoint, read_trajectory, resume, simulate
from latticeml.io.hdf5 import TrajectoryWriter

LLG_RUN = {
    "seed": 7,
    "lattice": {"kind": "triangular", "L": 8},
    "model": {"name": "heisenberg", "J": 1.0, "field": [0.0, 0.0, 0.2]},
    "dynamics": {"stepper": "llg", "n_steps": 2000, "dt": 0.05, "alpha": 0.1, "T": 0.3},
    # frames reach the file only with each checkpoint, so the kill (right after a checkpoint) never lands in a
    # write burst: HDF5 has no journal, a kill inside a burst can leave the file unreadable
    "output": {"stride": 10, "checkpoint_every": 200, "flush_every": 1000},
}


def _assert_same_trajectory(run_a, run_b):
    a, b = read_trajectory(run_a / "trajectory.h5"), read_trajectory(run_b / "trajectory.h5")
    for name in ("steps", "times", "fields", "energies"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, write_config, cli):
    config = write_config(LLG_RUN)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cli.argv("simulate", config, "--out", killed, "--quiet"), env=cli.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (killed / "checkpoint.pkl").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    interrupted_at = load_checkpoint(killed / "checkpoint.pkl")["state"].step
    assert interrupted_at < LLG_RUN["dynamics"]["n_steps"], "the run finished before it was killed"
    with h5py.File(killed / "trajectory.h5", "r") as f:  # readable right after the kill
        assert len(f["steps"]) >= 1

    resumed = cli.run("simulate", "--resume", killed, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    simulate(config, tmp_path / "straight", quiet=True)
    _assert_same_trajectory(killed, tmp_path / "straight")
    for run in ("killed", "straight"):
        with h5py.File(tmp_path / run / "trajectory.h5", "r") as f:
            assert len(f["steps"]) == LLG_RUN["dynamics"]["n_steps"] // 10 + 1
    assert "resume from step" in (killed / "log.txt").read_text()


def _extend(run_dir, n_steps):
    """Raise n_steps in the run's config.yaml (what a user does to continue a finished run)."""
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["dynamics"]["n_steps"] = n_steps
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.mark.parametrize("name,cfg", [
    ("falicov_kimball", {
        "seed": 2, "lattice": {"kind": "square", "L": 6},
        "model": {"name": "falicov_kimball", "U": 2.0, "filling_c": 0.55, "n_f": 8, "T": 0.05},
        "dynamics": {"stepper": "kmc", "n_steps": 4}, "output": {"stride": 1, "checkpoint_every": 2}}),
    ("harmonic", {
        "seed": 2, "lattice": {"kind": "square", "L": 4}, "model": {"name": "harmonic", "K": 1.5},
        "dynamics": {"stepper": "langevin", "n_steps": 10, "dt": 0.1, "T": 0.4},
        "initial": {"kind": "gaussian"}, "output": {"stride": 2, "checkpoint_every": 5}}),
    # the fast s-d method carries its CheFSI subspace through the checkpoint (an ED restart would differ at ~1e-9);
    # an ED check every 7 calls falls on both sides of it
    ("sd_triangular", {
        "seed": 2, "lattice": {"kind": "triangular", "L": 12},
        "model": {"name": "sd_triangular", "method": "fast", "ed_check_every": 7, "h_ext": 0.005},
        "dynamics": {"stepper": "llg", "n_steps": 6, "dt": 0.1, "alpha": 0.05, "T": 0.001},
        "initial": {"kind": "perturbed_skyrmion"}, "output": {"stride": 1, "checkpoint_every": 4}}),
])
def test_resume_drops_frames_written_after_the_checkpoint(name, cfg, tmp_path, write_config):
    """Stop at n_steps, leave stray frames behind the checkpoint (as a kill after a flush would), extend and
    resume: the trajectory equals that of one run to twice the steps. Covers the kMC particle list and the FK
    eigen-cache (rebuilt by reset), Langevin momenta and cached forces, and the s-d fast method's subspace."""
    n = cfg["dynamics"]["n_steps"]
    simulate(write_config(cfg), tmp_path / "parts", quiet=True)
    writer = TrajectoryWriter(tmp_path / "parts" / "trajectory.h5", create=False)
    field = read_trajectory(tmp_path / "parts" / "trajectory.h5")["fields"][-1]
    for k in range(3):
        writer.append(10_000 + k, -1.0, field, energy=123.0)
    writer.flush()
    _extend(tmp_path / "parts", 2 * n)
    resume(tmp_path / "parts", quiet=True)

    cfg["dynamics"]["n_steps"] = 2 * n
    simulate(write_config(cfg), tmp_path / "straight", quiet=True)
    _assert_same_trajectory(tmp_path / "parts", tmp_path / "straight")
