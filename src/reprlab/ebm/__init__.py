"""MDSM energy-based models (arXiv:1910.07762): multi-scale denoising score matching.

>>> from reprlab.ebm import EnergyNet, dsm_loss, noise_levels
>>> net = EnergyNet(1, 8, image_size=28)
>>> x = torch.rand(4, 1, 28, 28)
>>> loss = dsm_loss(net, x, sigmas=noise_levels(4, sigma_min=0.1, sigma_max=3, spacing="exp"))
"""

from reprlab.ebm.functional import (
    annealing_schedule,
    denoise,
    dsm_loss,
    energy_and_grad,
    gaussian_blur,
    noise_levels,
)
from reprlab.ebm.modules import EnergyNet, MLPEnergy, QuadraticHead, ResidualBlock

__all__ = [
    "EnergyNet",
    "MLPEnergy",
    "QuadraticHead",
    "ResidualBlock",
    "annealing_schedule",
    "denoise",
    "dsm_loss",
    "energy_and_grad",
    "gaussian_blur",
    "noise_levels",
]
