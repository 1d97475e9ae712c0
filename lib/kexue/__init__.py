"""kexue: the tested library behind the notebook book on Su Jianlin's *Scientific Spaces*.

Mathematics is organised by topic (one subpackage per part of the book, one module per topic
inside it), presentation by chapter, and imports run one way::

    _validate, notebook, datasets  <-  parts  <-  explorers  <-  chapters
                                      widgets <-  explorers

The parts, with the one-letter alias every chapter uses for them:

==============  =====  ==========================================================
part            alias  topics
==============  =====  ==========================================================
probability     P      softmax and its substitutes, smooth top-k
attention       A      attention, its scale, KV caches and MLA, RNN view, positions
codes           C      FSQ, VQ and the rotation trick
diffusion       D      schedules, samplers, exact teachers, the small U-Net
training        T      optimisers, learning-rate theory, LoRA
moe             E      mixtures of experts (E for experts)
matrices        M      low-rank approximation, state-space memories, densities
text            S      search and keywords (S for search)
mathematics     Z      series and integrals
explorers       X      the chapters' figures (one module per chapter)
==============  =====  ==========================================================

``notebook`` (set-up, claims record, ``glue``, ``below``), ``widgets`` (the explorer mechanism)
and ``datasets`` (the digits loader, committed run outputs) serve every part.
"""
from importlib import import_module as _import_module

__version__ = "0.2.0"

PARTS = ("probability", "attention", "codes", "diffusion", "training", "moe", "matrices",
         "text", "mathematics")
ALIASES = {"probability": "P", "attention": "A", "codes": "C", "diffusion": "D", "training": "T",
           "moe": "E", "matrices": "M", "text": "S", "mathematics": "Z", "explorers": "X"}
_SUBMODULES = PARTS + ("explorers", "widgets", "notebook", "datasets")

__all__ = list(_SUBMODULES)


def __getattr__(name):  # import parts on first use: `import kexue` stays cheap
    if name in _SUBMODULES:
        return _import_module(f"kexue.{name}")
    raise AttributeError(f"module 'kexue' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
