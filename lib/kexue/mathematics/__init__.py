"""Part "Mathematics": series and integrals (the integral test). Each module defines
``__all__``; this file collects them."""
from .series import *  # noqa: F401,F403
