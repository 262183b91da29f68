"""Group lasso over ReLU atoms: mtlreg.convex.group_lasso against celer, skglm and sklearn.

Every solver minimises the same problem: the package objective
``(1/N)||Y - Phi V||_F^2 + lam sum_k ||V_k||`` of ``mtlreg.convex.group_lasso``, which
is ``MultiTaskLasso`` (celer, skglm, scikit-learn) at ``alpha = lam / 2``; no
intercept. Problems (one grid cell each): inputs uniform on [-1, 1]^d, a bumps target
plus 10 Gaussian noise tasks (T = 11), P = 2000 random unit-norm ReLU atoms
(``relu_dictionary``), features and targets projected off the affine span of the inputs
(the unpenalised affine part of the network), ``lam = frac * lam_max``.

Time to a relative accuracy ``--accuracy`` (default 1e-6): mtlreg stops on its own
certified duality gap (``tol = accuracy``); each peer climbs a ladder of its own
tolerances until its objective is within ``accuracy`` of a certified reference (mtlreg
at relative gap 1e-9; the best objective any solver reached is used if lower) and the
time of the first run that got there is reported. Where a solver does not get there
within ``--timeout`` seconds, the relative error of its last finished run is reported.
Every peer first solves a tiny problem in this process (imports, numba compilation);
the timed runs are forked from it, so they time solving only. The solvers are timed in
the same run, interleaved (mtlreg, celer, skglm, sklearn, then again), ``--repeats``
times for cells whose runs take less than ``--repeat-below`` seconds, and the median
is reported with the ratio to celer's time (below 1: faster than celer).

    BENCH_THREADS=1 python benchmarks/bench_convex.py --quick
    BENCH_THREADS=1 python benchmarks/bench_convex.py --out results/bench_convex.jsonl
    python benchmarks/bench_convex.py --dims 10 --sizes 1000 --fracs 0.1 --solvers mtlreg celer
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
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

SOLVERS = ("mtlreg", "celer", "skglm", "sklearn")
LADDERS: dict[str, tuple[float, ...]] = {
    "mtlreg": (1e-6,),  # replaced by --accuracy: mtlreg's tol is its certified gap
    "celer": (1e-4, 1e-6, 1e-8, 1e-10),
    "skglm": (1e-4, 1e-6, 1e-8, 1e-10),
    "sklearn": (1e-4, 1e-6, 1e-8, 1e-10, 1e-12),
}
# the default grid: (d, N, lam / lam_max)
GRID: tuple[tuple[int, int, float], ...] = tuple(
    (d, n, f) for d in (2, 10) for n in (100, 1000, 10000) for f in (0.1, 0.01, 0.001)
)
QUICK: tuple[tuple[int, int, float], ...] = ((10, 100, 0.1), (10, 1000, 0.1), (2, 1000, 0.01))
_DATA: dict[str, Any] = {}


def make_problem(
    n: int, d: int, p: int = 2000, n_noise: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """ReLU features and targets (bumps + ``n_noise`` Gaussian tasks), both projected
    off the affine span of the inputs."""
    rng = np.random.default_rng([seed, d, n])
    x = rng.uniform(-1.0, 1.0, (n, d))
    centres = rng.uniform(-1.0, 1.0, (4, d))
    heights = rng.choice([-1.0, 1.0], 4) * rng.uniform(0.5, 1.5, 4)
    bumps = np.exp(-((x[:, None, :] - centres[None]) ** 2).sum(-1) / 0.5) @ heights
    y = np.column_stack([bumps, rng.standard_normal((n, n_noise))])
    w, b = relu_dictionary(x, p, seed=rng)
    phi = relu_features(x, w, b)
    q, _ = np.linalg.qr(np.column_stack([np.ones(n), x]))
    phi -= q @ (q.T @ phi)
    y -= q @ (q.T @ y)
    return np.asfortranarray(phi), np.asfortranarray(y)


def objective(phi: np.ndarray, y: np.ndarray, v: np.ndarray, lam: float) -> float:
    """The package objective (1/N)||Y - Phi V||^2 + lam sum_k ||V_k||."""
    r = y - phi @ v
    return float((r * r).sum() / phi.shape[0] + lam * np.linalg.norm(v, axis=1).sum())


def fit(name: str, tol: float) -> np.ndarray:
    """V (P, T) from one run of solver ``name`` on the problem in _DATA."""
    phi, y, lam = _DATA["phi"], _DATA["y"], _DATA["lam"]
    warnings.filterwarnings("ignore")
    if name == "mtlreg":
        torch.set_num_threads(int(THREADS))
        return group_lasso(phi, y, lam, tol=tol, max_iter=10**6).V
    if name == "celer":
        from celer.homotopy import mtl_path

        _, coefs, _ = mtl_path(phi, y, alphas=[lam / 2], tol=tol, max_epochs=10**6)
        return coefs[:, :, 0].T
    if name == "skglm":
        from skglm import MultiTaskLasso as SkglmMTL

        est = SkglmMTL(alpha=lam / 2, fit_intercept=False, tol=tol, max_iter=10**4)
        return est.fit(phi, y).coef_.T
    if name == "sklearn":
        from sklearn.linear_model import MultiTaskLasso

        est = MultiTaskLasso(alpha=lam / 2, fit_intercept=False, tol=tol, max_iter=10**6)
        return est.fit(phi, y).coef_.T
    raise ValueError(name)


def warm_up(solvers: list[str]) -> None:
    """Import every peer and compile numba kernels once in this process (the timed
    runs are forked from here and time solving only)."""
    rng = np.random.default_rng(0)
    phi, y = rng.random((30, 20)), rng.standard_normal((30, 3))
    _DATA.update(phi=phi, y=y, lam=0.1 * lam_max(phi, y))
    for name in solvers:
        fit(name, 1e-4)


def _child(name: str, tol: float, queue: Any) -> None:
    t0 = time.perf_counter()
    v = fit(name, tol)
    sec = time.perf_counter() - t0
    obj = objective(_DATA["phi"], _DATA["y"], v, _DATA["lam"])
    queue.put((sec, obj, int((np.linalg.norm(v, axis=1) > 0).sum())))


def timed(name: str, tol: float, timeout: float) -> tuple[float, float, int] | None:
    """(seconds, objective, support size) of one forked run, or None if killed after
    ``timeout``."""
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


def bench_cell(d: int, n: int, frac: float, solvers: list[str], args: argparse.Namespace) -> dict:
    phi, y = make_problem(n, d)
    lam = frac * lam_max(phi, y)
    _DATA.update(phi=phi, y=y, lam=lam)
    ref = timed("mtlreg", 1e-9, args.ref_timeout)
    ref_obj = ref[1] if ref else np.inf
    ladders = dict(LADDERS, mtlreg=(args.accuracy,))
    # first pass: each solver climbs its ladder; later passes rerun the rung that got there
    rung: dict[str, float | None] = {}
    times: dict[str, list[float]] = {s: [] for s in solvers}
    best_rel: dict[str, float] = {}
    for name in solvers:
        spent = 0.0
        rung[name] = None
        for tol in ladders[name]:
            out = timed(name, tol, max(args.timeout - spent, 1.0))
            if out is None:
                break
            spent += out[0]
            ref_obj = min(ref_obj, out[1])
            rel = (out[1] - ref_obj) / abs(ref_obj)
            best_rel[name] = min(best_rel.get(name, np.inf), rel)
            if rel <= args.accuracy:
                rung[name] = tol
                times[name].append(out[0])
                break
    slowest = max((t[0] for t in times.values() if t), default=0.0)
    repeats = args.repeats if slowest < args.repeat_below else 1
    for _ in range(repeats - 1):
        for name in solvers:  # interleaved: every solver once per pass
            tol = rung[name]
            if tol is not None:
                out = timed(name, tol, args.timeout)
                if out is not None:
                    times[name].append(out[0])
    support = ref[2] if ref is not None else -1
    row: dict[str, Any] = {
        "d": d,
        "N": n,
        "P": phi.shape[1],
        "T": y.shape[1],
        "lam_frac": frac,
        "support": support,
        "repeats": repeats,
        "reference": ref_obj,
    }
    for name in solvers:
        med = statistics.median(times[name]) if times[name] else None
        row[name] = med
        row[f"{name}_tol"] = rung[name]
        row[f"{name}_rel_error"] = best_rel.get(name) if med is None else None
    return row


def fmt_cell(row: dict, name: str) -> str:
    sec = row.get(name)
    if sec is None:
        rel = row.get(f"{name}_rel_error")
        return "> timeout" + (
            f" (rel. err. {rel:.1e})" if rel is not None else " (no run finished)"
        )
    base = row.get("celer")
    return f"{sec:.2f} s" + (f" ({sec / base:.2f}x celer)" if base and name != "celer" else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--dims", nargs="*", type=int, default=None)
    parser.add_argument("--sizes", nargs="*", type=int, default=None, help="values of N")
    parser.add_argument("--fracs", nargs="*", type=float, default=None, help="lam / lam_max")
    parser.add_argument("--solvers", nargs="*", default=list(SOLVERS), choices=SOLVERS)
    parser.add_argument("--quick", action="store_true", help=f"only the cells {QUICK}")
    parser.add_argument("--accuracy", type=float, default=1e-6)
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds per solver/cell")
    parser.add_argument("--ref-timeout", type=float, default=600.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeat-below", type=float, default=10.0)
    parser.add_argument("--out", default=None, help="append one JSON line per cell")
    args = parser.parse_args(argv)
    if args.quick:
        cells = list(QUICK)
    else:
        cells = [
            c
            for c in GRID
            if (args.dims is None or c[0] in args.dims)
            and (args.sizes is None or c[1] in args.sizes)
            and (args.fracs is None or c[2] in args.fracs)
        ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"threads={THREADS}, cores={os.cpu_count()}, load={load:.1f}, {platform.processor()}, "
        f"numpy {np.__version__}, torch {torch.__version__}; accuracy {args.accuracy:g}, "
        f"timeout {args.timeout:g} s, medians of up to {args.repeats} interleaved runs",
        flush=True,
    )
    warm_up(args.solvers)
    for d, n, frac in cells:
        row = bench_cell(d, n, frac, args.solvers, args)
        row["load"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"d={d:2d} N={n:5d} lam={frac:g} lam_max support={row['support']:4d} "
            f"(x{row['repeats']}): " + "; ".join(f"{s} {fmt_cell(row, s)}" for s in args.solvers),
            flush=True,
        )
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
