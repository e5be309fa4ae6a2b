"""Networks and layers shared by several sections (timm-style plain modules)."""

from reprlab.nets.layers import count_params, create_act
from reprlab.nets.resnet import BasicBlock, ResNet, resnet, resnet18

__all__ = ["BasicBlock", "ResNet", "resnet", "resnet18", "count_params", "create_act"]
