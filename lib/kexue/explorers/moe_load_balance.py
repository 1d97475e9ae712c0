"""Explorers of the chapter moe-load-balance: per-expert loads while a router is balanced.

No mathematics here: the numbers come from :mod:`kexue.moe.balance`.
"""
from __future__ import annotations

import numpy as np

from kexue.moe import balance as B
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, bars, frame, hline, line, panel, vline

RULE_NAMES = {"none": "no balancing", "fp": "F·P", "ste_sq": "STE ½|F−Q|²",
              "ste_entropy": "STE entropy", "bias": "bias updates (no loss)"}
#: step sizes: SGD on the losses; the bias rule moves its selection bias by lr per step
RULE_LR = {"none": 1.0, "fp": 1.0, "ste_sq": 1.0, "ste_entropy": 1.0, "bias": 0.01}


def loads(skews=(1.0, 2.0, 3.0), steps: int = 200, T: int = 256,
          checkpoints=(0, 10, 25, 50, 100, 200)) -> Explorer:
    """Bars of the load F and the router mass P per expert, at a chosen training step."""
    runs = {(rule, float(s)): B.simulate_balancing(rule, steps=steps, lr=RULE_LR[rule], T=T,
                                                   skew=float(s), seed=0)
            for rule in B.BALANCING for s in skews}

    def compute(rule: str, skew: float, step: int) -> dict:
        r = runs[(rule, float(skew))]
        ref = runs[("none", float(skew))]
        j = int(np.searchsorted(r["steps"], int(step)))
        F, P = r["F"][j], r["P"][j]
        n = F.size
        xs = np.arange(n)
        p1 = panel(f"Expert loads after {step} steps ({RULE_NAMES[rule]})", "expert i", "share",
                   series=[bars(xs, F, "load F_i", color=PALETTE[0]),
                           bars(xs, P, "router mass P_i", color=PALETTE[3], fill=False)],
                   hlines=[hline(1 / n, "balanced 1/n", color="#666666")],
                   ylim=(0, max(0.45, float(F.max()) * 1.1)))
        p2 = panel("Is the most loaded expert coming down?", "training step",
                   "max load / balanced load",
                   series=[line(ref["steps"], ref["max_load_ratio"], "no balancing",
                                color=PALETTE[1]),
                           line(r["steps"], r["max_load_ratio"], RULE_NAMES[rule], color=PALETTE[0])],
                   vlines=[vline(int(step), f"step {step}")], ylim=(0.9, 3.2))
        m = B.load_metrics(F)
        text = (f"max load {m['max_load_ratio']:.2f}× balanced, load entropy "
                f"{m['entropy_norm']:.3f} of maximal, token slots dropped at capacity 1.0: "
                f"{B.dropped_fraction(F):.1%}")
        return frame(p1, p2, text=text)
    return Explorer([Dropdown("rule", list(B.BALANCING), "fp", label="balancing",
                              names=[RULE_NAMES[r] for r in B.BALANCING]),
                     Slider("skew", list(skews), 2.0, label="initial bias skew"),
                     Slider("step", list(checkpoints), checkpoints[-1], label="step", fmt="{:d}")],
                    compute, name="moe-load-balance-loads")


EXPLORERS = (loads,)
