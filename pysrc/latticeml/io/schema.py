"""Declarative parameter schemas: each :class:`Param` checks one config value and says how to fix a bad one."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, LatticeMLError

__all__ = ["Param", "REQUIRED", "check_mapping", "validate_section", "read_yaml"]

#: marks a parameter without default
REQUIRED = object()

_FLOAT_LITERAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_KIND_WORD = {"float": "a number", "int": "an integer", "str": "a string", "bool": "true or false",
              "vector3": "a list of 3 numbers", "choice": "one of the listed names"}


@dataclass(frozen=True)
class Param:
    """One config parameter: its ``kind``, default, allowed range or choices and a one-line ``doc``.

    ``kind`` is one of ``float``, ``int``, ``str``, ``bool``, ``vector3`` or ``choice`` (with ``choices``).
    Bounds ``low``/``high`` are inclusive unless ``low_open``/``high_open``. A ``default`` of None means
    "optional, absent"; :data:`REQUIRED` means the user must give it.
    """

    kind: str
    default: Any = REQUIRED
    doc: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None

    def check(self, field: str, value: Any) -> Any:
        """Return ``value`` converted to the parameter's type, or raise :class:`ConfigError` naming ``field``."""
        if value is None and self.default is None:
            return None
        value = self._convert(field, value)
        if self.kind in ("float", "int"):
            self._check_range(field, value)
        if self.kind == "choice" and value not in self.choices:
            raise ConfigError(field, f"{value!r} is not allowed; choose one of {', '.join(map(str, self.choices))}")
        return value

    def _convert(self, field: str, value: Any) -> Any:
        bad = ConfigError(field, f"expected {_KIND_WORD[self.kind]}, got {value!r} ({type(value).__name__})"
                          + (f"; {self.doc}" if self.doc else ""))
        if self.kind == "float":
            # YAML 1.1 reads '1e-3' as a string; accept plain float literals written that way
            if isinstance(value, str) and _FLOAT_LITERAL.match(value.strip()):
                return float(value)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad
            if not math.isfinite(value):  # .nan / .inf would pass every range check (comparisons are False)
                raise ConfigError(field, f"{value!r} is not a finite number" + (f"; {self.doc}" if self.doc else ""))
            return float(value)
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad
            if not -2**63 <= value < 2**63:  # seeds and sizes are stored as 64-bit integers
                raise ConfigError(field, f"{value} does not fit in a 64-bit integer")
            return int(value)
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise bad
            return value
        if self.kind in ("str", "choice"):
            if not isinstance(value, str):
                raise bad
            return value
        if self.kind == "vector3":
            if not isinstance(value, (list, tuple)) or len(value) != 3 or any(
                    isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in value):
                raise bad
            return [float(v) for v in value]
        raise AssertionError(f"unknown parameter kind {self.kind}")

    def _check_range(self, field: str, value: float) -> None:
        lo_bad = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        hi_bad = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if lo_bad or hi_bad:
            raise ConfigError(field, f"{value!r} is out of range; it must be {self.range_text()}")

    def range_text(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return " and ".join(parts)


def check_mapping(field: str, value: Any) -> dict:
    """``value`` must be a mapping (a YAML block of ``key: value`` lines)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(field, f"expected a mapping of 'key: value' lines, got {type(value).__name__}")
    return value


def validate_section(prefix: str, raw: dict, params: dict[str, Param], ignore: tuple[str, ...] = ()) -> dict:
    """Check every key of ``raw`` against ``params`` and fill defaults; keys in ``ignore`` are passed through.

    Returns the resolved section (defaults of absent optional parameters included as None).
    """
    for key in raw:
        if key not in params and key not in ignore:
            valid = ", ".join(list(ignore) + sorted(params))
            raise ConfigError(f"{prefix}.{key}", f"unknown key; valid keys here: {valid}")
    out = {k: raw[k] for k in ignore if k in raw}
    for key, p in params.items():
        field = f"{prefix}.{key}"
        if key in raw:
            out[key] = p.check(field, raw[key])
        elif p.default is REQUIRED:
            raise ConfigError(field, f"missing; add '{key}: <{_KIND_WORD[p.kind]}>' under '{prefix}:'"
                              + (f" ({p.doc})" if p.doc else ""))
        else:
            out[key] = list(p.default) if isinstance(p.default, tuple) else p.default
    return out


def read_yaml(path) -> Any:
    """The parsed YAML file ``path`` (any type; callers check it): a path that is not a readable UTF-8 text file,
    or bad YAML, is a one-line user error."""
    import yaml

    path = Path(path)
    if path.is_dir():
        raise LatticeMLError(f"config file {path} is a folder; give the YAML file")
    if not path.is_file():
        raise LatticeMLError(f"config file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise LatticeMLError(f"config file {path} is not readable (permission denied)") from None
    except UnicodeDecodeError:
        raise LatticeMLError(f"config file {path} is not a UTF-8 text file; give the YAML config") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(str(path), f"YAML syntax error{where}: {getattr(err, 'problem', None) or err}") from None
