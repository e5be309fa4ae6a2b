"""The Lie-group sparse coding model as an ``nn.Module`` (parameters only; math in functional)."""

from __future__ import annotations

import geoopt
import torch
from torch import nn

from reprlab.lie import functional as F

__all__ = ["LieSparseCoding"]


class LieSparseCoding(nn.Module):
    r"""I = W R(s) Wᵀ Ψ α + ε with integer frequencies ω (arXiv:2012.12071).

    Parameters
    ----------
    n_features : int
        D, pixels per image (e.g. 784).
    n_templates : int
        K, number of shape templates (paper: 10).
    n_blocks : int
        L, number of 2×2 rotation blocks; W is (D, 2L) (paper: 128). Needs 2L ≤ D.
    n_params : int
        n, dimension of the torus of transformations (paper: 2 on MNIST, 1 for rotations).
    frequencies : Tensor (L, n) of integers, optional
        ω; default :func:`~reprlab.lie.functional.make_frequencies` (lowest frequencies,
        each ``multiplicity`` times). Fixed during learning, as in the official code.
    sigma, lam : float
        Noise std σ (paper 0.1) and sparsity λ (paper 10).
    grid_size : int
        Grid points per torus dimension for inference (paper 50).
    em_steps : int
        EM steps of the marginal MAP of α in :meth:`infer`.

    Shape
    -----
    forward(s (B, n), alpha (B, K)) → images (B, D).

    Examples
    --------
    >>> model = LieSparseCoding(64, n_templates=3, n_blocks=8, n_params=2, grid_size=8)
    >>> out = model.infer(torch.rand(5, 64))
    >>> out.posterior.shape, out.alpha.shape
    (torch.Size([5, 8, 8]), torch.Size([5, 3]))
    """

    def __init__(self, n_features: int, n_templates: int = 10, n_blocks: int = 128,
                 n_params: int = 2, *, frequencies: torch.Tensor | None = None,
                 multiplicity: int = 1, sigma: float = 0.1, lam: float = 10.0,
                 grid_size: int = 50, em_steps: int = 3,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if n_features < 2 or n_templates < 1 or n_blocks < 1 or n_params < 1:
            raise ValueError(f"n_features >= 2 and n_templates, n_blocks, n_params >= 1 "
                             f"expected, got {n_features}, {n_templates}, {n_blocks}, "
                             f"{n_params}")
        if 2 * n_blocks > n_features:
            raise ValueError(f"n_blocks must satisfy 2 * n_blocks <= n_features so W can have "
                             f"orthonormal columns, got n_blocks={n_blocks}, "
                             f"n_features={n_features}")
        if not sigma > 0 or not lam >= 0:
            raise ValueError(f"sigma must be > 0 and lam >= 0, got sigma={sigma}, lam={lam}")
        if frequencies is None:
            frequencies = F.make_frequencies(n_blocks, n_params, multiplicity=multiplicity)
        frequencies = torch.as_tensor(frequencies)
        if frequencies.shape != (n_blocks, n_params) or frequencies.is_floating_point():
            raise ValueError(f"frequencies must be an integer tensor of shape "
                             f"({n_blocks}, {n_params}), got {frequencies.dtype} "
                             f"{tuple(frequencies.shape)}")
        factory = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        self.n_features, self.n_templates = n_features, n_templates
        self.n_blocks, self.n_params = n_blocks, n_params
        self.sigma, self.lam = float(sigma), float(lam)
        self.grid_size, self.em_steps = int(grid_size), int(em_steps)
        self.register_buffer("omega", frequencies.to(device=device, dtype=torch.long))
        self.weight = geoopt.ManifoldParameter(
            torch.empty(n_features, 2 * n_blocks, **factory),
            manifold=geoopt.EuclideanStiefel())
        self.templates = nn.Parameter(torch.empty(n_features, n_templates, **factory))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """W: random orthonormal columns (QR of a Gaussian); Ψ: Gaussian, unit columns."""
        with torch.no_grad():
            g = torch.randn(self.weight.shape, generator=generator, dtype=torch.float64)
            q, r = torch.linalg.qr(g)
            q = q * torch.sign(torch.diagonal(r))  # Haar-distributed
            self.weight.copy_(q.to(self.weight))
            t = torch.randn(self.templates.shape, generator=generator, dtype=torch.float64)
            self.templates.copy_((t / t.norm(dim=0, keepdim=True)).to(self.templates))

    def init_from_data(self, images: torch.Tensor, *,
                       generator: torch.Generator | None = None) -> None:
        """Data-driven start (our addition; the official code starts at random).

        W ← the top-2L principal directions of ``images`` (uncentred second moment), taken
        in pairs; Ψ ← K random images projected on span W, unit norm. For circularly
        translated data the second moment is stationary, so these pairs are Fourier pairs.
        """
        x = images.flatten(1).to(torch.float64)
        if x.shape[1] != self.n_features:
            raise ValueError(f"images must have {self.n_features} features, got shape "
                             f"{tuple(images.shape)}")
        _, _, vh = torch.linalg.svd(x, full_matrices=False)
        w = vh[: 2 * self.n_blocks].T
        if w.shape[1] < 2 * self.n_blocks:
            raise ValueError(f"need at least 2L = {2 * self.n_blocks} images to initialise W, "
                             f"got {x.shape[0]}")
        idx = torch.randperm(x.shape[0], generator=generator)[: self.n_templates]
        psi = w @ (w.T @ x[idx].T)
        with torch.no_grad():
            self.weight.copy_(w.to(self.weight))
            self.templates.copy_((psi / psi.norm(dim=0, keepdim=True)).to(self.templates))

    def extra_repr(self) -> str:
        return (f"n_features={self.n_features}, n_templates={self.n_templates}, "
                f"n_blocks={self.n_blocks}, n_params={self.n_params}, sigma={self.sigma}, "
                f"lam={self.lam}, grid_size={self.grid_size}")

    def forward(self, s: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """Noise-free images T(s)Ψα, shape (B, D)."""
        return F.generate(s, alpha, weight=self.weight, omega=self.omega,
                          templates=self.templates)

    def transform(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """T(s) x for x (B, D), s (B, n)."""
        return F.transform(x, s, weight=self.weight, omega=self.omega)

    def operator(self, s: torch.Tensor) -> torch.Tensor:
        """The (D, D) matrix T(s) for s of shape (n,)."""
        return F.transform_operator(s, weight=self.weight, omega=self.omega)

    def infer(self, images: torch.Tensor, *, grid_size: int | None = None,
              em_steps: int | None = None, **kwargs) -> F.LieInference:
        """Posterior over s on the grid, MAP s and α for images (B, D) or (B, 1, H, W)."""
        if images.dim() == 4:
            images = images.flatten(1)
        return F.infer(images.to(self.weight.dtype), weight=self.weight.detach(),
                       omega=self.omega, templates=self.templates.detach(),
                       sigma=self.sigma, lam=self.lam,
                       grid_size=self.grid_size if grid_size is None else grid_size,
                       em_steps=self.em_steps if em_steps is None else em_steps, **kwargs)

    def reconstruct(self, result: F.LieInference) -> torch.Tensor:
        """T(s_map)Ψα from an inference result, shape (B, D)."""
        with torch.no_grad():
            return F.reconstruct_map(result, weight=self.weight, omega=self.omega,
                                     templates=self.templates)
