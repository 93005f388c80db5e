"""Shared test fixtures: writing YAML configs and running the ``latticeml`` command in a subprocess."""
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import yaml


@pytest.fixture
def write_config(tmp_path):
    """Write a config (dict or YAML text) to a fresh file under tmp_path and return its path."""
    count = [0]

    def write(cfg, name=None):
        count[0] += 1
        path = tmp_path / (name or f"config{count[0]}.yaml")
        path.write_text(cfg if isinstance(cfg, str) else yaml.safe_dump(cfg, sort_keys=False))
        return path

    return write


@pytest.fixture
def cli():
    """``cli.argv(*args)``: command line of ``latticeml ARGS`` with this interpreter; ``cli.env``: single-threaded
    environment; ``cli.run(*args)``: run it to completion (CompletedProcess with text output)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

    def argv(*args):
        return [sys.executable, "-m", "latticeml.cli", *map(str, args)]

    def run(*args, timeout=120):
        return subprocess.run(argv(*args), capture_output=True, text=True, timeout=timeout, env=env)

    return SimpleNamespace(argv=argv, env=env, run=run)
