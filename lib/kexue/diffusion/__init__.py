"""Diffusion: schedules, samplers, exact teachers, guidance and the small digit U-Net.

One module per topic (chapters amed-ode-sampling, snr-high-res-1, snr-high-res-2, skip-tuning):

==========  =================================================================================
schedules   VE <-> VP conversion, the cosine schedule, log-SNR and its shifts, Karras grid
mixture     Gaussian-mixture teachers with an exact denoiser (VE form)
samplers    Euler, Heun, midpoint, AMED steps (VE); DDIM, DDPM (VP); call budgets
amed        fitting AMED's per-step constants; trajectory straightness
gp          Gaussian-process images: spectra, pooling, exact Wiener predictors
upsample    pooling and upsampling, the multi-scale loss, upsample guidance
metrics     RMS endpoint error, Frechet distance on digit-classifier features, total variation
unet        the tiny EDM U-Net on the 8x8 digits (trained by ``train_unet``, loaded in float64)
skip        skip tuning and the committed quality sweep
==========  =================================================================================

Chapters import the part as ``from kexue import diffusion as D``.
"""
from .schedules import (Denoiser, EpsModel, Schedule, cosine_alpha_beta, vp_to_ve,
                        eps_from_denoiser, karras_sigmas, logsnr_cosine,
                        alpha_sigma_from_logsnr, shift_logsnr, shifted_cosine, base_logsnr,
                        linear_beta_alphas_cumprod, cosine_alphas_cumprod,
                        logsnr_from_alphas_cumprod, shift_alphas_cumprod, rf_shift_sigmas,
                        rf_unshift_sigmas, snr_match_time)
from .mixture import (GaussianMixture, IsotropicGaussian, ring_mixture, random_mixture)
from .samplers import (slope, afs_slope, sample_euler, sample_heun, sample_midpoint,
                       sample_amed, nfe, reference_solution, SOLVERS, SOLVER_NAMES,
                       solve_at_budget, ddim_sample, ddpm_sample)
from .amed import (fit_amed, trajectory_pca, chord_deviation)
from .gp import (freq_radius, gp_spectrum, sample_gp, pooled_spectrum,
                 pooled_variance_fraction, coarse_mmse, wiener_eps, radial_power_spectrum,
                 radial_spectrum, band_log_ratio, lowres_kernel_on_highres, gp_lowres_model,
                 gp_highres_model)
from .upsample import (avg_pool, nearest_upsample, multiscale_loss, ug_rho,
                       upsample_guidance_eps, ug_weight, gp_ug_samples)
from .metrics import (rms_error, frechet_distance, total_variation, digit_features,
                      sliced_wasserstein2)
from .unet import (TinyUNet, EDMDenoiser, edm_loss, train_digits_unet,
                   load_pretrained, vp_eps_model, WEIGHTS, METRICS)
from .skip import (skip_scale_schedule, skip_tuning, fold_skip_scales, SWEEP_RHOS, SAMPLERS,
                   SAMPLER_NAMES, SWEEP, sample_digits, skip_sweep, sweep_to_json, load_sweep)

__all__ = [
    "Denoiser",
    "EpsModel",
    "Schedule",
    "cosine_alpha_beta",
    "vp_to_ve",
    "eps_from_denoiser",
    "karras_sigmas",
    "logsnr_cosine",
    "alpha_sigma_from_logsnr",
    "shift_logsnr",
    "shifted_cosine",
    "base_logsnr",
    "linear_beta_alphas_cumprod",
    "cosine_alphas_cumprod",
    "logsnr_from_alphas_cumprod",
    "shift_alphas_cumprod",
    "rf_shift_sigmas",
    "rf_unshift_sigmas",
    "snr_match_time",
    "GaussianMixture",
    "IsotropicGaussian",
    "ring_mixture",
    "random_mixture",
    "slope",
    "afs_slope",
    "sample_euler",
    "sample_heun",
    "sample_midpoint",
    "sample_amed",
    "nfe",
    "reference_solution",
    "SOLVERS",
    "SOLVER_NAMES",
    "solve_at_budget",
    "ddim_sample",
    "ddpm_sample",
    "fit_amed",
    "trajectory_pca",
    "chord_deviation",
    "freq_radius",
    "gp_spectrum",
    "sample_gp",
    "pooled_spectrum",
    "pooled_variance_fraction",
    "coarse_mmse",
    "wiener_eps",
    "radial_power_spectrum",
    "radial_spectrum",
    "band_log_ratio",
    "lowres_kernel_on_highres",
    "gp_lowres_model",
    "gp_highres_model",
    "avg_pool",
    "nearest_upsample",
    "multiscale_loss",
    "ug_rho",
    "upsample_guidance_eps",
    "ug_weight",
    "gp_ug_samples",
    "rms_error",
    "frechet_distance",
    "total_variation",
    "digit_features",
    "sliced_wasserstein2",
    "TinyUNet",
    "EDMDenoiser",
    "edm_loss",
    "train_digits_unet",
    "load_pretrained",
    "vp_eps_model",
    "WEIGHTS",
    "METRICS",
    "skip_scale_schedule",
    "skip_tuning",
    "fold_skip_scales",
    "SWEEP_RHOS",
    "SAMPLERS",
    "SAMPLER_NAMES",
    "SWEEP",
    "sample_digits",
    "skip_sweep",
    "sweep_to_json",
    "load_sweep",
]
from .sid import *  # noqa: F401,F403
from .consistency import *  # noqa: F401,F403
from .sid_lambda import *  # noqa: F401,F403
from .ddcm import *  # noqa: F401,F403
from .gp import *  # noqa: F401,F403
from .samplers import *  # noqa: F401,F403
from .amed import *  # noqa: F401,F403
from .skip import *  # noqa: F401,F403
from .unet import *  # noqa: F401,F403
from .upsample import *  # noqa: F401,F403
