"""reprlab: ten methods for learning, structuring and opening up neural representations.

The method sections (``reprlab.hyperbolic``, ``reprlab.rpg``, ...) are imported on demand;
``reprlab.list_methods()`` and ``reprlab.create()`` reach them through the registry.
"""

from reprlab.registry import Method, create, get_method, list_methods, register_method

__version__ = "0.1.0"

__all__ = ["Method", "create", "get_method", "list_methods", "register_method", "__version__"]
