"""rtstyle: real-time neural style transfer.

The runtime API is `Stylizer` (onnxruntime, no torch import); training, export, stills and
evaluation live in their own modules and import torch when used.
"""

from .errors import UserError
from .stylizer import Stylizer

__all__ = ["Stylizer", "UserError"]
__version__ = "0.1.0"
