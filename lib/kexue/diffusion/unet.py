"""A tiny U-Net denoiser on scikit-learn's 8x8 digits, with skip connections that can be scaled.

Chapter skip-tuning (and snr-high-res-2, which runs it at 16x16). torch: the network is trained
in float32 (``python -m kexue.diffusion.train_unet``) and loaded in float64 by default
(:func:`load_pretrained`), so that what a chapter shows does not depend on the CPU's SIMD path.

* :class:`TinyUNet` - encoder 8 -> 4 -> 2 (``levels`` = 2) with concatenation skips, no
  normalisation layers (so that scaling a skip is exactly a weight edit, see
  :mod:`kexue.diffusion.skip`).
* :class:`EDMDenoiser` - EDM preconditioning D(x, sigma) = c_skip x + c_out F(c_in x, c_noise);
  call it with ``(x, sigma)`` like the exact teachers, so the same samplers run on it.
* :func:`train_digits_unet` - deterministic training; :func:`load_pretrained` reads the
  committed weights; :func:`vp_eps_model` runs the denoiser as a VP eps-model on numpy images.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .._validate import (as_float_array, as_float_ndarray, check_choice, check_instance, check_int_in,
                         check_positive, check_shape, check_tensor, check_values_in)
from ..datasets import DATA_DIR, digits, load_run
from .schedules import EpsModel, eps_from_denoiser

__all__ = ["TinyUNet", "EDMDenoiser", "edm_loss", "train_digits_unet",
           "load_pretrained", "vp_eps_model", "WEIGHTS", "METRICS", "WEIGHTS_GN", "METRICS_GN", "NORM_GROUPS"]

WEIGHTS = DATA_DIR / "digits_unet.pt"
METRICS = "digits_unet_metrics"          # kexue.datasets.load_run name of the committed metrics
WEIGHTS_GN = DATA_DIR / "digits_unet_gn.pt"          # the variant with GroupNorm in the decoder
METRICS_GN = "digits_unet_gn_metrics"
NORM_GROUPS = 8                          # GroupNorm groups of the decoder blocks (``norm=True``)


class _Block(nn.Module):
    """conv3x3 -> + time embedding (per-channel bias) -> SiLU -> conv3x3 -> SiLU.

    With ``norm`` the ADM/EDM residual block instead: GroupNorm -> SiLU -> conv3x3 -> + embedding
    -> GroupNorm -> SiLU -> conv3x3, plus a 1x1 convolution of the raw input (the residual path).
    """

    def __init__(self, c_in: int, c_out: int, emb_dim: int, norm: bool = False):
        super().__init__()
        self.norm = norm
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        if norm:
            self.norm1 = nn.GroupNorm(NORM_GROUPS, c_in)
            self.norm2 = nn.GroupNorm(NORM_GROUPS, c_out)
            self.res = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x, emb):
        if self.norm:
            h = self.conv1(F.silu(self.norm1(x))) + self.emb(emb)[:, :, None, None]
            return self.conv2(F.silu(self.norm2(h))) + self.res(x)
        h = F.silu(self.conv1(x) + self.emb(emb)[:, :, None, None])
        return F.silu(self.conv2(h))


class TinyUNet(nn.Module):
    """U-Net F(x, c_noise) on (n, 1, 8, 8): ``levels`` downsamplings by 2, one concatenation skip each.

    Chapter skip-tuning. ``skip_scales`` (one per skip, ordered top -> bottom, i.e. from the
    highest resolution to the deepest) multiply the skip tensors before concatenation; all 1
    is the plain network. Encoder level i has ``channels * min(2**i, 2)`` channels. With ``norm``
    the decoder blocks are ADM-style residual blocks that open with GroupNorm over the
    concatenation [upsampled h, skip] (as in the EDM/ADM U-Net), so that a skip scale is partly
    normalised away and is no longer a weight edit.
    """

    def __init__(self, channels: int = 16, levels: int = 2, emb_dim: int = 32, norm: bool = False):
        super().__init__()
        channels = check_int_in(channels, 1, 512, name="channels")
        self.levels = check_int_in(levels, 1, 3, name="levels")
        emb_dim = check_int_in(emb_dim, 2, 1024, name="emb_dim")
        if emb_dim % 2:
            raise ValueError(f"emb_dim must be even, got {emb_dim}")
        self.emb_dim = emb_dim
        self.norm = bool(norm)
        if self.norm and channels % NORM_GROUPS:
            raise ValueError(f"channels must be a multiple of {NORM_GROUPS} with norm=True, got {channels}")
        self.register_buffer("freqs", torch.exp(torch.linspace(0, math.log(100), emb_dim // 2)))
        self.emb_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        ch = [channels * min(2 ** i, 2) for i in range(levels + 1)]     # 16, 32, 32, ...
        self.inp = nn.Conv2d(1, ch[0], 3, padding=1)
        self.enc = nn.ModuleList([_Block(ch[i], ch[i], emb_dim) for i in range(levels)])
        self.down = nn.ModuleList([nn.Conv2d(ch[i], ch[i + 1], 3, padding=1) for i in range(levels)])
        self.mid = _Block(ch[levels], ch[levels], emb_dim)
        # decoder level i (deepest first) consumes [upsampled h (ch[i+1]), skip i (ch[i])]
        self.dec = nn.ModuleList([_Block(ch[i + 1] + ch[i], ch[i], emb_dim, self.norm) for i in range(levels)])
        self.out = nn.Conv2d(ch[0], 1, 3, padding=1)
        self.skip_scales = [1.0] * levels

    @property
    def n_skips(self) -> int:
        return self.levels

    def embed(self, c_noise: torch.Tensor) -> torch.Tensor:
        ang = c_noise[:, None] * self.freqs[None]
        return self.emb_mlp(torch.cat([torch.sin(ang), torch.cos(ang)], 1))

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[-1] % 2 ** self.levels or x.shape[-2] % 2 ** self.levels:
            raise ValueError(f"x must have shape (n, 1, H, W) with H, W divisible by {2 ** self.levels}, "
                             f"got {tuple(x.shape)}")
        c_noise = c_noise.reshape(-1).to(x.dtype).expand(x.shape[0])
        emb = self.embed(c_noise)
        h = self.inp(x)
        skips = []
        for i in range(self.levels):
            h = self.enc[i](h, emb)
            skips.append(h)                                          # (n, ch[i], H/2^i, W/2^i)
            h = F.avg_pool2d(self.down[i](h), 2)
        h = self.mid(h, emb)
        for i in reversed(range(self.levels)):
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = self.dec[i](torch.cat([h, self.skip_scales[i] * skips[i]], 1), emb)
        return self.out(h)


class EDMDenoiser(nn.Module):
    """EDM preconditioning: D(x, sigma) = c_skip x + c_out F(c_in x, log(sigma) / 4).

    Chapter skip-tuning (Karras et al. 2022, Table 1): c_skip = sd^2 / (sigma^2 + sd^2),
    c_out = sigma sd / sqrt(sigma^2 + sd^2), c_in = 1 / sqrt(sigma^2 + sd^2). ``sigma`` a float
    or a tensor (n,). Calling with a float sigma runs without gradients, as the samplers of
    :mod:`kexue.diffusion` do.
    """

    def __init__(self, net: TinyUNet, sigma_data: float = 0.5):
        super().__init__()
        self.net = check_instance(net, TinyUNet, name="net")
        self.sigma_data = check_positive(sigma_data, name="sigma_data")

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        if isinstance(sigma, (float, int)):
            check_positive(sigma, name="sigma")
            with torch.no_grad():
                return self._den(x, torch.full((x.shape[0],), float(sigma), dtype=x.dtype))
        return self._den(x, sigma)

    def _den(self, x, sigma):
        sd = self.sigma_data
        s = sigma.reshape(-1, 1, 1, 1)
        c_skip = sd ** 2 / (s ** 2 + sd ** 2)
        c_out = s * sd / torch.sqrt(s ** 2 + sd ** 2)
        c_in = 1 / torch.sqrt(s ** 2 + sd ** 2)
        return c_skip * x + c_out * self.net(c_in * x, torch.log(sigma) / 4)


def edm_loss(den: EDMDenoiser, x0: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor | None = None,
             weighted: bool = True) -> torch.Tensor:
    """EDM loss: mean over the batch of lambda(sigma) |D(x0 + sigma n, sigma) - x0|^2 / pixels.

    lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2 (``weighted``), else 1 (the plain pixel MSE).
    """
    check_instance(den, EDMDenoiser, name="den")
    as_float_array(check_tensor(x0, name="x0"), name="x0", min_ndim=4, max_ndim=4)
    as_float_array(check_tensor(sigma, name="sigma"), name="sigma", min_ndim=1, max_ndim=1)
    check_shape(sigma, (x0.shape[0],), name="sigma")
    check_values_in(sigma, 0, math.inf, name="sigma", lo_open=True)
    if noise is None:
        noise = torch.randn_like(x0)
    s = sigma.reshape(-1, 1, 1, 1)
    err = ((den(x0 + s * noise, sigma) - x0) ** 2).mean(dim=(1, 2, 3))
    if weighted:
        sd = den.sigma_data
        err = err * (sigma ** 2 + sd ** 2) / (sigma * sd) ** 2
    return err.mean()


def train_digits_unet(steps: int = 2000, seed: int = 0, channels: int = 16, levels: int = 2,
                      batch: int = 128, lr: float = 2e-3, log_every: int = 10, progress: bool = False,
                      schedule_steps: int | None = None, norm: bool = False):
    """Train an EDM denoiser on the digits (deterministic for a seed and one torch thread).

    Chapter skip-tuning. sigma ~ logNormal(-1.2, 1.2) as in EDM, Adam with a cosine learning-rate
    decay over ``schedule_steps`` (default ``steps``; give the full length to re-run only the
    first steps of a longer run). ``norm``: GroupNorm decoder blocks (:class:`TinyUNet`). Returns ``(denoiser, log)`` with ``log`` a list of
    {"step", "loss"} every ``log_every`` steps (the batch loss, rounded to 6 digits).
    """
    steps = check_int_in(steps, 1, None, name="steps")
    schedule_steps = steps if schedule_steps is None else check_int_in(schedule_steps, steps, None,
                                                                       name="schedule_steps")
    batch = check_int_in(batch, 1, None, name="batch")
    lr = check_positive(lr, name="lr")
    log_every = check_int_in(log_every, 1, None, name="log_every")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    den = EDMDenoiser(TinyUNet(channels, levels, norm=norm))
    data = torch.from_numpy(digits("signed", as_images=True, dtype="float32")[0])[:, None]   # (1797, 1, 8, 8)
    opt = torch.optim.Adam(den.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * k / schedule_steps)))
    log = []
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="training the digit U-Net")
    for k in it:
        idx = torch.randint(0, data.shape[0], (batch,), generator=g)
        x0 = data[idx]
        sigma = torch.exp(-1.2 + 1.2 * torch.randn(batch, generator=g))
        noise = torch.randn(x0.shape, generator=g)
        loss = edm_loss(den, x0, sigma, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (k + 1) % log_every == 0:
            log.append({"step": k + 1, "loss": round(float(loss.detach()), 6)})
    den.eval()
    return den, log


def load_pretrained(dtype: str = "float64", norm: bool = False) -> tuple[EDMDenoiser, dict]:
    """The committed denoiser (weights from ``python -m kexue.diffusion.train_unet``) and its metrics.

    The weights were trained and stored in float32; by default they are converted to float64
    (``.double()``), so that samples and losses a chapter shows are the same on every CPU (a
    float32 network's outputs differ between SIMD paths, e.g. AVX2 and AVX-512). ``norm``: the
    variant with GroupNorm decoder blocks (``python -m kexue.diffusion.train_unet --groupnorm``).
    """
    check_choice(dtype, ["float64", "float32"], name="dtype")
    check_choice(norm, [False, True], name="norm")
    meta = load_run(METRICS_GN if norm else METRICS)
    den = EDMDenoiser(TinyUNet(meta["channels"], meta["levels"], norm=norm))
    den.load_state_dict(torch.load(WEIGHTS_GN if norm else WEIGHTS, weights_only=True))
    den.eval()
    return (den.double() if dtype == "float64" else den), meta


def vp_eps_model(den: EDMDenoiser) -> EpsModel:
    """The EDM denoiser as a VP eps-model eps(x_t, t) on numpy images (n, H, W), cosine schedule.

    Chapter snr-high-res-2 (the digit U-Net run at 16^2 with upsample guidance). With
    alpha = cos(pi t / 2), beta = sin(pi t / 2): x_VE = x_t / alpha, sigma = beta / alpha and
    eps = (x_VE - D(x_VE, sigma)) / sigma. The U-Net is fully convolutional, so any H, W
    divisible by 4 works.
    """
    if not isinstance(den, EDMDenoiser):
        raise ValueError("den must be an EDMDenoiser")
    dtype = next(den.parameters(), torch.zeros((), dtype=torch.float64)).dtype     # float64 if no weights

    def den_numpy(x, sigma: float) -> np.ndarray:          # (n, H, W) numpy -> (n, H, W) numpy
        xt = torch.from_numpy(np.ascontiguousarray(x)).to(dtype)[:, None]
        return den(xt, sigma)[:, 0].double().numpy()

    eps_ve = eps_from_denoiser(den_numpy)

    def eps(x, t: float):
        arr = as_float_ndarray(x, name="x", min_ndim=3, max_ndim=3)
        return eps_ve(arr, t)
    return eps
