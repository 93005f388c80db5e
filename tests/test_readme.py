"""The README's Python examples run as printed (so they stay true after every change)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_example_runs(index, capsys):
    code = BLOCKS[index]
    exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "readme"})
    if "skyrmion_charge" in code:  # the s-d example states its output: charge -6 on 12×12
        assert round(float(capsys.readouterr().out.split()[0])) == -6
