"""The digits autoencoder of the Discrete-codes chapters: an MLP encoder, an FSQ or VQ
quantiser, an MLP decoder, its seeded trainer and the gradient-ratio probe.

Chapters ``codes/fsq`` (codebook usage) and ``codes/vq-rotation-trick`` (training
curves, Su's mechanism). torch, CPU, deterministic given the seed. Data: scikit-learn's bundled 8x8
digits through :func:`kexue.datasets.digits` (nothing downloaded).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .._validate import as_float_array, check_choice, check_int_in, check_nonnegative, check_positive
from ..datasets import digits
from .fsq import FSQ, check_levels, codebook_usage
from .vq import INITS, VectorQuantizer, nearest_code, rotate_to, ste

__all__ = ["digits_tensor", "split_digits", "DigitsAutoencoder", "build_digits_model",
           "train_digits_autoencoder", "recon_grad_ratio", "encoder_gradient_norms"]


def digits_tensor() -> torch.Tensor:
    """The 8x8 digits as a (1797, 64) float32 tensor in [0, 1]: :func:`kexue.datasets.digits`
    (scale "unit"), the training data of the digits experiments."""
    return torch.from_numpy(digits("unit", dtype="float32")[0])


def split_digits(holdout: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test): the digits of :func:`digits_tensor` split by one fixed permutation (seed 0,
    the same for every run), the last ``holdout`` images held out; ``holdout=0`` trains on all
    1797 and returns an empty test set. Chapter fsq (held-out reconstruction of the codebook-size
    sweep)."""
    holdout = check_int_in(holdout, 0, 1000, name="holdout")
    X = digits_tensor()
    perm = torch.randperm(X.shape[0], generator=torch.Generator().manual_seed(0))
    n_train = X.shape[0] - holdout
    return X[perm[:n_train]], X[perm[n_train:]]


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class DigitsAutoencoder(nn.Module):
    """MLP encoder 64-128-128-d, a quantiser, MLP decoder d-128-128-64 (torch; one token per image).

    ``forward(x) -> dict(x_hat, z, z_q, indices, aux)``; aux is 0 for FSQ. The model of the
    digits experiments, chapters fsq and vq-rotation-trick.
    """

    def __init__(self, quantizer: nn.Module, hidden: int = 128):
        super().__init__()
        if not isinstance(quantizer, (FSQ, VectorQuantizer)):
            raise ValueError("quantizer must be an FSQ or a VectorQuantizer")
        hidden = check_int_in(hidden, 1, None, name="hidden")
        d = quantizer.dim
        self.quantizer = quantizer
        self.encoder = _mlp([64, hidden, hidden, d])
        self.decoder = _mlp([d, hidden, hidden, 64])

    def forward(self, x: torch.Tensor) -> dict:
        z = self.encoder(x)
        if isinstance(self.quantizer, FSQ):
            z_q, idx = self.quantizer(z)
            aux = torch.zeros((), dtype=z.dtype)
        else:
            z_q, idx, aux = self.quantizer(z)
        return {"x_hat": self.decoder(z_q), "z": z, "z_q": z_q, "indices": idx, "aux": aux}


def _evaluate(model: DigitsAutoencoder, X: torch.Tensor) -> dict:
    with torch.no_grad():
        was = model.training
        model.eval()
        out = model(X)
        model.train(was)
        K = model.quantizer.codebook_size
        use = codebook_usage(out["indices"], K)
        if isinstance(model.quantizer, VectorQuantizer):
            q = model.quantizer.codebook[out["indices"]]
            cb_loss = float(((q - out["z"]) ** 2).sum(-1).mean())
            # median over the images of ||q||/||z||: the rotation trick's gradient scale
            q_over_z = float((q.norm(dim=-1) / out["z"].norm(dim=-1).clamp_min(1e-12)).median())
        else:                       # FSQ has no codebook loss and no rotation
            cb_loss, q_over_z = 0.0, 1.0
        return {"mse": float(((out["x_hat"] - X) ** 2).mean()),
                "codebook_loss": cb_loss, "q_over_z": q_over_z,
                "z_norm": float(out["z"].norm(dim=-1).mean()),
                "utilization": use["utilization"], "perplexity": use["perplexity"],
                "counts": use["counts"], "x_hat": out["x_hat"]}


def build_digits_model(method: str = "fsq", *, levels: Sequence[int] = (8, 6, 5), K: int = 240,
                       dim: int = 8, init: str = "small", grad: str = "ste", beta: float = 1.0,
                       gamma: float = 0.25, seed: int = 0) -> DigitsAutoencoder:
    """The chapter's autoencoder, seeded: method "fsq" (levels) or "vq" (K, dim, init, grad)."""
    check_choice(method, ["fsq", "vq"], name="method")
    seed = check_int_in(seed, 0, None, name="seed")
    # every argument is checked whatever the method (an FSQ model ignores K, dim, init, ...)
    check_levels(levels)
    check_int_in(K, 1, None, name="K")
    check_int_in(dim, 1, None, name="dim")
    check_choice(init, INITS, name="init")
    check_choice(grad, ["ste", "rotation"], name="grad")
    check_nonnegative(beta, name="beta")
    check_nonnegative(gamma, name="gamma")
    torch.manual_seed(seed)
    quant = (FSQ(levels) if method == "fsq" else
             VectorQuantizer(K, dim, beta=beta, gamma=gamma, grad=grad, init=init, seed=seed))
    return DigitsAutoencoder(quant)


def train_digits_autoencoder(method: str = "fsq", *, levels: Sequence[int] = (8, 6, 5),
                             K: int = 240, dim: int = 8, init: str = "small", grad: str = "ste",
                             steps: int = 800, seed: int = 0, batch: int = 256, lr: float = 2e-3,
                             beta: float = 1.0, gamma: float = 0.25, record_every: int = 50,
                             n_show: int = 8, holdout: int = 0, dtype: str = "float64",
                             progress: bool = False) -> dict:
    """Train the digits autoencoder with Adam; deterministic given seed (torch, CPU).

    Loss: mean (x_hat - x)^2 + aux (VQ's codebook and commitment terms, beta and gamma).
    Returns numbers only: final ``mse``, ``codebook_loss`` (mean ||q - z||^2), ``z_norm`` (mean
    ||z||), ``q_over_z`` (median ||q||/||z||, VQ only; 1 for FSQ), ``utilization``,
    ``perplexity``, ``used``, ``counts`` (over the training images: all 1797, or the 1797 -
    ``holdout`` of :func:`split_digits`), ``test_mse`` (the held-out images, when ``holdout`` > 0),
    ``history`` (the same every ``record_every`` steps, from step 0), ``recon`` and ``x`` (the
    first ``n_show`` training images and their reconstructions, (n_show, 64)). ``dtype``: the
    precision of the weights and the data; float64 (the default) makes a run retrace to the last
    stored digit on any CPU, float32 is about twice as fast. Chapter fsq, the digits runs.
    """
    steps = check_int_in(steps, 0, None, name="steps")
    batch = check_int_in(batch, 1, None, name="batch")
    lr = check_positive(lr, name="lr")
    record_every = check_int_in(record_every, 1, None, name="record_every")
    n_show = check_int_in(n_show, 0, 64, name="n_show")
    holdout = check_int_in(holdout, 0, 1000, name="holdout")
    dt = {"float32": torch.float32, "float64": torch.float64}[check_choice(dtype, ["float32", "float64"], name="dtype")]
    model = build_digits_model(method, levels=levels, K=K, dim=dim, init=init, grad=grad,
                               beta=beta, gamma=gamma, seed=seed).to(dt)
    X, X_test = split_digits(holdout)
    X, X_test = X.to(dt), X_test.to(dt)
    if method == "vq" and init == "data":
        with torch.no_grad():
            model.quantizer.init_from(model.encoder(X))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    keys = ["mse", "codebook_loss", "z_norm", "utilization", "perplexity"]
    if method == "vq":
        keys.append("q_over_z")
    if holdout:                                  # reconstruction of the held-out images
        keys.append("test_mse")
    hist: dict[str, list] = {"step": [], **{k: [] for k in keys}}

    def record(step):
        ev = _evaluate(model, X)
        if holdout:
            ev["test_mse"] = _evaluate(model, X_test)["mse"]
        hist["step"].append(step)
        for k in keys:
            hist[k].append(ev[k])

    it = range(steps)
    if progress:
        it = tqdm(it, desc=f"{method} {init} {grad} seed {seed}", leave=False)
    for step in it:
        if step % record_every == 0:
            record(step)
        xb = X[torch.randint(0, X.shape[0], (batch,), generator=g)]
        out = model(xb)
        loss = ((out["x_hat"] - xb) ** 2).mean() + out["aux"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    record(steps)
    ev = _evaluate(model, X)
    if holdout:
        ev["test_mse"] = hist["test_mse"][-1]
    res = {k: ev[k] for k in keys}
    res.update(used=int((ev["counts"] > 0).sum()), counts=ev["counts"].tolist(),
               codebook_size=model.quantizer.codebook_size, history=hist,
               recon=ev["x_hat"][:n_show].numpy().astype(float), x=X[:n_show].numpy().astype(float))
    res["model"] = model
    return res


def recon_grad_ratio(model: DigitsAutoencoder, x: torch.Tensor) -> torch.Tensor:
    """Per-sample ||grad_z recon||_rotation / ||grad_z recon||_STE at the encoder output (torch).

    Runs the reconstruction loss through the decoder twice, once with z_q = STE and once with the
    rotation trick, and returns the ratio of the gradient norms at z; it equals ||q||/||z||
    (chapter vq-rotation-trick, Su's mechanism). Needs a VectorQuantizer model.
    """
    if not isinstance(model, DigitsAutoencoder) or not isinstance(model.quantizer, VectorQuantizer):
        raise ValueError("model must be a DigitsAutoencoder with a VectorQuantizer")
    as_float_array(x, name="x", min_ndim=2, max_ndim=2)
    z = model.encoder(x).detach()
    q = model.quantizer.codebook[nearest_code(z, model.quantizer.codebook)].detach()
    norms = []
    for fn in (rotate_to, ste):
        zz = z.clone().requires_grad_(True)
        loss = ((model.decoder(fn(zz, q)) - x) ** 2).sum()
        (gz,) = torch.autograd.grad(loss, zz)
        norms.append(gz.norm(dim=-1))
    return norms[0] / norms[1]


def encoder_gradient_norms(model: DigitsAutoencoder, x: torch.Tensor) -> dict:
    """Per-image norms, at the encoder output z, of the three gradients the encoder receives at
    the current weights (torch): the reconstruction gradient under the STE and under the rotation
    trick, and the commitment gradient gamma * grad_z ||z - sg[q]||^2.

    Losses as in training: reconstruction mean((x_hat - x)^2) over pixels and images, commitment
    gamma * mean over images of ||z - q||^2. Returns {"recon_ste", "recon_rotation", "commit"},
    each (n,). Chapter vq-rotation-trick (Su's mechanism, claim 8). Needs a VectorQuantizer model.
    """
    if not isinstance(model, DigitsAutoencoder) or not isinstance(model.quantizer, VectorQuantizer):
        raise ValueError("model must be a DigitsAutoencoder with a VectorQuantizer")
    as_float_array(x, name="x", min_ndim=2, max_ndim=2)
    z = model.encoder(x).detach()
    q = model.quantizer.codebook[nearest_code(z, model.quantizer.codebook)].detach()
    out = {}
    for name, fn in (("recon_ste", ste), ("recon_rotation", rotate_to)):
        zz = z.clone().requires_grad_(True)
        (gz,) = torch.autograd.grad(((model.decoder(fn(zz, q)) - x) ** 2).mean(), zz)
        out[name] = gz.norm(dim=-1)
    # gamma * mean_n ||z_n - q_n||^2  ->  per image 2 gamma (z_n - q_n) / n
    out["commit"] = 2 * model.quantizer.gamma * (z - q).norm(dim=-1) / z.shape[0]
    return out
