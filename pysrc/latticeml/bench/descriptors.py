"""``latticeml bench descriptors``: throughput of the FK descriptor (150×150), the magnetic ACSF (500 spins), the
Jahn–Teller IR descriptor (100×100, with its Jacobian rank) and the plain radial+angular ACSF against DScribe on the
same positions, all timed in one run."""
from __future__ import annotations

import time

import numpy as np

__all__ = ["run"]


def _best_time(fn, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _fk(quick: bool) -> dict:
    from ..descriptors import FKDescriptor
    from ..lattice import square

    L = 60 if quick else 150
    lat = square(L)
    rng = np.random.default_rng(0)
    occ = np.zeros(lat.N, np.int8)
    occ[rng.choice(lat.N, round(0.18778 * lat.N), replace=False)] = 1
    sites = np.nonzero(occ)[0]
    desc = FKDescriptor(lat)
    t = _best_time(lambda: desc.features(occ, desc.classify(occ, sites)), 2 if quick else 5)
    return {"lattice": f"{L}x{L}", "n_f_electrons": int(len(sites)), "features_per_electron": desc.n_features,
            "seconds_all_electrons": t, "electrons_per_second": len(sites) / t,
            "features_per_second": len(sites) * desc.n_features / t}


def _jt(quick: bool) -> dict:
    import torch

    from ..descriptors import IRDescriptor, LatticeIRDescriptor, jacobian_rank
    from ..lattice import square

    L = 40 if quick else 100
    lat = square(L)
    desc = LatticeIRDescriptor(lat, 7.0, ("A1", "B1", "A1"))
    Q = torch.tensor(np.random.default_rng(2).standard_normal((lat.N, 3)))
    t = _best_time(lambda: desc(Q), 2 if quick else 5)
    u0 = np.random.default_rng(3).standard_normal(desc.desc.dim)
    power = IRDescriptor(desc.nbhd, desc.M, phase_mode="power")
    return {"lattice": f"{L}x{L}", "cutoff": 7.0, "features_per_site": desc.n_features, "dof": desc.desc.dim,
            "jacobian_rank": jacobian_rank(desc.desc, u0),
            "jacobian_rank_power_spectrum_only": jacobian_rank(power, u0),
            "features_per_second_torch": lat.N * desc.n_features / t}


def _magnetic(box, quick: bool) -> dict:
    import torch

    from ..descriptors import MagneticACSF

    t0 = time.perf_counter()
    m = MagneticACSF(box)
    t_geo = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    S = rng.standard_normal((box.N, 3))
    S /= np.linalg.norm(S, axis=1, keepdims=True)
    St = torch.tensor(S)
    w = torch.ones(m.n_features, dtype=torch.float64)

    def with_field():
        s = St.clone().requires_grad_(True)
        torch.autograd.grad((m(s) @ w).sum(), s)

    reps = 2 if quick else 5
    t_np = _best_time(lambda: m(S), reps)
    t_torch = _best_time(lambda: m(St), reps)
    t_field = _best_time(with_field, reps)
    n = box.N * m.n_features
    return {"n_spins": box.N, "box_side": float(box.box[0]), "features_per_spin": m.n_features,
            "n_triplets": m.n_triplets, "geometry_seconds_once": t_geo,
            "features_per_second_numpy": n / t_np, "features_per_second_torch": n / t_torch,
            "features_per_second_torch_with_field": n / t_field, "torch_threads": torch.get_num_threads()}


def _acsf_vs_dscribe(box, quick: bool) -> dict:
    import torch

    from ..descriptors import ACSF

    rc = 2.5
    g2 = [[eta, rs] for eta in (1.0, 4.0) for rs in (0.5, 1.0, 1.5, 2.0)]
    g4 = [[eta, zeta, lam] for eta in (0.05, 0.3) for zeta in (1.0, 2.0) for lam in (1.0, -1.0)]
    ac = ACSF(rc, g2, g4)
    pos = box.positions
    pos_t = torch.tensor(pos)
    reps = 2 if quick else 5
    t_np = _best_time(lambda: ac(pos, box.box), reps)  # includes the neighbour search, as DScribe does
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # DScribe computes on one thread: compare like with like
    try:
        t_torch = _best_time(lambda: ac(pos_t, box.box), reps)
    finally:
        torch.set_num_threads(threads)
    ours = min(t_np, t_torch)
    out = {"n_atoms": box.N, "r_cut": rc, "n_g2": len(g2), "n_g4": len(g4), "features_per_atom": ac.n_features,
           "seconds_numpy": t_np, "seconds_torch": t_torch, "threads": 1,
           "features_per_second": box.N * ac.n_features / ours}
    try:
        from ase import Atoms
        from dscribe.descriptors import ACSF as DScribeACSF
    except ImportError as exc:
        out["dscribe"] = f"not installed: {exc}"
        return out
    from importlib.metadata import version

    atoms = Atoms("H" * box.N, positions=np.mod(pos, box.box), cell=np.diag(box.box), pbc=True)
    ds = DScribeACSF(r_cut=rc, g2_params=g2, g4_params=g4, species=["H"], periodic=True)
    t_ds = _best_time(lambda: ds.create(atoms), reps)
    same = np.abs(ds.create(atoms) - ac(pos, box.box)).max()
    out.update({"dscribe": version("dscribe"),
                "seconds_dscribe": t_ds, "max_abs_difference_vs_dscribe": float(same),
                "speedup_vs_dscribe": t_ds / ours, "faster_than_dscribe": bool(t_ds > ours)})
    return out


def run(quick: bool = False) -> dict:
    """Measure descriptor throughputs; see the module docstring."""
    import torch

    from ..lattice import amorphous_box

    # ch4 geometry: density 0.8, hard core 0.5, N = 500 -> side 8.55
    box = amorphous_box(500, 0.8, min_distance=0.5, seed=0)
    return {"fk_descriptor": _fk(quick), "jt_descriptor": _jt(quick), "magnetic_acsf": _magnetic(box, quick),
            "acsf_vs_dscribe": _acsf_vs_dscribe(box, quick),
            "torch": torch.__version__, "device": "cpu", "quick": quick}
