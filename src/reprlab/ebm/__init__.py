"""MDSM energy-based models (arXiv:1910.07762): multi-scale denoising score matching.

>>> import torch
>>> from reprlab.ebm import EnergyNet, dsm_loss, noise_levels
>>> net = EnergyNet(1, 8, image_size=28)
>>> x = torch.rand(4, 1, 28, 28)
>>> loss = dsm_loss(net, x, sigmas=noise_levels(4, sigma_min=0.1, sigma_max=3, spacing="exp"))

Training (:func:`train_mdsm`), sampling (:func:`sample`: annealed Langevin + one denoising
jump), inpainting (:func:`inpaint`), denoising (:func:`denoise`) and the AIS estimate of
``log Z`` (:func:`ais_log_partition`, :func:`bits_per_dim`) all follow the model's dtype and
device, and draw every random number from an explicit ``torch.Generator``.
"""

from reprlab.ebm.ais import AISResult, ais_betas, ais_log_partition, bits_per_dim
from reprlab.ebm.baselines import GaussianDensity
from reprlab.ebm.functional import (
    annealing_schedule,
    denoise,
    dsm_loss,
    energy_and_grad,
    gaussian_blur,
    noise_levels,
)
from reprlab.ebm.modules import EnergyNet, MLPEnergy, QuadraticHead, ResidualBlock
from reprlab.ebm.sampling import MDSMSamples, inpaint, make_generator, sample
from reprlab.ebm.training import mdsm_step, train_mdsm

__all__ = [
    "AISResult",
    "EnergyNet",
    "GaussianDensity",
    "MDSMSamples",
    "MLPEnergy",
    "QuadraticHead",
    "ResidualBlock",
    "ais_betas",
    "ais_log_partition",
    "annealing_schedule",
    "bits_per_dim",
    "denoise",
    "dsm_loss",
    "energy_and_grad",
    "gaussian_blur",
    "inpaint",
    "make_generator",
    "mdsm_step",
    "noise_levels",
    "sample",
    "train_mdsm",
]
