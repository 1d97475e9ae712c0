"""Attention (part A of the book): the one attention function, its scale, KV caches, MHA to MLA,
attention as an RNN, and positions (RoPE in 1-3 dimensions, and attention without a position
encoding). Chapters import it as ``from kexue import attention as A``.

Modules, one topic each: :mod:`.core` (attention, the running-max merge, head sharing),
:mod:`.scale` (chapter attention-scale), :mod:`.kv_cache` (cache counts, published model
configs), :mod:`.mla` (chapter mha-to-mla), :mod:`.rnn` (chapter attention-as-rnn),
:mod:`.position` (chapter why-position-encoding), :mod:`.rope` (chapter multimodal-rope).
"""
from .core import attention, causal_mask, gqa_head_to_group, merge_partials, repeat_kv
from .kv_cache import (ATTENTION_KINDS, DTYPE_BYTES, MODEL_CONFIGS, config_cache_elements,
                       config_ram_floats, kv_cache_bytes, kv_cache_elements, ram_floats)
from .mla import (ROPE_MODES, STACK_FORMS, GroupedQueryAttention, alibi_slopes, cast_weights,
                  decode_cost, init_mla, mla_absorb, mla_decode_forward, mla_decode_step,
                  mla_stack, mla_train_forward, round_to)
from .position import (NOPE_WEIGHTS, adjacent_position_accuracy, attention_entropy,
                       estimates_from_row_square_sums, expected_mean_square, loglog_slope,
                       mean_square, nope_ms_curve, permute_check, position_from_ms,
                       random_softmax_weights, row_square_sums, sample_position_estimates,
                       self_attention, uniform_causal_weights, alibi_bias, simulate_uniform_ms,
                       sinusoidal_encoding, threshold_accuracy)
from .rnn import (LOG_MAX_FLOAT64, TinyCausalAttentionLM, attention_recurrent,
                  attention_row_recurrent, naive_attention_overflow_step, recompute_cost,
                  recompute_peak_floats, scan_partials, traced_peak_bytes)
from .rope import (LAYOUT_SCHEMES, LAYOUTS, MROPE_NEXT_TEXT, MROPE_SECTIONS, SCHEMES, Layout,
                   apply_rope, apply_rope_angles, apply_rope_nd, layout_positions, layout_scores,
                   modality_gaps, positions_flat, positions_mrope, positions_rope_tie,
                   positions_rope_tv, rope_angles, rope_frequencies, rope_matrix, score_matrix)
from .scale import (SCORE_DISTS, approx_objective, collision_probability, fit_scale_law,
                    gradient_l1, log_mgf_cosine, mc_objective, mgf_cosine, mgf_normal,
                    optimal_scale, optimal_scales, sample_optima, sample_scores, scale_objective,
                    scaled_softmax, softmax_jacobian, top_gap_density_at_zero)

__all__ = [
    # core
    "attention", "causal_mask", "merge_partials", "gqa_head_to_group", "repeat_kv",
    # kv_cache
    "ATTENTION_KINDS", "DTYPE_BYTES", "MODEL_CONFIGS", "kv_cache_elements", "kv_cache_bytes",
    "config_cache_elements", "ram_floats", "config_ram_floats",
    # mla
    "GroupedQueryAttention", "ROPE_MODES", "STACK_FORMS", "init_mla", "cast_weights", "round_to",
    "alibi_slopes", "mla_train_forward", "mla_absorb", "mla_decode_forward", "mla_decode_step",
    "mla_stack", "decode_cost",
    # rnn
    "LOG_MAX_FLOAT64", "attention_row_recurrent", "naive_attention_overflow_step",
    "attention_recurrent", "scan_partials", "TinyCausalAttentionLM", "recompute_cost",
    "recompute_peak_floats",
    # position
    "NOPE_WEIGHTS", "self_attention", "permute_check", "uniform_causal_weights",
    "random_softmax_weights", "mean_square", "expected_mean_square", "loglog_slope",
    "position_from_ms", "adjacent_position_accuracy", "attention_entropy", "nope_ms_curve",
    "row_square_sums", "estimates_from_row_square_sums", "sample_position_estimates",
    # rope
    "SCHEMES", "LAYOUTS", "MROPE_NEXT_TEXT", "MROPE_SECTIONS", "LAYOUT_SCHEMES", "Layout",
    "rope_frequencies", "rope_angles", "rope_matrix", "apply_rope_angles", "apply_rope",
    "apply_rope_nd", "positions_flat", "positions_rope_tv", "positions_rope_tie",
    "positions_mrope", "modality_gaps", "score_matrix", "layout_positions", "layout_scores",
    # scale
    "SCORE_DISTS", "scaled_softmax", "softmax_jacobian", "gradient_l1", "collision_probability",
    "scale_objective", "mgf_normal", "log_mgf_cosine", "mgf_cosine", "approx_objective",
    "optimal_scale", "optimal_scales", "sample_scores", "mc_objective", "sample_optima",
    "fit_scale_law",
    # added with the revised chapters
    "alibi_bias", "sinusoidal_encoding", "simulate_uniform_ms", "threshold_accuracy",
    "traced_peak_bytes", "top_gap_density_at_zero",
]
