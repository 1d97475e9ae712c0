"""HiPPO: the linear ODE that keeps an online projection of a signal's history on a basis.

Chapter: ssm-hippo (Su Jianlin, "重温SSM（一）：线性系统和HiPPO矩阵", kexue.fm/archives/10114).

A signal's history is squeezed onto an interval by a map s -> t_{<=T}(s) and projected on an
orthonormal basis g_n; differentiating the coefficients c_n(T) = int u(t_{<=T}(s)) g_n(s) ds in T
gives a linear ODE x' = A x + B u (LegT, the Fourier window) or x' = (A x + B u) / t (LegS).

Conventions. Legendre memories have N coefficients c_0 .. c_{N-1} (the post's index n runs to
its N, i.e. N + 1 coefficients); the Fourier window keeps the 2N + 1 frequencies -N .. N in that
order. The "post" scaling is the plain coefficient c_n; other scalings write c_n = lam_n c~_n.
numpy/scipy only (no gradients are needed here).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

import numpy as np
from scipy.linalg import expm, solve

from .._validate import (as_float_array, check_choice, check_finite_result, check_int_in,
                         check_positive, check_real)

__all__ = ["MEASURES", "SCALINGS", "legendre_g", "legendre_basis", "hippo_legt", "hippo_legs",
           "hippo_fourier", "hippo_matrices", "rescale_state", "hippo_from_basis", "window_map",
           "project", "reconstruct", "lti_solve", "simulate", "discretize", "run_recurrence"]

MEASURES = ("legt", "legs", "fourier")
SCALINGS = {"legt": ("post", "paper", "lmu"), "legs": ("post", "paper", "nosqrt"),
            "fourier": ("post", "mean")}


# -- the basis ------------------------------------------------------------------------------
def legendre_g(n: int, s) -> np.ndarray:
    """Orthonormal Legendre function g_n(s) = sqrt((2n+1)/2) P_n(s) on [-1, 1]."""
    n = check_int_in(n, 0, None, name="n")
    s, _ = as_float_array(s, name="s", min_ndim=0)
    coef = np.zeros(n + 1)
    coef[n] = 1.0
    return math.sqrt((2 * n + 1) / 2) * np.polynomial.legendre.legval(s, coef)


def legendre_basis(N: int, s) -> np.ndarray:
    """Rows g_0(s) .. g_{N-1}(s): shape (N, len(s)), by the three-term recurrence
    (n+1) P_{n+1} = (2n+1) s P_n - n P_{n-1}."""
    N = check_int_in(N, 1, None, name="N")
    s, _ = as_float_array(s, name="s", min_ndim=1, max_ndim=1)
    P = np.empty((N, s.size))
    P[0] = 1.0
    if N > 1:
        P[1] = s
    for n in range(1, N - 1):
        P[n + 1] = ((2 * n + 1) * s * P[n] - n * P[n - 1]) / (n + 1)
    return np.sqrt((2 * np.arange(N) + 1) / 2)[:, None] * P


@lru_cache(maxsize=64)
def _gauss_nodes(q: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(q)


def _gauss(q: int, a: float = -1.0, b: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    s, w = _gauss_nodes(q)
    return a + (b - a) * (s + 1) / 2, w * (b - a) / 2


# -- the matrices in closed form -------------------------------------------------------------
def hippo_legt(N: int, w: float = 1.0, scaling: str = "post") -> tuple[np.ndarray, np.ndarray]:
    """LegT (sliding window [T-w, T]), the post's eq. (leg-t-hippo-1):

        A_nk = -(1/w) sqrt((2n+1)(2k+1)) * (1 if k < n else (-1)^(n-k)),  B_n = sqrt(2(2n+1)) / w.

    scaling: "post" (c_n), "paper" (lam_n = sqrt 2: B_n = sqrt(2n+1)/w, the HiPPO paper and S4),
    "lmu" (lam_n = sqrt(2/(2n+1)): A_nk = -(2n+1)/w * (1 or (-1)^(n-k)), B_n = (2n+1)/w, the
    post's eq. (leg-t-hippo-2); the Legendre Memory Unit writes it with D = diag((-1)^n) on
    both sides, i.e. in reversed time).
    """
    N = check_int_in(N, 1, None, name="N")
    w = check_positive(w, name="w")
    check_choice(scaling, SCALINGS["legt"], name="scaling")
    n = np.arange(N)
    r = np.sqrt(2 * n + 1)
    sign = np.where(n[None, :] < n[:, None], 1.0, (-1.0) ** np.abs(n[:, None] - n[None, :]))
    A = -np.outer(r, r) * sign / w                      # (N, N)
    B = np.sqrt(2) * r / w                              # (N,)
    return rescale_state(A, B, _lam(N, scaling))


def hippo_legs(N: int, scaling: str = "post") -> tuple[np.ndarray, np.ndarray]:
    """LegS (the whole history [0, T], uniform weight), eq. (leg-s-hippo): x' = (A x + B u)/t,

        A_nk = -sqrt((2n+1)(2k+1)) (k < n),  -(n+1) (k = n),  0 (k > n);  B_n = sqrt(2(2n+1)).

    scaling: "post", "paper" (lam = sqrt 2: B_n = sqrt(2n+1)), "nosqrt" (lam_n = sqrt(2/(2n+1)):
    A = -(2n+1) below the diagonal, -(n+1) on it, B_n = 2n+1; eq. (leg-s-hippo-2)).
    """
    N = check_int_in(N, 1, None, name="N")
    check_choice(scaling, SCALINGS["legs"], name="scaling")
    n = np.arange(N)
    r = np.sqrt(2 * n + 1)
    A = -np.tril(np.outer(r, r), -1) - np.diag(n + 1.0)
    B = np.sqrt(2) * r
    return rescale_state(A, B, _lam(N, scaling))


def hippo_fourier(N: int, w: float = 1.0, boundary: str = "post") -> tuple[np.ndarray, np.ndarray]:
    """The post's Fourier window (frequencies -N..N, state size 2N+1, complex):

        c_n' = u(T)/w - u(T-w)/w + 2 i pi n c_n / w,   with u(T-w) replaced by an estimate.

    boundary "post": u(T-w) ~ sum_k c_k, giving A = diag(2 i pi n)/w - 11^T/w, B = 1/w.
    boundary "mean": sum_k c_k tends to (u(T) + u(T-w))/2 (the window's periodic extension jumps
    there), so u(T-w) ~ 2 sum_k c_k - u(T): A = diag(2 i pi n)/w - 2 11^T/w, B = 2/w.
    """
    N = check_int_in(N, 0, None, name="N")
    w = check_positive(w, name="w")
    check_choice(boundary, SCALINGS["fourier"], name="boundary")
    n = np.arange(-N, N + 1)
    f = 1.0 if boundary == "post" else 2.0
    A = np.diag(2j * np.pi * n) / w - f * np.ones((n.size, n.size)) / w
    B = f * np.ones(n.size, dtype=complex) / w
    return A, B


def hippo_matrices(measure: str, N: int, w: float = 1.0, scaling: str = "post"):
    """(A, B) of a measure by name: "legt", "legs" or "fourier" (scaling = boundary there)."""
    check_choice(measure, MEASURES, name="measure")
    check_choice(scaling, SCALINGS[measure], name="scaling")
    if measure == "legt":
        return hippo_legt(N, w, scaling)
    if measure == "legs":
        return hippo_legs(N, scaling)
    return hippo_fourier(N, w, scaling)


def _lam(N: int, scaling: str) -> np.ndarray:
    n = np.arange(N)
    return {"post": np.ones(N), "paper": np.full(N, np.sqrt(2)),
            "lmu": np.sqrt(2 / (2 * n + 1)), "nosqrt": np.sqrt(2 / (2 * n + 1))}[scaling]


def _check_system(A, B, names: tuple[str, str] = ("A", "B")) -> tuple[np.ndarray, np.ndarray]:
    """A linear system's square finite matrix and matching finite vector, as arrays."""
    A, B = np.asarray(A), np.asarray(B)
    na, nb = names
    if A.ndim != 2 or A.shape[0] != A.shape[1] or B.shape != (A.shape[0],):
        raise ValueError(f"{na} must be square and {nb} a matching vector, got {A.shape} and {B.shape}")
    for name, M in ((na, A), (nb, B)):
        if not np.isfinite(M).all():
            raise ValueError(f"{name} must contain only finite numbers (found NaN or inf)")
    return A, B


def rescale_state(A, B, lam) -> tuple[np.ndarray, np.ndarray]:
    """The system of c~ = c / lam: from c' = A c + B u, c~' = diag(1/lam) A diag(lam) c~ + (B/lam) u."""
    A = np.asarray(A)
    B = np.asarray(B)
    lam, _ = as_float_array(lam, name="lam", max_ndim=1)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or B.shape != (A.shape[0],) or lam.shape != B.shape:
        raise ValueError(f"lam must have shape ({B.shape[0] if B.ndim else '?'},) matching A {A.shape} "
                         f"and B {B.shape}, got {lam.shape}")
    if not np.isfinite(A).all():
        raise ValueError("A must contain only finite numbers (found NaN or inf)")
    if not np.isfinite(B).all():
        raise ValueError("B must contain only finite numbers (found NaN or inf)")
    if np.any(lam == 0):
        raise ValueError("lam must have no zero entry")
    return A * lam[None, :] / lam[:, None], B / lam


# -- the matrices generated from the basis (independent of the closed forms) ----------------
def hippo_from_basis(measure: str, N: int, w: float = 1.0, quad: int | None = None):
    """(A, B) in the post scaling, computed by quadrature from the projection identity
    eq. (hippo-base) instead of the Legendre recurrences:

    LegT: c_n' = (2/w)[u(T) g_n(1) - u(T-w) g_n(-1)] - (2/w) <u, g_n'>, with u(T-w) ~ sum_k c_k g_k(-1)
          and <u, g_n'> = sum_k <g_n', g_k> c_k, so A_nk = -(2/w)[g_n(-1) g_k(-1) + <g_n', g_k>],
          B_n = (2/w) g_n(1).
    LegS: t c_n' = 2 g_n(1) u(T) - <u, g_n + (s+1) g_n'>, so A_nk = -<g_n + (s+1) g_n', g_k>,
          B_n = 2 g_n(1).
    Fourier (post): A_nk = (2 i pi n delta_nk - e_n(0) e_k(0)) / w with e_k(s) = e^{2 i pi k s}.
    Inner products are Gauss-Legendre sums, derivatives from numpy's Legendre class.
    """
    if quad is not None:
        check_int_in(quad, 1, 100_000, name="quad")
    check_choice(measure, MEASURES, name="measure")
    N = check_int_in(N, 1 if measure != "fourier" else 0, None, name="N")
    w = check_positive(w, name="w")
    if measure == "fourier":
        n = np.arange(-N, N + 1)
        s, wt = _gauss(quad or 4 * N + 20, 0.0, 1.0)
        E = np.exp(2j * np.pi * np.outer(n, s))                       # e_n(s)
        dE = 2j * np.pi * n[:, None] * E                              # e_n'(s)
        # c_n' = (1/w)[u(T) e_n(1)^* - u(T-w) e_n(0)^*] + (1/w) <u, d/ds e_n^*>, u ~ sum_k c_k e_k
        ip = (dE.conj() * wt) @ E.T                                   # <e_k, (e_n^*)'> ... (n, k)
        A = (-np.outer(np.ones(n.size), np.ones(n.size)) - ip) / w
        A = A.astype(complex)
        B = np.ones(n.size, dtype=complex) / w
        return A, B
    s, wt = _gauss(quad or N + 10)
    G = legendre_basis(N, s)                                          # (N, q)
    dG = np.stack([np.polynomial.Legendre.basis(n).deriv()(s) * math.sqrt((2 * n + 1) / 2)
                   for n in range(N)])                                # g_n'(s)
    end_lo = legendre_basis(N, np.array([-1.0]))[:, 0]
    end_hi = legendre_basis(N, np.array([1.0]))[:, 0]
    if measure == "legt":
        A = -(2 / w) * (np.outer(end_lo, end_lo) + (dG * wt) @ G.T)
        return A, (2 / w) * end_hi
    A = -((G + (s + 1) * dG) * wt) @ G.T
    return A, 2 * end_hi


# -- projections and reconstructions --------------------------------------------------------
def window_map(measure: str, s, T: float, w: float = 1.0) -> np.ndarray:
    """t_{<=T}(s): LegT (s+1)w/2 + T - w on [-1,1]; LegS (s+1)T/2 on [-1,1]; Fourier sw + T - w on [0,1]."""
    check_choice(measure, MEASURES, name="measure")
    s, _ = as_float_array(s, name="s", min_ndim=0)
    T = check_real(T, name="T")
    w = check_positive(w, name="w")
    if measure == "legt":
        return (s + 1) * w / 2 + T - w
    if measure == "legs":
        if T <= 0:
            raise ValueError(f"T must be > 0 for LegS, got {T!r}")
        return (s + 1) * T / 2
    return s * w + T - w


def project(u: Callable, T: float, N: int, measure: str, w: float = 1.0,
            quad: int | None = None) -> np.ndarray:
    """The optimal coefficients c_n(T) = int u(t_{<=T}(s)) g_n(s) ds (conjugate exponentials for
    Fourier), by Gauss-Legendre quadrature with `quad` nodes. u is a vectorised callable."""
    if quad is not None:
        check_int_in(quad, 1, 100_000, name="quad")
    if not callable(u):
        raise ValueError(f"u must be a callable u(t) -> array, got {type(u).__name__}")
    check_choice(measure, MEASURES, name="measure")
    N = check_int_in(N, 0 if measure == "fourier" else 1, None, name="N")
    if measure == "fourier":
        s, wt = _gauss(quad or max(200, 8 * N + 40), 0.0, 1.0)
        vals = np.asarray(u(window_map(measure, s, T, w)), dtype=float)
        return (np.exp(-2j * np.pi * np.outer(np.arange(-N, N + 1), s)) * vals) @ wt
    s, wt = _gauss(quad or max(64, 2 * N + 40))
    vals = np.asarray(u(window_map(measure, s, T, w)), dtype=float)
    return legendre_basis(N, s) @ (wt * vals)


def reconstruct(c, s, measure: str) -> np.ndarray:
    """u_hat(s) = sum_n c_n g_n(s) (Legendre, s in [-1,1]) or Re sum_n c_n e^{2 i pi n s} (Fourier,
    s in [0,1], c ordered -N..N)."""
    check_choice(measure, MEASURES, name="measure")
    s, _ = as_float_array(s, name="s", min_ndim=1, max_ndim=1)
    c = np.asarray(c)
    if c.ndim != 1 or c.size == 0 or not np.isfinite(c).all():
        raise ValueError(f"c must be a non-empty finite vector, got shape {c.shape}")
    if measure == "fourier":
        if c.size % 2 != 1:
            raise ValueError(f"c must have odd length 2N+1 for the Fourier window, got {c.size}")
        K = (c.size - 1) // 2
        return (c @ np.exp(2j * np.pi * np.outer(np.arange(-K, K + 1), s))).real
    return np.real(c) @ legendre_basis(c.size, s)


# -- solving the ODE ------------------------------------------------------------------------
def lti_solve(A, B, u: Callable, t0: float, t_eval, x0, *, nodes: int = 9,
              h_max: float | None = None) -> np.ndarray:
    """States of x' = A x + B u(t) at the sorted times t_eval (>= t0), from x(t0) = x0.

    Exact for an input that is a polynomial of degree nodes - 1 on each panel [t, t + h]: u is
    interpolated there at Chebyshev points, u(t + h tau) = sum_j b_j tau^j / j!, and the input
    joins the state as a chain w_0' = w_1, ..., w_p' = 0 (w_j(0) = b_j, w_0 = u), so one matrix
    exponential of [[hA, hB e_0^T], [0, shift]] advances x by a whole panel. The panel width is at
    most h_max (default min(0.025, 2 / ||A||_1); lower it for inputs faster than ~10 rad per unit
    time). Returns (len(t_eval), d).
    """
    if not callable(u):
        raise ValueError(f"u must be a callable u(t) -> array, got {type(u).__name__}")
    A, B = _check_system(A, B)
    t0 = check_real(t0, name="t0")
    te, _ = as_float_array(t_eval, name="t_eval", min_ndim=1, max_ndim=1)
    if np.any(np.diff(te) < 0) or te[0] < t0:
        raise ValueError("t_eval must be sorted and >= t0")
    nodes = check_int_in(nodes, 2, 16, name="nodes")
    h_max = check_positive(h_max, name="h_max") if h_max is not None else \
        min(0.025, 2.0 / max(np.abs(A).sum(0).max(), 1e-12))
    try:
        kind = complex if np.iscomplexobj(A) or np.iscomplexobj(B) else float
        x = np.asarray(x0, dtype=kind).copy()
    except (TypeError, ValueError):
        raise ValueError(f"x0 must be an array of numbers, got {x0!r}") from None
    if x.shape != B.shape or not np.isfinite(x).all():
        raise ValueError(f"x0 must have shape {B.shape} and finite entries, got {x.shape}")
    d, p = B.size, nodes - 1
    tau = (1 - np.cos(np.pi * np.arange(nodes) / p)) / 2               # Chebyshev points in [0, 1]
    to_taylor = np.array([math.factorial(j) for j in range(nodes)])[:, None] * \
        np.linalg.inv(tau[:, None] ** np.arange(nodes)[None, :])        # samples -> b_j
    cache: dict = {}
    out, t = [], t0
    for target in te:
        length = target - t
        if length > 0:
            m = int(math.ceil(length / h_max - 1e-9))
            h = length / m
            key = round(h, 12)
            if key not in cache:
                Mx = np.zeros((d + nodes, d + nodes), dtype=x.dtype)
                Mx[:d, :d], Mx[:d, d] = A * h, B * h
                Mx[np.arange(d, d + p), np.arange(d + 1, d + nodes)] = 1.0   # w_j' = w_{j+1}
                ex = expm(Mx)
                cache[key] = (ex[:d, :d], ex[:d, d:] @ to_taylor)           # E (d,d), F (d, nodes)
            E, F = cache[key]
            starts = t + h * np.arange(m)
            U = np.asarray(u((starts[:, None] + h * tau[None, :]).ravel()), dtype=float)
            U = U.reshape(m, nodes)
            for i in range(m):
                x = E @ x + F @ U[i]
            t = target
        out.append(x.copy())
    res = np.array(out)
    check_finite_result(res, what="lti_solve")
    return res


def simulate(measure: str, u: Callable, t0: float, t_eval, N: int, w: float = 1.0,
             scaling: str = "post", x0=None) -> np.ndarray:
    """Run a HiPPO memory from t0 (state = exact projections at t0 unless x0 is given) and
    return its states at t_eval, shape (len(t_eval), d).

    LegT and Fourier are time-invariant; LegS, x' = (A x + B u)/t, becomes time-invariant in
    log time: with tau = log t, dx/dtau = A x + B u(e^tau), so LegS needs t0 > 0.
    """
    check_choice(measure, MEASURES, name="measure")
    A, B = hippo_matrices(measure, N, w, scaling)
    te, _ = as_float_array(t_eval, name="t_eval", min_ndim=1, max_ndim=1)
    t0 = check_real(t0, name="t0")
    if measure == "legs" and t0 <= 0:
        raise ValueError(f"t0 must be > 0 for LegS (the system is singular at t = 0), got {t0!r}")
    if x0 is None:
        lam = _lam(A.shape[0], scaling) if measure != "fourier" else 1.0
        x0 = project(u, t0, N, measure, w) / lam
    if measure == "legs":
        return lti_solve(A, B, lambda tau: u(np.exp(tau)), math.log(t0), np.log(te), x0)
    return lti_solve(A, B, u, t0, te, x0)


# -- discretisation -------------------------------------------------------------------------
def discretize(A, B, dt: float, method: str = "bilinear") -> tuple[np.ndarray, np.ndarray]:
    """x_{k+1} = Ad x_k + Bd u_k from x' = A x + B u with step dt.

    bilinear: Ad = (I - dt A/2)^{-1}(I + dt A/2), Bd = (I - dt A/2)^{-1} dt B
    zoh:      Ad = e^{A dt}, Bd = int_0^dt e^{A s} ds B   (from expm of [[A, B], [0, 0]] dt)
    euler:    Ad = I + dt A, Bd = dt B;   backward: Ad = (I - dt A)^{-1}, Bd = (I - dt A)^{-1} dt B
    """
    A, B = _check_system(A, B)
    dt = check_positive(dt, name="dt")
    check_choice(method, ["bilinear", "zoh", "euler", "backward"], name="method")
    eye = np.eye(A.shape[0])
    if method == "zoh":
        d = A.shape[0]
        M = np.zeros((d + 1, d + 1), dtype=A.dtype)
        M[:d, :d], M[:d, d] = A, B
        E = expm(M * dt)
        return E[:d, :d], E[:d, d]
    alpha = {"bilinear": 0.5, "euler": 0.0, "backward": 1.0}[method]
    lhs = eye - alpha * dt * A
    return solve(lhs, eye + (1 - alpha) * dt * A), solve(lhs, dt * B)


def run_recurrence(Ad, Bd, u_seq, x0=None) -> np.ndarray:
    """x_{k+1} = Ad x_k + Bd u_k for k = 0..L-1; returns x_1..x_L, shape (L, d)."""
    Ad, Bd = _check_system(Ad, Bd, names=("Ad", "Bd"))
    u_seq, _ = as_float_array(u_seq, name="u_seq", max_ndim=1)
    x = np.zeros(Bd.shape, dtype=np.result_type(Ad, Bd)) if x0 is None else np.asarray(x0).copy()
    if x.shape != Bd.shape:
        raise ValueError(f"x0 must have shape {Bd.shape}, got {x.shape}")
    out = np.empty((u_seq.size, x.size), dtype=x.dtype)
    for k, uk in enumerate(u_seq):
        x = Ad @ x + Bd * uk
        out[k] = x
    return out
