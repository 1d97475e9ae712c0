"""Benchmarks of issue 3: sparse probability maps against the entmax package, MLA decoding.

    python scripts/bench_attention_probability.py          # prints the rows as JSON

Each ``bench_*`` function returns a list of rows ``{"name", "ours_s", "ref_s", "ratio", ...}``
(seconds per call, median of a few repeats; ratio = ours / ref, so < 1 means ours is faster).
One torch thread, CPU, float32 unless stated. Timings are machine-dependent and never enter a test.
"""
from __future__ import annotations

import json
import statistics
import time

import torch

from kexue import attention as A

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


def bench_sparse_maps(rows: int = 4096, cols: int = 1024, repeats: int = 5) -> list[dict]:
    """sparsemax and entmax-1.5, forward and forward+backward, kexue vs entmax 1.3 on (4096, 1024)."""
    import entmax
    from kexue import probability as P

    x = torch.randn(rows, cols, generator=torch.Generator().manual_seed(0))
    g = torch.randn(rows, cols, generator=torch.Generator().manual_seed(1))
    pairs = {"sparsemax": (P.sparsemax, lambda t: entmax.sparsemax(t, -1)),
             "entmax-1.5": (P.entmax15, lambda t: entmax.entmax15(t, -1))}
    out = []
    for name, (ours, ref) in pairs.items():
        err = float((ours(x) - ref(x)).abs().max())
        for mode in ("forward", "forward+backward"):
            def run(f):
                if mode == "forward":
                    with torch.no_grad():
                        f(x)
                else:
                    xr = x.clone().requires_grad_()
                    (f(xr) * g).sum().backward()
            t_ours = _median_time(lambda: run(ours), repeats)
            t_ref = _median_time(lambda: run(ref), repeats)
            out.append({"name": f"{name} {mode} ({rows}x{cols})", "ours_s": t_ours, "ref_s": t_ref,
                        "ratio": t_ours / t_ref, "max_abs_diff": err})
    return out


def bench_mla_decode(context: int = 4096, d: int = 2048, n_heads: int = 16, d_k: int = 128,
                     d_v: int = 128, d_c: int = 512, d_cq: int = 768, d_r: int = 64,
                     repeats: int = 5) -> list[dict]:
    """One MLA decoding step at a 4k context: absorbed (cache [c, k_r]) vs naive (decompressed K/V).

    DeepSeek-V2's per-head sizes (d_k = 128, d_r = 64, d_c = 512) with fewer heads (16) so the
    naive cache fits comfortably. Reports seconds per token and cache bytes (float32).
    """
    W = A.init_mla(d, n_heads, d_k, d_v, d_c, d_cq, d_r, seed=0, dtype=torch.float32)
    Wa = A.mla_absorb(W, "sequential")
    x = torch.randn(context + 1, d, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        _, cache = A.mla_decode_forward(x[:context], Wa)                # (context, d_c + d_r)
        _, k, v = A.mla_train_forward(x[:context], W)                   # (1, h, context, .)
        pos = torch.tensor([float(context)], dtype=torch.float64)
        scale = 1.0 / (d_k + d_r) ** 0.5

        def naive_step():
            xt = x[context][None, None]
            cq, c = xt @ W["W_cq"], xt @ W["W_c"]
            q = torch.cat([torch.einsum("btc,hck->bhtk", cq, W["W_q"]),
                           A.apply_rope(torch.einsum("btc,hcr->bhtr", cq, W["W_qr"]), pos)], -1)
            k_new = torch.cat([torch.einsum("btc,hck->bhtk", c, W["W_k"]),
                               A.apply_rope(xt @ W["W_kr"], pos)[:, None].expand(-1, n_heads, -1, -1)], -1)
            v_new = torch.einsum("btc,hcv->bhtv", c, W["W_v"])
            kk, vv = torch.cat([k, k_new], 2), torch.cat([v, v_new], 2)
            o = A.attention(q, kk, vv, causal=True, scale=scale)
            return torch.einsum("bhtv,hvd->btd", o, W["W_o"])

        def absorbed_step():
            return A.mla_decode_step(x[context], cache, Wa, context)

        diff = float((naive_step()[0, 0] - absorbed_step()[0]).abs().max())
        t_abs = _median_time(absorbed_step, repeats)
        t_naive = _median_time(naive_step, repeats)
    bytes_abs = cache.numel() * 4
    bytes_naive = (k.numel() + v.numel()) * 4
    return [{"name": f"MLA decode step, context {context} (h={n_heads}, d_c={d_c}, d_r={d_r})",
             "ours_s": t_abs, "ref_s": t_naive, "ratio": t_abs / t_naive,
             "cache_bytes_absorbed": bytes_abs, "cache_bytes_naive": bytes_naive,
             "cache_ratio": bytes_naive / bytes_abs, "max_abs_diff": diff}]


def main() -> None:
    rows = bench_sparse_maps() + bench_mla_decode()
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
