"""Benchmark targets of the neural-sampler paper (official ``distributions.py``).

Each :class:`Target` has ``logdensity_fn`` ``(B, d) -> (B,)``, an exact ``sample`` when one is
known (used to start chains at stationarity), and reference ``mean``/``std``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from reprlab.data.datasets import DatasetNotFoundError

__all__ = [
    "Target",
    "ill_conditioned_gaussian",
    "rotated_ill_conditioned_gaussian",
    "strongly_correlated_gaussian",
    "neal_funnel",
    "gaussian_mixture_2d",
    "banana_2d",
    "bayesian_logistic_regression",
    "breast_cancer_logistic",
    "load_uci_logistic",
    "get_target",
]


@dataclass
class Target:
    """An unnormalised target density on ``R^d``."""

    name: str
    dim: int
    logdensity_fn: Callable[[torch.Tensor], torch.Tensor]
    sample: Callable[[int, torch.Generator], torch.Tensor] | None = None
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None

    def initial(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Chain starts: exact draws when available, else ``N(0, I)`` (official choice)."""
        if self.sample is not None:
            return self.sample(n, generator)
        return torch.randn(n, self.dim, generator=generator)


def _with_value_and_grad(logp: Callable[[torch.Tensor], torch.Tensor],
                         value_and_grad: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
                         ) -> Callable[[torch.Tensor], torch.Tensor]:
    """Attach a closed-form ``(logp, ∇logp)`` that the samplers use instead of autograd
    (``reprlab.samplers.logdensity_and_grad``); ``logp`` itself stays differentiable."""
    logp.value_and_grad = value_and_grad  # type: ignore[attr-defined]
    return logp


def _quadratic(prec: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``log p(x) = −½ xᵀPx`` with its gradient ``−½ (P + Pᵀ) x``, as autograd gives it."""
    sym = 0.5 * (prec + prec.T)

    def logp(x: torch.Tensor) -> torch.Tensor:
        return -0.5 * (x * (x @ prec.to(x.dtype))).sum(1)

    def value_and_grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        px = x @ sym.to(x.dtype)
        return -0.5 * (x * (x @ prec.to(x.dtype))).sum(1), -px

    return _with_value_and_grad(logp, value_and_grad)


def _diag_gaussian(name: str, std: torch.Tensor) -> Target:
    def logp(x: torch.Tensor) -> torch.Tensor:
        return -0.5 * (x / std).pow(2).sum(1)

    def value_and_grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = x / std
        return -0.5 * z.pow(2).sum(1), -z / std

    _with_value_and_grad(logp, value_and_grad)

    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        return torch.randn(n, std.numel(), generator=g) * std

    return Target(name, std.numel(), logp, sample, torch.zeros_like(std), std)


def ill_conditioned_gaussian(dim: int = 50) -> Target:
    """L2HMC's ill-conditioned Gaussian: variances log-spaced in ``[1e-2, 1e2]``."""
    std = torch.linspace(-math.log(10), math.log(10), dim).exp()
    return _diag_gaussian(f"ICG-{dim}d", std)


def rotated_ill_conditioned_gaussian(dim: int = 50, seed: int = 0) -> Target:
    """The ICG spectrum (variances log-spaced in ``[1e-2, 1e2]``) under a random rotation
    ``R`` (QR of a Gaussian matrix drawn with ``seed``): ``Σ = R diag(σ²) Rᵀ``. A diagonal
    mass matrix cannot undo the rotation; a dense one can."""
    std = torch.linspace(-math.log(10), math.log(10), dim).exp().double()
    g = torch.Generator().manual_seed(seed)
    rot, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    cov = rot @ torch.diag(std**2) @ rot.T
    prec = rot @ torch.diag(std**-2) @ rot.T
    prec = 0.5 * (prec + prec.T)
    factor = rot * std  # Σ = (R·diag σ)(R·diag σ)ᵀ
    logp = _quadratic(prec)

    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, dim, generator=g, dtype=torch.float64)
        return (z @ factor.T).float()

    return Target(f"rotICG-{dim}d", dim, logp, sample, torch.zeros(dim),
                  cov.diagonal().sqrt().float())


def strongly_correlated_gaussian() -> Target:
    """L2HMC's 2-D strongly correlated Gaussian, ``Σ = [[50.05, −49.95], [−49.95, 50.05]]``
    (eigenvalues 100 and 0.1, the official code's values)."""
    cov = torch.tensor([[50.05, -49.95], [-49.95, 50.05]])
    prec = torch.linalg.inv(cov)
    chol = torch.linalg.cholesky(cov)
    logp = _quadratic(prec)

    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        return torch.randn(n, 2, generator=g) @ chol.T

    return Target("SCG-2d", 2, logp, sample, torch.zeros(2), cov.diagonal().sqrt())


def neal_funnel(dim: int = 20, scale: float = 3.0) -> Target:
    """Neal's funnel: ``y ~ N(0, scale²)``, ``x_i | y ~ N(0, e^{−y})`` (official convention)."""

    def logp(x: torch.Tensor) -> torch.Tensor:
        y, rest = x[:, 0], x[:, 1:]
        # clamp as the official code, so far tails do not overflow
        return (-(y**2) / (2 * scale**2) - 0.5 * rest.pow(2).sum(1) * y.clamp(-25, 25).exp()
                + 0.5 * (dim - 1) * y)

    def value_and_grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, rest = x[:, 0], x[:, 1:]
        w = y.clamp(-25, 25).exp()
        half_sq = 0.5 * rest.pow(2).sum(1)
        inside = ((y >= -25) & (y <= 25)).to(x.dtype)  # clamp's derivative, as autograd's
        grad_y = -y / scale**2 - half_sq * w * inside + 0.5 * (dim - 1)
        value = -(y**2) / (2 * scale**2) - half_sq * w + 0.5 * (dim - 1) * y
        return value, torch.cat([grad_y[:, None], -rest * w[:, None]], dim=1)

    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        y = scale * torch.randn(n, 1, generator=g)
        return torch.cat([y, torch.randn(n, dim - 1, generator=g) * (-y / 2).exp()], dim=1)

    std = torch.full((dim,), math.exp(scale**2 / 4))  # E[e^{−y}] = e^{s²/2}
    std[0] = scale
    return Target(f"funnel-{dim}d", dim, _with_value_and_grad(logp, value_and_grad), sample,
                  torch.zeros(dim), std)


def gaussian_mixture_2d(n_modes: int = 4, radius: float = 2.5, std: float = 0.5) -> Target:
    """Equal mixture of ``n_modes`` isotropic Gaussians on a circle (multimodal toy)."""
    angles = torch.arange(n_modes) * (2 * math.pi / n_modes)
    centers = radius * torch.stack([angles.cos(), angles.sin()], dim=1)

    def logp(x: torch.Tensor) -> torch.Tensor:
        d2 = (x[:, None, :] - centers.to(x.dtype)).pow(2).sum(-1)
        return torch.logsumexp(-d2 / (2 * std**2), dim=1) - math.log(n_modes)

    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        k = torch.randint(n_modes, (n,), generator=g)
        return centers[k] + std * torch.randn(n, 2, generator=g)

    m_std = torch.sqrt(std**2 + (centers**2).mean(0))
    return Target(f"MoG{n_modes}-2d", 2, logp, sample, torch.zeros(2), m_std)


def banana_2d() -> Target:
    """The official 'moon' toy: ``y ~ N(0, 1)``, ``x | y ~ N(y² − 4, 1)``."""

    def logp(x: torch.Tensor) -> torch.Tensor:
        return -0.5 * x[:, 0] ** 2 - 0.5 * (x[:, 1] - x[:, 0] ** 2 + 4) ** 2

    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        y = torch.randn(n, 1, generator=g)
        return torch.cat([y, torch.randn(n, 1, generator=g) + y**2 - 4], dim=1)

    return Target("banana-2d", 2, logp, sample, torch.tensor([0.0, -3.0]),
                  torch.tensor([1.0, math.sqrt(3.0)]))


def bayesian_logistic_regression(features: torch.Tensor, labels: torch.Tensor, *,
                                 prior_std: float = 10.0, name: str = "BLR") -> Target:
    """Posterior of logistic regression with an offset, ``β ~ N(0, prior_std² I)``.

    ``features`` ``(N, p)`` are standardised here; ``labels`` in {0, 1} or {−1, +1}. The
    parameter is ``[β0, β1..βp]`` (``d = p + 1``), as in the NUTS paper / official code.
    """
    if features.dim() != 2 or labels.shape != features.shape[:1]:
        raise ValueError(f"features must be (N, p) and labels (N,), got {tuple(features.shape)} "
                         f"and {tuple(labels.shape)}")
    X = features.float()
    X = (X - X.mean(0)) / X.std(0).clamp(min=1e-8)
    y = labels.float()
    y = torch.where(y > 0, 1.0, -1.0)

    def logp(beta: torch.Tensor) -> torch.Tensor:
        logits = beta[:, 1:] @ X.T.to(beta.dtype) + beta[:, :1]
        return (torch.nn.functional.logsigmoid(logits * y.to(beta.dtype)).sum(1)
                - beta.pow(2).sum(1) / (2 * prior_std**2))

    def value_and_grad(beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = X.to(beta.dtype), y.to(beta.dtype)
        margin = (beta[:, 1:] @ xs.T + beta[:, :1]) * ys
        # d logsigmoid(m)/dm = sigmoid(−m); chain rule through m = y·(β0 + xβ)
        dlogit = torch.sigmoid(-margin) * ys
        grad = torch.cat([dlogit.sum(1, keepdim=True), dlogit @ xs], dim=1)
        value = (torch.nn.functional.logsigmoid(margin).sum(1)
                 - beta.pow(2).sum(1) / (2 * prior_std**2))
        return value, grad - beta / prior_std**2

    return Target(name, X.shape[1] + 1, _with_value_and_grad(logp, value_and_grad))


def breast_cancer_logistic(prior_std: float = 10.0) -> Target:
    """Bayesian logistic regression on scikit-learn's bundled breast-cancer data (d = 31)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return bayesian_logistic_regression(torch.from_numpy(data.data),
                                        torch.from_numpy(data.target),
                                        prior_std=prior_std, name="BLR-breast-cancer-31d")


_UCI = {  # name: (file, number of columns incl. label, label value that means "positive")
    "german": ("german.data-numeric", 25, 2),
    "australian": ("australian.dat", 15, 1),
    "heart": ("heart.dat", 14, 2),
}


def load_uci_logistic(name: str, root: str | Path, *, prior_std: float = 10.0) -> Target:
    """Bayesian logistic regression on a UCI file the user has (German, Australian, Heart).

    ``root`` is a folder holding the file named as in the UCI archive (official code's
    ``UCI_data/``): ``german.data-numeric``, ``australian.dat`` or ``heart.dat``.
    """
    if name not in _UCI:
        raise ValueError(f"name must be one of {sorted(_UCI)}, got {name!r}")
    fname, ncol, positive = _UCI[name]
    path = Path(root) / fname
    if not path.exists():
        raise DatasetNotFoundError(
            f"{path} not found; download {fname} from the UCI repository "
            f"(statlog/{name}) into {root}")
    rows = [list(map(float, line.split())) for line in path.read_text().splitlines()
            if line.strip()]
    data = torch.tensor(rows)
    if data.shape[1] != ncol:
        raise ValueError(f"{path} has {data.shape[1]} columns, expected {ncol}")
    labels = (data[:, -1] == positive).float()
    return bayesian_logistic_regression(data[:, :-1], labels, prior_std=prior_std,
                                        name=f"BLR-{name}-{ncol}d")


_FACTORIES = {
    "icg": ill_conditioned_gaussian,
    "roticg": rotated_ill_conditioned_gaussian,
    "scg": strongly_correlated_gaussian,
    "funnel": neal_funnel,
    "mog": gaussian_mixture_2d,
    "banana": banana_2d,
    "blr": breast_cancer_logistic,
}


def get_target(name: str, **kwargs) -> Target:
    """Build a target by short name: ``icg``, ``roticg``, ``scg``, ``funnel``, ``mog``,
    ``banana``, ``blr``."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown target {name!r}; known: {sorted(_FACTORIES)}")
    return _FACTORIES[name](**kwargs)
