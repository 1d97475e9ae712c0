"""Part "Training": optimisers and learning-rate theory (LoRA+, batch size, Adam's epsilon,
spectral weight decay, Muon). Each module defines ``__all__``; this file collects them."""
from .spectral import *  # noqa: F401,F403
from .lora import *  # noqa: F401,F403
from .lr_theory import *  # noqa: F401,F403
from .muon import *  # noqa: F401,F403
