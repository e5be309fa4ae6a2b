"""RG-Flow modules: thin ``nn.Module`` wrappers over :mod:`reprlab.flows.functional`.

``RNVPBlock`` is the bijection on one ``K x K`` patch (official ``layers/rnvp.py`` with
``ResNetReshape`` subnets); ``RGFlow`` stacks one per layer of the MERA-like layout and owns
the prior, the logit preprocessing and the per-level latent layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.distributions import Distribution, constraints
from torch.utils.checkpoint import checkpoint

from reprlab.flows import functional as RF

__all__ = ["Swish", "Scale", "WNLinear", "ResMLP", "RNVPBlock", "RGFlow",
           "RGFlowDistribution"]


class Swish(nn.Module):
    """``x * sigmoid(beta x)`` with a learnable ``beta`` per feature (official ``Swish``)."""

    def __init__(self, num_features: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.num_features = num_features
        self.beta = nn.Parameter(torch.empty(num_features, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.ones_(self.beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.beta * x)

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}"


class Scale(nn.Module):
    """Per-feature scale, initialised to zero so a fresh coupling is the identity."""

    def __init__(self, num_features: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.num_features = num_features
        self.scale = nn.Parameter(torch.empty(num_features, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}"


class WNLinear(nn.Module):
    """Weight-normalised linear layer; swish-gain uniform init (official ``build_linear``)."""

    def __init__(self, in_features: int, out_features: int, *, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        kw = {"device": device, "dtype": dtype}
        self.direction = nn.Parameter(torch.empty(out_features, in_features, **kw))
        self.gain = nn.Parameter(torch.empty(out_features, **kw))
        self.bias = nn.Parameter(torch.empty(out_features, **kw))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = math.sqrt(2.81 * 3 / self.in_features)  # 2.81: the gain for swish
        nn.init.uniform_(self.direction, -bound, bound)
        with torch.no_grad():
            self.gain.copy_(self.direction.norm(dim=1))
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return RF.weight_norm_linear(x, self.direction, self.gain, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class ResMLP(nn.Module):
    """Residual MLP on a flattened patch (official ``ResNetReshape``).

    ``n_resblocks`` blocks ``x <- (x + [Swish, WNLinear] * (n_mlp + 1)(x)) / sqrt 2``, then a
    zero-initialised :class:`Scale` and, for the log-scale net, ``tanh``.
    """

    def __init__(self, features: int, *, hidden: int = 512, n_resblocks: int = 4,
                 n_mlp: int = 2, final_tanh: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        widths = [features] + [hidden] * n_mlp + [features]
        self.blocks = nn.ModuleList()
        for _ in range(n_resblocks):
            layers: list[nn.Module] = []
            for a, b in zip(widths[:-1], widths[1:], strict=True):
                layers += [Swish(a, **kw), WNLinear(a, b, **kw)]
            self.blocks.append(nn.Sequential(*layers))
        self.scale = Scale(features, **kw)
        self.final_tanh = final_tanh
        self.features, self.hidden = features, hidden

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        h = x.reshape(shape[0], -1)
        for block in self.blocks:
            h = (h + block(h)) / math.sqrt(2.0)
        h = self.scale(h)
        if self.final_tanh:
            h = torch.tanh(h)
        return h.reshape(shape)

    def extra_repr(self) -> str:
        return (f"features={self.features}, hidden={self.hidden}, "
                f"n_resblocks={len(self.blocks)}, final_tanh={self.final_tanh}")


class RNVPBlock(nn.Module):
    """Real NVP bijection of a ``(C, K, K)`` patch (official ``RNVP``).

    Each of ``n_layers`` layers owns an ``s`` net (tanh-bounded) and a ``t`` net and applies
    two affine couplings with complementary checkerboard masks, so every pixel is updated.

    Shape: ``(N, C, K, K) -> (N, C, K, K)`` plus ``log|det|`` (N,).

    ``grad_checkpoint=True`` recomputes the subnets in the backward pass (as the official
    ``my_checkpoint``), trading time for the memory the paper-size model needs.
    """

    def __init__(self, channels: int, kernel_size: int = 4, *, n_layers: int = 2,
                 hidden: int = 512, n_resblocks: int = 4, n_mlp: int = 2,
                 grad_checkpoint: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        feat = channels * kernel_size ** 2
        kw = {"hidden": hidden, "n_resblocks": n_resblocks, "n_mlp": n_mlp,
              "device": device, "dtype": dtype}
        self.s_nets = nn.ModuleList(ResMLP(feat, final_tanh=True, **kw) for _ in range(n_layers))
        self.t_nets = nn.ModuleList(ResMLP(feat, final_tanh=False, **kw)
                                    for _ in range(n_layers))
        self.register_buffer("mask_a", RF.checkerboard_mask(channels, kernel_size, parity=0,
                                                            dtype=dtype))
        self.register_buffer("mask_b", RF.checkerboard_mask(channels, kernel_size, parity=1,
                                                            dtype=dtype))
        self.channels, self.kernel_size = channels, kernel_size
        self.grad_checkpoint = grad_checkpoint

    def reset_parameters(self) -> None:
        for net in [*self.s_nets, *self.t_nets]:
            net.reset_parameters()

    def _maybe_checkpointed(self, net: nn.Module):
        if self.grad_checkpoint and self.training and torch.is_grad_enabled():
            return lambda v: checkpoint(net, v, use_reentrant=False)
        return net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ld = x.new_zeros(x.shape[0])
        for s, t in zip(self.s_nets, self.t_nets, strict=True):
            s, t = self._maybe_checkpointed(s), self._maybe_checkpointed(t)
            for mask in (self.mask_a, self.mask_b):
                x, d = RF.affine_coupling(x, s, t, mask=mask)
                ld = ld + d
        return x, ld

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ld = z.new_zeros(z.shape[0])
        for s, t in reversed(list(zip(self.s_nets, self.t_nets, strict=True))):
            for mask in (self.mask_b, self.mask_a):
                z, d = RF.affine_coupling(z, s, t, mask=mask, inverse=True)
                ld = ld + d
        return z, ld

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, kernel_size={self.kernel_size}, "
                f"n_layers={len(self.s_nets)}")


def _per_level(value: int | Sequence[int], n: int, name: str) -> list[int]:
    if isinstance(value, int):
        return [value] * n
    value = list(value)
    if len(value) < n:
        raise ValueError(f"{name} needs one entry per level ({n}), got {value}")
    return value[:n]


class RGFlow(nn.Module):
    """RG-Flow: a hierarchical, local normalizing flow with a sparse prior.

    Parameters
    ----------
    image_size : int
        Side ``L`` of the (square) images, a power of two (pad MNIST to 32).
    channels : int
        Image channels.
    kernel_size : int
        RG block side ``K`` (paper: 4).
    n_layers : int or sequence
        Coupling layers per RNVP block, one entry per level (paper: 8, 6, 4, 2).
    hidden, n_resblocks, n_mlp : int
        Subnet width (512), residual blocks (4) and hidden layers per block (2) as the paper.
    prior : {"laplace", "gaussian"}
        Factorised unit-variance prior on every latent (paper default: Laplace).
    constraint : float
        Logit preprocessing range (official 0.9: pixels are squeezed into [0.05, 0.95]).
    grad_checkpoint : bool
        Recompute subnets in the backward pass to save memory (needed for the paper size).

    Notes
    -----
    ``forward(y)`` maps logit-space images to latents ``z`` of the same shape (B, C, L, L);
    :meth:`level_mask` says which positions of ``z`` hold which level's latents.

    Examples
    --------
    >>> flow = RGFlow(8, 1, n_layers=1, hidden=8, n_resblocks=1)
    >>> x = torch.round(torch.rand(2, 1, 8, 8) * 255) / 255
    >>> torch.allclose(flow.decode(flow.encode(x)), (255 * x + 0.5) / 256, atol=1e-4)
    True
    """

    def __init__(self, image_size: int = 32, channels: int = 1, *, kernel_size: int = 4,
                 n_layers: int | Sequence[int] = (8, 6, 4, 2), hidden: int | Sequence[int] = 512,
                 n_resblocks: int | Sequence[int] = 4, n_mlp: int | Sequence[int] = 2,
                 prior: str = "laplace", constraint: float = 0.9,
                 grad_checkpoint: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        ok, reason = RF.check_image_size(image_size, kernel_size)
        if not ok:
            raise ValueError(reason)
        if prior not in RF.PRIORS:
            raise ValueError(f"prior must be one of {RF.PRIORS}, got {prior!r}")
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.image_size, self.channels, self.kernel_size = image_size, channels, kernel_size
        self.prior, self.constraint = prior, constraint
        self.n_levels = RF.num_levels(image_size, kernel_size=kernel_size)
        nl = _per_level(n_layers, self.n_levels, "n_layers")
        hd = _per_level(hidden, self.n_levels, "hidden")
        nr = _per_level(n_resblocks, self.n_levels, "n_resblocks")
        nm = _per_level(n_mlp, self.n_levels, "n_mlp")
        self.blocks = nn.ModuleList()
        for h in range(self.n_levels):
            for _ in ("disentangler", "decimator"):
                self.blocks.append(RNVPBlock(channels, kernel_size, n_layers=nl[h],
                                             hidden=hd[h], n_resblocks=nr[h], n_mlp=nm[h],
                                             grad_checkpoint=grad_checkpoint, device=device,
                                             dtype=dtype))
        self.layout = RF.rg_layout(image_size, kernel_size=kernel_size)
        self.register_buffer("levels", RF.level_map(image_size, kernel_size=kernel_size),
                             persistent=False)

    def reset_parameters(self) -> None:
        for b in self.blocks:
            b.reset_parameters()

    def extra_repr(self) -> str:
        return (f"image_size={self.image_size}, channels={self.channels}, "
                f"kernel_size={self.kernel_size}, n_levels={self.n_levels}, prior={self.prior!r}")

    # ----------------------------------------------------------------- bijection
    def _check_input(self, name: str, x: torch.Tensor) -> None:
        want = (self.channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            hint = ""
            if x.dim() == 4 and x.shape[1] == want[0] and max(x.shape[-2:]) < want[1]:
                hint = (f"; pad smaller images with reprlab.flows.functional.pad_to_size(x, "
                        f"{want[1]}) (zeros, centred)")
            raise ValueError(f"{name} must have shape (B, {want[0]}, {want[1]}, {want[2]}), "
                             f"got {tuple(x.shape)}{hint}")

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logit-space images (B, C, L, L) -> latents (B, C, L, L) and ``log|det dz/dy|`` (B,)."""
        self._check_input("y", y)
        ld = y.new_zeros(y.shape[0])
        for block, (rows, cols) in zip(self.blocks, self.layout, strict=True):
            patches = RF.gather_blocks(y, rows, cols)
            patches, d = block(patches)
            ld = ld + d.view(y.shape[0], -1).sum(1)
            y = RF.scatter_blocks(y, patches, rows, cols)
        return y, ld

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents -> logit-space images and ``log|det dy/dz|`` (B,)."""
        self._check_input("z", z)
        ld = z.new_zeros(z.shape[0])
        for block, (rows, cols) in reversed(list(zip(self.blocks, self.layout, strict=True))):
            patches = RF.gather_blocks(z, rows, cols)
            patches, d = block.inverse(patches)
            ld = ld + d.view(z.shape[0], -1).sum(1)
            z = RF.scatter_blocks(z, patches, rows, cols)
        return z, ld

    # ----------------------------------------------------------------- densities
    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """``log p(y)`` of logit-space images (B,)."""
        z, ld = self(y)
        return RF.prior_log_prob(z, prior=self.prior) + ld

    def bits_per_dim(self, images: torch.Tensor, *, dequantize: bool = True,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Bits per dimension of 8-bit images in [0, 1] (B,), with the paper's preprocessing."""
        y, ld_logit = RF.logit_preprocess(images, dequantize=dequantize,
                                          constraint=self.constraint, generator=generator)
        return RF.bits_per_dim(self.log_prob(y), ld_logit, num_dims=y[0].numel())

    # ----------------------------------------------------------------- latents
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> latents (B, C, L, L), no dequantisation noise (mid-bin)."""
        y, _ = RF.logit_preprocess(images, dequantize=False, constraint=self.constraint)
        return self(y)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents -> images in [0, 1] (clamped)."""
        return RF.logit_postprocess(self.inverse(z)[0], constraint=self.constraint)

    def sample(self, n: int, *, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images in [0, 1] decoded from prior draws at ``temperature``."""
        p = next(self.parameters())
        z = RF.prior_sample((n, self.channels, self.image_size, self.image_size),
                            prior=self.prior, temperature=temperature, generator=generator,
                            dtype=p.dtype).to(p.device)
        return self.decode(z)

    def distribution(self, temperature: float = 1.0) -> RGFlowDistribution:
        """The flow as a ``torch.distributions.Distribution`` over images (zuko/normflows
        style): ``.log_prob(x)``, ``.sample(shape)``, ``.rsample(shape)``,
        ``.rsample_and_log_prob(shape)``; see :class:`RGFlowDistribution`."""
        return RGFlowDistribution(self, temperature=temperature)

    def level_mask(self, level: int) -> torch.Tensor:
        """Bool (L, L): the positions holding latents of ``level`` (0 = finest)."""
        if not 0 <= level < self.n_levels:
            raise ValueError(f"level must be in [0, {self.n_levels - 1}], got {level}")
        return self.levels == level

    def get_level(self, z: torch.Tensor, level: int) -> torch.Tensor:
        """The latents of one level, (B, C, n_level) in row-major position order."""
        return z[:, :, self.level_mask(level)]

    def set_level(self, z: torch.Tensor, level: int, values: torch.Tensor) -> torch.Tensor:
        """A copy of ``z`` whose ``level`` latents are ``values`` (B, C, n_level)."""
        out = z.clone()
        out[:, :, self.level_mask(level)] = values
        return out


class RGFlowDistribution(Distribution):
    """An :class:`RGFlow` as a distribution over images ``u`` (event shape (C, L, L)).

    ``u`` is the continuous pixel value the logit preprocessing maps to ``y``
    (``p = 0.5 + c (u − 0.5)``, ``y = logit p``), so the support is the open box
    ``(0.5 − 0.5/c, 0.5 + 0.5/c)^D`` (``(−0.056, 1.056)`` at ``c = 0.9``), which holds [0, 1].
    ``log_prob(u) = log p_z(z) + log|det dz/dy| + Σ log|dy/du|``: for 8-bit data at mid-bin
    ``u = (255 x + 0.5)/256`` this is the density ``bits_per_dim`` turns into bits. Samples are
    not clamped (their ``log_prob`` is exact); clamp to [0, 1] for display. ``temperature``
    scales the prior's standard deviation (``log_prob`` uses the same tempered prior).
    Shaped like zuko's / normflows' distributions: batch shapes in front of the event.
    """

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(self, flow: RGFlow, temperature: float = 1.0) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.flow, self.temperature = flow, float(temperature)
        shape = torch.Size((flow.channels, flow.image_size, flow.image_size))
        super().__init__(batch_shape=torch.Size(), event_shape=shape, validate_args=False)

    @property
    def support(self):
        half = 0.5 / self.flow.constraint
        return constraints.independent(constraints.interval(0.5 - half, 0.5 + half), 3)

    def _to_y(self, u: torch.Tensor) -> torch.Tensor:
        c = self.flow.constraint
        p = 0.5 + c * (u - 0.5)
        return torch.log(p) - torch.log1p(-p)

    def _to_u(self, y: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(y) - 0.5) / self.flow.constraint + 0.5

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log-density of images ``value`` (..., C, L, L) -> (...)."""
        ev = self.event_shape
        if value.dim() < 3 or value.shape[-3:] != ev:
            raise ValueError(f"value must have shape (..., {ev[0]}, {ev[1]}, {ev[2]}), got "
                             f"{tuple(value.shape)}")
        if not torch.isfinite(value).all():
            raise ValueError("value contains NaN or Inf values")
        half = 0.5 / self.flow.constraint
        lo, hi = float(value.detach().min()), float(value.detach().max())
        if not (lo > 0.5 - half and hi < 0.5 + half):
            raise ValueError(f"value must lie in the support ({0.5 - half:.4g}, "
                             f"{0.5 + half:.4g}) (images in [0, 1]), found [{lo:.4g}, "
                             f"{hi:.4g}]")
        batch = value.shape[:-3]
        y = self._to_y(value.reshape(-1, *ev))
        z, ld = self.flow(y)
        lp = (RF.prior_log_prob(z, prior=self.flow.prior, temperature=self.temperature) + ld
              + RF.logit_log_det(y, constraint=self.flow.constraint))
        return lp.reshape(batch)

    def rsample_and_log_prob(self, sample_shape: torch.Size | tuple = ()
                             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable samples (*sample_shape, C, L, L) and their log-densities."""
        shape = torch.Size(sample_shape)
        n = int(torch.Size(shape).numel())
        p = next(self.flow.parameters())
        z = RF.prior_sample((n, *self.event_shape), prior=self.flow.prior,
                            temperature=self.temperature, dtype=p.dtype).to(p.device)
        y, ld_inv = self.flow.inverse(z)
        lp = (RF.prior_log_prob(z, prior=self.flow.prior, temperature=self.temperature)
              - ld_inv + RF.logit_log_det(y, constraint=self.flow.constraint))
        return (self._to_u(y).reshape(*shape, *self.event_shape), lp.reshape(shape))

    def rsample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        return self.rsample_and_log_prob(sample_shape)[0]

    def sample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)
