"""``latticeml bench ml-inference`` plumbing (no timing assertions: only that every figure is measured)."""
import pytest

pytest.importorskip("torch")

from latticeml import ml  # noqa: E402
from latticeml.bench.ml_inference import ml_timings  # noqa: E402


def test_ml_timings_report_both_networks():
    res = ml_timings(8, quick=True, repeats=1)
    assert res["N"] == 64
    for name in ("bp", "cnn"):
        assert res[name]["site_evaluations_per_second"] > 0 and res[name]["parameters"] > 0
    assert res["bp"]["features"] == 126  # bond invariants within 6a on the triangular lattice (ch3 spec §8)
    assert [r["L"] for r in ml.sd_llg_timings([6], quick=True)] == [6]
