"""A tiny U-Net denoiser on scikit-learn's 8x8 digits, with skip connections that can be scaled.

Chapter skip-tuning (and any later chapter that needs a trained diffusion network on a CPU).
torch for the network and its training (autograd only there); numpy/scipy for the metrics.

* :class:`TinyUNet` - encoder 8 -> 4 -> 2 (``levels`` = 2) with concatenation skips, no
  normalisation layers (so that scaling a skip is exactly a weight edit, :func:`fold_skip_scales`).
* :class:`EDMDenoiser` - EDM preconditioning D(x, sigma) = c_skip x + c_out F(c_in x, c_noise);
  call it with ``(x, sigma)`` like the exact teachers of :mod:`kexue.diffusion`, so the same
  samplers run on it.
* :func:`train_digits_unet` - deterministic training (the committed weights come from
  ``python -m kexue.train_unet``); :func:`load_pretrained` reads them.
* Skip tuning: :func:`skip_scale_schedule`, :func:`skip_tuning` (context manager).
* Metrics: :func:`digit_features` (hidden layer of a fixed MLP classifier),
  :func:`frechet_distance`, :func:`total_variation`.
"""
from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from ._validate import as_float_array, check_int_in, check_nonnegative, check_positive

__all__ = ["load_digits_tensor", "TinyUNet", "EDMDenoiser", "edm_loss", "train_digits_unet",
           "load_pretrained", "skip_scale_schedule", "skip_tuning", "fold_skip_scales",
           "digit_features", "frechet_distance", "total_variation", "DATA_DIR", "SAMPLERS",
           "sample_digits", "skip_sweep", "skip_tuning_explorer", "sweep_to_json", "load_sweep",
           "SWEEP_RHOS", "vp_eps_model"]

DATA_DIR = Path(__file__).with_name("data")
WEIGHTS = DATA_DIR / "digits_unet.pt"
METRICS = DATA_DIR / "digits_unet_metrics.json"


def load_digits_tensor(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """scikit-learn's bundled digits as a tensor (1797, 1, 8, 8) scaled from [0, 16] to [-1, 1]."""
    from sklearn.datasets import load_digits
    x = torch.tensor(load_digits().images, dtype=dtype) / 8.0 - 1.0
    return x[:, None]


class _Block(nn.Module):
    """conv3x3 -> + time embedding (per-channel bias) -> SiLU -> conv3x3 -> SiLU."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)

    def forward(self, x, emb):
        h = F.silu(self.conv1(x) + self.emb(emb)[:, :, None, None])
        return F.silu(self.conv2(h))


class TinyUNet(nn.Module):
    """U-Net F(x, c_noise) on (n, 1, 8, 8): ``levels`` downsamplings by 2, one concatenation skip each.

    Chapter skip-tuning. ``skip_scales`` (one per skip, ordered top -> bottom, i.e. from the
    highest resolution to the deepest) multiply the skip tensors before concatenation; all 1
    is the plain network. Encoder level i has ``channels * min(2**i, 2)`` channels.
    """

    def __init__(self, channels: int = 16, levels: int = 2, emb_dim: int = 32):
        super().__init__()
        channels = check_int_in(channels, 1, 512, name="channels")
        self.levels = check_int_in(levels, 1, 3, name="levels")
        emb_dim = check_int_in(emb_dim, 2, 1024, name="emb_dim")
        if emb_dim % 2:
            raise ValueError(f"emb_dim must be even, got {emb_dim}")
        self.emb_dim = emb_dim
        self.register_buffer("freqs", torch.exp(torch.linspace(0, math.log(100), emb_dim // 2)))
        self.emb_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        ch = [channels * min(2 ** i, 2) for i in range(levels + 1)]     # 16, 32, 32, ...
        self.inp = nn.Conv2d(1, ch[0], 3, padding=1)
        self.enc = nn.ModuleList([_Block(ch[i], ch[i], emb_dim) for i in range(levels)])
        self.down = nn.ModuleList([nn.Conv2d(ch[i], ch[i + 1], 3, padding=1) for i in range(levels)])
        self.mid = _Block(ch[levels], ch[levels], emb_dim)
        # decoder level i (deepest first) consumes [upsampled h (ch[i+1]), skip i (ch[i])]
        self.dec = nn.ModuleList([_Block(ch[i + 1] + ch[i], ch[i], emb_dim) for i in range(levels)])
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
        self.net = net
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
                      schedule_steps: int | None = None):
    """Train an EDM denoiser on the digits (deterministic for a seed and one torch thread).

    Chapter skip-tuning. sigma ~ logNormal(-1.2, 1.2) as in EDM, Adam with a cosine learning-rate
    decay over ``schedule_steps`` (default ``steps``; give the full length to re-run only the
    first steps of a longer run). Returns ``(denoiser, log)`` with ``log`` a list of
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
    den = EDMDenoiser(TinyUNet(channels, levels))
    data = load_digits_tensor()
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


def load_pretrained() -> tuple[EDMDenoiser, dict]:
    """The committed denoiser (weights from ``python -m kexue.train_unet``) and its metrics."""
    meta = json.loads(METRICS.read_text())
    den = EDMDenoiser(TinyUNet(meta["channels"], meta["levels"]))
    den.load_state_dict(torch.load(WEIGHTS, weights_only=True))
    den.eval()
    return den, meta


# -------------------------------------------------------------------------------- skip tuning

def skip_scale_schedule(n_skips: int, rho_bottom: float, rho_top: float = 1.0) -> list[float]:
    """rho_i = rho_top + (rho_bottom - rho_top) i / (n_skips - 1), i = 0 (top) .. n_skips - 1 (bottom).

    Chapter skip-tuning, the linear schedule of Ma et al. (2024). One skip gets rho_bottom.
    """
    n_skips = check_int_in(n_skips, 1, None, name="n_skips")
    rho_bottom = check_nonnegative(rho_bottom, name="rho_bottom")
    rho_top = check_nonnegative(rho_top, name="rho_top")
    if n_skips == 1:
        return [rho_bottom]
    return [rho_top + (rho_bottom - rho_top) * i / (n_skips - 1) for i in range(n_skips)]


def _net(model) -> TinyUNet:
    net = model.net if isinstance(model, EDMDenoiser) else model
    if not isinstance(net, TinyUNet):
        raise ValueError("model must be a TinyUNet or an EDMDenoiser wrapping one")
    return net


@contextlib.contextmanager
def skip_tuning(model, rho_bottom: float, rho_top: float = 1.0):
    """Context manager: scale the skips by :func:`skip_scale_schedule`, always restore them after."""
    net = _net(model)
    old = list(net.skip_scales)
    net.skip_scales = skip_scale_schedule(net.n_skips, rho_bottom, rho_top)
    try:
        yield model
    finally:
        net.skip_scales = old


def fold_skip_scales(model):
    """Fold the skip scales into the weights (in place): the decoder's first conv reads the skip
    channels, so scaling them by rho equals scaling those input-channel slices of its weight.
    The scales are reset to 1; the function computed is unchanged. Returns the model.
    """
    net = _net(model)
    with torch.no_grad():
        for i, rho in enumerate(net.skip_scales):
            conv = net.dec[i].conv1
            c_skip = net.enc[i].conv2.out_channels
            conv.weight[:, -c_skip:] *= rho                  # input channels = [h, skip]
    net.skip_scales = [1.0] * net.n_skips
    return model


# -------------------------------------------------------------------------------- metrics

_FEATURES = None


def digit_features():
    """A fixed digit classifier's hidden layer as a feature map (the "Inception" of this book).

    An ``sklearn.neural_network.MLPClassifier`` (64 ReLU units, seed 0, 100 Adam epochs) fit on all 1797 digits
    in [-1, 1]. Returns ``(features, classifier)`` where ``features(x)`` maps images (n, 8, 8) or
    (n, 1, 8, 8) (numpy or torch) to (n, 64) numpy activations.
    """
    global _FEATURES
    if _FEATURES is None:
        import warnings
        from sklearn.neural_network import MLPClassifier
        from sklearn.datasets import load_digits
        d = load_digits()
        X = d.images.reshape(-1, 64) / 8.0 - 1.0
        clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=100, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, d.target)

        def features(x):
            arr, torch_in = as_float_array(x, name="x", min_ndim=3)
            a = arr.detach().double().cpu().numpy() if torch_in else np.asarray(arr, dtype=float)
            a = a.reshape(a.shape[0], -1)
            if a.shape[1] != 64:
                raise ValueError(f"x must hold 8x8 images, got shape {tuple(arr.shape)}")
            return np.maximum(a @ clf.coefs_[0] + clf.intercepts_[0], 0.0)
        _FEATURES = (features, clf)
    return _FEATURES


def frechet_distance(A, B) -> float:
    """Frechet distance between Gaussians fitted to feature sets A (n, k) and B (m, k):

    |m_A - m_B|^2 + tr(C_A + C_B - 2 (C_A C_B)^(1/2)) (the FID formula; scipy sqrtm, real part). numpy.
    """
    from scipy.linalg import sqrtm
    a, _ = as_float_array(A, name="A", min_ndim=2, max_ndim=2)
    b, _ = as_float_array(B, name="B", min_ndim=2, max_ndim=2)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape[1] != b.shape[1] or a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"B must have the feature size of A and both >= 2 rows, got {a.shape}, {b.shape}")
    ma, mb = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cov = sqrtm(ca @ cb)
        if not np.isfinite(cov).all():                  # singular product: regularise as pytorch-fid does
            off = 1e-6 * np.eye(ca.shape[0])
            cov = sqrtm((ca + off) @ (cb + off))
    return float(((ma - mb) ** 2).sum() + np.trace(ca + cb - 2 * np.real(cov)))


def total_variation(x) -> float:
    """Mean absolute difference between horizontally and vertically adjacent pixels (numpy or torch)."""
    arr, torch_in = as_float_array(x, name="x", min_ndim=2)
    a = arr.detach().double().cpu().numpy() if torch_in else np.asarray(arr, dtype=float)
    dh = np.abs(np.diff(a, axis=-1)).mean()
    dv = np.abs(np.diff(a, axis=-2)).mean()
    return float(0.5 * (dh + dv))


# -------------------------------------------------------------------------------- the chapter's sweep

SWEEP_RHOS = (0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5)
SAMPLERS = {"euler3": ("euler", 3), "euler5": ("euler", 5), "euler10": ("euler", 10),
            "heun3": ("heun", 3), "heun5": ("heun", 5)}
_SAMPLER_NAMES = {"euler3": "Euler, 3 steps (NFE 3)", "euler5": "Euler, 5 steps (NFE 5)",
                  "euler10": "Euler, 10 steps (NFE 10)", "heun3": "Heun, 3 steps (NFE 6)",
                  "heun5": "Heun, 5 steps (NFE 10)"}


def sample_digits(den: EDMDenoiser, x_T: torch.Tensor, sampler: str) -> torch.Tensor:
    """Few-step samples from noise x_T = 80 z on the Karras grid (80 -> 0.002), clipped to [-1, 1]."""
    from . import diffusion as kd
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    kind, steps = SAMPLERS[sampler]
    grid = kd.karras_sigmas(steps + 1)
    f = kd.sample_euler if kind == "euler" else kd.sample_heun
    return f(den, x_T, grid)[0].clamp(-1, 1)


def skip_sweep(den: EDMDenoiser, rhos: Sequence[float], samplers: Sequence[str] = tuple(SAMPLERS),
               n: int = 1000, seed: int = 0) -> dict:
    """Sample every (sampler, rho_bottom) from the same noise; Frechet distance, TV and std of each.

    Chapter skip-tuning, the quality sweep. Returns {"fd", "tv", "std": {(sampler, rho): float},
    "real": {"fd_floor", "tv", "std"}}. The noise is 80 z with z from a generator seeded by ``seed``.
    The FD compares the digit-classifier features of the n samples with those of all 1797 digits;
    the floor is the FD between two disjoint halves of the real digits.
    """
    n = check_int_in(n, 2, 100_000, name="n")
    rhos = [check_nonnegative(r, name="rhos") for r in rhos]
    feats, _ = digit_features()
    real = load_digits_tensor()
    f_real = feats(real)
    perm = np.random.default_rng(seed).permutation(real.shape[0])
    half = real.shape[0] // 2
    out = {"fd": {}, "tv": {}, "std": {},
           "real": {"fd_floor": frechet_distance(f_real[perm[:half]], f_real[perm[half:]]),
                    "tv": total_variation(real), "std": float(real.std())}}
    x_T = 80 * torch.randn((n, 1, 8, 8), generator=torch.Generator().manual_seed(seed))
    for sm in samplers:
        for r in rhos:
            with skip_tuning(den, r):
                x = sample_digits(den, x_T, sm)
            out["fd"][(sm, r)] = frechet_distance(feats(x), f_real)
            out["tv"][(sm, r)] = total_variation(x)
            out["std"][(sm, r)] = float(x.std())
    return out


def skip_tuning_explorer(den: EDMDenoiser, sweep: dict, seed: int = 0):
    """The chapter's widget: rho_bottom slider, sampler dropdown, over a :func:`skip_sweep` result.

    Chapter skip-tuning. Left: the first 16 samples of the sweep's noise (the same for every rho),
    sampled here, as a 4 x 4 mosaic; right: FD against rho_bottom for every sampler from the
    sweep, the current point marked, and the real-vs-real floor.
    """
    from . import widgets as W
    keys = list(sweep["fd"])
    samplers = list(dict.fromkeys(k[0] for k in keys))
    rhos = sorted(set(k[1] for k in keys))
    n = int(sweep.get("n", 1000))
    x_T = (80 * torch.randn((n, 1, 8, 8), generator=torch.Generator().manual_seed(seed)))[:16]

    def compute(sampler: str, rho: float) -> dict:
        with skip_tuning(den, rho):
            x = sample_digits(den, x_T, sampler)[:, 0].numpy()                # (16, 8, 8)
        mosaic = np.zeros((35, 35))                                            # 4 x 4 tiles, 1-pixel gaps at 0
        for k in range(16):
            r, c = divmod(k, 4)
            mosaic[9 * r:9 * r + 8, 9 * c:9 * c + 8] = x[k]
        mosaic = mosaic[::-1]                                                  # row 0 at the top
        left = W.panel(f"{_SAMPLER_NAMES[sampler]}, ρ_bottom = {rho:g}", "", "",
                       heatmap={"z": np.round(mosaic, 2).tolist(), "x": list(range(36)), "y": list(range(36)),
                                "vmin": -1, "vmax": 1, "label": ""}, legend=False)
        series = [{"kind": "line", "x": rhos, "y": [sweep["fd"][(sm, r)] for r in rhos],
                   "label": _SAMPLER_NAMES[sm], "color": W.PALETTE[i], "dash": sm != sampler}
                  for i, sm in enumerate(samplers)]
        series.append({"kind": "scatter", "x": [rho], "y": [sweep["fd"][(sampler, rho)]], "label": "",
                       "color": "#000000"})
        right = W.panel("Fréchet distance (digit-classifier features) vs ρ_bottom", "ρ_bottom", "FD",
                        series=series, hlines=[{"y": sweep["real"]["fd_floor"], "label": "real vs real",
                                                "color": "#999999", "dash": True}], yscale="log")
        txt = (f"{_SAMPLER_NAMES[sampler]}, ρ_bottom = {rho:g}: FD {sweep['fd'][(sampler, rho)]:.2f} "
               f"(real-vs-real floor {sweep['real']['fd_floor']:.2f}), TV {sweep['tv'][(sampler, rho)]:.3f} "
               f"(real {sweep['real']['tv']:.3f})")
        return W.frame(left, right, text=txt)

    controls = [W.Dropdown("sampler", samplers, samplers[0], label="sampler",
                           names=[_SAMPLER_NAMES[s] for s in samplers]),
                W.Slider("rho", rhos, 1.0 if 1.0 in rhos else rhos[0], label="ρ_bottom", fmt="{:.2g}")]
    return W.Explorer(controls, compute, name="skip-tuning")


SWEEP = DATA_DIR / "digits_skip_sweep.json"


def sweep_to_json(sweep: dict, n: int) -> dict:
    """A :func:`skip_sweep` result as JSON-able tables {"n", "real", "rows": [{sampler, rho, fd, tv, std}]}."""
    rows = [{"sampler": sm, "rho": r, "fd": round(sweep["fd"][(sm, r)], 4), "tv": round(sweep["tv"][(sm, r)], 4),
             "std": round(sweep["std"][(sm, r)], 4)} for (sm, r) in sweep["fd"]]
    return {"n": n, "real": {k: round(v, 4) for k, v in sweep["real"].items()}, "rows": rows}


def load_sweep() -> dict:
    """The committed sweep (from ``python -m kexue.train_unet``) in the form :func:`skip_sweep` returns."""
    meta = json.loads(SWEEP.read_text())
    out = {"n": meta["n"], "real": meta["real"], "fd": {}, "tv": {}, "std": {}}
    for r in meta["rows"]:
        for k in ("fd", "tv", "std"):
            out[k][(r["sampler"], r["rho"])] = r[k]
    return out


def vp_eps_model(den: EDMDenoiser):
    """The EDM denoiser as a VP eps-model eps(x_t, t) on numpy images (n, H, W), cosine schedule.

    Chapter snr-high-res-2 (the digit U-Net run at 16^2 with upsample guidance). With
    alpha = cos(pi t / 2), beta = sin(pi t / 2): x_VE = x_t / alpha, sigma = beta / alpha and
    eps = (x_VE - D(x_VE, sigma)) / sigma. The U-Net is fully convolutional, so any H, W
    divisible by 4 works.
    """
    if not isinstance(den, EDMDenoiser):
        raise ValueError("den must be an EDMDenoiser")

    def eps(x, t: float):
        t = float(t)
        if not 0 < t < 1:
            raise ValueError(f"t must be in (0, 1), got {t}")
        arr, torch_in = as_float_array(x, name="x", min_ndim=3, max_ndim=3)
        a, b = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
        xv = torch.as_tensor(np.asarray(arr), dtype=torch.float32)[:, None] / a
        sigma = b / a
        out = ((xv - den(xv, sigma)) / sigma)[:, 0]
        return out if torch_in else out.double().numpy()
    return eps
