"""RG-Flow (arXiv:2010.00029): a hierarchical, local normalizing flow with a sparse prior.

``functional`` holds the math, ``modules`` the ``RGFlow`` model, ``baseline`` the zuko Real
NVP it is compared with, ``analysis`` training, receptive fields, inpainting and scale mixing,
``reproduce`` the registered ``reprlab reproduce flows``.
"""

from reprlab.flows import analysis, functional
from reprlab.flows.baseline import ZukoRealNVP, count_parameters, zuko_realnvp_matching
from reprlab.flows.modules import RGFlow, RNVPBlock

__all__ = ["RGFlow", "RNVPBlock", "ZukoRealNVP", "zuko_realnvp_matching", "count_parameters",
           "functional", "analysis"]
