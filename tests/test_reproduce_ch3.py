"""Smoke tests of the chapter-3 ML reproduction targets (latticeml.reproduce.ch3_ml) on tiny settings.

The exact-data helper is checked against a direct dense-ED evaluation, the angle metric against an analytic case,
and the CNN and BP pipelines run end to end (data → training → model file → ML-LLG → metrics) on 12×12 with a few
steps and epochs, so the targets' code paths are exercised in seconds.
"""
import copy
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from latticeml.reproduce import ch3_ml  # noqa: E402

TINY = {
    "ml_device": "cpu",
    "cnn_data": {"L": 12, "random": 3, "skl": 3, "steps": 4, "stride": 2, "split": (0.34, 0.33, 0.33)},
    "cnn_net": {"width": 4, "n_blocks": 1, "tail": [], "kernel_size": 5},
    "cnn_train": {"max_epochs": 1, "batch_size": 4, "lr": 1e-3, "plateau_patience": 1, "patience": 2},
    "bp_data": {"L": 12, "random": 4, "skl": 0, "steps": 4, "stride": 2, "split": (0.5, 0.25, 0.25),
                "with_cnn_runs": True},
    "bp_net": {"descriptor": {"kind": "spin_bonds", "lattice": "triangular", "cutoff": 1.5}, "hidden": [8],
               "activation": "silu"},
    "bp_train": {"max_epochs": 1, "batch_size": 4, "lr": 1e-3, "plateau_patience": 1, "patience": 2},
    "fig3.4": {"twist_snapshots": 2, "twists": 2},
    "fig3.7": {"twist_snapshots": 2, "twists": 2},
    "fig3.10": {"L": 24, "steps": 4, "stride": 2},
    "fig3.11": {"L": 24, "steps": 4, "stride": 2},
    "fig3.12": {"snapshots": 2},
    "fig3.13": {"snapshots": 1, "tile": 2},
    "fig3.14": {"L": 12, "exact_runs": 2, "steps": 2, "times": (1, 2)},
    "fig3.16": {"L": 24, "runs": 1, "steps": 20, "stride": 1},
}


@pytest.fixture
def tiny(monkeypatch):
    scales = copy.deepcopy(ch3_ml.SCALES)
    scales["quick"] = TINY
    monkeypatch.setattr(ch3_ml, "SCALES", scales)


def test_exact_field_runs_record_the_exact_exchange_field(tmp_path):
    from latticeml.calculators.sd import SDCalculator
    from latticeml.lattice import triangular

    runs = ch3_ml.exact_field_runs(12, ["random", "skl"], steps=2, stride=2, alpha=0.05, seed=3, cache=tmp_path)
    assert runs["spins"].shape == (2, 2, 144, 3)
    assert np.allclose(np.linalg.norm(runs["spins"], axis=-1), 1.0)
    ed = SDCalculator(triangular(12), method="ed")  # h_ext = 0: the stored target has no Zeeman part
    for r in range(2):
        assert np.allclose(runs["fields"][r, -1], ed.forces(runs["spins"][r, -1]), atol=1e-6)
    again = ch3_ml.exact_field_runs(12, ["random", "skl"], steps=2, stride=2, alpha=0.05, seed=3, cache=tmp_path)
    assert np.array_equal(again["fields"], runs["fields"])  # read back from the cache


def test_exact_llg_runs_are_the_field_runs_without_fields(tmp_path):
    """fig3.8's exact runs are those of the CNN data (same protocol and seeds), with the field left unrecorded."""
    from latticeml.reproduce.ch3 import exact_llg_runs

    cache = tmp_path / "not_yet_there"  # made on first use
    spins = exact_llg_runs(12, 2, steps=4, stride=2, seed=3, start="skl", cache=cache, workers=2)
    both = ch3_ml.exact_field_runs(12, ["skl", "skl"], steps=4, stride=2, alpha=ch3_ml.ALPHA_CNN, seed=3)
    np.testing.assert_allclose(spins, both["spins"], atol=1e-9)
    assert sorted(p.name.split("_")[0] for p in cache.glob("*.npz")) == ["exactspins"]  # its own cache key


def test_dataset_is_split_by_trajectory():
    rng = np.random.default_rng(0)
    spins = rng.standard_normal((6, 3, 144, 3))
    runs = {"spins": spins / np.linalg.norm(spins, axis=-1, keepdims=True), "fields": rng.standard_normal(spins.shape),
            "steps": np.arange(3) * 10}
    ds = ch3_ml.build_dataset(runs, ["random"] * 3 + ["skl"] * 3, 12, (0.34, 0.33, 0.33), seed=0)
    for run in range(6):
        assert len(np.unique(ds.split[ds.run_id == run])) == 1
    for t in range(2):  # every start type has a training run
        assert np.any((ds.run_type == t) & (ds.split == 0))
    perp = runs["fields"] - np.sum(runs["fields"] * runs["spins"], -1, keepdims=True) * runs["spins"]
    train = np.repeat(ds.split[::3] == 0, 1)
    assert np.isclose(ds.normalization["target_scale"], np.linalg.norm(perp[train], axis=-1).mean(), rtol=1e-5)


def test_extra_training_runs_join_the_training_split():
    rng = np.random.default_rng(1)

    def runs(n):
        s = rng.standard_normal((n, 2, 144, 3))
        return {"spins": s / np.linalg.norm(s, axis=-1, keepdims=True), "fields": rng.standard_normal(s.shape),
                "steps": np.arange(2) * 10}

    base = ch3_ml.build_dataset(runs(4), ["random"] * 4, 12, (0.5, 0.25, 0.25), seed=0)
    extra = ch3_ml.build_dataset(runs(2), ["random", "skl"], 12, (0.5, 0.0, 0.5), seed=0)
    joined = ch3_ml._with_extra_training_runs(base, extra)
    assert len(joined) == len(base) + len(extra)
    assert np.all(joined.split[len(base):] == 0) and np.array_equal(joined.split[:len(base)], base.split)
    assert len(np.unique(joined.run_id)) == 6
    assert joined.normalization["target_scale"] != base.normalization["target_scale"]


def test_torque_angle_errors_analytic():
    true = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 2.0]])
    pred = np.array([[2.0, 0, 0], [1.0, 1.0, 0], [0, 0, -1.0]])
    assert np.allclose(ch3_ml.torque_angle_errors(pred, true), [0.0, 45.0, 180.0])


@pytest.fixture
def small_energetics(monkeypatch):
    """fig3.3's exact energetics on 12² (the ED of 24² and 48² takes minutes)."""
    from latticeml.reproduce import ch3

    monkeypatch.setattr(ch3, "SCALES", {k: dict(v, **{"fig3.3": {"L": 12}}) for k, v in ch3.SCALES.items()})


def test_cnn_targets_end_to_end(tiny, small_energetics, tmp_path):
    results = {}
    for name in ("fig3_3", "fig3_4", "fig3_10", "fig3_11", "fig3_12", "fig3_13"):
        out = tmp_path / name.replace("_", ".")
        out.mkdir()
        results[name] = {m.name: m for m in getattr(ch3_ml, name)(out, quick=True, seed=0)}
        assert results[name] and all(np.isfinite(m.value) for m in results[name].values())
        assert list(out.glob("*.png"))
    assert len(list((tmp_path / "_models").glob("cnn_*.pt"))) == 1  # trained once, reused by every target
    charge = results["fig3_10"]["skyrmion_charge_final"]
    assert charge.target == round(charge.target) != 0  # the SkL start carries an integer, nonzero charge
    # the finite-size diagnostic compares the stored truth with the twisted field of the same snapshots: with one
    # twist (the same torus) they agree everywhere, with 2×2 twists the 12² truth is visibly off
    _, ds = ch3_ml.cnn_model(tmp_path / "fig3.4", True, 0)
    same = ch3_ml._finite_size_agreement(tmp_path / "fig3.4", ds, {"twist_snapshots": 2, "twists": 1})
    assert same.value == 1.0
    assert 0.1 < results["fig3_4"]["fraction_exact_field_within_10deg_of_twisted"].value < 0.9, results["fig3_4"]
    parity = results["fig3_3"]
    assert {"R2_torque_components_min[skl]", "R2_torque_components_min[random]"} <= set(parity)
    assert all(m.value <= 1.0 for n, m in parity.items() if n.startswith("R2"))
    assert any(n.startswith("omega_per_site") for n in parity)  # the exact energetics of the ordered states


def test_cnn_is_trained_and_used_on_torques(tiny, monkeypatch, tmp_path):
    from latticeml.ml.modelfile import read_metadata
    from latticeml.models.sd import random_spins

    scales = copy.deepcopy(ch3_ml.SCALES)
    scales["quick"]["cnn_train"] = dict(TINY["cnn_train"], loss="relative_l1", warm_start={"loss": "mse"},
                                        project_output=True)  # as SCALES: the loss compares torques
    scales["quick"]["cnn_data"] = dict(TINY["cnn_data"], extra_train={"random": 1, "skl": 1, "seed_offset": 7})
    monkeypatch.setattr(ch3_ml, "SCALES", scales)
    path, ds = ch3_ml.cnn_model(tmp_path / "fig3.4", quick=True, seed=0)
    assert len(np.unique(ds.run_id[ds.split == 0])) == 2 + 2  # the extra runs only join the training split
    history = read_metadata(path)["history"]
    assert [h["loss"] for h in history] == ["mse", "relative_l1"]  # MSE warm start, then Eq. 3.11
    calc = ch3_ml._calculator(path, 12)
    spins = random_spins(144, np.random.default_rng(0))
    field = calc.forces(spins)
    assert np.abs(np.sum(field * spins, -1)).max() < 1e-5 * np.abs(field).max()  # the torque-relevant H_⊥ only


def _full_scale_at_toy_sizes():
    """The full scale's settings with only the sizes of TINY: GPU-or-CPU devices ("auto"), the IR descriptor, ReLU,
    the data splits' run counts and the fig3.4 / fig3.13 options stay the full scale's own."""
    full = copy.deepcopy(ch3_ml.SCALES["full"])
    for key in ("cnn_data", "cnn_train", "bp_data", "bp_train", "fig3.10", "fig3.11", "fig3.12", "fig3.14", "fig3.16"):
        full[key].update({k: v for k, v in TINY[key].items() if k not in ("with_cnn_runs",)})
    full["cnn_net"].update(width=4, tail=[4])
    full["cnn_train"]["warm_start"]["max_epochs"] = 1
    full["bp_net"].update(hidden=[8, 8])
    full["bp_net"]["descriptor"]["r1"] = 2.0  # the IR descriptor (spin_ir), on a smaller cutoff
    full["fig3.13"]["snapshots"] = 1
    return full


@pytest.mark.parametrize("quick", [True, False])
def test_fig3_8_compares_exact_and_cnn_runs(tiny, monkeypatch, tmp_path, quick):
    from latticeml.reproduce import ch3

    scales = copy.deepcopy(ch3.SCALES)
    toy = {"L": 12, "runs": 2, "steps": 4, "stride": 2, "times": (2, 4), "ring_step": 2}
    scales["quick" if quick else "full"]["fig3.8"].update(toy)  # the full scale keeps its device="auto"
    monkeypatch.setattr(ch3, "SCALES", scales)
    monkeypatch.setattr(ch3_ml, "SCALES", dict(ch3_ml.SCALES, full=_full_scale_at_toy_sizes()))
    out = tmp_path / "fig3.8"
    out.mkdir()
    metrics = {m.name: m for m in ch3.fig3_8(out, quick=quick, seed=0)}
    assert {"ring_radius_early", "ring_radius_early_cnn", "fraction_times_M_cnn_within_2sigma_exact"} <= set(metrics)
    assert 0.0 <= metrics["fraction_times_M_cnn_within_2sigma_exact"].value <= 1.0
    saved = json.loads((out / "order_exact_vs_cnn.json").read_text())
    assert np.array(saved["M_cnn"]).shape == np.array(saved["M_exact"]).shape == (2, 3)
    final = {m.name: m for m in ch3.fig3_9(out, quick=quick, seed=0)}  # the same (cached) runs' final states
    assert np.isnan(final["peak_fwhm_grid_steps[cnn]"].value) and final["peak_fwhm_grid_steps[cnn]"].passed is None
    assert 0.0 <= final["abs_Q_top_over_perfect_skl[exact]"].value < 2.0


def test_bp_targets_end_to_end(tiny, tmp_path):
    results = {}
    for name in ("fig3_14", "fig3_7", "fig3_16"):
        out = tmp_path / name.replace("_", ".")
        out.mkdir()
        metrics = getattr(ch3_ml, name)(out, quick=True, seed=0)
        assert metrics and all(isinstance(m.value, float) for m in metrics)
        assert all(0.0 <= m.value <= 1.0 for m in metrics if m.name.startswith("fraction"))
        json.dumps([m.__dict__ for m in metrics], default=float)
        results[name] = {m.name: m for m in metrics}
    # fig3.7's finite-size floor: zero with one twist (the same torus), and a sizeable part of the field with 2×2
    _, ds = ch3_ml.bp_model(tmp_path / "fig3.7", True, 0)
    _, true, same = ch3_ml._twisted_test_fields(tmp_path / "fig3.7", ds, {"twist_snapshots": 2, "twists": 1})
    np.testing.assert_allclose(same, true, atol=1e-6)
    floor = results["fig3_7"]["mse_exact_field_vs_twisted_H_perp"].value
    assert 0.01 < floor / np.mean(true ** 2) < 1.0


def test_full_scale_code_path_runs_at_toy_sizes(monkeypatch, small_energetics, tmp_path):
    """Every ML target with quick=False (the paper-scale settings, shrunk in size only), so that a GPU session does
    not meet a bug of the full-scale branch after hours of data generation."""
    full = _full_scale_at_toy_sizes()
    assert full["ml_device"] == "auto" and full["bp_net"]["descriptor"]["kind"] == "spin_ir"
    monkeypatch.setattr(ch3_ml, "SCALES", dict(ch3_ml.SCALES, full=full))
    for name in ("fig3_3", "fig3_4", "fig3_10", "fig3_11", "fig3_12", "fig3_13", "fig3_14", "fig3_7", "fig3_16"):
        out = tmp_path / name.replace("_", ".")
        out.mkdir()
        metrics = getattr(ch3_ml, name)(out, quick=False, seed=0)
        assert metrics and all(np.isfinite(m.value) for m in metrics), name
    assert "training 12²" in {m.name: m for m in ch3_ml.fig3_10(tmp_path / "fig3.10", False, 0)}[
        "peak_S(Q)_final_over_perfect_ansatz"].note


def test_killed_exact_runs_resume_bit_for_bit(tmp_path, monkeypatch):
    """A job killed in the second run, after its first checkpoint: the finished first run is kept, the second resumes
    from its checkpoint (spins, fields, noise generator, CheFSI subspace) and the result equals an uninterrupted job."""
    from latticeml.dynamics import LLG

    args = dict(L=12, starts=["skl", "random"], steps=12, stride=3, alpha=0.05, seed=4, checkpoint_every=5)
    straight = ch3_ml.exact_field_runs(**args)

    real_step, calls = LLG.step, {"n": 0}

    def dying_step(self, state, rng):
        calls["n"] += 1
        if calls["n"] == 12 + 8:  # step 8 of run 1: after its checkpoint at step 5
            raise KeyboardInterrupt
        return real_step(self, state, rng)

    monkeypatch.setattr(LLG, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        ch3_ml.exact_field_runs(**args, cache=tmp_path)
    left = sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir())
    assert left == ["run0.npz", "run1.ckpt"], left
    monkeypatch.setattr(LLG, "step", real_step)
    resumed = ch3_ml.exact_field_runs(**args, cache=tmp_path)
    for name in ("spins", "fields", "steps"):
        assert np.array_equal(resumed[name], straight[name]), name
    assert [p.suffix for p in tmp_path.iterdir()] == [".npz"]  # only the group file is left


def test_killed_training_resumes_to_the_same_model(tiny, tmp_path, monkeypatch):
    """Two training stages (MSE warm start, then relative L1), killed in the second: the rerun replays the first from
    its checkpoint and continues the second, ending with the weights of an uninterrupted training."""
    from latticeml.ml.modelfile import load_model
    from latticeml.ml.train import Trainer

    ch3_ml.SCALES["quick"]["cnn_train"] = dict(TINY["cnn_train"], loss="relative_l1", max_epochs=3, patience=5,
                                               warm_start={"loss": "mse", "max_epochs": 2, "patience": 5})
    straight, _ = ch3_ml.cnn_model(tmp_path / "a" / "fig3.4", quick=True, seed=0)  # caches in tmp_path / "a"

    real_epoch, calls = Trainer._run_epoch, {"n": 0}

    def dying_epoch(self):
        calls["n"] += 1
        if calls["n"] == 2 + 2:  # the second epoch of the second stage
            raise KeyboardInterrupt
        return real_epoch(self)

    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "_data").symlink_to(tmp_path / "a" / "_data")  # the same exact data
    monkeypatch.setattr(Trainer, "_run_epoch", dying_epoch)
    with pytest.raises(KeyboardInterrupt):
        ch3_ml.cnn_model(tmp_path / "b" / "fig3.4", quick=True, seed=0)
    assert sorted(p.suffix for p in (tmp_path / "b" / "_models").iterdir()) == [".ckpt", ".ckpt"]
    counted = {"n": 0}

    def counted_epoch(self):
        counted["n"] += 1
        return real_epoch(self)

    monkeypatch.setattr(Trainer, "_run_epoch", counted_epoch)
    resumed, _ = ch3_ml.cnn_model(tmp_path / "b" / "fig3.4", quick=True, seed=0)
    assert counted["n"] == 2  # stage 1's last two epochs only: nothing before the kill is trained again
    a, b = load_model(straight)[0].state_dict(), load_model(resumed)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list((tmp_path / "b" / "_models").glob("*.ckpt"))


def test_ml_llg_runs_are_cached_by_key(tmp_path, monkeypatch):
    from latticeml.calculators.classical import HeisenbergCalculator
    from latticeml.dynamics import LLG
    from latticeml.lattice import triangular
    from latticeml.models.sd import random_spins

    lat = triangular(12)
    calc = HeisenbergCalculator(lat, J=1.0)
    starts = np.stack([random_spins(lat.N, np.random.default_rng(r)) for r in range(2)])
    plain = ch3_ml.ml_llg_runs(calc, starts, 6, 3, 0.2)
    cached = ch3_ml.ml_llg_runs(calc, starts, 6, 3, 0.2, cache=tmp_path, model="m.pt")
    assert plain.shape == (2, 3, 144, 3) and np.array_equal(plain, cached)
    monkeypatch.setattr(LLG, "step", lambda *a: pytest.fail("the cached runs were run again"))
    assert np.array_equal(ch3_ml.ml_llg_runs(calc, starts, 6, 3, 0.2, cache=tmp_path, model="m.pt"), plain)
    assert ch3_ml._ml_key("m.pt", starts, 6) != ch3_ml._ml_key("m.pt", starts[::-1], 6)


@pytest.mark.parametrize("cached", [False, True])
def test_exact_runs_in_worker_processes_equal_the_serial_ones(cached, tmp_path):
    args = dict(L=12, starts=["skl", "random", "random"], steps=4, stride=2, alpha=0.05, seed=5)
    serial = ch3_ml.exact_field_runs(**args)
    parallel = ch3_ml.exact_field_runs(**args, workers=2, cache=tmp_path if cached else None)
    for name in ("spins", "fields", "steps"):
        assert np.array_equal(parallel[name], serial[name]), name
