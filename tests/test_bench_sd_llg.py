"""``latticeml bench sd-llg`` plumbing on tiny sizes (no timing assertions: only that every figure is measured)."""
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from latticeml.bench.sd_llg import run  # noqa: E402


def test_sd_llg_reports_exact_and_ml_llg_steps():
    res = run(quick=True, sizes=(6, 12), steps=2, ml_L=12)
    json.dumps(res)  # one JSON object, as the CLI prints it
    exact = res["exact"][-1]
    assert exact["fast_seconds_per_step"] > 0 and exact["ed_seconds_per_step_estimate"] == 2 * exact["ed_seconds"]
    # KPM on the largest size is compared with that size's dense-ED field of the same spins
    blocks = res["kpm_large"]["exact_blocks_sites"]
    assert res["kpm_large"]["L"] == 12 and blocks["sites"] == 48 and blocks["rel_error_field"] < 1e-3
    assert blocks["seconds_all_sites_estimate"] == pytest.approx(blocks["seconds"] * 144 / 48)
    assert 1e-3 < res["kpm_large"]["probing_d3"]["rel_error_field"] < 1  # probing with a short period is biased
    assert res["kpm"]["probing_d3"]["vectors"] == 18 and res["kpm_large"]["probing_d3"]["vectors"] == 18  # odd d
    # one thread really reaches every BLAS library (scipy's own OpenBLAS loads after numpy's), and the target,
    # stated at 48², is not judged on other sizes
    assert res["blas_threads"] and all(b["threads"] == 1 for b in res["blas_threads"]), res["blas_threads"]
    assert res["target"]["passed"] is None
    ml = res["ml_llg"]
    assert ml["torch_threads"] == 1 and [r["architecture"] for r in ml["large"]] == ["quick"]
    large, compare = ml["large"][0], ml["compare"][0]
    assert large["L"] == 12 and compare["L"] == exact["L"]
    for name in ("cnn", "bp"):
        assert np.isclose(large[name]["spin_steps_per_second"], large["N"] / large[name]["seconds_per_step"])
        assert compare[name]["speedup_vs_fast_exact_step"] > 0 and compare[name]["speedup_vs_ed_step"] > 0
    import torch

    gpu = res["gpu"]
    if torch.cuda.is_available():
        assert gpu["device"] == "cuda" and gpu["rel_error_field"] < 1e-6 and gpu["speedup_ed_vs_numpy_ed"] > 0
    else:
        assert gpu == {"skipped": "no CUDA GPU visible to torch"}
