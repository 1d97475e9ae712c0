"""Part "Matrices & memories": low-rank approximation (CR, ID, CUR), HiPPO state-space memory,
Fourier-series densities. Each module defines ``__all__``; this file collects them."""
from .lowrank_cr import *  # noqa: F401,F403
from .hippo import *  # noqa: F401,F403
from .interpolative import *  # noqa: F401,F403
from .fourier_density import *  # noqa: F401,F403
from .lowrank_cur import *  # noqa: F401,F403
