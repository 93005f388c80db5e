"""End to end: exact Heisenberg LLG data -> BP training -> ML-LLG that tracks the exact trajectory; exact resume."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from latticeml.calculators.classical import HeisenbergCalculator  # noqa: E402
from latticeml.calculators.ml import MLCalculator  # noqa: E402
from latticeml.cli import main as cli  # noqa: E402
from latticeml.dynamics.base import State  # noqa: E402
from latticeml.dynamics.llg import LLG  # noqa: E402
from latticeml.errors import ConfigError, LatticeMLError  # noqa: E402
from latticeml.lattice import square  # noqa: E402
from latticeml.ml.data import generate_from_config, load_dataset  # noqa: E402
from latticeml.ml.networks import build_network  # noqa: E402
from latticeml.ml.train import Trainer, train_from_config  # noqa: E402

GENERATE = """
seed: 0
lattice: {kind: square, L: 6}
model: {name: heisenberg, J: 1.0}
dynamics: {stepper: llg, n_steps: 200, dt: 0.05, alpha: 0.1, T: 0.05}
runs:
  - {type: random, count: 6}
  - {type: ferromagnet, count: 3, noise: 0.5}
save_every: 10
"""

TRAIN = """
data: {data}
network: {{kind: bp, descriptor: {{kind: spin_bonds, cutoff: 1.0}}, hidden: [32, 32]}}
training:
  {{lr: 3.0e-3, batch_size: 8, max_epochs: {epochs}, patience: 15, augment: {{point_group: true, spin_rotation: true}}}}
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("ml")


@pytest.fixture(scope="module")
def dataset_path(workdir):
    cfg = workdir / "gen.yaml"
    cfg.write_text(GENERATE)
    assert cli(["generate", str(cfg), "--out", str(workdir / "data.h5")]) == 0
    return workdir / "data.h5"


@pytest.fixture(scope="module")
def model_path(workdir, dataset_path):
    cfg = workdir / "train.yaml"
    cfg.write_text(TRAIN.format(data=dataset_path, epochs=60))
    torch.set_num_threads(1)
    return train_from_config(cfg, workdir / "bp")


def test_dataset_contents_and_stratified_split(dataset_path):
    ds = load_dataset(dataset_path)
    assert len(ds) == 9 * 21 and ds.inputs.shape == (189, 36, 3)
    assert ds.run_types == ["random", "ferromagnet"]
    # whole trajectories per split, every run type in the training split
    for r in np.unique(ds.run_id):
        assert len(np.unique(ds.split[ds.run_id == r])) == 1
    for t in range(2):
        assert 0 in ds.split[ds.run_type == t]
    assert {0, 1, 2} <= set(ds.split.tolist())
    # targets are the exact exchange fields of the stored spins
    calc = HeisenbergCalculator(square(6), J=1.0)
    assert np.allclose(calc.forces(ds.inputs[7].astype(float)), ds.targets[7], atol=1e-5)
    assert ds.normalization["target_scale"] > 0
    assert ds.metadata["model"]["J"] == 1.0 and ds.metadata["field_kind"] == "spin"


def test_training_outputs(model_path):
    out = model_path.parent
    for name in ("checkpoint.pt", "history.json", "metrics.json", "learning_curve.png", "parity.png", "config.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["relative_rmse"] < 0.05


def _llg_pair(exact, ml, s0, steps, rng):
    """Run exact and ML LLG (dt = 0.05, α = 0.1, T = 0) from ``s0``; max_i |ΔS_i| and |ΔE|/N per step."""
    a, b = State(s0.copy()), State(s0.copy())
    llg_exact, llg_ml = LLG(exact, dt=0.05, alpha=0.1), LLG(ml, dt=0.05, alpha=0.1)
    llg_exact.prepare(a)
    llg_ml.prepare(b)
    dev, de = [], []
    for _ in range(steps):
        llg_exact.step(a, rng)
        llg_ml.step(b, rng)
        dev.append(float(np.linalg.norm(a.field - b.field, axis=1).max()))
        de.append(abs(exact.energy(a.field) - exact.energy(b.field)) / len(s0))
    return np.array(dev), np.array(de)


def test_ml_llg_tracks_exact_llg(model_path):
    """Acceptance (6×6 Heisenberg ferromagnet, LLG dt = 0.05, α = 0.1, T = 0, same start for both):

    * perturbed-ferromagnet start: max_i |S_i^ML - S_i^exact| < 0.05 over t = 20 (400 steps);
    * random start (coarsening, chaotic: a 1e-3 perturbation of the exact run grows to ~0.1 by t = 5):
      max_i |ΔS_i| < 0.1 up to t = 1.25 (25 steps); later the runs may end in different metastable states.
    """
    lat = square(6)
    exact = HeisenbergCalculator(lat, J=1.0)
    ml = MLCalculator.from_file(model_path, lat, model=exact.metadata)
    rng = np.random.default_rng(123)
    s0 = np.array([0.0, 0.0, 1.0]) + 0.5 * rng.standard_normal((lat.N, 3))
    s0 /= np.linalg.norm(s0, axis=1, keepdims=True)
    dev, _ = _llg_pair(exact, ml, s0, 400, rng)
    assert dev.max() < 0.05
    s0 = rng.standard_normal((lat.N, 3))
    s0 /= np.linalg.norm(s0, axis=1, keepdims=True)
    dev, _ = _llg_pair(exact, ml, s0, 25, rng)
    assert dev.max() < 0.1
    # the same model file runs on a larger lattice (local model)
    big = MLCalculator.from_file(model_path, square(12), model=exact.metadata)
    s = rng.standard_normal((144, 3))
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    h_exact = HeisenbergCalculator(square(12), J=1.0).forces(s)
    h_ml = big.forces(s)
    perp = lambda h: h - np.sum(h * s, 1, keepdims=True) * s  # noqa: E731
    assert np.sqrt(np.mean((perp(h_ml) - perp(h_exact)) ** 2)) < 0.1 * np.sqrt(np.mean(perp(h_exact) ** 2))


def test_interrupted_training_resumes_to_identical_weights(dataset_path, workdir):
    ds = load_dataset(dataset_path)
    kw = dict(lr=3e-3, batch_size=16, max_epochs=6, patience=50, plateau_patience=1,
              augment={"point_group": True, "spin_rotation": True}, seed=3)
    spec = {"descriptor": {"kind": "spin_bonds", "lattice": "square", "cutoff": 1.0}, "hidden": [8]}

    def fresh(ckpt=None):
        torch.manual_seed(3)
        return Trainer(build_network("bp", **spec), ds.subset("train"), ds.subset("val"), checkpoint=ckpt, **kw)

    full = fresh()
    full.fit()
    ckpt = workdir / "resume" / "checkpoint.pt"
    first = fresh(ckpt)
    first.fit(stop_after=3)
    assert first.epoch == 3 and not first.finished
    second = fresh().resume(ckpt)  # a new process would do exactly this
    second.fit()
    assert second.history_ == full.history_
    for k, v in full.network.state_dict().items():
        assert torch.equal(v, second.network.state_dict()[k]), k


def test_cli_train_refuses_reuse_and_resumes_finished_run(workdir, dataset_path, model_path):
    cfg = workdir / "train.yaml"
    assert cli(["train", str(cfg), "--out", str(model_path.parent)]) == 2  # already holds a run
    other = workdir / "train_other.yaml"
    other.write_text(TRAIN.format(data=dataset_path, epochs=61))
    with pytest.raises(LatticeMLError, match="config differs"):
        train_from_config(other, model_path.parent, resume=True)


@pytest.mark.parametrize("text, field", [
    (GENERATE + "bogus: 1\n", "bogus"),
    (GENERATE.replace("L: 6", "L: six"), "lattice.L"),
    (GENERATE.replace("count: 6", "count: 0"), "runs[0].count"),
    (GENERATE.replace("type: random", "type: spiral"), "runs[0].type"),
    (GENERATE.replace("noise: 0.5", "noize: 0.5"), "runs[1].noize"),
    (GENERATE.replace("alpha: 0.1", "alpha: -1"), "dynamics.alpha"),
    (GENERATE + "save_every: 0\n", "save_every"),
    (GENERATE + "split: {train: 0.9, val: 0.3, test: 0.0}\n", "split"),
])
def test_generate_config_errors_name_the_field(tmp_path, text, field):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        generate_from_config(cfg, tmp_path / "d.h5")
    assert err.value.field == field


@pytest.mark.parametrize("network, field", [
    ("{kind: cnn, width: 0}", "network.width"),
    ("{kind: cnn, kernel_size: 4}", "network"),
    ("{kind: bp, hidden: [-8]}", "network.hidden"),
    ("{kind: bp, descriptor: {kind: nope}}", "network"),
])
def test_bad_network_options_are_config_errors_and_leave_out_reusable(tmp_path, dataset_path, network, field):
    cfg = tmp_path / "t.yaml"
    text = TRAIN.format(data=dataset_path, epochs=1)
    cfg.write_text(text.replace(text.splitlines()[2], f"network: {network}"))
    with pytest.raises(ConfigError) as err:
        train_from_config(cfg, tmp_path / "o")
    assert err.value.field == field
    assert not (tmp_path / "o" / "config.json").exists()  # fixing the config and re-running needs no --resume


def test_missing_dataset_leaves_the_out_folder_reusable(tmp_path, dataset_path, monkeypatch):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(TRAIN.format(data="data.h5", epochs=1))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LatticeMLError, match="does not exist"):
        train_from_config(cfg, tmp_path / "o")
    assert not (tmp_path / "o" / "config.json").exists()  # not marked as a started run
    (tmp_path / "data.h5").symlink_to(dataset_path)
    train_from_config(cfg, tmp_path / "o")  # same --out, no --resume needed
    saved = json.loads((tmp_path / "o" / "config.json").read_text())["data"]
    assert saved == str(tmp_path / "data.h5")  # absolute: resuming from another folder finds the same file


def test_train_config_errors_name_the_field(tmp_path, dataset_path):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(TRAIN.format(data=dataset_path, epochs=5).replace("lr: 3.0e-3", "lr: -1"))
    with pytest.raises(ConfigError, match="training.lr"):
        train_from_config(cfg, tmp_path / "o")
    cfg.write_text(TRAIN.format(data=dataset_path, epochs=5).replace("kind: bp", "kind: transformer"))
    with pytest.raises(ConfigError, match="network.kind"):
        train_from_config(cfg, tmp_path / "o2")


def test_example_configs_parse():
    from pathlib import Path

    from latticeml.ml._config import load_yaml
    from latticeml.ml.data import _parse_generate
    from latticeml.ml.train import _parse_train

    root = Path(__file__).resolve().parents[1] / "examples" / "configs"
    for path in sorted(root.glob("ml_train_*.yaml")):
        _parse_train(load_yaml(path), path)
    for path in sorted(root.glob("ml_generate_*.yaml")):
        _parse_generate(load_yaml(path))


def test_damaged_training_checkpoint_is_a_one_line_error(tmp_path, workdir, model_path):
    import shutil

    run = tmp_path / "bp"
    shutil.copytree(model_path.parent, run)
    for ck in run.glob("checkpoint*.pt"):
        ck.write_bytes(ck.read_bytes()[:100])
    with pytest.raises(LatticeMLError, match="is damaged"):
        train_from_config(workdir / "train.yaml", run, resume=True)


def test_spin_augmentation_refuses_targets_with_a_zeeman_field(tmp_path):
    """A uniform field in the targets is not rotated with the spins: relabelling by SO(3) or time reversal would be
    wrong, so training refuses it and names the fix (the field under dynamics.h_ext, added by the stepper)."""
    gen = tmp_path / "gen.yaml"
    gen.write_text(GENERATE.replace("{name: heisenberg, J: 1.0}", "{name: heisenberg, J: 1.0, field: [0, 0, 0.3]}")
                   .replace("n_steps: 200", "n_steps: 20"))
    assert cli(["generate", str(gen), "--out", str(tmp_path / "d.h5")]) == 0
    cfg = tmp_path / "t.yaml"
    cfg.write_text(TRAIN.format(data=tmp_path / "d.h5", epochs=1))
    with pytest.raises(ConfigError) as err:
        train_from_config(cfg, tmp_path / "o")
    assert err.value.field == "training.augment.spin_rotation" and "dynamics.h_ext" in str(err.value)
    cfg.write_text(TRAIN.format(data=tmp_path / "d.h5", epochs=1).replace(", spin_rotation: true", ""))
    train_from_config(cfg, tmp_path / "o")  # point-group augmentation alone keeps a uniform field
