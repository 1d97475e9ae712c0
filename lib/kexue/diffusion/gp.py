"""Gaussian-process "images": stationary periodic fields with a known spectrum, an exact teacher.

Chapters snr-high-res-1 (what pooling does to signal and noise, the coarse MMSE) and
snr-high-res-2 (the exact Wiener eps-predictor, a low-resolution model run at high resolution,
radial spectra of samples). The covariance is diagonal in Fourier space with eigenvalues P
(an (N, N) array, :func:`gp_spectrum`), so every optimal predictor is a per-mode gain. numpy.
"""
from __future__ import annotations

import numpy as np

from .._validate import (as_float_array, as_float_ndarray, check_choice, check_in_range,
                         check_instance, check_int_in, check_positive, check_shape, check_values_in)
from .schedules import EpsModel, cosine_alpha_beta

__all__ = ["freq_radius", "gp_spectrum", "sample_gp", "pooled_spectrum", "pooled_variance_fraction",
           "coarse_mmse", "full_input_coarse_mmse", "learned_denoiser_mse", "wiener_eps", "radial_power_spectrum", "radial_spectrum",
           "band_log_ratio", "lowres_kernel_on_highres", "gp_lowres_model", "gp_highres_model"]


def spectrum(P, name: str = "P") -> np.ndarray:
    """A power spectrum: a square float64 numpy array with entries >= 0."""
    arr = as_float_ndarray(P, name=name, min_ndim=2, max_ndim=2)
    check_shape(arr, (arr.shape[0], arr.shape[0]), name=name)
    return check_values_in(arr, 0, np.inf, name=name)


def freq_radius(n: int) -> np.ndarray:
    """|k| of every mode of an n x n DFT (integer wave numbers, numpy)."""
    n = check_int_in(n, 1, None, name="n")
    k = np.fft.fftfreq(n) * n                                     # integer wave numbers
    return np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)


def gp_spectrum(n: int, kind: str = "powerlaw", *, alpha: float = 2.0, ell: float = 1.0,
                k0: float = 2.0, width: float = 0.6) -> np.ndarray:
    """Power spectrum P (n, n) of a stationary periodic Gaussian-process image, mean(P) = 1.

    Chapter snr-high-res-1. ``powerlaw``: P(k) ~ (1 + (|k| / ell)^2)^(-alpha/2);
    ``bandpass``: a log-normal bump around radius k0 (blobs of one size), P(0) = 0.
    Normalised so the pixel variance mean(P) is 1. numpy.
    """
    n = check_int_in(n, 2, None, name="n")
    check_choice(kind, ["powerlaw", "bandpass"], name="kind")
    for key, v in (("alpha", alpha), ("ell", ell), ("k0", k0), ("width", width)):
        check_positive(v, name=key)                  # whatever the kind (each uses two)
    kr = freq_radius(n)
    if kind == "powerlaw":
        alpha, ell = check_positive(alpha, name="alpha"), check_positive(ell, name="ell")
        P = (1 + (kr / ell) ** 2) ** (-alpha / 2)
    else:
        k0, width = check_positive(k0, name="k0"), check_positive(width, name="width")
        with np.errstate(divide="ignore"):
            P = np.where(kr > 0, np.exp(-0.5 * (np.log(np.maximum(kr, 1e-12) / k0) / width) ** 2), 0.0)
    return P / P.mean()


def sample_gp(P, n: int, rng: np.random.Generator) -> np.ndarray:
    """n images (n, N, N) with covariance diagonal in Fourier space with eigenvalues P (numpy)."""
    P = spectrum(P)
    n = check_int_in(n, 1, None, name="n")
    check_instance(rng, np.random.Generator, name="rng")
    w = rng.standard_normal((n,) + P.shape)
    return np.fft.ifft2(np.sqrt(P) * np.fft.fft2(w)).real


def _box_response(n: int, s: int) -> np.ndarray:
    """|H(k)|^2 of the s x s box average on an n x n periodic grid."""
    k = np.arange(n)
    h1 = np.exp(-2j * np.pi * np.outer(k, np.arange(s)) / n).mean(1)   # 1-D box response
    return np.abs(h1[:, None] * h1[None, :]) ** 2


def pooled_spectrum(P_high, s: int) -> np.ndarray:
    """Spectrum of D[x] on the (N/s)^2 grid: P_low(q) = sum over aliases k = q mod N/s of P(k) |H(k)|^2 / s^2.

    Chapter snr-high-res-1 (aliasing included). Pixel variance of D[x] = mean(P_low). numpy.
    """
    P = spectrum(P_high, "P_high")
    n = P.shape[0]
    s = check_int_in(s, 1, None, name="s")
    if n % s:
        raise ValueError(f"s must divide the grid size {n}, got {s}")
    m = n // s
    filt = P * _box_response(n, s)
    # fold the n x n frequencies onto the m x m grid (k -> k mod m); the 1/s^2 turns the n^2-point
    # DFT normalisation into the m^2-point one
    return filt.reshape(s, m, s, m).sum(axis=(0, 2)) / s ** 2


def pooled_variance_fraction(P, s: int) -> float:
    """f_s = Var(D[x]) / Var(x): the fraction of pixel variance that survives s x s pooling."""
    P = spectrum(P)
    return float(pooled_spectrum(P, s).mean() / P.mean())



def _noise_levels(alpha, beta, beta_name: str):
    """alpha >= 0 and beta > 0 (scalars or arrays), broadcast to one shape."""
    a, _ = as_float_array(alpha, name="alpha", min_ndim=0)
    b, _ = as_float_array(beta, name=beta_name, min_ndim=0)
    if (a < 0).any():
        raise ValueError("alpha must be >= 0")
    if (b <= 0).any():
        raise ValueError(f"{beta_name} must be > 0")
    return np.broadcast_arrays(a, b)

def coarse_mmse(P_low, alpha, beta_eff):
    """Per-pixel MMSE of y ~ GP(P_low) from alpha y + beta_eff eps: mean_q P beta^2 / (alpha^2 P + beta^2).

    Chapter snr-high-res-1 (exact Wiener filter per Fourier mode). alpha, beta_eff: scalars or
    arrays of equal shape; returns their shape. numpy.
    """
    P = spectrum(P_low, "P_low")
    a, b = _noise_levels(alpha, beta_eff, "beta_eff")
    Pf = P.reshape(-1)
    num = Pf * b[..., None] ** 2
    return (num / (a[..., None] ** 2 * Pf + b[..., None] ** 2)).mean(-1)


def full_input_coarse_mmse(P_high, s: int, alpha, beta):
    """Per-pixel MMSE of D[x0] from the whole high-resolution x_t = alpha x0 + beta eps, x0 ~ GP(P_high).

    Chapter snr-high-res-1. A denoiser that sees all of x_t, not only D[x_t]: per Fourier mode
    the error of x0 is e(k) = P b^2 / (a^2 P + b^2); the error of D[x0] is D applied to that
    stationary error field, whose pixel variance is

        mean_k e(k) |H(k)|^2        (H: the s x s box's response, aliases folded in)

    It is never larger than :func:`coarse_mmse` of the pooled spectrum at beta / s (more is
    observed). alpha, beta: scalars or arrays of equal shape; returns their shape. numpy.
    """
    P = spectrum(P_high, "P_high")
    n = P.shape[0]
    s = check_int_in(s, 1, None, name="s")
    if n % s:
        raise ValueError(f"s must divide the grid size {n}, got {s}")
    a, b = _noise_levels(alpha, beta, "beta")
    Pf, Hf = P.reshape(-1), _box_response(n, s).reshape(-1)
    err = Pf * b[..., None] ** 2 / (a[..., None] ** 2 * Pf + b[..., None] ** 2)
    return (err * Hf).mean(-1)


def learned_denoiser_mse(clean_train, noisy_train, clean_test, noisy_test) -> float:
    """Test MSE of a translation-invariant linear denoiser *fitted to data* (no spectrum given).

    Chapter snr-high-res-1. Per Fourier mode q, the least-squares gain
    g_q = sum Re(Y_q conj(Z_q)) / sum |Z_q|^2 over the training pairs (clean y, noisy z) (images
    (n, H, W)), then mean |ifft(g Z_test) - y_test|^2. For stationary Gaussian data it converges
    to the Wiener filter, so its error estimates the MMSE without using the formula. numpy.
    """
    ys = [as_float_ndarray(v, name=nm, min_ndim=3, max_ndim=3) for v, nm in
          [(clean_train, "clean_train"), (noisy_train, "noisy_train"), (clean_test, "clean_test"),
           (noisy_test, "noisy_test")]]
    y, z, yt, zt = ys
    check_shape(z, y.shape, name="noisy_train")
    check_shape(yt, (None,) + y.shape[1:], name="clean_test")
    check_shape(zt, yt.shape, name="noisy_test")
    Y, Z = np.fft.fft2(y), np.fft.fft2(z)
    denom = (np.abs(Z) ** 2).sum(0)
    if (denom <= 0).any():
        raise ValueError("noisy_train must have power in every Fourier mode")
    g = (Y * Z.conj()).real.sum(0) / denom                      # (H, W) per-mode gain
    pred = np.fft.ifft2(g * np.fft.fft2(zt)).real
    return float(((pred - yt) ** 2).mean())

def wiener_eps(x_t, alpha: float, beta: float, P) -> np.ndarray:
    """Exact eps-prediction E[eps | x_t] for x_t = alpha x0 + beta eps, x0 ~ GP(P) (per Fourier mode).

    Chapter snr-high-res-2: eps_hat = F^-1[ beta / (alpha^2 P + beta^2) F[x_t] ]. Works on (..., N, N).
    """
    P = spectrum(P)
    x = as_float_ndarray(x_t, name="x_t", min_ndim=2)
    if x.shape[-2:] != P.shape:
        raise ValueError(f"x_t must end with the spectrum's shape {P.shape}, got {x.shape}")
    alpha = check_in_range(alpha, 0, 1, name="alpha")
    beta = check_in_range(beta, 0, 1, name="beta", lo_open=True)
    gain = beta / (alpha ** 2 * P + beta ** 2)
    return np.fft.ifft2(gain * np.fft.fft2(x)).real


def radial_power_spectrum(x) -> tuple[np.ndarray, np.ndarray]:
    """Mean power |F[x]|^2 / N^2 in integer radial bands, averaged over leading axes: (k, power)."""
    arr = as_float_ndarray(x, name="x", min_ndim=2)
    n = arr.shape[-1]
    if arr.shape[-2] != n:
        raise ValueError(f"x must be square images, got shape {arr.shape}")
    pw = (np.abs(np.fft.fft2(arr)) ** 2 / n ** 2).reshape(-1, n, n).mean(0)
    return radial_spectrum(pw)


def radial_spectrum(P) -> tuple[np.ndarray, np.ndarray]:
    """The true radial power of GP(P): mean of P over the integer radial bands 0..N/2, (k, power).

    Chapter snr-high-res-2: what :func:`radial_power_spectrum` of many samples converges to. numpy.
    """
    P = spectrum(P)
    n = P.shape[0]
    band = np.rint(freq_radius(n)).astype(int)
    ks = np.arange(n // 2 + 1)
    return ks, np.array([P[band == k].mean() for k in ks])


def band_log_ratio(x, P, k_split: float) -> tuple[float, float]:
    """Mean |log(sample radial power / true radial power)| over the bands 1 <= k <= k_split and k > k_split.

    Chapter snr-high-res-2: how far a set of samples (n, N, N) is from the GP spectrum P, at
    coarse and at fine scales. numpy.
    """
    P = spectrum(P)
    k, pw = radial_power_spectrum(x)
    if x.shape[-1] != P.shape[0]:
        raise ValueError(f"x must have the spectrum's size {P.shape}, got shape {x.shape}")
    truth = radial_spectrum(P)[1]                                 # E|F[x]|^2 / N^2 = P per mode
    k_split = check_positive(k_split, name="k_split")
    ok = (k >= 1) & (truth > 1e-12 * truth.max())
    lr = np.abs(np.log(np.maximum(pw, 1e-300) / np.where(ok, truth, 1.0)))
    low, high = ok & (k <= k_split), ok & (k > k_split)
    return float(lr[low].mean()), float(lr[high].mean())


def lowres_kernel_on_highres(P_low, alpha: float, beta: float, n_high: int) -> np.ndarray:
    """Transfer function on an n_high grid of the low-resolution Wiener eps-filter, run as a convolution.

    Chapter snr-high-res-2: the "naive" model. The exact low-resolution eps-predictor is the
    convolution with k = F^-1[beta / (alpha^2 P_low + beta^2)] on the m x m grid; a CNN with that
    kernel applied to an n_high x n_high image uses the same taps at the same pixel offsets
    (-m/2 .. m/2 - 1, wrapped periodically), i.e. the right filter at the wrong pixel scale.
    Returns the complex transfer function (n_high, n_high). numpy.
    """
    P = spectrum(P_low, "P_low")
    m = P.shape[0]
    n_high = check_int_in(n_high, m, None, name="n_high")
    alpha = check_in_range(alpha, 0, 1, name="alpha")
    beta = check_in_range(beta, 0, 1, name="beta", lo_open=True)
    k = np.fft.ifft2(beta / (alpha ** 2 * P + beta ** 2)).real            # (m, m) periodic kernel
    off = (np.arange(m) + m // 2) % m - m // 2                              # offsets -m/2 .. m/2-1
    K = np.zeros((n_high, n_high))
    K[np.ix_(off % n_high, off % n_high)] = k
    return np.fft.fft2(K)


def gp_lowres_model(P_low) -> EpsModel:
    """A low-resolution eps-model eps(x, t) (cosine schedule) that accepts any image size.

    Chapter snr-high-res-2. On the m x m grid of ``P_low`` it is the exact Wiener predictor
    E[eps | x_t]; on a larger grid it is the same convolution kernel (:func:`lowres_kernel_on_highres`):
    translation-equivariant, like a CNN trained at low resolution and run at high resolution.
    numpy, input (..., N, N).
    """
    P = spectrum(P_low, "P_low")
    m = P.shape[0]
    cache: dict = {}

    def eps(x, t: float):
        t = float(check_in_range(t, 0, 1, name="t", hi_open=True))
        arr = as_float_ndarray(x, name="x", min_ndim=2)
        n = arr.shape[-1]
        if arr.shape[-2] != n or n < m:
            raise ValueError(f"x must be square images of size >= {m}, got shape {arr.shape}")
        a, b = cosine_alpha_beta(t)
        b = max(b, 1e-12)
        if n == m:
            return np.fft.ifft2(b / (a * a * P + b * b) * np.fft.fft2(arr)).real
        key = (round(t, 12), n)
        if key not in cache:
            cache[key] = lowres_kernel_on_highres(P, a, b, n)
        return np.fft.ifft2(cache[key] * np.fft.fft2(arr)).real
    return eps


def gp_highres_model(P_high) -> EpsModel:
    """The exact high-resolution eps-predictor E[eps | x_t] for GP(P_high), cosine schedule (numpy)."""
    P = spectrum(P_high, "P_high")

    def eps(x, t: float):
        t = float(check_in_range(t, 0, 1, name="t", hi_open=True))
        a, b = cosine_alpha_beta(t)
        return wiener_eps(x, a, max(b, 1e-12), P)
    return eps
