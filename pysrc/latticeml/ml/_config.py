"""Reading the YAML configs of ``latticeml generate`` / ``latticeml train`` (values are checked with
:mod:`latticeml.io.schema`)."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, LatticeMLError

__all__ = ["load_yaml"]


def load_yaml(path) -> dict:
    """The mapping in the YAML file ``path``; a missing file or bad YAML is a one-line user error."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise LatticeMLError(f"config file {path} does not exist")
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(str(path), f"YAML syntax error{where}: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(cfg, dict):
        raise ConfigError("(top level)", f"a config is a mapping of 'key: value' lines, got {type(cfg).__name__}")
    return cfg
