"""The chapters' explorers: one module per chapter (named after the chapter, with
underscores), each with ``EXPLORERS``, a tuple of factories callable with no arguments that
return :class:`kexue.widgets.Explorer`. No mathematics here: the numbers come from the parts.
Chapters import their module as ``X``: ``from kexue.explorers import smooth_topk as X``."""
import pkgutil as _pkgutil

#: Every chapter's explorers module, by name (what the benchmark iterates over).
MODULES = tuple(m.name for m in _pkgutil.iter_modules(__path__))
