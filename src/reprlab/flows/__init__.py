"""RG-Flow (arXiv:2010.00029): a hierarchical, local normalizing flow with a sparse prior.

``functional`` holds the math, ``modules`` the ``RGFlow`` model (and its
``torch.distributions`` view), ``inpainting`` the local O(log L) inpainting, ``baseline`` the
zuko Real NVP it is compared with, ``analysis`` training, receptive fields and scale mixing,
``reproduce`` the registered ``reprlab reproduce flows``.
"""

from reprlab.flows import analysis, functional, inpainting
from reprlab.flows.baseline import ZukoRealNVP, count_parameters, zuko_realnvp_matching
from reprlab.flows.inpainting import inpaint
from reprlab.flows.modules import RGFlow, RGFlowDistribution, RNVPBlock

__all__ = ["RGFlow", "RGFlowDistribution", "RNVPBlock", "ZukoRealNVP",
           "zuko_realnvp_matching", "count_parameters", "inpaint", "functional", "analysis",
           "inpainting"]
