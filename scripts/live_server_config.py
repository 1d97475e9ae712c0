"""Jupyter server configuration of `make live` (scripts/live.py passes it with --config).

Jupyter skips the origin check for a request that carries the token; here every request is
origin-checked: only the book's origin (ServerApp.allow_origin, set by scripts/live.py) or a
client that sends no Origin header (a script) is answered, whatever token it holds."""
from jupyter_server.auth.identity import IdentityProvider


class BookOriginOnly(IdentityProvider):
    """Jupyter's token identity provider, with the origin checked for token-carrying requests too."""

    def should_check_origin(self, handler) -> bool:
        return True


c.ServerApp.identity_provider_class = BookOriginOnly  # noqa: F821  (c: the config object traitlets provides)

# The pages need kernels only: no terminals (a shell for whoever holds the token), no JupyterLab,
# no language servers; the server also starts faster without them.
c.ServerApp.jpserver_extensions = {name: False for name in (  # noqa: F821
    "jupyter_server_terminals", "jupyter_lsp", "jupyterlab", "jupyterlab_myst",
    "jupyterlab_jupytext", "notebook_shim", "notebook")}
c.ServerApp.terminals_enabled = False  # noqa: F821
