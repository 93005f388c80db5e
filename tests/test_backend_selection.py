"""Backend selection: ``python`` by default, ``auto`` falling back to Python with one notice when no Julia runtime
is found, ``julia`` failing with the documented error, and runtime detection that never starts or downloads Julia.

The environment is made Julia-free on purpose (empty PATH entry, private HOME and juliapkg project), so these tests
mean the same on a machine that has Julia installed.
"""
import importlib
import importlib.util
import inspect
import os
import subprocess
import sys
import textwrap

import pytest

import latticeml.backends as backends
from latticeml.backends import KERNELS, BackendUnavailable, PythonBackend, get_backend
from latticeml.backends import julia as julia_backend

DOCUMENTED = ("Julia runtime not found: set PYTHON_JULIAPKG_EXE to a julia binary "
              "(and PYTHON_JULIAPKG_OFFLINE=yes offline)")
JULIA_VARIABLES = ("PYTHON_JULIAPKG_EXE", "PYTHON_JULIACALL_EXE", "PYTHON_JULIACALL_BINDIR", "JULIAUP_DEPOT_PATH",
                   "LATTICEML_BACKEND")


def _julia_free_environ(tmp_path) -> dict:
    """os.environ without any way to find Julia: PATH is an empty folder, HOME and the juliapkg project are fresh."""
    env = {k: v for k, v in os.environ.items() if k not in JULIA_VARIABLES}
    empty = tmp_path / "empty_bin"
    empty.mkdir(exist_ok=True)
    env.update(PATH=str(empty), HOME=str(tmp_path / "home"), PYTHON_JULIAPKG_PROJECT=str(tmp_path / "julia_env"))
    return env


@pytest.fixture
def no_julia(tmp_path, monkeypatch):
    """This process sees no Julia runtime, and the backend caches start empty."""
    for key in JULIA_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    env = _julia_free_environ(tmp_path)
    for key in ("PATH", "HOME"):
        monkeypatch.setenv(key, env[key])
    # juliapkg computed its install location at import; point its lookups at nothing
    monkeypatch.setattr(julia_backend, "_juliapkg_executables", lambda: [])
    monkeypatch.setattr(backends, "_cache", {})
    assert julia_backend.find_julia_runtime() is None


def _fake_julia(folder, name="julia"):
    """An executable file called julia (never run: detection must not execute it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\necho 'this fake julia must not be run' >&2\nexit 1\n")
    path.chmod(0o755)
    return path


def test_python_is_the_default(no_julia):
    assert isinstance(get_backend(), PythonBackend)
    assert get_backend().name == "python"


def test_unknown_backend_name_is_refused(no_julia):
    with pytest.raises(ValueError, match="LATTICEML_BACKEND/backend='fortran' is not one of python, julia, auto"):
        get_backend("fortran")


def test_explicit_julia_without_runtime_gives_the_documented_error(no_julia):
    with pytest.raises(BackendUnavailable) as info:
        get_backend("julia")
    assert str(info.value) == DOCUMENTED
    assert "juliacall" not in sys.modules  # nothing was started


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_auto_falls_back_to_python_with_one_notice(no_julia, monkeypatch, capsys, how):
    if how == "environment":
        monkeypatch.setenv("LATTICEML_BACKEND", "auto")
    choose = (lambda: get_backend("auto")) if how == "argument" else get_backend
    first, second = choose(), choose()
    assert isinstance(first, PythonBackend) and second is first
    notice = capsys.readouterr().err.strip().splitlines()
    assert notice == [f"latticeml: Julia backend unavailable ({DOCUMENTED}); using the Python backend"]
    # the fallback is fully usable
    assert first.fermi([0.0], 0.0, 1.0)[0] == 0.5


def test_probe_and_info_report_the_missing_runtime(no_julia):
    with pytest.raises(BackendUnavailable, match="Julia runtime not found"):
        julia_backend.probe()
    status = backends.backend_status()
    assert status["python"] == "available"
    assert status["julia"] == f"unavailable: {DOCUMENTED}"


def test_runtime_detection_order_and_no_execution(no_julia, tmp_path, monkeypatch):
    on_path = _fake_julia(tmp_path / "path_bin")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert julia_backend.find_julia_runtime() == str(on_path)
    # PYTHON_JULIAPKG_EXE wins over PATH; a name that is not an executable is skipped
    chosen = _fake_julia(tmp_path / "chosen")
    monkeypatch.setenv("PYTHON_JULIAPKG_EXE", str(chosen))
    assert julia_backend.find_julia_runtime() == str(chosen)
    monkeypatch.setenv("PYTHON_JULIAPKG_EXE", str(tmp_path / "missing" / "julia"))
    assert julia_backend.find_julia_runtime() == str(on_path)


def test_juliaup_installs_are_found_newest_first(no_julia, tmp_path, monkeypatch):
    depot = tmp_path / "depot"
    old = _fake_julia(depot / "juliaup" / "julia-1.9.4" / "bin")
    new = _fake_julia(depot / "juliaup" / "julia-1.11.2" / "bin")
    (depot / "juliaup" / "juliaup.json").write_text(
        '{"InstalledVersions": {"1.9.4+0.x64.linux.gnu": {"Path": "julia-1.9.4"},'
        ' "1.11.2+0.x64.linux.gnu": {"Path": "julia-1.11.2"}}}')
    monkeypatch.setenv("JULIAUP_DEPOT_PATH", str(depot))
    assert julia_backend._juliaup_executables() == [str(new), str(old)]
    assert julia_backend.find_julia_runtime() == str(new)


def test_julia_backend_names_every_kernel():
    assert julia_backend.missing_kernels() == []
    for name in KERNELS:
        assert callable(getattr(julia_backend.JuliaBackend, name))


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_julia_wrappers_take_the_python_kernels_arguments(name):
    """Same parameter names, kinds and defaults as the Python kernel, checked without Julia: a keyword added on one
    side only (as ``sites`` of kpm_spin_blocks once was) would break ``LATTICEML_BACKEND=julia`` unseen by CI."""
    module, function = KERNELS[name].split(":")
    python = inspect.signature(getattr(importlib.import_module(module), function)).parameters.values()
    julia = [p for p in inspect.signature(getattr(julia_backend.JuliaBackend, name)).parameters.values()
             if p.name != "self"]
    assert [(p.name, p.kind, p.default) for p in julia] == [(p.name, p.kind, p.default) for p in python]


_SCRIPT = textwrap.dedent("""
    import sys
    {first}
    from latticeml.backends import get_backend, PythonBackend
    backend = get_backend("auto")
    {then}
    assert isinstance(backend, PythonBackend), backend
    assert "juliacall" not in sys.modules, "juliacall was imported without a Julia runtime"
    print("ok", backend.cayley_rotate([[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]], 0.0).tolist())
""")


@pytest.mark.parametrize("order", ["torch first", "torch after"])
def test_fallback_in_a_fresh_process_whichever_of_torch_and_the_backend_comes_first(tmp_path, order):
    pytest.importorskip("torch")
    first, then = ("import torch", "") if order == "torch first" else ("", "import torch")
    result = subprocess.run([sys.executable, "-c", _SCRIPT.format(first=first, then=then)],
                            env=_julia_free_environ(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok [[0.0, 0.0, 1.0]]"
    assert "Julia runtime not found" in result.stderr  # the one-line notice


def test_a_runtime_that_does_not_start_falls_back_too(tmp_path):
    """A julia that juliapkg rejects: `auto` still ends on Python, with the reason, and nothing is downloaded."""
    if importlib.util.find_spec("juliacall") is None:  # importing it here would start Julia
        pytest.skip("juliacall is not installed")
    env = _julia_free_environ(tmp_path)
    env["PYTHON_JULIAPKG_EXE"] = str(_fake_julia(tmp_path / "broken"))
    script = ("from latticeml.backends import get_backend, PythonBackend\n"
              "assert isinstance(get_backend('auto'), PythonBackend)\n")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    notice = [line for line in result.stderr.splitlines() if line.startswith("latticeml:")]
    assert len(notice) == 1 and "juliacall could not start Julia at" in notice[0]
    assert "is not a Julia executable" in notice[0]
    assert "Querying Julia versions" not in result.stdout + result.stderr  # juliapkg's download path


def test_one_blas_thread_below_the_crossover_only():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from latticeml.backends.threads import blas_pools, one_blas_thread_below

    def blas_threads():
        return {lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"}

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        with one_blas_thread_below(100, 1000):
            assert blas_threads() == {1}
            assert len(blas_pools()) >= 1 and {pool["threads"] for pool in blas_pools()} == {1}  # latticeml info
        assert blas_threads() == before
        with one_blas_thread_below(1000, 1000):
            assert blas_threads() == before
