"""`latticeml reproduce`: the metrics.json contract and `--list`, which shows what each target reproduces and the
last result a run left under `--out`."""
import json

import pytest

from latticeml import reproduce
from latticeml.cli import main


def _toy_target(out_dir, quick, seed):
    """Toy: one passing number, one failing one and a diagnostic.

    Second paragraph, not shown by --list."""
    return [reproduce.Metric("exact", 1.0, 1.0, "== 1", True),
            reproduce.Metric("fraction_below_10deg", 0.55123, 0.9, ">= 0.9", False),
            reproduce.Metric("seconds_per_step", 0.2)]


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(reproduce.TARGETS, "toy", "tests:toy")
    resolve = reproduce._resolve
    monkeypatch.setattr(reproduce, "_resolve", lambda t: _toy_target if t == "toy" else resolve(t))


def test_run_writes_metrics_json_and_list_reports_it(toy, tmp_path, capsys):
    assert main(["reproduce", "--list", "--out", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "toy      available       Toy: one passing number, one failing one and a diagnostic." in listing
    assert "Second paragraph" not in listing and "last run" not in listing  # nothing ran yet

    assert main(["reproduce", "toy", "--quick", "--seed", "3", "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "toy" / "metrics.json").read_text())
    assert payload["quick"] and payload["seed"] == 3 and payload["all_passed"] is False
    assert [m["passed"] for m in payload["metrics"]] == [True, False, None]

    capsys.readouterr()
    assert main(["reproduce", "--list", "--out", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert (f"last run in {tmp_path}: quick scale, seed 3: 1/2 judged metrics pass; "
            "FAIL fraction_below_10deg = 0.5512 (target 0.9); 0 s") in listing
    assert "fig3.4   available       Fig 3.4: CNN torque accuracy" in listing


def test_list_names_an_unreadable_metrics_file(toy, tmp_path, capsys):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "metrics.json").write_text('{"target": "toy"')  # cut short
    assert main(["reproduce", "--list", "--out", str(tmp_path)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "last run" in x)
    assert f"unreadable {tmp_path / 'toy' / 'metrics.json'} (JSONDecodeError" in line


def test_unknown_target_is_one_line(capsys, tmp_path):
    assert main(["reproduce", "fig9.9", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown target 'fig9.9'" in err and "--list" in err


@pytest.mark.parametrize("seed,why", [("-1", "-1 is negative"), ("x", "'x' is not an integer")])
def test_bad_seed_is_refused_before_any_work(seed, why, toy, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", "toy", "--seed", seed, "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert f"argument --seed: {why}" in capsys.readouterr().err
    assert not (tmp_path / "toy").exists()
