"""Reading the YAML configs of ``latticeml generate`` / ``latticeml train`` (values are checked with
:mod:`latticeml.io.schema`)."""
from __future__ import annotations

from ..errors import ConfigError
from ..io.schema import read_yaml

__all__ = ["load_yaml"]


def load_yaml(path) -> dict:
    """The mapping in the YAML file ``path``; a missing file or bad YAML is a one-line user error."""
    cfg = read_yaml(path) or {}
    if not isinstance(cfg, dict):
        raise ConfigError("(top level)", f"a config is a mapping of 'key: value' lines, got {type(cfg).__name__}")
    return cfg
