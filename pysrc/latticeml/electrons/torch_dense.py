"""Dense s-d linear algebra on torch tensors: the exact exchange field on a GPU without Julia.

:class:`~latticeml.calculators.sd.SDCalculator` (``device="cuda"``, or ``"auto"`` where torch sees a GPU) runs its
``"ed"`` and ``"fast"`` methods through :class:`TorchDenseOps`: the 2N×2N matrix is assembled on the device, dense
``eigh`` is cuSOLVER's, and the CheFSI pass (Chebyshev filter, Rayleigh–Ritz through a Cholesky factor of the Gram
matrix, residuals) is dense matrix products. Only the (N, 2, 2) local blocks and the Ritz values come back to the
host. Complex128 throughout: the fast method's error budget (≤ 1e-6 relative on the field) is set in double precision.

Why torch and not only JuliaCore's CUDA extension: no Julia runtime can be installed where this package is
developed and tested, while torch (already the ML dependency) ships CUDA; the arithmetic is the same as the numpy
reference, and ``device="cpu"`` runs it on the host so that CPU-only CI checks it against that reference. On a
CPU it is slower than the sparse numpy path (dense products), so ``"auto"`` takes it only when a GPU is present.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError

__all__ = ["TorchDenseOps", "resolve_device"]

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str | None, field: str = "device") -> str | None:
    """The torch device that ``device`` asks for, or None for the numpy path.

    None → numpy; ``"cpu"`` / ``"cuda"`` / ``"cuda:1"`` → that torch device (``"cuda"`` without a GPU is an error);
    ``"auto"`` → ``"cuda"`` when torch is installed and sees a GPU, else the numpy path. Errors name ``field``. The ML
    side (:func:`latticeml.ml.train.torch_device`) applies the same rule, with the CPU in place of numpy.
    """
    if device is None:
        return None
    name = str(device).strip().lower()
    if name.split(":")[0] not in DEVICES:
        raise ConfigError(field, f"unknown device {device!r}; use None (numpy), 'cpu', 'cuda' or 'auto'")
    try:
        import torch
    except ImportError:
        if name == "auto":
            return None
        raise ConfigError(field, f"device={device!r} needs torch: pip install 'latticeml[ml]'") from None
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else None
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(field, f"device={device!r} but torch sees no GPU; use 'auto' or leave it unset")
    return name


class TorchDenseOps:
    """The numeric steps of SDCalculator's ``"ed"`` and ``"fast"`` methods on one torch device.

    ``hopping`` is the spin-independent N×N hopping block (real, dense); the on-site blocks −J S_i·σ are added per
    call. Eigenvectors and the tracked subspace stay on the device; Ritz values and eigenvalues are returned as
    numpy arrays (the calculator's bookkeeping is on the host).
    """

    def __init__(self, hopping: np.ndarray, J: float, device: str):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.J = float(J)
        n = hopping.shape[0]
        self.n_sites = n
        hop = torch.zeros((2 * n, 2 * n), dtype=torch.complex128, device=self.device)
        h = torch.as_tensor(np.asarray(hopping, dtype=float), device=self.device).to(torch.complex128)
        hop[0::2, 0::2] = h
        hop[1::2, 1::2] = h
        self._hop = hop
        site = torch.arange(n, device=self.device)
        # orbital 2i + a, 2i + b for the four entries (a, b) of each site block, in the order of a (N, 2, 2) array
        self._rows = (2 * site[:, None] + torch.tensor([0, 0, 1, 1], device=self.device)).reshape(-1)
        self._cols = (2 * site[:, None] + torch.tensor([0, 1, 0, 1], device=self.device)).reshape(-1)

    # ------------------------------------------------------------------ assembly and ED
    def hamiltonian(self, spins: np.ndarray):
        """Dense 𝐇(spins) on the device (same matrix as :func:`latticeml.models.sd.sd_hamiltonian`)."""
        t = self.torch
        s = t.as_tensor(np.asarray(spins, dtype=float), device=self.device)
        sx, sy, sz = s[:, 0], s[:, 1], s[:, 2]
        # -J S·σ = -J [[Sz, Sx - iSy], [Sx + iSy, -Sz]]
        onsite = -self.J * t.stack([t.complex(sz, t.zeros_like(sz)), t.complex(sx, -sy),
                                    t.complex(sx, sy), t.complex(-sz, t.zeros_like(sz))], dim=1)
        H = self._hop.clone()
        H[self._rows, self._cols] += onsite.reshape(-1)
        return H

    def eigh(self, spins: np.ndarray):
        """(eps as numpy, psi on the device) of 𝐇(spins), eps ascending."""
        eps, psi = self.torch.linalg.eigh(self.hamiltonian(spins))
        return eps.cpu().numpy(), psi

    @staticmethod
    def lowest(psi, k: int):
        """The first k columns as their own contiguous block (the tracked subspace)."""
        return psi[:, :k].contiguous()

    # ------------------------------------------------------------------ observables
    def observables(self, eps: np.ndarray, X, mu: float, T: float):
        """(Ω, local blocks F_ii as numpy (N, 2, 2), N_el) from the eigenpairs (eps, X) that carry the occupation."""
        t = self.torch
        e = t.as_tensor(eps, dtype=t.float64, device=self.device)
        if T == 0:
            f = t.where(e < mu, 1.0, t.where(e > mu, 0.0, 0.5)).to(t.float64)
            omega = t.clamp(e - mu, max=0.0).sum()
        else:
            x = (mu - e) / T
            f = t.sigmoid(x)
            omega = -T * t.logaddexp(t.zeros_like(x), x).sum()
        p = X.reshape(self.n_sites, 2, X.shape[1])
        blocks = t.einsum("ian,n,ibn->iab", p, f.to(t.complex128), p.conj())
        return float(omega), blocks.cpu().numpy(), float(f.sum())

    # ------------------------------------------------------------------ one CheFSI pass
    def chefsi_pass(self, H, X, cut_filter: float, cut: float, bounds: tuple[float, float], degree: int):
        """Filter X with the scaled Chebyshev polynomial damping [cut_filter, E_max], Rayleigh–Ritz, and the largest
        residual norm of the highest (≤ 32) Ritz pairs below ``cut``; returns (X, ritz as numpy, residual)."""
        t = self.torch
        lowest, upper = bounds
        e = (upper - cut_filter) / 2
        c = (upper + cut_filter) / 2
        sigma = e / (lowest - c)
        tau = 2 / sigma
        Y = (sigma / e) * (H @ X - c * X)
        X_prev = X
        for _ in range(1, degree):
            sigma_new = 1 / (tau - sigma)
            X_prev, Y = Y, (2 * sigma_new / e) * (H @ Y - c * Y) - (sigma * sigma_new) * X_prev
            sigma = sigma_new
        # generalized Rayleigh-Ritz (Y^H H Y) C = (Y^H Y) C Λ through the Cholesky factor G = L L^H
        gram = Y.conj().T @ Y
        proj = Y.conj().T @ (H @ Y)
        L = t.linalg.cholesky(gram)
        A = t.linalg.solve_triangular(L, t.linalg.solve_triangular(L, proj, upper=False).conj().T, upper=False)
        A = (A + A.conj().T) / 2
        ritz, V = t.linalg.eigh(A)
        C = t.linalg.solve_triangular(L.conj().T, V, upper=True)
        X = Y @ C
        ritz_np = ritz.cpu().numpy()
        needed = np.nonzero(ritz_np < cut)[0]
        probe = needed[-32:] if len(needed) else np.arange(min(32, len(ritz_np)))
        idx = t.as_tensor(probe, device=self.device)
        R = H @ X[:, idx] - X[:, idx] * ritz[idx]
        return X, ritz_np, float(t.linalg.vector_norm(R, dim=0).max())
