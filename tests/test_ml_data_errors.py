"""Bad `latticeml generate` targets and bad `latticeml train` data paths: one-line errors that say what to do, found
before any exact run starts, never a traceback."""
import h5py
import pytest

from latticeml.cli import main
from latticeml.errors import ConfigError, LatticeMLError
from latticeml.ml._config import load_yaml
from latticeml.ml.data import _parse_generate, load_dataset

RUNS = "runs:\n  - {type: random, count: 2}\nsave_every: 2\nsplit: {train: 0.5, val: 0.5, test: 0.0}\n"
FK = "lattice: {kind: square, L: 4}\nmodel: {name: falicov_kimball}\ndynamics: {stepper: kmc, n_steps: 2}\n" + RUNS
HEISENBERG = "lattice: {kind: square, L: 4}\nmodel: {name: heisenberg}\ndynamics: {stepper: llg, n_steps: 2}\n" + RUNS
HARMONIC = ("lattice: {kind: square, L: 4}\nmodel: {name: harmonic}\n"
            "dynamics: {stepper: langevin, n_steps: 2, dt: 0.1, T: 0.1}\n" + RUNS)


def _one_line(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"latticeml {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("text, supported", [
    (FK, "move_energies"),  # the default target (forces) on an occupation model
    (FK + "target: forces\n", "move_energies"),
    (HEISENBERG + "target: move_energies\n", "forces"),
    (HARMONIC + "target: move_energies\n", "forces"),
], ids=["fk-default", "fk-forces", "heisenberg-move_energies", "harmonic-move_energies"])
def test_generate_refuses_a_target_the_model_cannot_label(tmp_path, capsys, text, supported):
    cfg = tmp_path / "gen.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        _parse_generate(load_yaml(cfg))
    assert err.value.field == "target" and f"set 'target: {supported}'" in str(err.value)
    out = tmp_path / "out" / "data.h5"
    assert main(["generate", str(cfg), "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err, "generate")
    assert "'target'" in line and f"supports only {supported}" in line
    assert not out.parent.exists()  # refused before any run and before the output folder
    # the suggested fix is accepted
    fixed = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("target:"))
    cfg.write_text(fixed + f"target: {supported}\n")
    assert _parse_generate(load_yaml(cfg))["target"] == supported


def test_load_dataset_names_folders_and_foreign_files(tmp_path):
    folder = tmp_path / "gen_out"
    folder.mkdir()
    with pytest.raises(LatticeMLError, match="is a folder, not a dataset file.*latticeml generate"):
        load_dataset(folder)
    (folder / "dataset.h5").write_bytes(b"")
    with pytest.raises(LatticeMLError, match="is a folder, not a dataset file.*dataset.h5"):
        load_dataset(folder)
    yaml_file = tmp_path / "gen.yaml"
    yaml_file.write_text(HEISENBERG)
    with pytest.raises(LatticeMLError, match="gen.yaml.*is not an HDF5 file.*latticeml generate"):
        load_dataset(yaml_file)
    foreign = tmp_path / "other.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = [1, 2, 3]
    with pytest.raises(LatticeMLError, match="other.h5.*is not a latticeml dataset.*latticeml generate"):
        load_dataset(foreign)


@pytest.mark.parametrize("kind", ["yaml", "folder"])
def test_train_on_a_non_dataset_is_one_line(tmp_path, capsys, kind):
    pytest.importorskip("torch")
    data = tmp_path / ("gen.yaml" if kind == "yaml" else "gen_out")
    if kind == "yaml":
        data.write_text(HEISENBERG)
    else:
        data.mkdir()
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"data: {data}\nnetwork: {{kind: bp, descriptor: {{kind: spin_bonds, cutoff: 1.0}}, hidden: [8]}}\n"
                   "training: {max_epochs: 1}\n")
    assert main(["train", str(cfg), "--out", str(tmp_path / "o")]) == 2
    line = _one_line(capsys.readouterr().err, "train")
    assert str(data) in line and "latticeml generate" in line
    assert ("is not an HDF5 file" if kind == "yaml" else "is a folder, not a dataset file") in line
