"""Group lasso over ReLU atoms: mtlreg.convex.group_lasso against its peers.

Same features, same objective ``1/(2N)||Y - Phi V||^2 + lam sum_k ||V_k||`` (sklearn's
``MultiTaskLasso`` scaling, so every library's ``alpha`` is our ``lam``; no
intercept; Y centred). Each solver is run with a ladder of its own tolerances until
its objective is within ``--accuracy`` (default 1e-6) relative of a certified
reference (mtlreg at duality gap 1e-10, cross-checked with the best objective any
solver reached); the reported time is that of the first run that got there. Every
peer first solves a tiny problem in this process (imports, skglm's numba compilation);
the timed runs are then forked from it, so they time solving only, and are killed
after ``--timeout`` seconds.

    python benchmarks/bench_convex.py --quick           # N=200, P=2000
    python benchmarks/bench_convex.py --sizes 1000x2000 10000x2000 --solvers mtlreg celer

Optional peers: ``celer`` (``celer.homotopy.mtl_path``; its estimator class fails
with recent scikit-learn), ``skglm``, scikit-learn, cvxpy+Clarabel (small N only).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
import warnings
from typing import Any

THREADS = os.environ.get("BENCH_THREADS", "1")
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, THREADS)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mtlreg.convex import group_lasso, lam_max, relu_dictionary, relu_features  # noqa: E402

SOLVERS = ("mtlreg", "celer", "skglm", "sklearn", "cvxpy")
LADDERS: dict[str, tuple[float, ...]] = {
    "mtlreg": (1e-6,),
    "celer": (1e-4, 1e-6, 1e-8, 1e-10),
    "skglm": (1e-4, 1e-6, 1e-8, 1e-10),
    "sklearn": (1e-6, 1e-8, 1e-10, 1e-12),
    "cvxpy": (0.0,),
}
_DATA: dict[str, Any] = {}


def make_problem(n: int, p: int, t: int = 21, d: int = 5, seed: int = 0):
    """ReLU features of Gaussian inputs; task 1 a smooth target, 20 Bernoulli(1/2) tasks."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y1 = np.sin(2 * x[:, 0]) + np.abs(x[:, 1])
    y = np.column_stack([y1, (rng.random((n, t - 1)) < 0.5).astype(float)])
    y = y - y.mean(axis=0)
    w, b = relu_dictionary(x, p, seed=seed)
    return np.asfortranarray(relu_features(x, w, b)), np.asfortranarray(y)


def objective(phi: np.ndarray, y: np.ndarray, v: np.ndarray, lam: float) -> float:
    r = y - phi @ v
    return float(0.5 * (r * r).sum() / phi.shape[0] + lam * np.linalg.norm(v, axis=1).sum())


def fit(name: str, tol: float) -> np.ndarray:
    """Return V (P, T) from one solver run on the problem in _DATA."""
    phi, y, lam = _DATA["phi"], _DATA["y"], _DATA["lam"]
    warnings.filterwarnings("ignore")
    if name == "mtlreg":
        torch.set_num_threads(int(THREADS))
        return group_lasso(phi, y, lam, tol=tol).V
    if name == "celer":
        from celer.homotopy import mtl_path

        _, coefs, _ = mtl_path(phi, y, alphas=[lam], tol=tol, max_epochs=200_000)
        return coefs[:, :, 0].T
    if name == "skglm":
        from skglm import MultiTaskLasso as SkglmMTL

        est = SkglmMTL(alpha=lam, fit_intercept=False, tol=tol, max_iter=1000)
        return est.fit(phi, y).coef_.T
    if name == "sklearn":
        from sklearn.linear_model import MultiTaskLasso

        est = MultiTaskLasso(alpha=lam, fit_intercept=False, tol=tol, max_iter=100_000)
        return est.fit(phi, y).coef_.T
    if name == "cvxpy":
        return group_lasso(phi, y, lam, solver="cvxpy").V
    raise ValueError(name)


def warm_up(solvers: list[str]) -> None:
    """Import every peer and compile skglm's numba kernels once in this process.

    The timed runs are forked from here, so they inherit the imports and compiled
    code and measure solving only (not import or JIT time).
    """
    rng = np.random.default_rng(0)
    phi, y = rng.random((30, 20)), rng.standard_normal((30, 3))
    _DATA.update(phi=phi, y=y, lam=0.1 * lam_max(phi, y))
    for name in solvers:
        fit(name, 1e-4)


def _child(name: str, tol: float, queue: Any) -> None:
    t0 = time.perf_counter()
    v = fit(name, tol)
    queue.put((time.perf_counter() - t0, objective(_DATA["phi"], _DATA["y"], v, _DATA["lam"])))


def timed(name: str, tol: float, timeout: float) -> tuple[float, float] | None:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, tol, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return None
    return queue.get() if not queue.empty() else None


def bench_size(n: int, p: int, solvers: list[str], args: argparse.Namespace) -> list[dict]:
    phi, y = make_problem(n, p)
    lam = args.lam_frac * lam_max(phi, y)
    _DATA.update(phi=phi, y=y, lam=lam)
    ref = group_lasso(phi, y, lam, tol=1e-10)
    ref_obj = ref.objective
    print(
        f"\n== N={n} P={p} T={y.shape[1]} lam={lam:.4g} ({args.lam_frac} lam_max); "
        f"reference objective {ref_obj:.12g}, certified rel. gap {ref.relative_gap:.1e}, "
        f"support {len(ref.support)}",
        flush=True,
    )
    rows = []
    for name in solvers:
        if name == "cvxpy" and n > args.cvxpy_max_n:
            rows.append({"N": n, "P": p, "solver": name, "seconds": None, "note": "skipped"})
            continue
        result, used_tol, spent = None, None, 0.0
        for tol in LADDERS[name]:
            out = timed(name, tol, max(args.timeout - spent, 1.0))
            if out is None:
                result = None
                break
            spent += out[0]
            rel = (out[1] - ref_obj) / abs(ref_obj)
            result, used_tol = (out[0], out[1], rel), tol
            if rel <= args.accuracy:
                break
        if result is None:
            rows.append(
                {"N": n, "P": p, "solver": name, "seconds": None, "note": f"> {args.timeout:.0f} s"}
            )
            print(f"  {name:8s}  > {args.timeout:.0f} s (killed)", flush=True)
            continue
        sec, obj, rel = result
        ok = rel <= args.accuracy
        note = f"tol={used_tol:g}" + ("" if ok else f", reached only {rel:.1e}")
        rows.append(
            {
                "N": n,
                "P": p,
                "solver": name,
                "seconds": sec if ok else None,
                "rel_error": rel,
                "note": note,
            }
        )
        print(f"  {name:8s} {sec:9.2f} s  rel.err {rel:9.2e}  ({note})", flush=True)
        ref_obj = min(ref_obj, obj)  # a peer finding a lower value would tighten the reference
    base = next((r["seconds"] for r in rows if r["solver"] == "mtlreg"), None)
    for r in rows:
        if base and r.get("seconds"):
            r["ratio_vs_mtlreg"] = r["seconds"] / base
    print(
        "  ratios (time / mtlreg): "
        + ", ".join(
            f"{r['solver']} {r['ratio_vs_mtlreg']:.2f}" for r in rows if "ratio_vs_mtlreg" in r
        ),
        flush=True,
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        nargs="*",
        default=None,
        help="NxP pairs (default: 200x2000 1000x2000 10000x2000 200x10000 1000x10000 10000x10000)",
    )
    parser.add_argument("--solvers", nargs="*", default=list(SOLVERS), choices=SOLVERS)
    parser.add_argument("--quick", action="store_true", help="only N=200, P=2000")
    parser.add_argument("--lam-frac", type=float, default=0.1, help="lam / lam_max")
    parser.add_argument("--accuracy", type=float, default=1e-6)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per solver/size")
    parser.add_argument("--cvxpy-max-n", type=int, default=200)
    args = parser.parse_args(argv)
    if args.quick:
        sizes = [(200, 2000)]
    elif args.sizes:
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    else:
        sizes = [(n, p) for p in (2000, 10000) for n in (200, 1000, 10000)]
    print(f"threads={THREADS}, torch {torch.__version__}, numpy {np.__version__}", flush=True)
    warm_up(args.solvers)
    for n, p in sizes:
        bench_size(n, p, args.solvers, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
