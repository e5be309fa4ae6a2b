"""Lie-group sparse coding (Chau, Qiu, Chen & Olshausen, arXiv:2012.12071) as tensor math.

Generative model (paper eq. 1–3)::

    I = T(s) Ψ α + ε,   T(s) = W R(s) Wᵀ,   ε ~ N(0, σ² I),   p(α) ∝ exp(−λ‖α‖₁), α ≥ 0

* ``W`` — (D, 2L) with orthonormal columns; columns ``2l`` and ``2l + 1`` span block ``l``.
* ``R(s)`` — block-diagonal, block ``l`` the 2×2 rotation by ``θ_l = ω_l · s``;
  ``ω`` — (L, n) integer frequencies, ``s ∈ [0, 2π)ⁿ`` (a representation of the n-torus).
* ``Ψ`` — (D, K) templates (unit columns), ``α`` — (K,) non-negative sparse code.

Inference (what :func:`infer` computes). Because ``W`` has orthonormal columns,
``‖I − T(s)Ψα‖² = ‖I‖² − ‖v‖² + ‖R(s)ᵀv − Pα‖²`` with ``v = WᵀI`` and ``P = WᵀΨ``. With the
thin QR ``P = QS`` this is ``‖I‖² − ‖z(s)‖² + ‖z(s) − Sα‖²``, ``z(s) = QᵀR(s)ᵀv`` — a K-dim
non-negative lasso per grid point with ONE (K × K) dictionary, solved for all grid points at
once by the project's engine :func:`reprlab.sparse.sparse_encode`. ``z(s)`` for every grid
point is one matrix product of ``cos ω·s`` / ``sin ω·s`` with per-image coefficients.

1. Profile step: α(s) for every grid point s, energy
   ``E(s) = ½‖I − T(s)Ψα(s)‖²/σ² + λ‖α(s)‖₁``; the grid point of lowest energy is the MAP s.
2. Marginal step (the official code's objective: α MAP with s integrated out): EM on
   ``log Σ_s exp(−E(s, α))`` started from α at the MAP point — q(s) ∝ exp(−E(s, α)), then
   ``α ← argmin E_q[E(s, α)]``, which is again a lasso on ``z̄ = E_q[z(s)]``.

Learning (M-step): gradient ascent in Ψ (then unit columns) and a Riemannian Adam step on
the Stiefel manifold for W; ω stays fixed (integers, as in the official code). Two
objectives, both linear-algebra on R̄ = E_q[R(s)] (blocks [[c̄, −s̄], [s̄, c̄]]):

* :func:`mean_field_log_likelihood` — ``−½‖I − W R̄ Wᵀ Ψα‖²/σ²``, the residual of the
  *mean* transformation. Its gradients are exactly the official ``grad_psi`` /
  ``grad_w`` (``lsc.py``: ``res = y − W mul_q(q, u)``, ``tres = W R̄ᵀ Wᵀ res``,
  ``grad_psi = tres αᵀ/(σ²B)``, ``grad_w = (x (R̄ᵀWᵀres)ᵀ + res (R̄Wᵀx)ᵀ)/(σ²B)``).
* :func:`expected_log_likelihood` — ``E_q[−½‖I − W R(s) Wᵀ Ψα‖²]/σ²``, the exact expected
  complete-data log-likelihood of EM. It differs from the mean-field one by
  ``½ uᵀ(I − R̄ᵀR̄)u/σ²`` (u = WᵀΨα), which vanishes only for a posterior concentrated on
  one point (|R̄| = 1); for a spread posterior the two gradients differ.

:func:`reprlab.lie.fit_lie` picks one with ``gradient="official"`` (default) or
``"exact"``.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch

from reprlab.sparse import sparse_encode

__all__ = [
    "LieInference",
    "make_frequencies",
    "torus_grid",
    "block_rotate",
    "transform",
    "transform_operator",
    "fourier_basis",
    "shift_operator",
    "generate",
    "grid_codes",
    "profile_energies",
    "posterior_moments",
    "infer",
    "expected_log_likelihood",
    "mean_field_log_likelihood",
    "frequency_scores",
    "candidate_frequencies",
    "orientation_scores",
    "reconstruct_map",
    "circular_error",
    "align_parameters",
]


class LieInference(NamedTuple):
    """What :func:`infer` returns for a batch of B images on a grid of G = Nⁿ points.

    posterior : (B, N, ..., N) — q(s | I, α) on the grid (sums to 1 per image).
    s_map : (B, n) — grid point of highest posterior (the profile MAP), in [0, 2π).
    alpha : (B, K) — non-negative sparse code (marginal MAP after the EM steps).
    energy : (B,) — E(s_map, α) = ½‖I − T(s_map)Ψα‖²/σ² + λ‖α‖₁.
    cos_moment, sin_moment : (B, L) — E_q[cos ω_l·s], E_q[sin ω_l·s] (for learning).
    """

    posterior: torch.Tensor
    s_map: torch.Tensor
    alpha: torch.Tensor
    energy: torch.Tensor
    cos_moment: torch.Tensor
    sin_moment: torch.Tensor


# ----------------------------------------------------------------------------- checks
def _check_model(weight: torch.Tensor, omega: torch.Tensor) -> None:
    if weight.dim() != 2 or weight.shape[1] % 2:
        raise ValueError(f"weight must be (D, 2L) with an even number of columns, got shape "
                         f"{tuple(weight.shape)}")
    if omega.dim() != 2 or omega.shape[0] != weight.shape[1] // 2:
        raise ValueError(f"omega must be (L, n) with L = weight.shape[1] // 2 = "
                         f"{weight.shape[1] // 2}, got omega.shape={tuple(omega.shape)}, "
                         f"weight.shape={tuple(weight.shape)}")


def _check_s(s: torch.Tensor, omega: torch.Tensor, batch: int | None = None) -> None:
    n = omega.shape[1]
    if s.dim() != 2 or s.shape[1] != n:
        raise ValueError(f"s must be (B, n) with n = omega.shape[1] = {n}, got shape "
                         f"{tuple(s.shape)}")
    if batch is not None and s.shape[0] != batch:
        raise ValueError(f"s has {s.shape[0]} rows but there are {batch} inputs: "
                         f"s.shape={tuple(s.shape)}")


# ----------------------------------------------------------------------------- basics
def make_frequencies(n_blocks: int, n_params: int, *, multiplicity: int = 1,
                     include_zero: bool = True) -> torch.Tensor:
    """The ``n_blocks`` lowest integer frequencies of the n-torus, each ``multiplicity`` times.

    Frequencies ω and −ω give the same 2-D representation up to a reflection inside the
    block, so only one of each pair is used (the half-space whose first non-zero entry is
    positive); they are ordered by ‖ω‖ then lexicographically, ``0`` first when kept.

    Returns
    -------
    Tensor, shape (n_blocks, n_params), dtype long
    """
    if n_blocks < 1 or n_params < 1 or multiplicity < 1:
        raise ValueError(f"n_blocks, n_params and multiplicity must be >= 1, got "
                         f"{n_blocks}, {n_params}, {multiplicity}")
    need = math.ceil(n_blocks / multiplicity)
    radius = 1
    while True:
        cand = []
        for w in itertools.product(range(-radius, radius + 1), repeat=n_params):
            nz = [x for x in w if x != 0]
            if (not nz and include_zero) or (nz and nz[0] > 0):
                cand.append(w)
        cand.sort(key=lambda w: (sum(x * x for x in w), w))
        # the box of this radius holds every vector of norm <= radius, so the ordering of
        # the first `need` is exact once the need-th norm is within the radius
        if len(cand) >= need and sum(x * x for x in cand[need - 1]) <= radius * radius:
            break
        radius += 1
    base = cand[:need]
    freqs = [w for w in base for _ in range(multiplicity)][:n_blocks]
    return torch.tensor(freqs, dtype=torch.long)


def torus_grid(grid_size: int, n_params: int, *, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> torch.Tensor:
    """Regular grid on [0, 2π)ⁿ, ``grid_size`` points per dimension (endpoint excluded).

    Returns
    -------
    Tensor, shape (grid_size ** n_params, n_params), the last parameter varying fastest.
    """
    if grid_size < 1:
        raise ValueError(f"grid_size must be >= 1, got {grid_size}")
    axis = torch.arange(grid_size, dtype=dtype, device=device) * (2 * math.pi / grid_size)
    mesh = torch.meshgrid(*([axis] * n_params), indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=1)


def block_rotate(u: torch.Tensor, angles: torch.Tensor, *,
                 transpose: bool = False) -> torch.Tensor:
    """Apply R(θ) (or R(θ)ᵀ) to vectors laid out as L interleaved pairs.

    Parameters
    ----------
    u : Tensor, shape (..., 2L)
    angles : Tensor, shape (..., L), broadcastable with u's pairs
    transpose : bool, keyword-only
        Rotate by −θ instead.
    """
    c, s = torch.cos(angles), torch.sin(angles)
    if transpose:
        s = -s
    u1, u2 = u[..., 0::2], u[..., 1::2]
    out = torch.stack([c * u1 - s * u2, s * u1 + c * u2], dim=-1)
    return out.flatten(-2)


def transform(x: torch.Tensor, s: torch.Tensor, *, weight: torch.Tensor,
              omega: torch.Tensor) -> torch.Tensor:
    """T(s) x = W R(s) Wᵀ x for a batch.

    Parameters
    ----------
    x : Tensor, shape (B, D)
    s : Tensor, shape (B, n)
    weight : Tensor, shape (D, 2L), keyword-only
    omega : Tensor, shape (L, n), keyword-only
    """
    _check_model(weight, omega)
    if x.dim() != 2 or x.shape[1] != weight.shape[0]:
        raise ValueError(f"x must be (B, D) with D = {weight.shape[0]}, got shape "
                         f"{tuple(x.shape)}")
    _check_s(s, omega, x.shape[0])
    angles = s.to(weight.dtype) @ omega.to(weight.dtype).T
    return block_rotate(x @ weight, angles) @ weight.T


def transform_operator(s: torch.Tensor, *, weight: torch.Tensor,
                       omega: torch.Tensor) -> torch.Tensor:
    """The (D, D) matrix T(s) = W R(s) Wᵀ for one parameter vector s of shape (n,)."""
    _check_model(weight, omega)
    if s.dim() != 1 or s.shape[0] != omega.shape[1]:
        raise ValueError(f"s must be (n,) with n = {omega.shape[1]}, got {tuple(s.shape)}")
    angles = (omega.to(weight.dtype) @ s.to(weight.dtype))[None]  # (1, L)
    # row w of W times R(θ) is R(θ)ᵀ applied to w's pairs
    rw = block_rotate(weight, angles.expand(weight.shape[0], -1), transpose=True)
    return rw @ weight.T


def fourier_basis(shape: tuple[int, ...], omega: torch.Tensor, *,
                  dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Real Fourier basis on a periodic grid: the W under which T(s) is a circular shift.

    Block ``l`` is ``(cos 2π⟨ω_l, x/N⟩, sin 2π⟨ω_l, x/N⟩)`` normalised, for the pixel
    coordinates x of an image of size ``shape`` (one entry per torus dimension). Then
    ``T(s) f(x) = f(x − s·N/(2π))`` for f in its span: s = 2π t / N is a shift by t pixels.
    Frequencies must be non-zero and not self-conjugate (2ω ≢ 0 mod N) so each block is a
    genuine 2-D rotation.

    Returns
    -------
    Tensor, shape (prod(shape), 2L), orthonormal columns.
    """
    if omega.dim() != 2 or omega.shape[1] != len(shape):
        raise ValueError(f"omega must be (L, {len(shape)}) for an image of shape {shape}, got "
                         f"{tuple(omega.shape)}")
    sizes = torch.tensor(shape, dtype=dtype)
    if ((2 * omega) % sizes.long() == 0).all(dim=1).any():
        raise ValueError("omega contains a zero or self-conjugate frequency (2ω ≡ 0 mod N); "
                         "those have no sine part")
    coords = torch.stack(torch.meshgrid(*[torch.arange(n, dtype=dtype) for n in shape],
                                        indexing="ij"), dim=-1).reshape(-1, len(shape))
    phase = 2 * math.pi * (coords / sizes) @ omega.to(dtype).T  # (D, L)
    basis = torch.stack([torch.cos(phase), torch.sin(phase)], dim=-1).flatten(1)
    return basis / basis.norm(dim=0, keepdim=True)


def shift_operator(shape: tuple[int, ...], shift: tuple[int, ...], *,
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(D, D) matrix of the circular shift ``f(x) ↦ f(x − shift)`` on an image of ``shape``."""
    d = math.prod(shape)
    eye = torch.eye(d, dtype=dtype).reshape(d, *shape)
    return torch.roll(eye, shifts=shift, dims=tuple(range(1, len(shape) + 1))).reshape(d, d).T


def generate(s: torch.Tensor, alpha: torch.Tensor, *, weight: torch.Tensor,
             omega: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
    """Noise-free images T(s) Ψ α. Shapes: s (B, n), alpha (B, K), templates (D, K) → (B, D)."""
    if templates.dim() != 2 or templates.shape[0] != weight.shape[0]:
        raise ValueError(f"templates must be (D, K) with D = {weight.shape[0]}, got "
                         f"{tuple(templates.shape)}")
    if alpha.dim() != 2 or alpha.shape[1] != templates.shape[1]:
        raise ValueError(f"alpha must be (B, K) with K = {templates.shape[1]}, got "
                         f"{tuple(alpha.shape)}")
    return transform(alpha @ templates.T, s, weight=weight, omega=omega)


# ----------------------------------------------------------------------------- inference
def _reduced_problem(weight: torch.Tensor, templates: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Thin QR of P = WᵀΨ: returns Q (2L, K) and S (K, K) with P = QS."""
    q, r = torch.linalg.qr(weight.T @ templates)
    return q, r


def grid_codes(v: torch.Tensor, q: torch.Tensor, grid: torch.Tensor,
               omega: torch.Tensor) -> torch.Tensor:
    """z(s) = Qᵀ R(s)ᵀ v for every grid point.

    Parameters
    ----------
    v : Tensor, shape (B, 2L) — WᵀI
    q : Tensor, shape (2L, K)
    grid : Tensor, shape (G, n)
    omega : Tensor, shape (L, n)

    Returns
    -------
    Tensor, shape (B, G, K)

    Notes
    -----
    R(θ)ᵀv per block is (c v₁ + s v₂, −s v₁ + c v₂), so
    Qᵀ R(θ)ᵀ v = Σ_l cos θ_l (Q₁v₁ + Q₂v₂)_l + sin θ_l (Q₁v₂ − Q₂v₁)_l — two matmuls.
    """
    angles = grid.to(v.dtype) @ omega.to(v.dtype).T  # (G, L)
    q1, q2 = q[0::2], q[1::2]  # (L, K)
    v1, v2 = v[:, 0::2], v[:, 1::2]  # (B, L)
    a = v1[:, :, None] * q1 + v2[:, :, None] * q2  # (B, L, K)
    b = v2[:, :, None] * q1 - v1[:, :, None] * q2
    return torch.einsum("gl,blk->bgk", torch.cos(angles), a) + \
        torch.einsum("gl,blk->bgk", torch.sin(angles), b)


def profile_energies(z: torch.Tensor, alpha: torch.Tensor, r: torch.Tensor, *,
                     sigma: float, lam: float) -> torch.Tensor:
    """E(s, α) − ½(‖I‖² ... const)/σ²: ``(½‖z − Sα‖² − ½‖z‖²)/σ² + λ‖α‖₁``.

    Shapes: z (..., K), alpha (..., K), r = S (K, K) → (...). Adding ``½‖I‖²/σ²`` gives
    the full energy ½‖I − T(s)Ψα‖²/σ² + λ‖α‖₁.
    """
    res = z - alpha @ r.T
    return (0.5 * (res * res).sum(-1) - 0.5 * (z * z).sum(-1)) / sigma**2 + \
        lam * alpha.abs().sum(-1)


def posterior_moments(posterior: torch.Tensor, grid: torch.Tensor,
                      omega: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E_q[cos ω_l·s], E_q[sin ω_l·s]. Shapes: posterior (B, G), grid (G, n) → (B, L) each."""
    angles = grid.to(posterior.dtype) @ omega.to(posterior.dtype).T  # (G, L)
    return posterior @ torch.cos(angles), posterior @ torch.sin(angles)


def infer(images: torch.Tensor, *, weight: torch.Tensor, omega: torch.Tensor,
          templates: torch.Tensor, sigma: float = 0.1, lam: float = 10.0,
          grid_size: int = 50, em_steps: int = 3, max_iter: int = 200,
          tol: float = 1e-4, chunk_size: int = 1 << 17) -> LieInference:
    """Posterior over s on a grid, its MAP point, and the sparse code α.

    Parameters
    ----------
    images : Tensor, shape (B, D)
    weight, omega, templates : Tensor, keyword-only
        W (D, 2L), ω (L, n), Ψ (D, K).
    sigma, lam : float
        Noise std σ and sparsity λ of the energy ½‖I − T(s)Ψα‖²/σ² + λ‖α‖₁ (paper: 0.1, 10);
        the engine solves the same lasso with penalty λσ².
    grid_size : int
        Points per torus dimension (paper N = 50; benchmarks use 64).
    em_steps : int
        EM steps of the marginal MAP of α after the profile step (0: keep α at s_map and
        report the profile posterior ∝ exp(−min_α E(s, α))).
    max_iter, tol : passed to :func:`reprlab.sparse.sparse_encode`.
    chunk_size : int
        Grid codes (image × grid point) solved per engine call, to bound memory.

    Returns
    -------
    LieInference
    """
    _check_model(weight, omega)
    if images.dim() != 2 or images.shape[1] != weight.shape[0]:
        raise ValueError(f"images must be (B, D) with D = {weight.shape[0]}, got shape "
                         f"{tuple(images.shape)}")
    if templates.dim() != 2 or templates.shape[0] != weight.shape[0]:
        raise ValueError(f"templates must be (D, K) with D = {weight.shape[0]}, got shape "
                         f"{tuple(templates.shape)}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if not lam >= 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    b, n = images.shape[0], omega.shape[1]
    k = templates.shape[1]
    grid = torus_grid(grid_size, n, dtype=images.dtype, device=images.device)
    g = grid.shape[0]
    with torch.no_grad():
        q, r = _reduced_problem(weight, templates)
        v = images @ weight  # (B, 2L)
        dictionary = r.T.contiguous()  # engine convention: atoms as rows, x̂ = a @ dict
        penalty = lam * sigma**2
        rows = max(1, chunk_size // g)
        alphas, energies = [], []
        for start in range(0, b, rows):
            z = grid_codes(v[start:start + rows], q, grid, omega)  # (b', G, K)
            a = sparse_encode(z.reshape(-1, k), dictionary, lam=penalty, max_iter=max_iter,
                              tol=tol).reshape(z.shape)
            alphas.append(a)
            energies.append(profile_energies(z, a, r, sigma=sigma, lam=lam))
        alpha_grid = torch.cat(alphas)  # (B, G, K)
        energy = torch.cat(energies)  # (B, G)
        best = energy.argmin(dim=1)
        s_map = grid[best]
        alpha = alpha_grid[torch.arange(b), best]
        post = torch.softmax(-energy, dim=1)
        del alpha_grid
        for _ in range(em_steps):
            # E-step: q(s) ∝ exp(−E(s, α)); M-step: α = lasso on E_q[z(s)]
            zs, es = [], []
            for start in range(0, b, rows):
                z = grid_codes(v[start:start + rows], q, grid, omega)
                es.append(profile_energies(z, alpha[start:start + rows, None, :], r,
                                           sigma=sigma, lam=lam))
                zs.append(z)
            post = torch.softmax(-torch.cat(es), dim=1)
            zbar = torch.cat([torch.einsum("bg,bgk->bk", post[i:i + rows], z)
                              for i, z in zip(range(0, b, rows), zs, strict=True)])
            alpha = sparse_encode(zbar, dictionary, lam=penalty, max_iter=max_iter, tol=tol,
                                  init=alpha)
        if em_steps:
            es = [profile_energies(grid_codes(v[i:i + rows], q, grid, omega),
                                   alpha[i:i + rows, None, :], r, sigma=sigma, lam=lam)
                  for i in range(0, b, rows)]
            energy = torch.cat(es)
            post = torch.softmax(-energy, dim=1)
            s_map = grid[energy.argmin(dim=1)]
        const = 0.5 * (images * images).sum(1) / sigma**2
        e_map = energy.min(dim=1).values + const
        cm, sm = posterior_moments(post, grid, omega)
    return LieInference(posterior=post.reshape(b, *([grid_size] * n)), s_map=s_map,
                        alpha=alpha, energy=e_map, cos_moment=cm, sin_moment=sm)


# ----------------------------------------------------------------------------- learning
def _rotate_mean(u: torch.Tensor, cos_moment: torch.Tensor,
                 sin_moment: torch.Tensor) -> torch.Tensor:
    """R̄ u per block: (c̄ u₁ − s̄ u₂, s̄ u₁ + c̄ u₂), shapes u (B, 2L), moments (B, L)."""
    u1, u2 = u[:, 0::2], u[:, 1::2]
    return torch.stack([cos_moment * u1 - sin_moment * u2,
                        sin_moment * u1 + cos_moment * u2], dim=-1).flatten(1)


def _check_learning(images: torch.Tensor, alpha: torch.Tensor, cos_moment: torch.Tensor,
                    sin_moment: torch.Tensor, weight: torch.Tensor,
                    templates: torch.Tensor) -> None:
    b = images.shape[0]
    if images.dim() != 2 or images.shape[1] != weight.shape[0]:
        raise ValueError(f"images must be (B, D) with D = {weight.shape[0]}, got "
                         f"{tuple(images.shape)}")
    if templates.dim() != 2 or templates.shape[0] != weight.shape[0]:
        raise ValueError(f"templates must be (D, K) with D = {weight.shape[0]}, got "
                         f"{tuple(templates.shape)}")
    if alpha.shape != (b, templates.shape[1]):
        raise ValueError(f"alpha must be (B, K) = ({b}, {templates.shape[1]}), got "
                         f"{tuple(alpha.shape)}")
    want = (b, weight.shape[1] // 2)
    if cos_moment.shape != want or sin_moment.shape != want:
        raise ValueError(f"cos_moment and sin_moment must be (B, L) = {want}, got "
                         f"{tuple(cos_moment.shape)} and {tuple(sin_moment.shape)}")


def expected_log_likelihood(images: torch.Tensor, alpha: torch.Tensor,
                            cos_moment: torch.Tensor, sin_moment: torch.Tensor, *,
                            weight: torch.Tensor, templates: torch.Tensor,
                            sigma: float) -> torch.Tensor:
    """Mean over the batch of the exact E_q[log p(I | s, α)] up to a constant.

    ``−½‖I − W R(s) Wᵀ x‖²`` with x = Ψα equals ``IᵀW R(s) Wᵀx − ½‖Wᵀx‖² − ½‖I‖²``
    (W has orthonormal columns and R(s) is a rotation), which is linear in R(s), so the
    expectation only needs R̄ = E_q[R(s)]. These are the *exact* EM gradients, not the
    official code's (see :func:`mean_field_log_likelihood` for those): the quadratic term
    here is ``½‖u‖²``, there ``½‖R̄u‖²``.

    Shapes: images (B, D), alpha (B, K), moments (B, L), weight (D, 2L), templates (D, K).
    Differentiable in ``weight`` and ``templates``.
    """
    _check_learning(images, alpha, cos_moment, sin_moment, weight, templates)
    u = (alpha @ templates.T) @ weight  # (B, 2L)
    v = images @ weight
    cross = (v * _rotate_mean(u, cos_moment, sin_moment)).sum(1)
    return ((cross - 0.5 * (u * u).sum(1)) / sigma**2).mean()


def mean_field_log_likelihood(images: torch.Tensor, alpha: torch.Tensor,
                              cos_moment: torch.Tensor, sin_moment: torch.Tensor, *,
                              weight: torch.Tensor, templates: torch.Tensor,
                              sigma: float) -> torch.Tensor:
    """Mean over the batch of ``−½‖I − W R̄ Wᵀ Ψα‖²/σ²`` — the official objective.

    R̄ = E_q[R(s)] replaces R(s) inside the square (a mean-field residual). Its autograd
    gradients in Ψ and W are the official ``grad_psi`` and ``grad_w`` of ``hchau630/LSC``
    (``lsc.py``; they divide by σ² and the batch size, as this mean does). By Jensen it
    exceeds :func:`expected_log_likelihood` by ``½ uᵀ(I − R̄ᵀR̄)u/σ²`` ≥ 0 (u = WᵀΨα); the
    two agree when the posterior over s is a point mass.

    Shapes: images (B, D), alpha (B, K), moments (B, L), weight (D, 2L), templates (D, K).
    """
    _check_learning(images, alpha, cos_moment, sin_moment, weight, templates)
    x = alpha @ templates.T
    res = images - _rotate_mean(x @ weight, cos_moment, sin_moment) @ weight.T
    return (-0.5 * (res * res).sum(1) / sigma**2).mean()


def frequency_scores(images: torch.Tensor, alpha: torch.Tensor, posterior: torch.Tensor,
                     grid: torch.Tensor, candidates: torch.Tensor, *, weight: torch.Tensor,
                     templates: torch.Tensor) -> torch.Tensor:
    """Expected log-likelihood gain (× σ², summed over the batch) of each frequency per block.

    Block l contributes ``E_q[v_lᵀ R(ω·s) u_l]`` to E_q[log p(I | s, α)] (the ``−½‖u‖²``
    term does not depend on ω), with v = WᵀI, u = WᵀΨα and q the posterior on the grid.
    Choosing ω_l = argmax over ``candidates`` is a generalised M-step in ω.

    Shapes: images (B, D), alpha (B, K), posterior (B, G), grid (G, n), candidates (C, n)
    → (L, C).
    """
    cm, sm = posterior_moments(posterior, grid, candidates)  # (B, C)
    u = (alpha @ templates.T) @ weight
    v = images @ weight
    u1, u2, v1, v2 = u[:, 0::2], u[:, 1::2], v[:, 0::2], v[:, 1::2]  # (B, L)
    dot = v1 * u1 + v2 * u2  # coefficient of cos
    crs = v2 * u1 - v1 * u2  # coefficient of sin
    return dot.T @ cm + crs.T @ sm


def orientation_scores(images: torch.Tensor, alpha: torch.Tensor, posterior: torch.Tensor,
                       grid: torch.Tensor, omega: torch.Tensor, *,
                       weight: torch.Tensor) -> torch.Tensor:
    """Template-optimal fit of each block with frequency ω_l vs −ω_l, shape (L, 2).

    For fixed q and α the best block-l template coefficients are u_lk ∝ Σ_b α_bk R̄_bᵀ v_bl
    and the gain is Σ_k ‖Σ_b α_bk R̄_b(ω)ᵀ v_bl‖² (up to a common positive factor). Unlike
    :func:`frequency_scores` this does not depend on the current templates, which have
    usually averaged a wrongly oriented block to ~0, so it can see that −ω_l fits better.
    """
    out = []
    v1, v2 = (images @ weight)[:, 0::2], (images @ weight)[:, 1::2]  # (B, L)
    for sign in (1, -1):
        c, s = posterior_moments(posterior, grid, sign * omega)  # (B, L)
        r1, r2 = c * v1 + s * v2, -s * v1 + c * v2  # R̄ᵀv per block
        a1, a2 = alpha.T @ r1, alpha.T @ r2  # (K, L)
        out.append((a1 * a1 + a2 * a2).sum(0))
    return torch.stack(out, dim=1)


def candidate_frequencies(max_frequency: int, n_params: int, *,
                          both_signs: bool = True) -> torch.Tensor:
    """Integer frequencies with max-norm ≤ ``max_frequency`` (0 included), shape (C, n).

    With ``both_signs`` ω and −ω are both candidates: relabelling a block ω → −ω is the
    same as reflecting its 2-D plane, which a block can need (W ↦ W·diag(±1) is not a
    symmetry of the model unless done in every block) and gradient steps cannot reach.
    """
    half = make_frequencies((2 * max_frequency + 1) ** n_params // 2 + 1, n_params)
    if not both_signs:
        return half
    return torch.cat([half, -half[1:]])


def reconstruct_map(result: LieInference, *, weight: torch.Tensor, omega: torch.Tensor,
                    templates: torch.Tensor) -> torch.Tensor:
    """T(s_map) Ψ α, shape (B, D)."""
    return generate(result.s_map, result.alpha, weight=weight, omega=omega,
                    templates=templates)


# ----------------------------------------------------------------------------- evaluation
def circular_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Signed difference a − b wrapped to [−π, π)."""
    return torch.remainder(a - b + math.pi, 2 * math.pi) - math.pi


def _unimodular(n: int) -> list[torch.Tensor]:
    """Integer n×n matrices with entries in {−1, 0, 1} and det ±1 (torus automorphisms)."""
    mats = []
    for entries in itertools.product((-1, 0, 1), repeat=n * n):
        m = torch.tensor(entries, dtype=torch.float64).reshape(n, n)
        if abs(abs(float(torch.linalg.det(m))) - 1) < 1e-9:
            mats.append(m)
    return mats


def align_parameters(s_hat: torch.Tensor, s_true: torch.Tensor,
                     groups: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Best match of inferred to true torus parameters up to the model's symmetries.

    The learned coordinates can differ from the true ones by a torus automorphism M
    (sign flips and, for n = 2, swaps/shears with det ±1) and by a global offset — one per
    group when ``groups`` (e.g. the template used) is given, since each learned template has
    its own reference pose. For every M the offset is the circular mean of the residual;
    the M with the lowest mean circular error wins.

    Parameters
    ----------
    s_hat, s_true : Tensor, shape (B, n), angles in radians
    groups : Tensor, shape (B,), optional

    Returns
    -------
    errors : Tensor, shape (B, n), signed circular errors (radians) after alignment
    matrix : Tensor, shape (n, n), the automorphism applied to s_true
    info : dict with the offsets per group
    """
    if s_hat.shape != s_true.shape or s_hat.dim() != 2:
        raise ValueError(f"s_hat and s_true must both be (B, n), got {tuple(s_hat.shape)} and "
                         f"{tuple(s_true.shape)}")
    s_hat = s_hat.double()
    s_true = s_true.double()
    if groups is None:
        groups = torch.zeros(s_hat.shape[0], dtype=torch.long)
    best = None
    for m in _unimodular(s_hat.shape[1]):
        mapped = s_true @ m.T
        diff = circular_error(s_hat, mapped)
        errors = torch.empty_like(diff)
        offsets = {}
        for gid in torch.unique(groups).tolist():
            sel = groups == gid
            off = torch.atan2(torch.sin(diff[sel]).mean(0), torch.cos(diff[sel]).mean(0))
            errors[sel] = circular_error(diff[sel], off)
            offsets[int(gid)] = off
        score = float(errors.abs().mean())
        if best is None or score < best[0]:
            best = (score, errors, m, offsets)
    _, errors, m, offsets = best
    return errors, m, {"offsets": offsets}
