"""The example scripts run (at a reduced size where they take options) and write the figures they promise."""
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_sd_quench_example_writes_its_figures(cli, tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES / "sd_quench.py"), "--L", "12", "--steps", "30"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=cli.env)
    assert done.returncode == 0, done.stderr
    charge = re.search(r"skyrmion charge ([+-]\d+\.\d\d)", done.stdout)
    assert charge and float(charge.group(1)).is_integer()  # a charge on a closed torus is an integer
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    assert written == ["sd_quench_growth.png", "sd_quench_snapshot_10.png", "sd_quench_snapshot_30.png",
                       "sd_quench_sq.png", "sd_quench_sq_early.png"], written
