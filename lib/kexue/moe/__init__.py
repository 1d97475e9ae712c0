"""Part "Mixture of experts": MoE as a best k-term approximation, routing, load balancing.
Each module defines ``__all__``; this file collects them."""
from .geometry import *  # noqa: F401,F403
from .balance import *  # noqa: F401,F403
