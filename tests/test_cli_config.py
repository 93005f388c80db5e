"""Malformed configs: `latticeml simulate` exits 2 with one stderr line that names the field, never a traceback,
and creates no run directory."""
import copy
from pathlib import Path

import pytest

from latticeml.cli import main
from latticeml.io import load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "configs"

BASE = {
    "seed": 0,
    "lattice": {"kind": "triangular", "L": 4},
    "model": {"name": "heisenberg", "J": 1.0, "field": [0.0, 0.0, 0.1]},
    "dynamics": {"stepper": "llg", "n_steps": 5, "dt": 0.05, "alpha": 0.1},
    "output": {"stride": 1},
}
FK = {
    "lattice": {"kind": "square", "L": 4},
    "model": {"name": "falicov_kimball", "U": 2.0},
    "dynamics": {"stepper": "kmc", "n_steps": 2},
}
LANGEVIN = {
    "lattice": {"kind": "square", "L": 3},
    "model": {"name": "harmonic"},
    "dynamics": {"stepper": "langevin", "n_steps": 2, "dt": 0.1, "T": 1.0},
}

SD = {
    "lattice": {"kind": "triangular", "L": 12},
    "model": {"name": "sd_triangular"},
    "dynamics": {"stepper": "llg", "n_steps": 2},
    "initial": {"kind": "perturbed_skyrmion"},
}


def _with(base, path, value):
    """Copy of ``base`` with the dotted ``path`` set to ``value`` (``DELETE`` removes it)."""
    cfg = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = cfg
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return cfg


DELETE = object()

# (config, field named in the message)
CASES = [
    (_with(BASE, "modle", {"name": "heisenberg"}), "modle"),
    (_with(BASE, "model", DELETE), "model"),
    (_with(BASE, "dynamics", [1, 2]), "dynamics"),
    (_with(BASE, "seed", -1), "seed"),
    (_with(BASE, "seed", "abc"), "seed"),
    (_with(BASE, "model.name", "ising"), "model.name"),
    (_with(BASE, "model.name", DELETE), "model.name"),
    (_with(BASE, "model.Jz", 1.0), "model.Jz"),
    (_with(BASE, "model.J", "strong"), "model.J"),
    (_with(BASE, "model.field", [0.0, 1.0]), "model.field"),
    (_with(BASE, "lattice.L", -4), "lattice.L"),
    (_with(BASE, "lattice.L", 4.5), "lattice.L"),
    (_with(BASE, "lattice.L", DELETE), "lattice.L"),
    (_with(BASE, "lattice.kind", "hexagonal"), "lattice.kind"),
    (_with(BASE, "dynamics.stepper", "rk4"), "dynamics.stepper"),
    (_with(BASE, "dynamics.n_steps", DELETE), "dynamics.n_steps"),
    (_with(BASE, "dynamics.n_steps", "many"), "dynamics.n_steps"),
    (_with(BASE, "dynamics.dt", 0.0), "dynamics.dt"),
    (_with(BASE, "dynamics.dt", -0.1), "dynamics.dt"),
    (_with(BASE, "dynamics.T", -1.0), "dynamics.T"),
    (_with(BASE, "dynamics.T", float("nan")), "dynamics.T"),  # NaN fails no comparison: checked as not finite
    (_with(BASE, "dynamics.dt", float("inf")), "dynamics.dt"),
    (_with(BASE, "model.field", [0.0, 0.0, float("nan")]), "model.field"),
    (_with(BASE, "seed", 10**26), "seed"),  # stored as a 64-bit integer
    (_with(BASE, "dynamics.alpha", -0.5), "dynamics.alpha"),
    (_with(BASE, "dynamics.scheme", "euler"), "dynamics.scheme"),
    (_with(BASE, "dynamics.gamma", True), "dynamics.gamma"),
    (_with(BASE, "initial", {"kind": "checkerboard"}), "initial.kind"),
    (_with(BASE, "initial", {"kind": "ferro", "direction": [0, 0, 0]}), "initial.direction"),
    (_with(BASE, "initial", {"kind": "random", "sigma": 1.0}), "initial.sigma"),
    (_with(BASE, "output.stride", 0), "output.stride"),
    (_with(BASE, "output.energies", "yes"), "output.energies"),
    (_with(BASE, "output.strid", 2), "output.strid"),
    (_with(FK, "model.filling_c", 1.2), "model.filling_c"),
    (_with(FK, "model.filling_c", 0.0), "model.filling_c"),
    (_with(FK, "model.rho_f", 1.0), "model.rho_f"),
    (_with(FK, "model.T", -0.05), "model.T"),
    (_with(FK, "model.energy_kind", "grand"), "model.energy_kind"),
    (_with(_with(FK, "model.n_f", 3), "model.rho_f", 0.2), "model.n_f"),  # both given
    (_with(FK, "model.n_f", 99), "model.n_f"),  # more particles than sites
    (_with(FK, "dynamics.stepper", "llg"), "dynamics.stepper"),
    (_with(LANGEVIN, "dynamics.T", DELETE), "dynamics.T"),
    (_with(LANGEVIN, "model.K", -1.0), "model.K"),
    (_with(LANGEVIN, "model.components", 0), "model.components"),
    (_with(LANGEVIN, "output", {"vtk": True}), "output.vtk"),
    (_with(SD, "lattice.kind", "square"), "lattice.kind"),
    (_with(SD, "model.method", "lanczos"), "model.method"),
    (_with(_with(SD, "model.method", "kpm"), "model.T_el", 0.0), "model.T_el"),
    (_with(SD, "model.device", "tpu"), "model.device"),
    (_with(SD, "model.twists", 2), "model.twists"),  # the default method is 'fast'
    (_with(_with(SD, "model.method", "ed"), "model.twists", 0), "model.twists"),
    (_with(SD, "lattice.L", 10), "lattice.L"),  # the skyrmion lattice needs L ≡ 0 mod 12
    (_with(_with(BASE, "lattice.kind", "square"), "initial", {"kind": "skyrmion"}), "lattice.kind"),
    (_with(SD, "initial.d_phi", -0.1), "initial.d_phi"),
    (_with(FK, "lattice.L", 1), "lattice.L"),
]


def _check_one_line_error(err: str, field: str):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("latticeml simulate: error: ") and f"'{field}'" in lines[0], err
    assert "Traceback" not in err


def test_there_are_enough_cases():
    assert len(CASES) >= 20


@pytest.mark.parametrize("cfg,field", CASES, ids=[f"{k}-{f}" for k, (_, f) in enumerate(CASES)])
def test_malformed_config_exits_2_naming_the_field(cfg, field, write_config, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", str(write_config(cfg)), "--out", str(out), "--quiet"]) == 2
    _check_one_line_error(capsys.readouterr().err, field)
    assert not out.exists()


def test_non_mapping_and_broken_yaml(write_config, tmp_path, capsys):
    assert main(["simulate", str(write_config("- just\n- a list\n")), "--out", str(tmp_path / "r")]) == 2
    _check_one_line_error(capsys.readouterr().err, "(top level)")
    broken = write_config("model:\n  name: heisenberg\n   J: [1, 2\n")
    assert main(["simulate", str(broken), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    _check_one_line_error(err, str(broken))
    assert "line" in err


def test_missing_arguments_and_files(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["simulate", "--resume", str(tmp_path)]) == 2
    assert "not a latticeml run directory" in capsys.readouterr().err


def _one_line(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert all(n in err for n in needles), err


def test_unreadable_paths_are_one_line_errors(write_config, tmp_path, capsys):
    cfg = write_config(BASE)
    assert main(["simulate", str(tmp_path), "--out", str(tmp_path / "r")]) == 2  # a folder as CONFIG
    _one_line(capsys, "is a folder")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(128, 256)))
    assert main(["simulate", str(binary), "--out", str(tmp_path / "r")]) == 2
    _one_line(capsys, "not a UTF-8 text file")
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main(["simulate", str(cfg), "--out", str(afile)]) == 2  # --out names an existing file
    _one_line(capsys, "is a file, not a folder")


def test_resume_refuses_a_second_config_and_reads_damaged_checkpoints_in_one_line(write_config, tmp_path, capsys):
    cfg, run = write_config(BASE), tmp_path / "run"
    assert main(["simulate", str(cfg), "--out", str(run), "--quiet"]) == 0
    assert main(["simulate", str(cfg), "--resume", str(run)]) == 2  # CONFIG would be silently ignored
    _one_line(capsys, "drop CONFIG")
    checkpoint = next(run.glob("*.pkl"))
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    assert main(["simulate", "--resume", str(run)]) == 2
    _one_line(capsys, "is damaged")


@pytest.mark.parametrize("command", ["simulate", "generate", "train", "reproduce"])
def test_unwritable_out_is_one_line_before_any_work(command, write_config, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # a file where the output folder's parent should be
    config = {"simulate": lambda: write_config(BASE), "reproduce": lambda: "fig3.3",
              "generate": lambda: EXAMPLES / "sd_generate.yaml", "train": lambda: EXAMPLES / "sd_train_cnn.yaml"}
    assert main([command, str(config[command]()), "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"latticeml {command}: error: --out: cannot create folder '{blocker / 'out'}"), err
    assert "\n" not in err and "Traceback" not in err


def test_float_written_in_exponent_notation_is_accepted(write_config, tmp_path):
    text = ("lattice: {kind: square, L: 3}\nmodel: {name: harmonic}\n"
            "dynamics: {stepper: brownian, n_steps: 3, dt: 1e-3, T: 1}\n")
    assert main(["simulate", str(write_config(text)), "--out", str(tmp_path / "r"), "--quiet"]) == 0


@pytest.mark.parametrize("cfg,field", [CASES[0], CASES[17]], ids=["unknown-section", "dt-zero"])
def test_malformed_config_through_the_installed_command(cfg, field, write_config, tmp_path, cli):
    proc = cli.run("simulate", write_config(cfg), "--out", tmp_path / "run")
    assert proc.returncode == 2
    _check_one_line_error(proc.stderr, field)
    assert proc.stdout == "" and not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["fk_quick.yaml", "heisenberg_llg.yaml", "harmonic_langevin.yaml",
                                  "sd_skyrmion_llg.yaml"])
def test_example_simulate_configs_are_valid(name):
    cfg = load_config(EXAMPLES / name)
    assert cfg["dynamics"]["n_steps"] > 0


def test_out_of_memory_is_one_line(write_config, tmp_path, capsys, monkeypatch):
    from latticeml.io import run

    def too_big(*args, **kwargs):
        raise MemoryError("Unable to allocate 74.5 GiB")

    monkeypatch.setattr(run, "simulate", too_big)
    assert main(["simulate", str(write_config(BASE)), "--out", str(tmp_path / "r")]) == 2
    _one_line(capsys, "out of memory", "74.5 GiB")
