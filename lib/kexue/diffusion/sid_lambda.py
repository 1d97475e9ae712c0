"""SiD's weight lambda: unbiased gradients (FGM, lambda = 1/2), the modified Fisher divergence
(lambda = 1), and where training with larger lambda runs away.

Chapter sid-distillation-2 (kexue.fm/archives/10567). Notation of chapter sid-distillation-1: VP
noising x_t = alpha x0 + beta eps; phi = the teacher's exact eps-prediction, psi = the exact
eps-prediction of the student's own law; "sg" = psi's parameters held constant. The post's names:

    L1 = |phi - psi|^2,  L2 = <phi - psi, phi - eps>,  L3 = |phi|^2 - 2<phi, eps> + <psi, eps>,
    L4 = |phi|^2 - 2<phi, eps> + 2<psi, eps> - |psi|^2   (FGM; per sample equal to 2 L2 - L1),
    L5 = |phi(sg x_t) - psi(sg x_t)|^2                   (the Fisher divergence weighted by sg p_theta).

(The post's L3 is the *full* rewrite that chapter sid-distillation-1 calls L4.) Closed forms are
for data N(mu, s^2 I) and the affine student g(z) = a z + b (numpy floats); Monte Carlo and
training use torch autograd in float64.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
from scipy import integrate, optimize

from .._validate import (check_choice, check_int_in, check_nonnegative,
                         check_positive, check_real)
from ..datasets import save_run
from .metrics import sliced_wasserstein2
from .mixture import GaussianMixture, ring_mixture
from .sid import eps_triplet, gmm_eps, modes_covered, sid_losses, train_sid, vp_time_alpha_beta

__all__ = ["GRAD_NAMES", "gaussian_sid_grads", "lambda_grad", "lambda_cosine", "fgm_loss",
           "gaussian_grads_mc", "vp_quadrature", "scale_field", "critical_lambda", "train_affine_sid",
           "fisher_1d", "fit_fisher_inner", "fit_fisher_weight", "train_gmm_lambda",
           "LAMBDA_SWEEP", "lambda_sweep", "AFFINE_SWEEP", "TRAJ_RUNS", "affine_lambda_sweep"]

#: The generator gradients the chapter compares: the true one and the post's surrogates.
GRAD_NAMES = ("L1", "L1 sg", "L2 sg", "L3 sg", "L4 sg", "L5")


def _vec(x, name: str) -> np.ndarray:
    v = np.atleast_1d(np.asarray(x, dtype=float))
    if v.ndim != 1 or not np.isfinite(v).all():
        raise ValueError(f"{name} must be a finite vector, got {x!r}")
    return v


def gaussian_sid_grads(a: float, b, mu, s: float, alpha: float, beta: float) -> dict:
    """Expected gradients in (a, b) of every loss in :data:`GRAD_NAMES`, closed form. numpy.

    Chapter sid-distillation-2. With u = alpha^2 s^2 + beta^2, v = alpha^2 a^2 + beta^2 and
    c = (v - u)/(u v), differentiating E|phi - psi_{a',b'}|^2 through the samples only and then
    setting (a', b') = (a, b) gives

        d/da L1sg = 2 d beta^2 alpha^2 a c^2,       d/db L1sg = 2 beta^2 alpha^2 c (b - mu)/u,

    and differentiating the closed form of L1 (psi following the student) gives the true

        d/da L1 = 2 d beta^2 alpha^2 a (v - u)(v + u)/(u^2 v^2),   d/db L1 = 2 beta^2 alpha^2 (b - mu)/u^2.

    The post's L3 with sg keeps only E|phi|^2 (the eps-terms have zero reparameterised gradient):
    (2 d beta^2 alpha^2 a/u^2, 2 beta^2 alpha^2 (b - mu)/u^2). L2sg = (L1 + L1sg)/2 (so L4sg = 2 L2sg
    - L1sg = L1) and L5 = L1 - L1sg. Each value is an array (1 + d,): [d/da, d/db_1, ..., d/db_d].
    """
    a, s = check_real(a, name="a"), check_positive(s, name="s")
    alpha, beta = check_nonnegative(alpha, name="alpha"), check_positive(beta, name="beta")
    b, mu = _vec(b, "b"), _vec(mu, "mu")
    if mu.shape != b.shape:
        raise ValueError(f"mu must have the shape of b {b.shape}, got {mu.shape}")
    d = b.size
    u, v = alpha ** 2 * s ** 2 + beta ** 2, alpha ** 2 * a ** 2 + beta ** 2
    c = (v - u) / (u * v)
    k = 2 * beta ** 2 * alpha ** 2
    g1 = np.concatenate([[k * d * a * (v - u) * (v + u) / (u ** 2 * v ** 2)], k * (b - mu) / u ** 2])
    gsg = np.concatenate([[k * d * a * c ** 2], k * c * (b - mu) / u])
    g3 = np.concatenate([[k * d * a / u ** 2], k * (b - mu) / u ** 2])
    g2 = 0.5 * (g1 + gsg)
    return {"L1": g1, "L1 sg": gsg, "L2 sg": g2, "L3 sg": g3, "L4 sg": 2 * g2 - gsg, "L5": g1 - gsg}


def lambda_grad(grads: dict, lam: float) -> np.ndarray:
    """The expected gradient of SiD's loss L2sg - lam L1sg = L1/2 + (1/2 - lam) L1sg (in gradient).

    Chapter sid-distillation-2; `grads` from :func:`gaussian_sid_grads`. numpy.
    """
    lam = check_real(lam, name="lam")
    if not isinstance(grads, dict) or "L2 sg" not in grads or "L1 sg" not in grads:
        raise ValueError("grads must be the dict of gaussian_sid_grads")
    return np.asarray(grads["L2 sg"]) - lam * np.asarray(grads["L1 sg"])


def lambda_cosine(grads: dict, lam: float) -> float:
    """Cosine between the gradient of L2sg - lam L1sg and the true gradient of L1. numpy float.

    Chapter sid-distillation-2: equals 1 at lam = 1/2 (FGM) whenever the true gradient is nonzero.
    """
    g, t = lambda_grad(grads, lam), np.asarray(grads["L1"])
    nt, ng = float(np.linalg.norm(t)), float(np.linalg.norm(g))
    if nt == 0 or ng == 0:
        raise ValueError("grads: the cosine is undefined where a gradient vanishes (the student is the data)")
    return float(g @ t / (ng * nt))


def fgm_loss(eps_teacher, eps_fake, eps) -> torch.Tensor:
    """FGM's generator loss L4 = E[|phi|^2 - 2<phi, eps> + 2<psi, eps> - |psi|^2] (batch mean).

    Chapter sid-distillation-2. Per sample it equals 2 L2 - L1 of :func:`sid_losses`; with psi's
    parameters held constant its gradient is, in expectation, the true gradient of L1. torch.
    """
    phi, psi, e = eps_triplet(eps_teacher, eps_fake, eps)
    return ((phi ** 2).sum(1) - 2 * (phi * e).sum(1) + 2 * (psi * e).sum(1) - (psi ** 2).sum(1)).mean()


def gaussian_grads_mc(a: float, b, mu, s: float, alpha: float, beta: float, n: int,
                      seed: int = 0, batches: int = 10) -> dict:
    """Monte Carlo gradients in (a, b) of every loss in :data:`GRAD_NAMES`, by autograd. torch.

    Chapter sid-distillation-2. z, eps ~ N(0, I) (n in `batches` equal batches, common to all
    losses), x_t = alpha (a z + b) + beta eps. "sg": psi at the current (a, b) as constants;
    "L1": psi follows (a, b) (its exact law), the true gradient; "L4 sg": :func:`fgm_loss`;
    "L5": x_t detached, psi follows (a, b). Returns name -> (mean, standard error), arrays (1 + d,).
    """
    n = check_int_in(n, 2, 10**8, name="n")
    batches = check_int_in(batches, 2, n, name="batches")
    a, s = check_real(a, name="a"), check_positive(s, name="s")
    if a == 0:
        raise ValueError("a must be nonzero (the student law must have a density)")
    alpha, beta = check_nonnegative(alpha, name="alpha"), check_positive(beta, name="beta")
    b, mu = _vec(b, "b"), _vec(mu, "mu")
    if mu.shape != b.shape:
        raise ValueError(f"mu must have the shape of b {b.shape}, got {mu.shape}")
    d, m = b.size, n // batches
    gen = torch.Generator().manual_seed(int(seed))
    mu_t, s_t = torch.tensor(mu)[None], torch.tensor([s], dtype=torch.float64)
    out: dict = {k: [] for k in GRAD_NAMES}
    for _ in range(batches):
        at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        bt = torch.tensor(b, requires_grad=True)
        z = torch.randn(m, d, generator=gen, dtype=torch.float64)
        e = torch.randn(m, d, generator=gen, dtype=torch.float64)
        xt = alpha * (at * z + bt) + beta * e
        phi = gmm_eps(xt, alpha, beta, mu_t, s_t)
        psi_sg = gmm_eps(xt, alpha, beta, bt.detach()[None], at.detach().abs()[None])
        psi_full = gmm_eps(xt, alpha, beta, bt[None], at.abs()[None])
        xd = xt.detach()
        L_sg = sid_losses(phi, psi_sg, e)
        losses = {"L1": ((phi - psi_full) ** 2).sum(1).mean(), "L1 sg": L_sg["L1"], "L2 sg": L_sg["L2"],
                  "L3 sg": L_sg["L4"], "L4 sg": fgm_loss(phi, psi_sg, e),
                  "L5": ((gmm_eps(xd, alpha, beta, mu_t, s_t)
                          - gmm_eps(xd, alpha, beta, bt[None], at.abs()[None])) ** 2).sum(1).mean()}
        for k, L in losses.items():
            ga, gb = torch.autograd.grad(L, [at, bt], retain_graph=True, allow_unused=True)
            ga = torch.zeros(()) if ga is None else ga
            gb = torch.zeros(d) if gb is None else gb
            out[k].append(np.concatenate([[float(ga)], gb.detach().numpy()]))
    return {k: (np.mean(v, 0), np.std(v, 0, ddof=1) / math.sqrt(batches)) for k, v in out.items()}


@functools.lru_cache(maxsize=16)
def _leggauss(n: int):
    return np.polynomial.legendre.leggauss(n)


def vp_quadrature(n: int = 64, t_min: float = 0.02, t_max: float = 0.98):
    """Gauss-Legendre nodes for E over t ~ U[t_min, t_max] with the cosine VP schedule.

    Returns (alpha, beta, weights), numpy (n,), weights summing to 1. Chapter sid-distillation-2.
    """
    n = check_int_in(n, 2, 10_000, name="n")
    t_min, t_max = check_real(t_min, name="t_min"), check_real(t_max, name="t_max")
    if not 0 <= t_min < t_max <= 1:
        raise ValueError(f"t_min, t_max must satisfy 0 <= t_min < t_max <= 1, got {t_min}, {t_max}")
    x, w = _leggauss(n)
    t = t_min + (t_max - t_min) * (x + 1) / 2
    return np.cos(np.pi * t / 2), np.sin(np.pi * t / 2), w / 2


def _scale_parts(a: float, s: float, n: int, t_min: float, t_max: float):
    """E_t of d/da L1 and of d/da L1sg per dimension (the d factor dropped). numpy."""
    al, be, w = vp_quadrature(n, t_min, t_max)
    u, v = al ** 2 * s ** 2 + be ** 2, al ** 2 * a ** 2 + be ** 2
    k = 2 * be ** 2 * al ** 2 * a
    return float(w @ (k * (v - u) * (v + u) / (u ** 2 * v ** 2))), float(w @ (k * ((v - u) / (u * v)) ** 2))


def scale_field(a: float, s: float, lam: float, n: int = 64, t_min: float = 0.02, t_max: float = 0.98) -> float:
    """E over t of the a-component of grad(L2sg - lam L1sg) per dimension, affine student. numpy.

    Chapter sid-distillation-2: = E_t[g1]/2 + (1/2 - lam) E_t[gsg] with g1, gsg the per-t gradients
    of :func:`gaussian_sid_grads` divided by d. It does not depend on b, so under gradient descent
    the scale a moves on its own: toward s where the field has the sign of a - s, away otherwise.
    """
    a, s, lam = check_real(a, name="a"), check_positive(s, name="s"), check_real(lam, name="lam")
    g1, gsg = _scale_parts(a, s, n, t_min, t_max)
    return 0.5 * g1 + (0.5 - lam) * gsg


def critical_lambda(a0: float, s: float, n: int = 64, t_min: float = 0.02, t_max: float = 0.98) -> float:
    """The largest lam for which the expected field still pulls a scale a0 > s back toward s. numpy.

    Chapter sid-distillation-2. Solving E_t[g1]/2 + (1/2 - lam) E_t[gsg] = 0 for lam gives
    lam_c(a0) = 1/2 + E_t[g1] / (2 E_t[gsg]); per noise level this is v/(v - u) > 1, which tends
    to 1 as a0 -> infinity and to infinity as a0 -> s. For a0 <= s no lam >= 0 pushes a away from
    s, and the function returns inf.
    """
    a0, s = check_positive(a0, name="a0"), check_positive(s, name="s")
    if a0 <= s:
        return math.inf
    g1, gsg = _scale_parts(a0, s, n, t_min, t_max)
    return 0.5 + 0.5 * g1 / gsg


AFFINE_KINDS = ("L2 - lam L1 sg", "L1 sg", "L5")


def train_affine_sid(lam: float, a0: float, b0, mu, s: float, steps: int = 800, lr: float = 0.05,
                     batch: int = 512, seed: int = 0, kind: str = "L2 - lam L1 sg",
                     record_every: int = 10, limit: float = 50.0) -> dict:
    """Adam on the affine student a z + b against data N(mu, s^2 I), exact psi. torch, float64.

    Chapter sid-distillation-2. Each step: t ~ U[0.02, 0.98] (cosine VP), x_t = alpha (a z + b) +
    beta eps, phi exact, psi exact at the current (a, b). kind "L2 - lam L1 sg" (psi's parameters
    held constant), "L1 sg" (alternating training on L1) or "L5" (x_t held constant, psi follows).
    Stops as diverged when |a| or |b - mu| exceeds `limit` or the loss is not finite. Returns
    "step", "a", "b" (recorded every `record_every` steps, numpy), "diverged", "stopped_at".
    """
    lam = check_real(lam, name="lam")
    a0 = check_real(a0, name="a0")
    if a0 == 0:
        raise ValueError("a0 must be nonzero")
    s = check_positive(s, name="s")
    b0, mu = _vec(b0, "b0"), _vec(mu, "mu")
    if mu.shape != b0.shape:
        raise ValueError(f"mu must have the shape of b0 {b0.shape}, got {mu.shape}")
    steps = check_int_in(steps, 1, 100_000, name="steps")
    lr = check_positive(lr, name="lr")
    batch = check_int_in(batch, 2, 1_000_000, name="batch")
    kind = check_choice(kind, AFFINE_KINDS, name="kind")
    record_every = check_int_in(record_every, 1, None, name="record_every")
    limit = check_positive(limit, name="limit")
    d = b0.size
    a = torch.tensor(a0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    mu_t, s_t = torch.tensor(mu), torch.tensor([s], dtype=torch.float64)
    opt = torch.optim.Adam([a, b], lr=lr)
    gen = torch.Generator().manual_seed(int(seed))
    hist = {"step": [], "a": [], "b": [], "diverged": False, "stopped_at": steps}
    for step in range(steps + 1):
        if step % record_every == 0 or step == steps:
            hist["step"].append(step)
            hist["a"].append(float(a.detach()))
            hist["b"].append(b.detach().numpy().copy())
        if abs(float(a.detach())) > limit or float((b.detach() - mu_t).norm()) > limit:
            hist["diverged"], hist["stopped_at"] = True, step
            break
        if step == steps:
            break
        alpha, beta = vp_time_alpha_beta(batch, gen)
        z = torch.randn(batch, d, generator=gen, dtype=torch.float64)
        e = torch.randn(batch, d, generator=gen, dtype=torch.float64)
        xt = alpha * (a * z + b) + beta * e
        if kind == "L5":
            xd = xt.detach()
            loss = ((gmm_eps(xd, alpha, beta, mu_t[None], s_t)
                     - gmm_eps(xd, alpha, beta, b[None], a.abs()[None])) ** 2).sum(1).mean()
        else:
            phi = gmm_eps(xt, alpha, beta, mu_t[None], s_t)
            psi = gmm_eps(xt, alpha, beta, b.detach()[None], a.detach().abs()[None])
            L = sid_losses(phi, psi, e)
            loss = L["L1"] if kind == "L1 sg" else L["L2"] - lam * L["L1"]
        if not bool(torch.isfinite(loss)):
            hist["diverged"], hist["stopped_at"] = True, step
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    hist["a"], hist["b"] = np.array(hist["a"]), np.array(hist["b"])
    return hist


def _normal_score(x, m: float, sd: float):
    # d/dx log N(x; m, sd^2) = -(x - m)/sd^2
    return -(x - m) / sd ** 2


def fisher_1d(m: float, sd: float, weight, p_mean: float = 0.0, p_std: float = 1.0,
              lo: float = -np.inf, hi: float = np.inf) -> float:
    """The weighted Fisher divergence F(p, q | r) = int r(x) (d log p - d log q)^2 dx in 1-D.

    Chapter sid-distillation-2: p = N(p_mean, p_std^2), q = N(m, sd^2), `weight` = r, a callable
    density (vectorised over numpy arrays), integrated on [lo, hi] by scipy.integrate.quad.
    """
    m, sd = check_real(m, name="m"), check_positive(sd, name="sd")
    p_mean, p_std = check_real(p_mean, name="p_mean"), check_positive(p_std, name="p_std")
    if not callable(weight):
        raise ValueError("weight must be a callable density r(x)")
    if not lo < hi:
        raise ValueError(f"lo must be below hi, got {lo}, {hi}")

    def integrand(x):
        return float(weight(x)) * (_normal_score(x, p_mean, p_std) - _normal_score(x, m, sd)) ** 2

    val, _ = integrate.quad(integrand, lo, hi, limit=200)
    return float(val)


def fit_fisher_inner(weight, lo: float = -np.inf, hi: float = np.inf, start=(1.0, 2.0),
                     p_mean: float = 0.0, p_std: float = 1.0) -> tuple[float, float]:
    """Minimise F(p, q | r) over q = N(m, sd^2) with the weighting r fixed. scipy (BFGS).

    Chapter sid-distillation-2: for any r > 0 the minimiser is q = p. Returns (m, sd).
    """
    start = _vec(start, "start")
    if start.size != 2 or start[1] <= 0:
        raise ValueError(f"start must be (m, sd) with sd > 0, got {start!r}")
    res = optimize.minimize(lambda th: fisher_1d(th[0], math.exp(th[1]), weight, p_mean, p_std, lo, hi),
                            [start[0], math.log(start[1])], method="BFGS", options={"gtol": 1e-9})
    return float(res.x[0]), float(math.exp(res.x[1]))


def fit_fisher_weight(m: float, sd: float, w_min: float = 1e-3, start=(0.0, 1.0),
                      p_mean: float = 0.0, p_std: float = 1.0) -> tuple[float, float]:
    """Minimise F(p, q | r) over the weighting r = N(c, w^2), w >= w_min, with q = N(m, sd^2) fixed.

    Chapter sid-distillation-2: the post's point that optimising only the *outer* density collapses
    it onto the point where the score gap is smallest. scipy (L-BFGS-B, bounds on log w); the
    integral runs over c +- 12 w. Returns (c, w).
    """
    m, sd = check_real(m, name="m"), check_positive(sd, name="sd")
    w_min = check_positive(w_min, name="w_min")
    start = _vec(start, "start")
    if start.size != 2 or start[1] <= w_min:
        raise ValueError(f"start must be (c, w) with w > w_min, got {start!r}")

    def obj(th):
        c, w = th[0], math.exp(th[1])
        r = lambda x: math.exp(-0.5 * ((x - c) / w) ** 2) / (w * math.sqrt(2 * math.pi))  # noqa: E731
        return fisher_1d(m, sd, r, p_mean, p_std, c - 12 * w, c + 12 * w)

    res = optimize.minimize(obj, [start[0], math.log(start[1])], method="L-BFGS-B",
                            bounds=[(-20, 20), (math.log(w_min), 5)],
                            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 2000})
    return float(res.x[0]), float(math.exp(res.x[1]))


def train_gmm_lambda(lam: float, teacher: GaussianMixture, init_std: float = 1.0, steps: int = 300,
                     batch: int = 256, lr: float = 0.04, seed: int = 0, k: int = 8) -> dict:
    """Adam on SiD's loss L2sg - lam L1sg for a :class:`GMMStudent` with initial stds `init_std`.

    Chapter sid-distillation-2: ``train_sid`` of chapter sid-distillation-1 with the initial scale
    as a knob (identical to it at init_std = 1). Returns its history: "means", "stds" (numpy),
    "diverged", "stopped_at", "student". torch, float64.
    """
    lam = check_nonnegative(lam, name="lam")
    init_std = check_positive(init_std, name="init_std")
    steps = check_int_in(steps, 1, 100_000, name="steps")
    return train_sid("L2 - lam L1 sg", teacher, lam=lam, steps=steps, batch=batch, lr=lr, seed=seed, k=k,
                     record_every=steps, init_std=init_std)


#: The ring sweep: lambdas, initial component stds (the data's are 0.2), seeds.
LAMBDA_SWEEP = {"lams": (0.0, 0.5, 1.0, 1.1, 1.2, 1.3, 1.5), "init_stds": (1.0, 0.4),
                "seeds": (0, 1, 2, 3, 4)}


def lambda_sweep(lams=LAMBDA_SWEEP["lams"], init_stds=LAMBDA_SWEEP["init_stds"], seeds=LAMBDA_SWEEP["seeds"],
                 steps: int = 300, batch: int = 256, lr: float = 0.04) -> dict:
    """Final sliced W2 (200 directions, 4000 vs 4000 samples), modes covered and divergence of
    :func:`train_gmm_lambda` on the 8-mode ring (radius 2, std 0.2) for every (init_std, lam, seed).

    Chapter sid-distillation-2; committed as ``kexue/data/sid_lambda_sweep.json``
    (``python -m kexue.diffusion.sid_lambda``). Keys "runs"[f"{init_std}"][f"{lam}"] -> lists over seeds.
    """
    teacher = ring_mixture(8, 2.0, 0.2)
    ref = teacher.sample(4000, np.random.default_rng(0))
    out: dict = {"floor": sliced_wasserstein2(ref, teacher.sample(4000, np.random.default_rng(1)), 200),
                 "lams": list(lams), "init_stds": list(init_stds), "seeds": list(seeds), "runs": {}}
    for s0 in init_stds:
        out["runs"][f"{s0}"] = {}
        for lam in lams:
            rec = {"sw": [], "modes": [], "diverged": [], "stopped_at": [], "max_std": []}
            for seed in seeds:
                h = train_gmm_lambda(lam, teacher, s0, steps, batch, lr, seed)
                with torch.no_grad():
                    xs = h["student"].sample(4000, torch.Generator().manual_seed(123)).numpy()
                rec["sw"].append(None if h["diverged"] else sliced_wasserstein2(xs, ref, 200))
                rec["modes"].append(modes_covered(h["means"], h["stds"], teacher))
                rec["diverged"].append(bool(h["diverged"]))
                rec["stopped_at"].append(h["stopped_at"])
                rec["max_std"].append(float(h["stds"].max()))
            out["runs"][f"{s0}"][f"{lam}"] = rec
    return out


#: The affine sweep: initial scales (the data's is 0.7), lambdas, seeds; trajectories kept for
#: a0 = 2, seed 0 and the losses of TRAJ_RUNS (label -> (kind, lam)).
AFFINE_SWEEP = {"a0s": (1.5, 2.0, 3.0), "lams": tuple(round(1.0 + 0.1 * i, 1) for i in range(11)),
                "seeds": (0, 1, 2), "mu": (1.0, -0.5), "s": 0.7, "b0": (-1.0, 1.0)}
TRAJ_RUNS = {"L1 sg": ("L1 sg", 0.0), "L5": ("L5", 0.0), "lam 0.5": ("L2 - lam L1 sg", 0.5),
             "lam 1": ("L2 - lam L1 sg", 1.0), "lam 1.2": ("L2 - lam L1 sg", 1.2),
             "lam 1.5": ("L2 - lam L1 sg", 1.5)}


def affine_lambda_sweep(a0s=AFFINE_SWEEP["a0s"], lams=AFFINE_SWEEP["lams"], seeds=AFFINE_SWEEP["seeds"],
                        steps: int = 800, lr: float = 0.05, batch: int = 512) -> dict:
    """Divergence of :func:`train_affine_sid` (data N(mu, 0.49 I), b0 = (-1, 1)) for every (a0, lam,
    seed), next to :func:`critical_lambda` (a0). Chapter sid-distillation-2; committed with
    :func:`lambda_sweep`. Keys "runs"[f"{a0}"][f"{lam}"] -> {"diverged": [...], "a_end": [...]}.
    """
    mu, s, b0 = AFFINE_SWEEP["mu"], AFFINE_SWEEP["s"], AFFINE_SWEEP["b0"]
    out: dict = {"a0s": list(a0s), "lams": list(lams), "seeds": list(seeds), "critical": {}, "runs": {},
                 "steps": steps, "traj": {}}
    for name, (kind, lam) in TRAJ_RUNS.items():
        h = train_affine_sid(lam, 2.0, b0, mu, s, steps, lr, batch, 0, kind=kind, record_every=10)
        out["traj"][name] = {"step": h["step"], "a": h["a"].tolist(),
                             "b_err": np.linalg.norm(h["b"] - np.asarray(mu), axis=1).tolist(),
                             "diverged": bool(h["diverged"])}
    for a0 in a0s:
        out["critical"][f"{a0}"] = critical_lambda(a0, s)
        out["runs"][f"{a0}"] = {}
        for lam in lams:
            rec = {"diverged": [], "a_end": []}
            for seed in seeds:
                h = train_affine_sid(lam, a0, b0, mu, s, steps, lr, batch, seed, record_every=steps)
                rec["diverged"].append(bool(h["diverged"]))
                rec["a_end"].append(float(h["a"][-1]))
            out["runs"][f"{a0}"][f"{lam}"] = rec
    return out


if __name__ == "__main__":                               # pragma: no cover - the committed runs
    torch.set_num_threads(1)
    print(save_run("sid_lambda_affine", affine_lambda_sweep(), digits=4))
    print(save_run("sid_lambda_sweep", lambda_sweep(), digits=4))
