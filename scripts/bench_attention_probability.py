"""Benchmarks: sparse probability maps against the entmax package, GradTopK, MLA decoding.

    python scripts/bench_attention_probability.py          # prints the rows as JSON

Each ``bench_*`` function returns a list of rows ``{"name", "ours_s", "ref_s", "ratio", ...}``
(seconds per call, median of a few repeats; ratio = ours / ref, so < 1 means ours is faster).
The probability rows time both sides interleaved in one process (scripts/benchutil.py: order
alternating each round, one warm-up each) and report the relative spread of each side.
One torch thread, CPU, float32 unless stated. Timings are machine-dependent and never enter a test.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from kexue import attention as A

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import interleaved, row  # noqa: E402

torch.set_num_threads(1)


def _median_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _rotated(fns, rounds: int) -> list[list[float]]:
    """Time each of fns once per round, the order rotating every round (one warm-up each)."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for r in range(rounds):
        for j in range(len(fns)):
            i = (j + r) % len(fns)
            t0 = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - t0)
    return times


def bench_sparse_maps(shapes: tuple = ((4096, 1024), (64, 32000)), dtypes: tuple = ("float32", "float64"),
                      k: int = 64, rounds: int = 5) -> list[dict]:
    """sparsemax and entmax-1.5, forward and forward+backward, kexue vs entmax 1.3 at equal
    settings: both without k (ours sort-free, theirs a full sort) and both with the partial sort
    k (a user's setting for a support below k). Each row times ours, the reference and
    torch.softmax on the same tensor (the floor) in one process, the order rotating every round;
    ratio = ours / entmax, floor_ratio = ours / torch.softmax. Then the validation share: the
    argument check alone (as_float_tensor: a sum, an entry-wise scan only if the sum is not
    finite) against the whole call, and the previous entry-wise scan for comparison."""
    import entmax
    from kexue import probability as P
    from kexue._validate import as_float_tensor

    maps = {"sparsemax": (P.sparsemax, entmax.sparsemax), "entmax-1.5": (P.entmax15, entmax.entmax15)}
    out = []
    for rows, cols in shapes:
        for dt in dtypes:
            dtype = getattr(torch, dt)
            x = torch.randn(rows, cols, generator=torch.Generator().manual_seed(0), dtype=dtype)
            g = torch.randn(rows, cols, generator=torch.Generator().manual_seed(1), dtype=dtype)
            for name, (ours_f, ref_f) in maps.items():
                for kk in (None, k):
                    ours = lambda t, f=ours_f, kk=kk: f(t, k=kk)            # noqa: E731
                    ref = lambda t, f=ref_f, kk=kk: f(t, -1, k=kk)          # noqa: E731
                    err = float((ours(x) - ref(x)).abs().max())
                    for mode in ("forward", "forward+backward"):
                        def wrap(f, mode=mode):
                            def run():
                                if mode == "forward":
                                    with torch.no_grad():
                                        f(x)
                                else:
                                    xr = x.clone().requires_grad_()
                                    (f(xr) * g).sum().backward()
                            return run
                        t_o, t_r, t_f = _rotated([wrap(ours), wrap(ref), wrap(lambda t: torch.softmax(t, -1))],
                                                 rounds)
                        r = row(f"{name}{'' if kk is None else f' k={kk}'} vs entmax{'' if kk is None else f' k={kk}'},"
                                f" {mode} ({rows}x{cols}, {dt})", t_o, t_r, max_abs_diff=err)
                        fl = statistics.median(t_f)
                        out.append({**r, "floor_s": fl, "floor_ratio": r["ours_s"] / fl,
                                    "spread_floor": (max(t_f) - min(t_f)) / fl})
            for name, (ours_f, _) in maps.items():
                check = lambda: as_float_tensor(x, name="x")                # noqa: E731
                old = lambda: bool(torch.isfinite(x).all())                 # noqa: E731
                call = lambda f=ours_f: f(x)                                 # noqa: E731
                t_c, t_call, t_old = _rotated([check, call, old], rounds)
                r = row(f"{name} argument check / whole call, forward ({rows}x{cols}, {dt})", t_c, t_call)
                out.append({**r, "share": r["ratio"], "previous_check_s": statistics.median(t_old),
                            "previous_share": statistics.median(t_old) / r["ref_s"]})
    return out


def _grad_topk_double_autograd(x: torch.Tensor, k: int) -> torch.Tensor:
    """The previous GradTopK: autograd through kexue's log_esp DP, create_graph for the backward."""
    from kexue import probability as P
    xin = x if x.requires_grad else x.detach().requires_grad_(True)
    with torch.enable_grad():
        (p,) = torch.autograd.grad(P.log_esp(xin, k).sum(), xin, create_graph=xin.requires_grad)
    return p


def bench_grad_topk(rows: int = 256, cols: int = 1024, ks: tuple = (8, 64), rounds: int = 3,
                    previous_ks: tuple = (8,)) -> list[dict]:
    """GradTopK (autograd.Function: a balanced product tree, log-space DP for rows out of linear
    range) fwd and fwd+bwd against torch.topk (the floor: values of the hard Top-k,
    differentiable) for each k, and against the previous double-autograd DP (k in
    ``previous_ks`` only: it takes seconds a call), float64, interleaved (benchutil.interleaved).
    Peak RSS growth in fresh processes."""
    from kexue import probability as P

    x = torch.randn(rows, cols, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g = torch.randn(rows, cols, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def fb(f):
        def run():
            xr = x.clone().requires_grad_()
            out = f(xr)
            (out * g[..., :out.shape[-1]]).sum().backward()      # torch.topk: (rows, k)
        return run

    def fwd(f):
        def run():
            with torch.no_grad():
                f(x)
        return run

    out = []
    for k in ks:
        ours = lambda t: P.grad_topk(t, k)                              # noqa: E731
        old = lambda t: _grad_topk_double_autograd(t, k)                # noqa: E731
        topk = lambda t: torch.topk(t, k, dim=-1).values                # noqa: E731
        err = float((ours(x) - old(x)).detach().abs().max()) if k in previous_ks else None
        for mode, wrap in (("forward", fwd), ("forward+backward", fb)):
            t_o, t_r = interleaved(wrap(ours), wrap(topk), rounds)
            out.append(row(f"GradTopK vs torch.topk, {mode} ({rows}x{cols}, k={k}, f64)", t_o, t_r))
            if k in previous_ks:
                t_o, t_r = interleaved(wrap(ours), wrap(old), rounds)
                out.append(row(f"GradTopK vs previous double-autograd DP, {mode} ({rows}x{cols}, k={k}, f64)",
                               t_o, t_r, max_abs_diff=err))
        out.append({"name": f"GradTopK fwd+bwd peak RSS growth, MiB ({rows}x{cols}, k={k}, f64, fresh processes)",
                    **{who: peak_rss_range(who, rows, cols, k)
                       for who in ("ours", "torch.topk") + (("previous",) if k in previous_ks else ())}})
    return out


def bench_thre_topk(rows: int = 256, cols: int = 1024, ks: tuple = (1, 8, 64), rounds: int = 7) -> list[dict]:
    """ThreTopK (safeguarded Newton threshold, implicit backward) forward+backward against
    torch.softmax forward+backward on the same float64 tensor (the floor the goal is stated
    against: <= 10x), every f and k, interleaved (benchutil.interleaved)."""
    from kexue import probability as P

    x = torch.randn(rows, cols, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g = torch.randn(rows, cols, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def fb(f):
        def run():
            xr = x.clone().requires_grad_()
            (f(xr) * g).sum().backward()
        return run

    out = []
    for f in P.THRESHOLD_FS:
        for k in ks:
            t_o, t_r = interleaved(fb(lambda t: P.thre_topk(t, k, f)), fb(lambda t: torch.softmax(t, -1)), rounds)
            out.append(row(f"ThreTopK-{f} vs torch.softmax, forward+backward ({rows}x{cols}, k={k}, f64)",
                           t_o, t_r))
    return out


_PEAK_SNIPPET = """
import resource, sys, torch
sys.path.insert(0, {here!r})
torch.set_num_threads(1)
from bench_attention_probability import _grad_topk_double_autograd
from kexue import probability as P
x = torch.randn({rows}, {cols}, dtype=torch.float64)
f = {{"ours": lambda t: P.grad_topk(t, {k}), "previous": lambda t: _grad_topk_double_autograd(t, {k}),
     "torch.topk": lambda t: torch.topk(t, {k}, dim=-1).values}}[{who!r}]
def status_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
# reset the high-water mark first: ru_maxrss can carry the parent's peak across fork + exec
open("/proc/self/clear_refs", "w").write("5")
base = status_kib("VmRSS")
xr = x.clone().requires_grad_()
out = f(xr)
(out * x[..., :out.shape[-1]]).sum().backward()
print((status_kib("VmHWM") - base) / 1024)
"""


def peak_rss_range(who: str, rows: int, cols: int, k: int, procs: int = 2) -> list[float]:
    """[min, max] over fresh processes of the peak RSS (VmHWM after resetting it) above the
    resident size just before one fwd+bwd, MiB (Linux)."""
    here = str(Path(__file__).resolve().parent)
    code = _PEAK_SNIPPET.format(here=here, rows=rows, cols=cols, k=k, who=who)
    vals = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.split()[-1]) for _ in range(procs)]
    return [min(vals), max(vals)]


def bench_mla_decode(context: int = 4096, d: int = 2048, n_heads: int = 16, d_k: int = 128,
                     d_v: int = 128, d_c: int = 512, d_cq: int = 768, d_r: int = 64,
                     repeats: int = 5) -> list[dict]:
    """One MLA decoding step at a 4k context: absorbed (cache [c, k_r]) vs naive (decompressed K/V).

    DeepSeek-V2's per-head sizes (d_k = 128, d_r = 64, d_c = 512) with fewer heads (16) so the
    naive cache fits comfortably. Seconds per token (both sides interleaved, ``repeats`` rounds)
    and cache bytes (float32): first with caches that grow by one row per step (torch.cat: a
    copy of the whole cache), then with preallocated caches written in place (both sides); then
    the argument checks alone (as_float_array: one sum per tensor) against each preallocated step.
    """
    from kexue._validate import as_float_array

    W = A.init_mla(d, n_heads, d_k, d_v, d_c, d_cq, d_r, seed=0, dtype=torch.float32)
    Wa = A.mla_absorb(W, "sequential")
    x = torch.randn(context + 1, d, generator=torch.Generator().manual_seed(2))
    out = []
    with torch.no_grad():
        _, cache = A.mla_decode_forward(x[:context], Wa)                # (context, d_c + d_r)
        _, k, v = A.mla_train_forward(x[:context], W)                   # (1, h, context, .)
        pos = torch.tensor([float(context)], dtype=torch.float64)
        scale = 1.0 / (d_k + d_r) ** 0.5
        buf = torch.cat([cache, cache.new_zeros(1, cache.shape[1])])    # room for one more token
        kbuf = torch.cat([k, k.new_zeros(1, n_heads, 1, k.shape[-1])], 2)
        vbuf = torch.cat([v, v.new_zeros(1, n_heads, 1, v.shape[-1])], 2)

        def naive_qkv():
            xt = x[context][None, None]
            cq, c = xt @ W["W_cq"], xt @ W["W_c"]
            q = torch.cat([torch.einsum("btc,hck->bhtk", cq, W["W_q"]),
                           A.apply_rope(torch.einsum("btc,hcr->bhtr", cq, W["W_qr"]), pos)], -1)
            k_new = torch.cat([torch.einsum("btc,hck->bhtk", c, W["W_k"]),
                               A.apply_rope(xt @ W["W_kr"], pos)[:, None].expand(-1, n_heads, -1, -1)], -1)
            return q, k_new, torch.einsum("btc,hcv->bhtv", c, W["W_v"])

        def naive_step():
            q, k_new, v_new = naive_qkv()
            kk, vv = torch.cat([k, k_new], 2), torch.cat([v, v_new], 2)
            o = A.attention(q, kk, vv, causal=True, scale=scale)
            return torch.einsum("bhtv,hvd->btd", o, W["W_o"])

        def naive_step_prealloc():
            q, k_new, v_new = naive_qkv()
            kbuf[:, :, context:], vbuf[:, :, context:] = k_new, v_new
            o = A.attention(q, kbuf, vbuf, causal=True, scale=scale)
            return torch.einsum("bhtv,hvd->btd", o, W["W_o"])

        def absorbed_step():
            return A.mla_decode_step(x[context], cache, Wa, context)

        def absorbed_step_prealloc():
            return A.mla_decode_step(x[context], buf, Wa, context)

        diff = float((naive_step()[0, 0] - absorbed_step()[0]).abs().max())
        diff_pre = float((naive_step_prealloc()[0, 0] - absorbed_step_prealloc()[0]).abs().max())
        bytes_abs, bytes_naive = cache.numel() * 4, (k.numel() + v.numel()) * 4
        sizes = f"context {context} (h={n_heads}, d_c={d_c}, d_r={d_r})"
        for label, ours, ref, err in (("growing caches (torch.cat)", absorbed_step, naive_step, diff),
                                      ("preallocated caches", absorbed_step_prealloc, naive_step_prealloc,
                                       diff_pre)):
            t_o, t_r = interleaved(ours, ref, repeats)
            out.append({**row(f"MLA decode step absorbed vs naive, {label}, {sizes}", t_o, t_r),
                        "cache_bytes_absorbed": bytes_abs, "cache_bytes_naive": bytes_naive,
                        "cache_ratio": bytes_naive / bytes_abs, "max_abs_diff": err})
        t_c, t_s = interleaved(lambda: as_float_array(buf[:context], name="cache"), absorbed_step_prealloc,
                               repeats)
        r = row(f"MLA decode step (absorbed, preallocated): cache check (one sum) / whole step, {sizes}", t_c, t_s)
        out.append({**r, "share": r["ratio"]})
        # A.attention on the naive side checks q, k, v through the sums of its scores and output;
        # against the same products without any check or mask (the query sees every key)
        q = naive_qkv()[0]
        t_a, t_b = interleaved(lambda: A.attention(q, kbuf, vbuf, causal=True, scale=scale),
                               lambda: torch.softmax(scale * (q @ kbuf.transpose(-1, -2)), -1) @ vbuf, repeats)
        r = row(f"A.attention (naive decode, preallocated K/V) / the bare products, {sizes}", t_a, t_b)
        out.append({**r, "share": 1 - 1 / r["ratio"]})
    return out


def main() -> None:
    rows = bench_sparse_maps() + bench_grad_topk() + bench_thre_topk() + bench_mla_decode()
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
