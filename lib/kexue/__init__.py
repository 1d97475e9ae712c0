"""kexue: the tested library behind the notebook book on Su Jianlin's *Scientific Spaces*.

One module per topic; chapters import what they need:
``kexue.probability`` (softmax, smooth top-k), ``kexue.widgets`` (live and kernel-free
explorers), ``kexue.notebook`` (chapter set-up, claims table), and the topic modules of
the other parts.
"""
from importlib import import_module as _import_module

__version__ = "0.1.0"



def __getattr__(name):  # import topic modules on first use: `import kexue` stays cheap
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return _import_module(f"kexue.{name}")
    except ModuleNotFoundError as err:
        if err.name == f"kexue.{name}":
            raise AttributeError(f"module 'kexue' has no attribute {name!r}") from None
        raise
