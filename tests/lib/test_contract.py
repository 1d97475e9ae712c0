"""The contract of every public function: bad input raises a ValueError that names the parameter.

The public API is found by introspection (a part's ``__all__`` where defined, else its names
without a leading underscore; only functions and classes defined in that part of kexue, not
re-exported numpy/torch/typing names), so a new function is covered the day it is added.
Each function needs one valid *baseline* call: derived from its defaults and annotations where
that is enough, otherwise written by hand in ``BASELINES`` below. A function without a usable
baseline FAILS (it is not skipped) with a message asking for one.

From the baseline, one parameter at a time is replaced by a bad value (:func:`mutations`: NaN,
+-inf, a string, None where the parameter is not Optional, -1 and 0 for integers, an array with
one dimension more or less, an empty array, an index or a bounded size past the end) and the
call must raise ``ValueError`` whose message names the parameter. Boolean flags are not mutated.
The deliberate exceptions (values that are valid for one parameter) are in ``EXCEPTIONS`` with
their reasons, plus ``ELEMENTWISE`` (broadcasting functions, or any leading axes: a dimension more
or less is valid), ``BATCHED`` (leading batch axes: a dimension more is valid) and
``SCALAR_OR_VECTOR``. ``PENDING`` lists the functions not yet meeting the contract (strict xfail).
A baseline of None marks the few functions that cannot run here (said why next to it).

The part "explorers" is every factory listed in ``EXPLORERS`` by a module of kexue.explorers
(named "explorers.<module>.<factory>"): called with its defaults, then with one keyword
argument (a grid of slider values, a size, a seed) made bad at a time.

To put another part under contract: add it to ``PARTS`` and baselines for its functions.
Run with ``-s`` to see the counts (functions covered, calls made, calls passing), in total and
per part.
"""
from __future__ import annotations

import atexit
import functools
import importlib
import inspect
import math
import numbers
import re
import shutil
import signal
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import kexue
import kexue.explorers

torch.set_num_threads(1)

#: The parts under contract. To add a part, add its name here (and baselines below).
PARTS = ["training", "moe", "matrices", "text", "mathematics", "datasets", "notebook",
         "probability", "attention", "codes", "diffusion", "widgets", "explorers"]

#: Seconds one call may take; a bad value that is not refused and runs longer counts as a failure.
CALL_LIMIT_S = 2.0

#: Integer parameters that are sizes bounded by the data (k of top-k, a rank, an index):
#: they also get a value past the end (1000, larger than every baseline's arrays).
BOUNDED_INT_NAMES = {"k", "r", "rank", "top_k", "doc_id", "top", "n_best", "l"}

_TMP = Path(tempfile.mkdtemp(prefix="kexue-contract-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
_rng = np.random.default_rng(0)
_M54 = _rng.standard_normal((5, 4))            # a generic matrix
_X64 = _rng.standard_normal((6, 4))
_Y45 = _rng.standard_normal((4, 5))
_SPD = np.array([[2.0, 0.3, 0.1], [0.3, 1.5, 0.2], [0.1, 0.2, 1.0]])
_G3 = np.array([0.5, -0.3, 0.2])
_S3 = np.array([1.0, 0.8, 1.2])
_P = np.array([0.4, 0.3, 0.2, 0.1])
_DOCS = [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog", "sat", "on", "a", "log"],
         ["the", "dog", "ate", "the", "cat", "food"], ["cats", "and", "dogs", "are", "pets"]]


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


@functools.lru_cache(maxsize=1)
def _hs_model():
    """A tiny skip-gram/hierarchical-softmax model trained on _DOCS (milliseconds)."""
    return kexue.text.hs_model_from_gensim(_gensim())


def _gensim():
    return kexue.text.train_skipgram_hs(_DOCS, vector_size=4, min_count=1, epochs=1)


def _hs_words(k=3):
    m = _hs_model()
    return [w for w, h in zip(m.words, m.has_vector) if h][:k]


def _mlp_and_opt():
    model = kexue.training.digits_mlp((4, 5, 3), seed=0)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def _lin_params():
    return [torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64))]


def _train_digits():
    model, opt = _mlp_and_opt()
    x = torch.randn(8, 4, dtype=torch.float64)
    return dict(model=model, optimizer=opt, X=x, y=torch.arange(8) % 3, steps=2)


def _lora_named():
    A = torch.nn.Parameter(torch.zeros(2, 4))
    B = torch.nn.Parameter(torch.zeros(4, 2))
    return dict(named_parameters=[("lora_A", A), ("lora_B", B)], lr=0.01, ratio=4.0)


_X6 = np.array([1.3, -0.4, 2.2, 0.7, -1.1, 0.1])    # distinct logits: no ties in a top-k
_T6 = torch.tensor(_X6)
_XB = _rng.standard_normal((8, 3))                     # 8 rows of 3 features, 2 classes
_YB = np.array([0, 1, 0, 1, 1, 0, 1, 0])


_Q = _rng.standard_normal((5, 4))                      # 5 tokens, head dim 4
_K = _rng.standard_normal((5, 4))
_V = _rng.standard_normal((5, 3))
_SEGS = [("text", 2), ("image", 2, 2), ("text", 1)]
_MLA = dict(d=8, n_heads=2, d_k=4, d_v=4, d_c=4, d_cq=4, d_r=2)


@functools.lru_cache(maxsize=1)
def _mla_w():
    return kexue.attention.init_mla(**_MLA, seed=0)


def _mla_abs():
    return kexue.attention.mla_absorb(_mla_w())


_Z = torch.tensor(_rng.standard_normal((4, 3)))          # 4 latent vectors of dimension 3
_CB = torch.tensor(_rng.standard_normal((5, 3)))         # a codebook of 5 codes


@functools.lru_cache(maxsize=1)
def _ae():
    return kexue.codes.build_digits_model("vq", K=5, dim=3, seed=0).double()


_SIG = np.array([2.0, 1.0, 0.5])                         # a decreasing sigma grid
_X2 = _rng.standard_normal((4, 2))                       # 4 points in 2-D
_TS = np.array([0.9, 0.5, 0.1])                          # decreasing times in (0, 1)


def _gm():
    return kexue.diffusion.GaussianMixture(np.array([[1.0, 0.0], [-1.0, 0.5]]), np.array([0.3, 0.6]))


def _den():
    return _gm().denoise


def _psd(n=8):
    return kexue.diffusion.gp_spectrum(n)


def _eps():
    return kexue.diffusion.gp_highres_model(_psd())


@functools.lru_cache(maxsize=1)
def _edm():
    torch.manual_seed(0)
    return kexue.diffusion.EDMDenoiser(kexue.diffusion.TinyUNet(channels=4, levels=1, emb_dim=8)).double()


def _explorer():
    W = kexue.widgets
    return W.Explorer([W.Slider("a", [0.0, 1.0, 2.0], 1.0)],
                      lambda a: W.frame(W.panel("a", "x", "y", series=[W.line([0.0, 1.0], [0.0, a])])),
                      name="contract")


def _frame():
    W = kexue.widgets
    return W.frame(W.panel("t", "x", "y", series=[W.line([0.0, 1.0], [0.0, 1.0])]))


#: Hand-made valid calls: "part.name" -> a function returning the keyword arguments (fresh each
#: call, as some functions write into their inputs). Everything else comes from defaults.
BASELINES = {
    # probability
    "probability.ThreTopK": None,      # torch.autograd.Function: used through thre_topk (below)
    "probability.accuracy_loss": lambda: dict(x=_X6, target=2),
    "probability.am_softmax_loss": lambda: dict(cos=np.tanh(_X6), target=2),
    "probability.entmax15": lambda: dict(x=_X6),
    "probability.entmax_bisect": lambda: dict(x=_X6, n_iter=30),
    "probability.fit_cosine_classifier": lambda: dict(X=_XB, y=_YB, dim=2, steps=2),
    "probability.fit_linear_classifier": lambda: dict(X=_XB, y=_YB, steps=2, k=1),
    "probability.grad_topk": lambda: dict(x=_X6, k=2),
    "probability.hard_topk": lambda: dict(x=_X6, k=2),
    "probability.log_esp": lambda: dict(x=_X6, k=2),
    "probability.log_esp_brute": lambda: dict(x=_X6, k=2),
    "probability.logsumexp": lambda: dict(x=_X6),
    "probability.naive_grad_topk_recurrence": lambda: dict(x=_X6, k=2),
    "probability.naive_sparsemax_post": lambda: dict(x=_X6),
    "probability.naive_stopgrad_loss_post": lambda: dict(p=torch.softmax(_T6, -1), x=_T6, target=2),
    "probability.perturb_max": lambda: dict(x=_X6, n_nodes=201),
    "probability.perturb_max_mc": lambda: dict(x=_X6, n_samples=100),
    "probability.sigmoid": lambda: dict(x=_X6),
    "probability.smooth_topk": lambda: dict(x=_X6, k=2),
    "probability.softmax": lambda: dict(x=_X6),
    "probability.softmax_jacobian": lambda: dict(p=np.array([0.5, 0.3, 0.2])),
    "probability.sparse_softmax": lambda: dict(x=_X6, k=2),
    "probability.sparse_softmax_loss": lambda: dict(x=_X6, target=1, k=2),
    "probability.sparsemax": lambda: dict(x=_X6),
    "probability.sparsemax_loss": lambda: dict(x=_X6, target=2),
    "probability.sparsemax_threshold": lambda: dict(x=_X6),
    "probability.stopgrad_surrogate_loss": lambda: dict(p=torch.softmax(_T6, -1), x=_T6, target=2),
    "probability.su_iteration": lambda: dict(x=_X6, k=2),
    "probability.surrogate_inputs": lambda: dict(p=torch.softmax(_T6, -1), x=_T6),
    "probability.taylor_features": lambda: dict(x=_XB),
    "probability.taylor_linear_attention": lambda: dict(q=_XB, k=_XB[::-1].copy(), v=_XB),
    "probability.taylor_softmax": lambda: dict(x=_X6),
    "probability.thre_topk": lambda: dict(x=_X6, k=2),
    "probability.thre_topk_lambda": lambda: dict(x=_X6, k=2),
    "probability.thre_topk_lambda_grad": lambda: dict(x=_X6, k=2),
    "probability.threshold_f": lambda: dict(t=_X6, f="exp"),
    "probability.threshold_f_prime": lambda: dict(t=_X6, f="exp"),
    "probability.topk_l1_distance": lambda: dict(x=_X6, k=2, taus=np.array([0.5, 1.0]),
                                                 method="GradTopK"),
    "probability.weighted_softmax_iteration": lambda: dict(x=_X6, k=2),
    "probability.zoo_map": lambda: dict(x=_X6, name="softmax"),
    # attention
    "attention.Layout": None,     # a NamedTuple record: checked where consumed (modality_gaps, ...)
    "attention.apply_rope": lambda: dict(x=_Q, positions=np.arange(5.0)),
    "attention.apply_rope_angles": lambda: dict(x=_Q, angles=_rng.standard_normal((5, 2))),
    "attention.apply_rope_nd": lambda: dict(x=_Q, positions=np.stack([np.arange(5.0)] * 2, 1)),
    "attention.approx_objective": lambda: dict(alpha=1.0, n=8),
    "attention.attention": lambda: dict(q=_Q, k=_K, v=_V),
    "attention.attention_entropy": lambda: dict(weights=np.full((3, 4), 0.25)),
    "attention.attention_recurrent": lambda: dict(q=_Q, k=_K, v=_V),
    "attention.attention_row_recurrent": lambda: dict(q_i=_Q[0], K=_K, V=_V),
    "attention.cast_weights": lambda: dict(W=_mla_w(), dtype=torch.float32),
    "attention.collision_probability": lambda: dict(p=_P),
    "attention.config_cache_elements": lambda: dict(name="llama2-7b"),
    "attention.config_ram_floats": lambda: dict(name="llama2-7b"),
    "attention.decode_cost": lambda: dict(kind="mha", n_heads=4, head_dim=8),
    "attention.estimates_from_row_square_sums": lambda: dict(row2=_rng.random((3, 2)) + 0.1, d=4,
                                                              rng=0),
    "attention.expected_mean_square": lambda: dict(A=np.full((3, 3), 1 / 3)),
    "attention.fit_scale_law": lambda: dict(ns=np.array([8.0, 16.0, 32.0]),
                                            alphas=np.array([1.0, 1.1, 1.2])),
    "attention.gradient_l1": lambda: dict(s=_X6, alpha=1.0),
    "attention.init_mla": lambda: dict(_MLA),
    "attention.rope_frequencies": lambda: dict(d=8),
    "attention.sinusoidal_encoding": lambda: dict(L=5, d=8),
    "attention.kv_cache_bytes": lambda: dict(kind="mha", context=16, n_layers=2, n_heads=4,
                                             head_dim=8),
    "attention.kv_cache_elements": lambda: dict(kind="mha", n_layers=2, n_heads=4, head_dim=8),
    "attention.layout_positions": lambda: dict(segments=_SEGS, scheme="mrope"),
    "attention.layout_scores": lambda: dict(layout=kexue.attention.positions_mrope(_SEGS),
                                            scheme="mrope", d=16),
    "attention.log_mgf_cosine": lambda: dict(alpha=1.0, d=4),
    "attention.loglog_slope": lambda: dict(n=np.array([1.0, 2.0, 4.0]), ms=np.array([1.0, 0.5, 0.25])),
    "attention.mc_objective": lambda: dict(alpha=1.0, n=8, trials=10, seed=0),
    "attention.mean_square": lambda: dict(y=_Q),
    "attention.merge_partials": lambda: dict(parts=[(0.5, _V[0], 1.0), (0.2, _V[1], 1.0)]),
    "attention.mgf_cosine": lambda: dict(alpha=1.0, d=4),
    "attention.mgf_normal": lambda: dict(alpha=1.0),
    "attention.mla_absorb": lambda: dict(W=_mla_w()),
    "attention.mla_decode_forward": lambda: dict(x=torch.randn(3, 8, dtype=torch.float64),
                                                 W_abs=_mla_abs()),
    "attention.mla_decode_step": lambda: dict(x_t=torch.randn(8, dtype=torch.float64), cache=None,
                                              W_abs=_mla_abs(), pos=0),
    "attention.mla_stack": lambda: dict(x=torch.randn(3, 8, dtype=torch.float64), layers=[_mla_w()]),
    "attention.mla_train_forward": lambda: dict(x=torch.randn(3, 8, dtype=torch.float64), W=_mla_w()),
    "attention.modality_gaps": lambda: dict(layout=kexue.attention.positions_mrope(_SEGS)),
    "attention.naive_attention_overflow_step": lambda: dict(q_i=_Q[0], K=_K),
    "attention.optimal_scales": lambda: dict(ns=np.array([8.0, 16.0])),
    "attention.permute_check": lambda: dict(x=_Q, perm=np.array([1, 0, 2, 4, 3]),
                                            Wq=_rng.standard_normal((4, 4)),
                                            Wk=_rng.standard_normal((4, 4)),
                                            Wv=_rng.standard_normal((4, 3))),
    "attention.position_from_ms": lambda: dict(ms=np.array([0.5, 0.25])),
    "attention.positions_flat": lambda: dict(segments=_SEGS),
    "attention.positions_mrope": lambda: dict(segments=_SEGS),
    "attention.positions_rope_tie": lambda: dict(segments=_SEGS),
    "attention.positions_rope_tv": lambda: dict(segments=_SEGS),
    "attention.repeat_kv": lambda: dict(x=torch.randn(1, 2, 3, 4, dtype=torch.float64), n_rep=2),
    "attention.rope_angles": lambda: dict(positions=np.arange(5.0), d=4),
    "attention.rope_matrix": lambda: dict(angles_row=np.array([0.1, 0.2])),
    "attention.round_to": lambda: dict(x=torch.randn(3, dtype=torch.float64), dtype=torch.float32),
    "attention.scale_objective": lambda: dict(s=_X6, alpha=1.0),
    "attention.scaled_softmax": lambda: dict(s=_X6, alpha=1.0),
    "attention.scan_partials": lambda: dict(q_i=_Q[0], K=_K, V=_V),
    "attention.score_matrix": lambda: dict(q=_Q, k=_K, positions=np.stack([np.arange(5.0)] * 2, 1)),
    "attention.self_attention": lambda: dict(x=_Q, Wq=_rng.standard_normal((4, 4)),
                                             Wk=_rng.standard_normal((4, 4)),
                                             Wv=_rng.standard_normal((4, 3))),
    "attention.softmax_jacobian": lambda: dict(s=_X6, alpha=1.0),
    "attention.threshold_accuracy": lambda: dict(ms_n=_rng.random(5) + 0.1, ms_n1=_rng.random(5) + 0.1,
                                                 n=3),
    "attention.traced_peak_bytes": lambda: dict(fn=lambda: np.ones(3), repeats=1),
    # codes
    "codes.DigitsAutoencoder": lambda: dict(quantizer=kexue.codes.FSQ([3, 3]), hidden=8),
    "codes.FSQ": lambda: dict(levels=[3, 4]),
    "codes.boundary_distance": lambda: dict(points=_Z.numpy(), codebook=_CB.numpy()),
    "codes.check_levels": lambda: dict(levels=[3, 4]),
    "codes.codebook_usage": lambda: dict(indices=np.array([0, 1, 1, 3]), K=5),
    "codes.codes_to_levels": lambda: dict(codes=np.array([[-1.0, 0.0], [1.0, 1.0]]), levels=[3, 4]),
    "codes.ema_update": lambda: dict(codebook=_CB.clone(), z=_Z.clone(),
                                     indices=torch.tensor([0, 1, 1, 3])),
    "codes.encoder_gradient_norms": lambda: dict(model=_ae(), x=torch.rand(4, 64, dtype=torch.float64)),
    "codes.fsq_round": lambda: dict(z=_Z[:, :2], levels=[3, 4]),
    "codes.fsq_ste": lambda: dict(z=_Z[:, :2].clone(), levels=[3, 4]),
    "codes.generalized_ste": lambda: dict(z=_Z, q=_CB[:4], G=torch.eye(3, dtype=torch.float64)),
    "codes.gradient_field": lambda: dict(points=_Z.numpy(), codebook=_CB.numpy(),
                                         g=np.array([1.0, 0.0, 0.0])),
    "codes.implicit_codebook": lambda: dict(levels=[3, 4]),
    "codes.indices_to_levels": lambda: dict(idx=np.array([0, 5, 11]), levels=[3, 4]),
    "codes.levels_to_codes": lambda: dict(lev=np.array([[0, 1], [2, 3]]), levels=[3, 4]),
    "codes.levels_to_indices": lambda: dict(lev=np.array([[0, 1], [2, 3]]), levels=[3, 4]),
    "codes.naive_fsq_round_tanh": lambda: dict(z=_Z.numpy(), L=4),
    "codes.nearest_code": lambda: dict(z=_Z, codebook=_CB),
    "codes.recon_grad_ratio": lambda: dict(model=_ae(), x=torch.rand(4, 64, dtype=torch.float64)),
    "codes.recommended_levels": lambda: dict(K=256),
    "codes.rotate_to": lambda: dict(z=_Z, q=_CB[:4]),
    "codes.rotation_matrix": lambda: dict(z=_Z[0], q=_CB[0]),
    "codes.run_one": lambda: dict(key="fsq", seed=0, steps=2),
    "codes.run_sweep_one": lambda: dict(part="gamma", key=next(iter(kexue.codes.runs.GAMMA)), seed=0,
                                        steps=2),
    "codes.ste": lambda: dict(z=_Z, q=_CB[:4]),
    "codes.train_digits_autoencoder": lambda: dict(steps=2, record_every=1),
    # diffusion
    "diffusion.EDMDenoiser": lambda: dict(net=kexue.diffusion.TinyUNet(channels=4, levels=1, emb_dim=8)),
    "diffusion.GaussianMixture": lambda: dict(means=np.array([[1.0, 0.0], [-1.0, 0.5]]),
                                              stds=np.array([0.3, 0.6]), weights=np.array([0.4, 0.6])),
    "diffusion.afs_slope": lambda: dict(x=_X2, sigma=1.0),
    "diffusion.alpha_sigma_from_logsnr": lambda: dict(logsnr=np.array([-1.0, 0.0, 2.0])),
    "diffusion.avg_pool": lambda: dict(x=_rng.standard_normal((2, 8, 8)), s=2),
    "diffusion.band_log_ratio": lambda: dict(x=kexue.diffusion.sample_gp(_psd(), 4, np.random.default_rng(0)),
                                             P=_psd(), k_split=2.0),
    "diffusion.base_logsnr": lambda: dict(t=_TS),
    "diffusion.chord_deviation": lambda: dict(traj=_rng.standard_normal((5, 2))),
    "diffusion.coarse_mmse": lambda: dict(P_low=_psd(4), alpha=0.8, beta_eff=0.6),
    "diffusion.cosine_alpha_beta": lambda: dict(t=_TS),
    "diffusion.ddim_sample": lambda: dict(eps_fn=_eps(), x=_rng.standard_normal((2, 8, 8)), ts=_TS),
    "diffusion.ddpm_sample": lambda: dict(eps_fn=_eps(), x=_rng.standard_normal((2, 8, 8)), ts=_TS,
                                          rng=np.random.default_rng(0)),
    "diffusion.edm_loss": lambda: dict(den=_edm(), x0=torch.rand(2, 1, 8, 8, dtype=torch.float64),
                                       sigma=torch.tensor([0.5, 1.0], dtype=torch.float64)),
    "diffusion.eps_from_denoiser": lambda: dict(denoiser=_den()),
    "diffusion.fit_amed": lambda: dict(denoiser=_den(), x_train=_X2, sigmas=_SIG, substeps=4, r_grid=5),
    "diffusion.fold_skip_scales": lambda: dict(model=_edm()),
    "diffusion.frechet_distance": lambda: dict(A=_X64, B=_rng.standard_normal((7, 4))),
    "diffusion.gp_highres_model": lambda: dict(P_high=_psd()),
    "diffusion.gp_lowres_model": lambda: dict(P_low=_psd(4)),
    "diffusion.gp_ug_samples": lambda: dict(P_high=_psd(), s=2, w=0.5,
                                            x_T=_rng.standard_normal((2, 8, 8)), ts=_TS),
    "diffusion.logsnr_cosine": lambda: dict(t=_TS),
    "diffusion.logsnr_from_alphas_cumprod": lambda: dict(alphas_cumprod=np.array([0.9, 0.5, 0.1])),
    "diffusion.lowres_kernel_on_highres": lambda: dict(P_low=_psd(4), alpha=0.8, beta=0.6, n_high=8),
    "diffusion.multiscale_loss": lambda: dict(eps=_rng.standard_normal((2, 8, 8)),
                                              eps_hat=_rng.standard_normal((2, 8, 8))),
    "diffusion.nearest_upsample": lambda: dict(y=_rng.standard_normal((2, 4, 4)), s=2),
    "diffusion.nfe": lambda: dict(method="heun", steps=4),
    "diffusion.pooled_spectrum": lambda: dict(P_high=_psd(), s=2),
    "diffusion.pooled_variance_fraction": lambda: dict(P=_psd(), s=2),
    "diffusion.radial_power_spectrum": lambda: dict(x=_rng.standard_normal((2, 8, 8))),
    "diffusion.radial_spectrum": lambda: dict(P=_psd()),
    "diffusion.reference_solution": lambda: dict(denoiser=_den(), x=_X2, sigmas=_SIG, substeps=4),
    "diffusion.rf_shift_sigmas": lambda: dict(sigma=np.array([0.2, 0.5]), shift=2.0),
    "diffusion.rf_unshift_sigmas": lambda: dict(sigma_shifted=np.array([0.2, 0.5]), shift=2.0),
    "diffusion.rms_error": lambda: dict(x=_X2, y=_X2[::-1].copy()),
    "diffusion.sample_amed": lambda: dict(denoiser=_den(), x=_X2, sigmas=_SIG, r=[0.5, 0.5],
                                          c=[1.0, 1.0]),
    "diffusion.sample_digits": lambda: dict(den=_edm(), x_T=torch.randn(2, 1, 8, 8, dtype=torch.float64),
                                            sampler="euler3"),
    "diffusion.sample_euler": lambda: dict(denoiser=_den(), x=_X2, sigmas=_SIG),
    "diffusion.sample_gp": lambda: dict(P=_psd(), n=2, rng=np.random.default_rng(0)),
    "diffusion.sample_heun": lambda: dict(denoiser=_den(), x=_X2, sigmas=_SIG),
    "diffusion.sample_midpoint": lambda: dict(denoiser=_den(), x=_X2, sigmas=_SIG),
    "diffusion.shift_alphas_cumprod": lambda: dict(alphas_cumprod=np.array([0.9, 0.5, 0.1]), s=2.0),
    "diffusion.shift_logsnr": lambda: dict(logsnr=np.array([-1.0, 0.0, 2.0]), s=2.0),
    "diffusion.shifted_cosine": lambda: dict(t=_TS, s=2.0),
    "diffusion.skip_sweep": lambda: dict(den=_edm(), rhos=[1.0], samplers=("euler3",), n=4),
    "diffusion.skip_tuning": lambda: dict(model=_edm(), rho_bottom=0.9),
    "diffusion.sliced_wasserstein2": lambda: dict(x=_X2, y=_X2[::-1] + 0.5, n_projections=8),
    "diffusion.slope": lambda: dict(denoiser=_den(), x=_X2, sigma=1.0),
    "diffusion.snr_match_time": lambda: dict(t=_TS, s=2.0),
    "diffusion.solve_at_budget": lambda: dict(denoiser=_den(), x=_X2, budget=4, solver="heun"),
    "diffusion.sweep_to_json": lambda: dict(sweep=kexue.diffusion.skip_sweep(
        _edm(), [1.0], ("euler3",), n=4), n=4),
    "diffusion.total_variation": lambda: dict(x=_rng.standard_normal((2, 8, 8))),
    "diffusion.trajectory_pca": lambda: dict(traj=_rng.standard_normal((5, 4, 2))),
    "diffusion.ug_rho": lambda: dict(alpha_bar=0.8, beta_bar=0.6, s=2.0),
    "diffusion.upsample_guidance_eps": lambda: dict(eps_model=kexue.diffusion.gp_lowres_model(_psd(4)),
                                                    x_t=_rng.standard_normal((2, 8, 8)),
                                                    t=0.5, s=2, w=0.5),
    "diffusion.vp_eps_model": lambda: dict(den=_edm()),
    "diffusion.train_digits_unet": None,     # trains a U-Net on the digits (minutes)
    "diffusion.vp_to_ve": lambda: dict(x_t=_X2, alpha=0.8, beta=0.6),
    "diffusion.wiener_eps": lambda: dict(x_t=_rng.standard_normal((2, 8, 8)), alpha=0.8, beta=0.6,
                                         P=_psd()),
    # widgets
    "widgets.Dropdown": lambda: dict(name="m", options=["a", "b"], default="a"),
    "widgets.Explorer": lambda: dict(controls=[kexue.widgets.Slider("a", [0.0, 1.0], 0.0)],
                                     compute=lambda a: _frame(), name="contract"),
    "widgets.LiveExplorer": lambda: dict(explorer=_explorer()),
    "widgets.Slider": lambda: dict(name="a", values=[0.0, 1.0, 2.0], default=1.0),
    "widgets.StaticExplorer": lambda: dict(explorer=_explorer(), data=_explorer().static().data),
    "widgets.bars": lambda: dict(x=[0.0, 1.0], y=[1.0, 2.0]),
    "widgets.check_frame": lambda: dict(fr=_frame()),
    "widgets.display_figure": None,        # displays a matplotlib figure (IPython side effect)
    "widgets.frame": None,                 # frame(*panels, text=""): positional panels only
    "widgets.draw_frame": lambda: dict(fr=_frame()),
    "widgets.heatmap": lambda: dict(z=np.ones((2, 3)), x_edges=np.arange(4.0), y_edges=np.arange(3.0)),
    "widgets.line": lambda: dict(x=[0.0, 1.0], y=[1.0, 2.0]),
    "widgets.no_negative_zero": lambda: dict(s="-0.0"),
    "widgets.panel": lambda: dict(title="t", xlabel="x", ylabel="y",
                                  series=[kexue.widgets.line([0.0, 1.0], [0.0, 1.0])]),
    "widgets.round_frame": lambda: dict(obj={"a": [1.23456]}),
    "widgets.scatter": lambda: dict(x=[0.0, 1.0], y=[1.0, 2.0]),
    "widgets.time_updates": lambda: dict(explorer=_explorer(), samples=2),
    # explorers: factories run with their defaults; three precompute for ~20 s (tested in
    # tests/lib/explorers), too slow to call once per bad value here
    "explorers.ddcm.codec": None,
    "explorers.moe_geometry.digits_errors": None,
    "explorers.moe_load_balance.loads": None,
    # training
    "training.MuonLite": lambda: dict(params=_lin_params()),
    "training.SpectralAdamW": lambda: dict(params=_lin_params()),
    "training.ChainedOptimizer": None,   # only *optimizers: no named parameter to mutate
    "training.adam_eps_optimal_lr": lambda: dict(g=_G3, H=_SPD, sigma=_S3, B=4, eps=0.1),
    "training.adam_sign": lambda: dict(x=_G3, eps=0.1),
    "training.clip_mean": lambda: dict(a=_G3, b=_S3),
    "training.clip_second_moment": lambda: dict(a=_G3, b=_S3),
    "training.contribution_ratio": lambda: dict(dA=_M54, dB=_X64),
    "training.coupled_hessian": lambda: dict(d=3, rho=0.5),
    "training.critical_eps_isotropic": lambda: dict(g=0.5, d=3, rho=0.5),
    "training.decay_spectrum_path": lambda: dict(W=_M54, lam=0.1, steps=3),
    "training.flat_top_level": lambda: dict(sigmas=np.array([3.0, 2.0, 1.0]), lam=0.1, steps=3),
    "training.frobenius_weight_decay_step": lambda: dict(W=_M54, lam=0.1),
    "training.lecun_lora_init": lambda: dict(n=5, r=2, m=4),
    "training.lora_forward": lambda: dict(X=_X64, A=_rng.standard_normal((4, 2)),
                                          B=_rng.standard_normal((2, 5))),
    "training.lora_grads": lambda: dict(X=_X64, A=_rng.standard_normal((4, 2)),
                                        B=_rng.standard_normal((2, 5)),
                                        dY=_rng.standard_normal((6, 5))),
    "training.lora_sweep": lambda: dict(n=6, r=2, lrs=[0.01], ratios=[1.0], steps=2, batch=4, k=2),
    "training.loraplus_param_groups": _lora_named,
    "training.loraplus_ratio": lambda: dict(n=8, m=4, r=2),
    "training.matrix_with_spectrum": lambda: dict(sigmas=np.array([3.0, 2.0, 1.0])),
    "training.monte_carlo_step_moments": lambda: dict(g=_G3, sigma=_S3, B=4, update=np.sign, n=100),
    "training.msign": lambda: dict(G=_M54),
    "training.muon_update": lambda: dict(grad=_t(_M54), buf=torch.zeros(5, 4, dtype=torch.float64)),
    "training.newton_schulz": lambda: dict(G=_t(_M54)),
    "training.noise_scales": lambda: dict(g=_G3, H=_SPD, Sigma=_SPD),
    "training.norm_bound_path": lambda: dict(W0=_M54, eta=0.1, lam=0.1, steps=3),
    "training.ns_band": lambda: dict(n_grid=1001),
    "training.ns_scalar_map": lambda: dict(x=np.linspace(0.1, 1, 5)),
    "training.optimal_lr_from_moments": lambda: dict(g=_G3, H=_SPD, m1=_G3, m2=_SPD),
    "training.power_iteration": lambda: dict(W=_M54),
    "training.power_iteration_errors": lambda: dict(W=_M54, iters=3),
    "training.power_iteration_tan_theory": lambda: dict(sigmas=np.array([3.0, 2.0, 1.0]),
                                                        coeffs=np.array([1.0, 0.5, 0.2]), iters=3),
    "training.random_contribution_ratio": lambda: dict(n=5, m=4, r=2, b=4),
    "training.rms": lambda: dict(W=_M54),
    "training.rms_matched_scale": lambda: dict(shape=(5, 4)),
    "training.sample_minibatch_gradients": lambda: dict(per_example=_X64, B=4, n=3),
    "training.sgd_loss_decrease": lambda: dict(g=_G3, H=_SPD, Sigma=_SPD, B=4),
    "training.sgd_optimal_lr": lambda: dict(g=_G3, H=_SPD, Sigma=_SPD, B=4),
    "training.sgd_stationary_variance": lambda: dict(eta=0.1, h=1.0, sigma2=1.0, B=4),
    "training.sign_mean": lambda: dict(g=_G3, sigma=_S3, B=4),
    "training.signsgd_loss_decrease": lambda: dict(g=_G3, H=_SPD, sigma=_S3, B=4),
    "training.signsgd_moments": lambda: dict(g=_G3, sigma=_S3, B=4),
    "training.signsgd_optimal_lr": lambda: dict(g=_G3, H=_SPD, sigma=_S3, B=4),
    "training.simulate_sgd_quadratic_1d": lambda: dict(eta=0.1, h=1.0, sigma2=1.0, B=4, steps=20,
                                                       chains=10),
    "training.softsign": lambda: dict(x=_G3, eps=0.1),
    "training.softsign_moments": lambda: dict(g=0.5, sigma=1.0, B=4, eps=0.1),
    "training.spectral_decay_direction": lambda: dict(W=_M54),
    "training.spectral_norm_grad": lambda: dict(W=_M54),
    "training.spectral_weight_decay_step": lambda: dict(W=_M54, lam=0.1),
    "training.steps_data_tradeoff": lambda: dict(B=4, B_noise=10.0, S_min=100.0),
    "training.surge_condition": lambda: dict(g=_G3, H=_SPD, eps=0.1),
    "training.surge_params": lambda: dict(g=_G3, H=_SPD, kappa2=1.0),
    "training.sv_entropy": lambda: dict(W=_M54),
    "training.top_singular_triple": lambda: dict(W=_M54),
    "training.train_digits_mlp": _train_digits,
    "training.digits_mlp": lambda: dict(sizes=(4, 5, 3)),
    # moe
    "moe.aux_loss_fp": lambda: dict(P=_t(_P), F=_t(_P)),
    "moe.aux_loss_ste": lambda: dict(P=_t(_P), F=_t(_P)),
    "moe.best_subset": lambda: dict(V=_M54, k=2),
    "moe.deepseek_aux_loss": lambda: dict(logits=_t(_X64), k=2),
    "moe.dense_ffn": lambda: dict(x=_rng.standard_normal((3, 4)), WA=_M54.T.copy(), WB=_M54),
    "moe.dropped_fraction": lambda: dict(F=_P),
    "moe.entropy_surrogate": lambda: dict(P=_t(_P), F=_t(_P)),
    "moe.expert_outputs": lambda: dict(x=_rng.standard_normal((3, 4)), WA=_rng.standard_normal((4, 6)),
                                       WB=_rng.standard_normal((6, 4)), n=3),
    "moe.fit_norm_router": lambda: dict(X=_X64, norms=_rng.random((6, 3))),
    "moe.geometric_moe": lambda: dict(x=_rng.standard_normal((3, 4)), WA=_rng.standard_normal((4, 6)),
                                      WB=_rng.standard_normal((6, 4)), n=3,
                                      p=_rng.random((3, 3)), k=2),
    "moe.glu_expert_outputs": lambda: dict(x=_rng.standard_normal((3, 4)),
                                           WA=_rng.standard_normal((4, 6)),
                                           WG=_rng.standard_normal((4, 6)),
                                           WB=_rng.standard_normal((6, 4)), n=3),
    "moe.glu_ffn": lambda: dict(x=_rng.standard_normal((3, 4)), WA=_rng.standard_normal((4, 6)),
                                WG=_rng.standard_normal((4, 6)), WB=_rng.standard_normal((6, 4))),
    "moe.load_metrics": lambda: dict(F=_P),
    "moe.min_variance_probs": lambda: dict(V=_M54),
    "moe.mixtral_aux_loss": lambda: dict(logits=_t(_X64), k=2),
    "moe.norm_rule_study": lambda: dict(dims=[4], n=4, k=2, trials=3),
    "moe.orthogonal_experts": lambda: dict(n=3, d=4),
    "moe.pairwise_cosines": lambda: dict(V=_M54),
    "moe.predict_norms": lambda: dict(X=_X64, W=_rng.standard_normal((5, 3))),
    "moe.random_experts": lambda: dict(trials=2, n=3, d=4),
    "moe.random_subsets": lambda: dict(n=5, k=2, batch=3),
    "moe.rms_normalize": lambda: dict(v=_M54),
    "moe.router_stats": lambda: dict(scores=_t(_X64), k=2),
    "moe.sampling_variance": lambda: dict(V=_M54, q=np.full(5, 0.2)),
    "moe.simulate_balancing": lambda: dict(steps=2, T=16, d=4, n=4, k=2),
    "moe.subset_error": lambda: dict(V=_M54, idx=np.array([0, 2])),
    "moe.switch_aux_loss": lambda: dict(router_probs=torch.softmax(_t(_X64), -1),
                                        expert_index=torch.tensor([0, 1, 2, 3, 0, 1])),
    "moe.topk_by_norm": lambda: dict(V=_M54, k=2),
    "moe.train_digits_ffn": lambda: dict(hidden=8, steps=2),
    "moe.digits_expert_study": lambda: dict(n=4, n_best=2, hidden=8, max_subsets=10),
    # matrices
    "matrices.best_single_column": lambda: dict(M=_M54),
    "matrices.coherent_factors": lambda: dict(n=5, l=4, m=5, coherence=0.5),
    "matrices.cr_bruteforce": lambda: dict(X=_X64, Y=_Y45, r=2),
    "matrices.cr_diag_core": lambda: dict(X=_X64, Y=_Y45, idx=np.array([0, 2])),
    "matrices.cr_draw_counts": lambda: dict(p=_P, r=2, n_draws=3),
    "matrices.cr_error": lambda: dict(X=_X64, Y=_Y45, idx=np.array([0, 2])),
    "matrices.cr_expected_sq_error": lambda: dict(X=_X64, Y=_Y45, p=_P),
    "matrices.cr_full_core": lambda: dict(X=_X64, Y=_Y45, idx=np.array([0, 2])),
    "matrices.cr_greedy_k": lambda: dict(X=_X64, Y=_Y45, r=2, k=1),
    "matrices.cr_outer_norms": lambda: dict(X=_X64, Y=_Y45),
    "matrices.cr_product": lambda: dict(X=_X64, Y=_Y45, idx=np.array([0, 2])),
    "matrices.cr_sample": lambda: dict(X=_X64, Y=_Y45, r=2, p=_P),
    "matrices.cr_sampled_product": lambda: dict(X=_X64, Y=_Y45, r=2, p=_P),
    "matrices.cr_sampling_probs": lambda: dict(X=_X64, Y=_Y45),
    "matrices.cr_select_topnorm": lambda: dict(X=_X64, Y=_Y45, r=2),
    "matrices.cr_weighted_products": lambda: dict(X=_X64, Y=_Y45, weights=_P),
    "matrices.cur": lambda: dict(M=_M54, cols=np.array([0, 1]), rows=np.array([0, 2])),
    "matrices.cur_error": lambda: dict(M=_M54, cols=np.array([0, 1]), rows=np.array([0, 2])),
    "matrices.decaying_matrix": lambda: dict(n=5, m=4, decay=0.5),
    "matrices.deim": lambda: dict(V=np.linalg.qr(_M54)[0][:, :2]),
    "matrices.deim_residuals": lambda: dict(V=np.linalg.qr(_M54)[0][:, :2]),
    "matrices.discretize": lambda: dict(A=-_SPD, B=np.ones(3), dt=0.1),
    "matrices.fbdm_cdf": lambda: dict(a=np.array([1.0, 0.3, 0.1]) + 0j, x=np.linspace(-0.9, 0.9, 5)),
    "matrices.fbdm_coeffs": lambda: dict(a=np.array([1.0, 0.3, 0.1]) + 0j),
    "matrices.fbdm_density": lambda: dict(a=np.array([1.0, 0.3, 0.1]) + 0j,
                                          x=np.linspace(-0.9, 0.9, 5)),
    "matrices.fbdm_log_density_real": lambda: dict(a=np.array([1.0, 0.3, 0.1]) + 0j, mu=0.0,
                                                   sigma=1.0, y=np.linspace(-2, 2, 5)),
    "matrices.fbdm_nll": lambda: dict(a=np.array([1.0, 0.3, 0.1]) + 0j, mu=0.0, log_sigma=0.0,
                                      y=np.linspace(-2, 2, 5)),
    "matrices.fbdm_objective_grad": lambda: dict(theta=np.array([1.0, 0.3, 0.0, 0.0, 0.0, 0.0]),
                                                 y=np.linspace(-2, 2, 5)),
    "matrices.fbdm_sample": lambda: dict(a=np.array([1.0, 0.3, 0.1]) + 0j, n=5),
    "matrices.fbdm_smoothness": lambda: dict(a=np.array([1.0, 0.3, 0.1]) + 0j),
    "matrices.fit_fbdm": lambda: dict(y=np.linspace(-2, 2, 9), N=2, iters=2),
    "matrices.fit_gmm_gradient": lambda: dict(y=np.linspace(-2, 2, 9), k=2, iters=2),
    "matrices.fourier_series": lambda: dict(c=np.array([0.5, 1.0, 0.5]) + 0j, x=np.linspace(0, 1, 5)),
    "matrices.gmm_logpdf": lambda: dict(train=np.linspace(-2, 2, 9), y=np.linspace(-1, 1, 3), k=2,
                                        n_init=1),
    "matrices.greedy_cross": lambda: dict(M=_M54, r=2),
    "matrices.hippo_fourier": lambda: dict(N=3),
    "matrices.hippo_from_basis": lambda: dict(measure="legt", N=3, quad=20),
    "matrices.hippo_legs": lambda: dict(N=3),
    "matrices.hippo_legt": lambda: dict(N=3),
    "matrices.hippo_matrices": lambda: dict(measure="legt", N=3),
    "matrices.id_coefficients": lambda: dict(M=_M54, idx=np.array([0, 2])),
    "matrices.id_column_sampling": lambda: dict(M=_M54, r=2, k=3),
    "matrices.id_cpqr": lambda: dict(M=_M54, r=2),
    "matrices.id_error": lambda: dict(M=_M54, idx=np.array([0, 2])),
    "matrices.id_greedy_min_residual": lambda: dict(M=_M54, r=2),
    "matrices.id_random_projection": lambda: dict(M=_M54, r=2, d=3),
    "matrices.kahan_matrix": lambda: dict(n=4),
    "matrices.kde_logpdf": lambda: dict(train=np.linspace(-2, 2, 9), y=np.linspace(-1, 1, 3)),
    "matrices.legendre_basis": lambda: dict(N=3, s=np.linspace(-1, 1, 5)),
    "matrices.legendre_g": lambda: dict(n=2, s=np.linspace(-1, 1, 5)),
    "matrices.leverage_scores": lambda: dict(M=_M54),
    "matrices.local_maxima": lambda: dict(x=np.arange(5.0), p=np.array([0.0, 1.0, 0.0, 2.0, 0.0])),
    "matrices.lti_solve": lambda: dict(A=-_SPD, B=np.ones(3), u=np.sin, t0=0.0,
                                       t_eval=np.array([0.1, 0.2]), x0=np.zeros(3)),
    "matrices.maxvol_bruteforce": lambda: dict(M=_M54, r=2),
    "matrices.mixture_logpdf": lambda: dict(y=np.linspace(-1, 1, 3), weights=np.array([0.5, 0.5]),
                                            means=np.array([-1.0, 1.0]), stds=np.array([1.0, 0.5])),
    "matrices.mixture_sample": lambda: dict(n=5, weights=np.array([0.5, 0.5]),
                                            means=np.array([-1.0, 1.0]), stds=np.array([1.0, 0.5])),
    "matrices.pivoted_gram_schmidt": lambda: dict(M=_M54, r=2),
    "matrices.project": lambda: dict(u=np.sin, T=1.0, N=3, measure="legt", quad=20),
    "matrices.reconstruct": lambda: dict(c=np.array([1.0, 0.5, 0.2]), s=np.linspace(-1, 1, 5),
                                         measure="legt"),
    "matrices.rescale_state": lambda: dict(A=-_SPD, B=np.ones(3), lam=np.array([1.0, 2.0, 3.0])),
    "matrices.run_recurrence": lambda: dict(Ad=0.5 * np.eye(3), Bd=np.ones(3),
                                            u_seq=np.ones(4)),
    "matrices.select_columns": lambda: dict(M=_M54, r=2),
    "matrices.select_rows": lambda: dict(M=_M54, r=2),
    "matrices.simulate": lambda: dict(measure="legt", u=np.sin, t0=0.0, t_eval=np.array([0.5, 1.0]),
                                      N=3),
    "matrices.svd_floor": lambda: dict(M=_M54, r=2),
    "matrices.toeplitz_from_c": lambda: dict(c=np.array([0.5, 1.0, 0.5]) + 0j),
    "matrices.window_map": lambda: dict(measure="legt", s=np.linspace(-1, 1, 5), T=2.0),
    # text
    "text.BM25Index": lambda: dict(docs=_DOCS),
    "text.HSModel": lambda: {k: getattr(_hs_model(), k) for k in (
        "words", "counts", "codes", "points", "lengths", "syn1", "vectors", "has_vector")},
    "text.bm25_idf": lambda: dict(df=np.array([1.0, 2.0, 3.0]), n_docs=4),
    "text.gensim_node_log_prob": lambda: dict(z=_G3, d=np.array([0, 1, 1])),
    "text.naive_node_log_prob": lambda: dict(z=_G3, d=np.array([0, 1, 1])),
    "text.node_log_prob": lambda: dict(z=_G3, d=np.array([0, 1, 1])),
    "text.hs_cross_entropy": lambda: dict(model=_hs_model(), inputs=_hs_words(2),
                                          q=np.full(len(_hs_model().words), 1 / len(_hs_model().words))),
    "text.hs_log_prob_matrix": lambda: dict(model=_hs_model(), inputs=_hs_words(2), outputs=_hs_words(3)),
    "text.hs_model_from_gensim": lambda: dict(model=_gensim()),
    "text.keyword_scores": lambda: dict(model=_hs_model(), tokens=_hs_words(3)),
    "text.keywords": lambda: dict(model=_hs_model(), tokens=_hs_words(3), k=2),
    "text.lee_keyword_runs": None,      # trains Word2Vec models: minutes; not called here
    "text.load_hs_model": lambda: dict(path=kexue.text.save_hs_model(_hs_model(), _TMP / "m.npz")),
    "text.ndcg_at_k": lambda: dict(relevance_in_ranked_order=np.array([3.0, 2.0, 0.0, 1.0]), k=3),
    "text.preference_rank": lambda: dict(index=kexue.text.BM25Index(_DOCS), pref_terms=["cat"],
                                         candidates=[0, 2, 3]),
    "text.related": lambda: dict(index=kexue.text.BM25Index(_DOCS), keywords=["cat", "sat"],
                                 doc_id=0, top_k=2),
    "text.save_hs_model": lambda: dict(model=_hs_model(), path=_TMP / "s.npz"),
    "text.spearman_by_row": lambda: dict(scores=_rng.random((4, 4)), human=_rng.random((4, 4))),
    "text.tfidf_keyword_weights": lambda: dict(docs=_DOCS, k=2),
    "text.tfidf_keywords": lambda: dict(docs=_DOCS, k=2),
    "text.tfidf_matrix": lambda: dict(docs=_DOCS),
    "text.to_gensim": lambda: dict(model=_hs_model(), docs=_DOCS, min_count=1),
    "text.tokenize": lambda: dict(text="The cat sat."),
    "text.train_skipgram_hs": lambda: dict(docs=_DOCS, vector_size=4, min_count=1, epochs=1),
    "text.vocab_log_probs": lambda: dict(model=_hs_model(), word=_hs_words(1)[0]),
    "text.window_pairs": lambda: dict(docs=_DOCS, words=["the", "cat", "sat"], window=2),
    "text.word_cloud": lambda: dict(keywords=[["cat", "dog"], ["dog", "log"]], clicked=[0, 1], top=2),
    # mathematics
    "mathematics.Summand": lambda: dict(name="p2", f=lambda n: 1 / n ** 2, F=lambda x: -1 / x),
    "mathematics.certified_sum": lambda: dict(s=kexue.mathematics.power(2.0), N=10),
    "mathematics.check_hypotheses": lambda: dict(s=kexue.mathematics.power(2.0), a=1.0, b=10.0,
                                                 grid=101),
    "mathematics.error_sequence": lambda: dict(s=kexue.mathematics.power(2.0), N=10),
    "mathematics.integral": lambda: dict(s=kexue.mathematics.power(2.0), a=1.0, b=10.0),
    "mathematics.log_power": lambda: dict(q=2.0),
    "mathematics.partial_sums": lambda: dict(s=kexue.mathematics.power(2.0), N=10),
    "mathematics.power": lambda: dict(p=2.0),
    "mathematics.sandwich": lambda: dict(s=kexue.mathematics.power(2.0), N=10),
    "mathematics.series_sum": lambda: dict(s=kexue.mathematics.power(2.0), N=10),
    "mathematics.tail_bounds": lambda: dict(s=kexue.mathematics.power(2.0), N=10),
    "mathematics.terms": lambda: dict(s=kexue.mathematics.power(2.0), N=10),
    # datasets, notebook
    "datasets.load_run": lambda: dict(name="r", directory=kexue.datasets.save_run(
        "r", {"a": 1.0}, directory=_TMP).parent),
    "datasets.save_run": lambda: dict(name="r", result={"a": 1.0}, directory=_TMP),
    "datasets.rounded": lambda: dict(obj={"a": [1.23456]}, digits=3),
    "notebook.below": lambda: dict(value=1e-15, bound=1e-12),
    "notebook.check_choice_verdict": lambda: dict(fails="the post is wrong"),
    "notebook.glue": lambda: dict(name="x", value=1.5),
    "notebook.setup": None,   # sets process-wide state (threads, seeds, matplotlib backend)
}

#: Deliberate exceptions: (function or "*", parameter) -> {mutation: reason}. A mutation listed
#: here is a VALID value for that parameter, so it is not required to raise.
EXCEPTIONS = {
    ("*", "seed"): {"zero": "seed 0 is a valid seed"},
    ("*", "steps"): {"zero": "0 steps returns the starting point"},
    ("*", "iters"): {"zero": "0 iterations returns the starting vector"},
    ("*", "ns_steps"): {"zero": "0 Newton-Schulz steps is the normalised input"},
    ("*", "target"): {"zero": "class 0"},
    ("*", "pos"): {"zero": "position 0"},
    ("*", "levels"): {"past_end": "1000 levels on one axis is a size, not an index"},
    ("codes.check_levels", "name"): {"string": "any label for the messages"},
    ("codes.indices_to_levels", "idx"): {"empty": "no indices, no levels"},
    ("codes.train_digits_autoencoder", "n_show"): {"zero": "show no images"},
    ("codes.train_digits_autoencoder", "holdout"): {"zero": "train on all the digits"},
    ("diffusion.GaussianMixture", "stds"): {"ndim-1": "one std for every component"},
    # widgets: any text is a label, a title or a control's name
    ("*", "label"): {"string": "any text is a label"},
    ("widgets.panel", "title"): {"string": "any text"}, ("widgets.panel", "xlabel"): {"string": "any text"},
    ("widgets.panel", "ylabel"): {"string": "any text"},
    ("widgets.Slider", "name"): {"string": "any identifier"},
    ("widgets.Dropdown", "name"): {"string": "any identifier"},
    ("widgets.Explorer", "name"): {"string": "any identifier"},
    ("widgets.panel", "series"): {"empty": "a panel of reference lines only"},
    ("widgets.panel", "vlines"): {"empty": "no vertical lines"},
    ("widgets.panel", "hlines"): {"empty": "no horizontal lines"},
    ("widgets.no_negative_zero", "s"): {"string": "any string"},
    ("widgets.round_frame", "obj"): {"string": "strings pass through unchanged",
                                     "None": "None passes through unchanged"},
    ("diffusion.ring_mixture", "k"): {"past_end": "1000 components"},
    ("diffusion.random_mixture", "k"): {"past_end": "1000 components"},
    ("diffusion.trajectory_pca", "traj"): {"ndim-1": "one trajectory (T, d)"},
    ("diffusion.sample_amed", "r"): {"ndim-1": "one r for a one-step grid"},
    # elementwise scaling on the hot path of eps_from_denoiser: the samplers check x once
    ("diffusion.vp_to_ve", "x_t"): {"nan": "hot path", "inf": "hot path", "empty": "hot path"},
    ("*", "d_r"): {"zero": "no RoPE dimensions (d_r = 0 is the default of decode_cost)"},
    ("*", "rng"): {"zero": "seed 0"},
    ("*", "noise_seed"): {"zero": "seed 0"},
    ("attention.recompute_cost", "n_layers"): {"zero": "no layers, nothing to recompute"},
    ("attention.loglog_slope", "n_min"): {"minus_one": "a cut below every n keeps all",
                                          "zero": "a cut below every n keeps all"},
    ("attention.rope_angles", "positions"): {"empty": "no positions, no angles"},
    # a single query/key vector is broadcast to every position (the map shows position alone)
    ("attention.score_matrix", "q"): {"ndim-1": "one query for every position"},
    ("attention.score_matrix", "k"): {"ndim-1": "one key for every position"},
    # rounding to a dtype is elementwise and sits on the hot path of mla_stack: NaN rounds to
    # NaN (the public entry points check their inputs once)
    ("attention.round_to", "x"): {"nan": "hot-path rounding", "inf": "hot-path rounding",
                                  "empty": "an empty tensor rounds to itself"},
    # the classes are counted from the labels: a label 1000 makes 1001 classes
    ("probability.fit_linear_classifier", "y"): {"past_end": "1001 classes"},
    ("probability.fit_cosine_classifier", "y"): {"past_end": "1001 classes"},
    ("probability.fit_linear_classifier", "k"): {
        "past_end": "clamped to the classes (only the sparse loss uses k; the default 3 with 2)"},
    ("probability.fit_linear_classifier", "checkpoints"): {"empty": "no checkpoints, no log"},
    # r counts i.i.d. draws WITH replacement: more draws than columns is valid
    ("matrices.cr_draw_counts", "r"): {"past_end": "draws with replacement"},
    ("matrices.cr_expected_sq_error", "r"): {"past_end": "draws with replacement"},
    ("matrices.cr_sample", "r"): {"past_end": "draws with replacement"},
    ("matrices.cr_sampled_product", "r"): {"past_end": "draws with replacement"},
    ("matrices.svd_floor", "r"): {"zero": "rank 0: the error is |M|"},
    ("matrices.legendre_g", "n"): {"zero": "g_0 is the constant polynomial"},
    ("matrices.kde_logpdf", "bw_method"): {"None": "scipy's default bandwidth"},
    ("matrices.integral", "b"): {"inf": "an improper integral"},
    ("mathematics.integral", "b"): {"inf": "an improper integral"},
    ("notebook.below", "bound"): {"inf": "everything finite is below inf"},
    # below() is an assertion: a value that is not below the bound raises AssertionError by design
    ("notebook.below", "value"): {"inf": "AssertionError by design", "neg_inf": "|-inf| = inf"},
    ("text.tokenize", "text"): {"string": "any string is a text"},
    ("text.save_hs_model", "path"): {"string": "a str path is a path"},
    ("datasets.save_run", "name"): {"string": "a file name"},
    ("notebook.glue", "name"): {"string": "any string is a glue name"},
    ("notebook.glue", "value"): {"string": "glue stores text as well as numbers",
                                 "None": "glue stores any value"},
    ("mathematics.Summand", "name"): {"string": "any string is a name"},
    ("mathematics.Summand", "tex"): {"string": "any string is a TeX label"},
    ("datasets.rounded", "obj"): {"string": "strings pass through unchanged",
                                  "None": "None passes through unchanged"},
    # empty word lists give empty results (a query with no known word scores nothing)
    ("text.hs_cross_entropy", "inputs"): {"empty": "no input words, no rows"},
    ("text.hs_log_prob_matrix", "inputs"): {"empty": "no input words, no rows"},
    ("text.hs_log_prob_matrix", "outputs"): {"empty": "no output words, no columns"},
    ("text.related", "keywords"): {"empty": "no keywords, nothing related"},
    ("text.preference_rank", "pref_terms"): {"empty": "no preference, the list's order"},
    ("*", "stopwords"): {"empty": "no stop words"},
    ("text.related", "doc_id"): {"zero": "document 0"},
    ("text.related", "top_k"): {"past_end": "fewer documents than top_k: all of them"},
    ("text.keywords", "k"): {"past_end": "fewer words than k: all of them"},
    ("text.tfidf_keywords", "k"): {"past_end": "fewer words than k: all of them"},
    ("text.tfidf_keyword_weights", "k"): {"past_end": "fewer words than k: all of them"},
    ("text.word_cloud", "top"): {"past_end": "fewer words than top: all of them"},
    ("training.sample_minibatch_gradients", "per_example"): {"empty": "d = 0 coordinates"},
    ("text.window_pairs", "words"): {"empty": "no words: a 0 x 0 count matrix"},
    ("text.HSModel", "counts"): {"past_end": "a word may occur 1000 times"},
    # widths and dimensions are unbounded: 1000 is a size, not past an end
    ("training.digits_mlp", "sizes"): {"past_end": "a layer 1000 wide"},
    ("training.rms_matched_scale", "shape"): {"past_end": "a 1000-wide matrix"},
    ("moe.norm_rule_study", "dims"): {"past_end": "dimension 1000", "ndim-1": "one dimension"},
    ("matrices.hippo_fourier", "N"): {"zero": "N = 0: the constant term alone (2N + 1 = 1)"},
    # batched inputs: leading axes are (trials, ...) or several estimators at once
    ("moe.best_subset", "V"): {"ndim+1": "V may be (trials, n, d)"},
    ("moe.pairwise_cosines", "V"): {"ndim+1": "V may be (trials, n, d)"},
    ("moe.topk_by_norm", "V"): {"ndim+1": "V may be (trials, n, d)"},
    ("matrices.cr_weighted_products", "weights"): {"ndim+1": "one weight row per estimator"},
}

#: Functions that broadcast (elementwise in every array argument): a dimension more or less is
#: a valid input for every array parameter, so those two mutations are not applied.
ELEMENTWISE = {
    "training.adam_sign", "training.softsign", "training.clip_mean", "training.clip_second_moment",
    "training.sign_mean", "training.ns_scalar_map", "training.rms",
    "matrices.fbdm_cdf", "matrices.fbdm_density", "matrices.fbdm_log_density_real",
    "matrices.fbdm_nll", "matrices.fourier_series", "matrices.legendre_g", "matrices.window_map",
    "matrices.mixture_logpdf", "text.node_log_prob", "text.gensim_node_log_prob",
    "text.naive_node_log_prob", "moe.rms_normalize", "moe.dense_ffn", "moe.glu_ffn",
    "moe.expert_outputs", "moe.glu_expert_outputs",
    "probability.sigmoid", "probability.threshold_f", "probability.threshold_f_prime",
    "probability.taylor_features",
    "attention.attention_entropy", "attention.mean_square", "attention.position_from_ms",
    "attention.round_to",
    # codes: any number of leading axes (one code vector or a batch of them)
    "codes.codebook_usage", "codes.codes_to_levels", "codes.levels_to_codes",
    "codes.levels_to_indices", "codes.indices_to_levels", "codes.fsq_round", "codes.fsq_ste",
    "codes.naive_fsq_round_tanh", "codes.nearest_code",
    # diffusion: time and log-SNR maps, images with leading batch axes
    "diffusion.alpha_sigma_from_logsnr", "diffusion.avg_pool", "diffusion.base_logsnr",
    "diffusion.cosine_alpha_beta", "diffusion.logsnr_cosine", "diffusion.nearest_upsample",
    "diffusion.radial_power_spectrum", "diffusion.rf_shift_sigmas", "diffusion.rf_unshift_sigmas",
    "diffusion.shift_logsnr", "diffusion.shifted_cosine", "diffusion.snr_match_time",
    "diffusion.total_variation", "diffusion.wiener_eps", "diffusion.band_log_ratio",
    "diffusion.vp_to_ve", "diffusion.afs_slope",
}

#: Samplers and models that take x of any shape (points (n, d), images (n, 1, 8, 8), one
#: point): a dimension more or less in x is valid.
for _f in ("slope", "sample_euler", "sample_heun", "sample_midpoint", "sample_amed",
           "reference_solution", "solve_at_budget", "ddim_sample", "ddpm_sample"):
    EXCEPTIONS[(f"diffusion.{_f}", "x")] = {"ndim-1": "any shape", "ndim+1": "any shape"}
EXCEPTIONS[("diffusion.gp_ug_samples", "x_T")] = {"ndim-1": "one image", "ndim+1": "a batch"}
EXCEPTIONS[("diffusion.fit_amed", "x_train")] = {"ndim+1": "points of any shape"}
EXCEPTIONS[("diffusion.upsample_guidance_eps", "x_t")] = {"ndim-1": "one image", "ndim+1": "a batch"}
#: Explorer grids of sizes (lengths, contexts, dimensions, steps): 1000 is a size, not past an end.
for _f, _p in (("attention_as_rnn.cost", "lengths"), ("attention_as_rnn.ram_disk", "contexts"),
               ("attention_scale.scale", "n_values"), ("mha_to_mla.kv_cache", "contexts"),
               ("mha_to_mla.kv_cache", "batches"), ("snr_high_res_1.schedules", "factors"),
               ("multimodal_rope.layout", "Ls"), ("multimodal_rope.layout", "sizes"),
               ("multimodal_rope.layout", "frames"), ("multimodal_rope.score_map", "sizes"),
               ("why_position_encoding.variance", "ds"), ("why_position_encoding.variance", "heads"),
               ("why_position_encoding.variance", "ns"), ("consistency_models.crossing", "steps")):
    EXCEPTIONS[(f"explorers.{_f}", _p)] = {"past_end": "a size of 1000"}

#: Functions that take leading batch axes (rows of logits, independent models): one dimension
#: more is a valid input for every array parameter, so that mutation is not applied.
BATCHED = {
    "probability.accuracy_loss", "probability.am_softmax_loss", "probability.entmax15",
    "probability.entmax_bisect", "probability.fit_cosine_classifier",
    "probability.fit_linear_classifier", "probability.grad_topk", "probability.hard_topk",
    "probability.log_esp", "probability.log_esp_brute", "probability.logsumexp",
    "probability.naive_grad_topk_recurrence", "probability.naive_stopgrad_loss_post",
    "probability.smooth_topk", "probability.softmax", "probability.sparse_softmax",
    "probability.sparse_softmax_loss", "probability.sparsemax", "probability.sparsemax_loss",
    "probability.sparsemax_threshold", "probability.stopgrad_surrogate_loss",
    "probability.su_iteration", "probability.surrogate_inputs",
    "probability.taylor_linear_attention", "probability.taylor_softmax", "probability.thre_topk",
    "probability.thre_topk_lambda", "probability.thre_topk_lambda_grad",
    "probability.weighted_softmax_iteration",
    "attention.apply_rope", "attention.apply_rope_angles", "attention.apply_rope_nd",
    "attention.attention", "attention.collision_probability", "attention.mla_decode_forward",
    "attention.mla_train_forward", "attention.scale_objective", "attention.scaled_softmax",
}

#: Parameters that may be a scalar (broadcast) or a vector: one dimension less is valid.
SCALAR_OR_VECTOR = {"sigma", "Sigma"}   # sigma: one std for all coordinates; Sigma (d,): diagonal

#: Functions whose contract is not met yet (strict xfail: each must still fail, so a fix shows
#: up as XPASS and the entry is removed). Their failing cases print with -rx.
PENDING: set[str] = set()


# -- enumeration --------------------------------------------------------------------------------

def public_api(part: str) -> list[tuple[str, object]]:
    """The public functions and classes of kexue.<part>, defined in that part; for "explorers",
    the factories every chapter module lists in ``EXPLORERS`` ("explorers.<module>.<factory>")."""
    if part == "explorers":
        out = []
        for m in kexue.explorers.MODULES:
            mod = importlib.import_module(f"kexue.explorers.{m}")
            out += [(f"explorers.{m}.{f.__name__}", f) for f in mod.EXPLORERS]
        return out
    mod = getattr(kexue, part)
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in dir(mod) if not n.startswith("_")]
    out = []
    for n in sorted(names):
        obj = getattr(mod, n)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        owner = getattr(obj, "__module__", "") or ""
        if owner == f"kexue.{part}" or owner.startswith(f"kexue.{part}."):
            out.append((f"{part}.{n}", obj))
    return out


API = [item for part in PARTS for item in public_api(part)]


# -- the bad-input matrix ---------------------------------------------------------------------

def _kind(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, numbers.Integral):
        return "int"
    if isinstance(v, numbers.Real):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, (np.ndarray, torch.Tensor)):
        return "array"
    if isinstance(v, (list, tuple)):
        try:
            a = np.asarray(v)
        except Exception:  # noqa: BLE001 - ragged nested lists
            return "seq"
        return "numseq" if a.size and a.dtype.kind in "iuf" else "seq"
    return "object"


def _array_mutations(v, is_list: bool):
    tensor = isinstance(v, torch.Tensor)
    a = v.detach().clone() if tensor else np.array(v)
    out = {}
    integer = (not a.is_floating_point() and not a.is_complex()) if tensor else a.dtype.kind in "iub"
    boolean = (a.dtype == torch.bool) if tensor else a.dtype.kind == "b"
    if a.ndim >= 1 and a.shape[-1] > 0:
        if integer and not boolean:     # integer arrays hold indices or counts: one past the end
            b = a.long() if tensor else a.astype(np.int64)
            b.reshape(-1)[0] = 1000
            out["past_end"] = b
        elif not integer:
            for key, bad in (("nan", math.nan), ("inf", math.inf)):
                b = a.clone() if tensor else a.copy()
                b.reshape(-1)[0] = bad
                out[key] = b
        out["ndim-1"] = a[0]
        out["empty"] = a[..., :0]
    out["ndim+1"] = a[None]
    if is_list:
        out = {k: (b.tolist() if not tensor else b) for k, b in out.items()}
    return out


def mutations(fname: str, pname: str, value, param: inspect.Parameter) -> dict:
    """name -> bad value for one parameter, minus the deliberate exceptions."""
    kind = _kind(value)
    ann = str(param.annotation)
    optional = ("None" in ann or "Optional" in ann or param.default is None)
    out: dict = {}
    if kind == "bool" or kind == "none":
        return {}      # flags are truthiness by contract; None-defaults are optional by definition
    if kind in ("int", "float"):
        out.update(nan=math.nan, inf=math.inf, neg_inf=-math.inf, string="bad")
        if kind == "int":
            out.update(minus_one=-1, zero=0)
            if pname in BOUNDED_INT_NAMES:
                out["past_end"] = 1000
    elif kind == "str":
        out["string"] = "no-such-option"
    elif kind == "array":
        out.update(_array_mutations(value, is_list=False), string="bad")
    elif kind == "numseq":
        out.update(_array_mutations(value, is_list=True), string="bad")
    elif kind == "seq":
        out.update(empty=[], number=1.5)
    else:   # objects: callables, models, paths
        out.update(string="bad")
    if not optional:
        out["None"] = None
    if fname in ELEMENTWISE:
        out.pop("ndim-1", None), out.pop("ndim+1", None)
    if fname in BATCHED:
        out.pop("ndim+1", None)
    if pname in SCALAR_OR_VECTOR and fname.startswith("training."):
        out.pop("ndim-1", None)
    for key in ((fname, pname), ("*", pname)):
        for m in EXCEPTIONS.get(key, {}):
            out.pop(m, None)
    return out


# -- calling with a time limit ----------------------------------------------------------------

class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def call(fn, kwargs, limit=CALL_LIMIT_S):
    """(outcome, exception): outcome 'ok' for a normal return."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        fn(**kwargs)
        return "ok", None
    except _Timeout as e:
        return "timeout", e
    except Exception as e:  # noqa: BLE001 - the outcome is what we test
        return type(e).__name__, e
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def baseline(fname: str, fn) -> dict | None:
    """Valid keyword arguments for fn, or None when none is known (the test then fails)."""
    sig = inspect.signature(fn)
    params = {k: p for k, p in sig.parameters.items()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    if fname in BASELINES:
        make = BASELINES[fname]
        if make is None:
            return None
        try:
            given = make()
        except Exception:  # noqa: BLE001 - reported as a broken baseline
            return None
    else:
        given = {}
    kw = {}
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        kw.update({k: v for k, v in given.items() if k not in params})   # into **kwargs
    for k, p in params.items():
        if k in given:
            kw[k] = given[k]
        elif p.default is not inspect.Parameter.empty:
            kw[k] = p.default
        elif str(p.annotation) == "int":      # derived: a small size
            kw[k] = 5
        elif str(p.annotation) == "float":
            kw[k] = 0.5
        else:
            return None
    return kw


def _names(msg: str, pname: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(pname)}(?![A-Za-z0-9_])", msg) is not None


STATS: Counter = Counter()
PART_STATS: dict[str, Counter] = {}     # the same counts per part
RESULTS: dict[str, list] = {}
CHECKED: set[str] = set()


def check_function(fname: str, fn) -> list[str]:
    """Run the matrix on one function; return the failures (empty: the contract holds)."""
    CHECKED.add(fname)
    part = PART_STATS.setdefault(fname.split(".")[0], Counter())
    before = STATS.copy()
    try:
        return _check_function(fname, fn)
    finally:
        part.update(STATS - before)


def _check_function(fname: str, fn) -> list[str]:
    if fname in BASELINES and BASELINES[fname] is None:
        STATS["functions_not_callable_here"] += 1
        return []
    kw = baseline(fname, fn)
    if kw is None:
        return [f"{fname}: no valid baseline call known; add one to BASELINES in "
                f"tests/lib/test_contract.py ('{fname}': lambda: dict(...))"]
    outcome, err = call(fn, baseline(fname, fn), limit=10 * CALL_LIMIT_S)
    STATS["baseline_calls"] += 1
    if outcome != "ok":
        return [f"{fname}: the baseline call fails ({outcome}: {err}); fix it in BASELINES"]
    STATS["functions"] += 1
    fails = []
    sig = inspect.signature(fn)
    for pname, value in kw.items():
        param = sig.parameters.get(pname) or inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY)
        for mname, bad in mutations(fname, pname, value, param).items():
            args = baseline(fname, fn)
            args[pname] = bad
            outcome, err = call(fn, args)
            STATS["calls"] += 1
            if outcome == "ValueError" and _names(str(err), pname):
                STATS["passing"] += 1
                continue
            STATS["ValueError_unnamed" if outcome == "ValueError" else
                  ("returned" if outcome == "ok" else "other_exception")] += 1
            fails.append(f"{fname}({pname}={mname}): {outcome}"
                         + (f": {str(err)[:120]}" if err is not None and str(err) else ""))
    RESULTS[fname] = fails
    return fails


@pytest.fixture(autouse=True)
def _in_scratch_dir(monkeypatch):
    """Mutated paths (the string "bad") are relative: write them to a scratch folder, never into
    the checkout."""
    monkeypatch.chdir(_TMP)


@pytest.mark.parametrize("fname, fn", [
    pytest.param(f, fn, id=f, marks=[pytest.mark.xfail(strict=True, reason="pending")]
                 if f in PENDING else []) for f, fn in API])
def test_contract(fname, fn):
    fails = check_function(fname, fn)
    assert not fails, "\n".join(fails)


def test_zz_summary():
    """Print the counts (visible with -s); when the whole file ran, every public function of
    the parts under contract was checked (no function is silently left out)."""
    print(f"\ncontract: {len(API)} public functions/classes in {PARTS}; "
          f"{STATS['functions']} called with baselines, {STATS['calls']} bad-input calls, "
          f"{STATS['passing']} ValueError naming the parameter, "
          f"{STATS['ValueError_unnamed']} ValueError without the name, "
          f"{STATS['other_exception']} other exception, {STATS['returned']} returned normally; "
          f"{sum(len(v) for v in EXCEPTIONS.values())} deliberate exceptions, "
          f"{len(PENDING)} functions pending")
    for part in PARTS:
        c = PART_STATS.get(part, Counter())
        share = c["passing"] / c["calls"] if c["calls"] else float("nan")
        print(f"  {part:12s} {c['functions']:4d} functions, {c['calls']:5d} calls, "
              f"{c['passing']:5d} named ValueError ({share:.1%})")
    assert PENDING <= {f for f, _ in API}, "PENDING names a function that no longer exists"
    if len(CHECKED) > len(API) // 2:          # the whole file ran (not a -k selection)
        assert CHECKED == {f for f, _ in API}


def test_validate_helpers_of_the_contract():
    """The _validate helpers added for this test."""
    from kexue import _validate as V
    assert V.check_seed(3) == 3
    for bad in (-1, 1.5, "1", None, True):
        with pytest.raises(ValueError, match="seed"):
            V.check_seed(bad)
    with pytest.raises(ValueError, match="random_state"):
        V.check_seed(2**32, name="random_state", hi=2**32 - 1)
    assert V.check_instance(1.0, (int, float), name="x") == 1.0
    with pytest.raises(ValueError, match="model must be a int or float, got str"):
        V.check_instance("a", (int, float), name="model")
    t = torch.ones(2, requires_grad=True)
    assert V.check_real_or_tensor(t, name="mu") is t and V.check_real_or_tensor(0.5, name="mu") == 0.5
    for bad in (math.nan, "a", None, torch.tensor([1.0, math.inf]), torch.tensor([1, 2])):
        with pytest.raises(ValueError, match="mu"):
            V.check_real_or_tensor(bad, name="mu")
    assert V.check_grid((1, 2.5), name="taus") == [1, 2.5]
    assert V.check_grid(np.arange(3), name="ns", min_len=3) == [0, 1, 2]
    for bad in (3, [], None, "ab", [[1, 2]], [True, False], ["a"], (1,)):
        with pytest.raises(ValueError, match="taus must be a list of at least"):
            V.check_grid(bad, name="taus", min_len=1 if bad != (1,) else 2)
