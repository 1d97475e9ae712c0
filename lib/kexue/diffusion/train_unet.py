"""Train the digit U-Net of the skip-tuning chapter and write its small outputs.

    python -m kexue.diffusion.train_unet [--steps 2000] [--seed 0] [--groupnorm]

Writes ``lib/kexue/data/digits_unet.pt`` (float32 state dict, < 500 kB),
``lib/kexue/data/digits_unet_metrics.json`` (settings, the training-loss log, held-out losses)
and ``lib/kexue/data/digits_skip_sweep.json`` (the skip-tuning quality sweep of the chapter).
Deterministic with one torch thread; the test suite re-runs the first steps and compares them
with the log. Takes about three minutes on one CPU thread, plus a few for the sweep;
``--sweep-only`` re-runs only the sweep on the committed weights. ``--groupnorm`` trains the
variant with GroupNorm decoder blocks instead (``digits_unet_gn.pt``, ``digits_unet_gn_metrics.json``)
and runs the same sweep on it (``digits_skip_sweep_gn.json``); it has no rho_top sweep.
``--top-sweep-only`` and ``--extra-sweep-only`` re-run the rho_top sweep and the settings sweep
of the exercises (``digits_skip_top_sweep.json``, ``digits_skip_extra_sweep.json``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..datasets import DATA_DIR, digits
from . import skip as K
from . import unet as U

SETTINGS = {"channels": 16, "levels": 2, "batch": 128, "lr": 2e-3, "log_every": 10}
SWEEP_SEEDS = (0, 1, 2)
SWEEP_N = 500


def eval_losses(den, seed: int = 123) -> dict:
    """Unweighted pixel MSE of D at a few sigmas on all digits with fixed noise."""
    dtype = next(den.parameters()).dtype
    g = torch.Generator().manual_seed(seed)
    x0 = torch.from_numpy(digits("signed", as_images=True)[0]).to(dtype)[:, None]
    noise = torch.randn(x0.shape, generator=g).to(dtype)
    out = {}
    for s in [0.05, 0.2, 0.5, 1.0, 2.0, 5.0]:
        sig = torch.full((x0.shape[0],), s, dtype=dtype)
        with torch.no_grad():
            out[str(s)] = round(float(U.edm_loss(den, x0, sig, noise, weighted=False)), 6)
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(DATA_DIR))
    p.add_argument("--skip-sweep", action="store_true", help="train only, do not run the skip-tuning sweep")
    p.add_argument("--sweep-only", action="store_true",
                   help="do not train: run the skip-tuning sweep on the committed weights")
    p.add_argument("--top-sweep-only", action="store_true",
                   help="do not train: run only the rho_top sweep on the committed weights")
    p.add_argument("--extra-sweep-only", action="store_true",
                   help="do not train: run only the settings sweep (both knobs, eta) on the committed weights")
    p.add_argument("--groupnorm", action="store_true",
                   help="the U-Net variant with GroupNorm decoder blocks (its own weights and sweep)")
    args = p.parse_args(argv)
    norm = args.groupnorm
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.top_sweep_only:
        den, meta = U.load_pretrained("float32")
        run_top_sweep(den, out)
        return meta
    if args.extra_sweep_only:
        den, meta = U.load_pretrained("float32")
        run_extra_sweep(den, out)
        return meta
    if args.sweep_only:
        den, meta = U.load_pretrained("float32", norm=norm)
        run_sweep(den, out, norm)
        return meta
    den, log = U.train_digits_unet(args.steps, args.seed, progress=True, norm=norm, **SETTINGS)
    torch.save(den.state_dict(), out / (U.WEIGHTS_GN if norm else U.WEIGHTS).name)
    meta = {**SETTINGS, "steps": args.steps, "seed": args.seed, "norm": norm,
            "parameters": sum(p.numel() for p in den.parameters()),
            "log": log, "eval_pixel_mse": eval_losses(den)}
    (out / f"{U.METRICS_GN if norm else U.METRICS}.json").write_text(json.dumps(meta, indent=1))
    if not args.skip_sweep:
        run_sweep(den, out, norm)
        if not norm:
            run_top_sweep(den, out)
            run_extra_sweep(den, out)
    return meta


def run_top_sweep(den, out: Path) -> None:
    """The rho_top sweep: every sampler, rho_bottom = 1, seeds 0, 1, 2, 500 samples; FD and TV."""
    print("rho_top sweep ...", flush=True)
    top = K.top_skip_sweep(den, K.TOP_RHOS, samplers=tuple(K.SAMPLERS), n=SWEEP_N, seeds=SWEEP_SEEDS)
    rows = [{"sampler": sm, "rho_top": r, "fd_seeds": [round(v, 4) for v in fds],
             "tv_seeds": [round(v, 4) for v in top["tv_seeds"][(sm, r)]]}
            for (sm, r), fds in top["fd_seeds"].items()]
    (out / f"{K.TOP_SWEEP}.json").write_text(json.dumps({"n": SWEEP_N, "seeds": list(SWEEP_SEEDS), "rows": rows}, indent=1))


def run_extra_sweep(den, out: Path) -> None:
    """The settings sweep of the chapter's exercises: K.EXTRA_SETTINGS, seeds 0, 1, 2, 500 samples."""
    print("settings sweep ...", flush=True)
    ex = K.settings_sweep(den, K.EXTRA_SETTINGS, n=SWEEP_N, seeds=SWEEP_SEEDS)
    rows = [{"sampler": sm, "rho_bottom": rb, "rho_top": rt, "eta": eta,
             "fd_seeds": [round(v, 4) for v in ex["fd_seeds"][(sm, rb, rt, eta)]],
             "tv_seeds": [round(v, 4) for v in ex["tv_seeds"][(sm, rb, rt, eta)]]}
            for (sm, rb, rt, eta) in ex["fd_seeds"]]
    (out / f"{K.EXTRA_SWEEP}.json").write_text(json.dumps({"n": SWEEP_N, "seeds": list(SWEEP_SEEDS), "rows": rows}, indent=1))


def run_sweep(den, out: Path, norm: bool = False) -> None:
    """The chapter's quality sweep: every sampler x rho_bottom, 500 samples, seeds 0, 1, 2."""
    print(f"skip-tuning sweep ({len(K.SAMPLERS)} samplers x {len(K.SWEEP_RHOS_GN if norm else K.SWEEP_RHOS)} rho x {len(SWEEP_SEEDS)} seeds, "
          f"{SWEEP_N} samples each) ...", flush=True)
    sweep = K.skip_sweep(den, K.SWEEP_RHOS_GN if norm else K.SWEEP_RHOS, n=SWEEP_N, seeds=SWEEP_SEEDS)
    (out / f"{K.SWEEP_GN if norm else K.SWEEP}.json").write_text(json.dumps(K.sweep_to_json(sweep, SWEEP_N), indent=1))


if __name__ == "__main__":
    main()
