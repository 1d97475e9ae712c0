"""Discrete codes (chapters codes/fsq and codes/vq-rotation-trick).

``fsq``: finite scalar quantisation, its implicit codebook and statistics; ``vq``: vector
quantisation, straight-through estimators, the rotation trick, EMA; ``autoencoder``: the digits
autoencoder and its trainer; ``runs``: the digits experiments' configurations and their
committed output; ``train``: the script that ran them once (``python -m kexue.codes.train``).
Chapters import the part as ``C``: ``from kexue import codes as C``.
"""
from .autoencoder import (DigitsAutoencoder, build_digits_model, digits_tensor,
                          encoder_gradient_norms, recon_grad_ratio, train_digits_autoencoder)
from .fsq import (FSQ, RECOMMENDED_LEVELS, check_levels, codebook_usage, codes_to_levels,
                  fsq_level_edges, fsq_level_probabilities, fsq_round, fsq_ste,
                  implicit_codebook, indices_to_levels, levels_to_codes, levels_to_indices,
                  naive_fsq_round_tanh, recommended_levels)
from .runs import load_runs, load_sweeps, run_one, run_sweep_one, runs_by_key
from .vq import (INITS, VectorQuantizer, boundary_distance, ema_update, generalized_ste,
                 gradient_field,
                 nearest_code, rotate_to, rotation_matrix, ste)

__all__ = ["DigitsAutoencoder", "build_digits_model", "digits_tensor", "recon_grad_ratio",
           "train_digits_autoencoder", "encoder_gradient_norms", "FSQ", "RECOMMENDED_LEVELS", "check_levels",
           "codebook_usage", "codes_to_levels", "fsq_level_edges", "fsq_level_probabilities",
           "fsq_round", "fsq_ste", "implicit_codebook", "indices_to_levels", "levels_to_codes",
           "levels_to_indices", "naive_fsq_round_tanh", "recommended_levels", "load_runs",
           "run_one", "runs_by_key", "load_sweeps", "run_sweep_one", "INITS", "VectorQuantizer", "ema_update", "generalized_ste",
           "gradient_field", "boundary_distance", "nearest_code", "rotate_to", "rotation_matrix", "ste"]
