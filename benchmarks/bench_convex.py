"""Group lasso over ReLU atoms: mtlreg.convex.group_lasso against celer, skglm and sklearn.

Every solver minimises the same problem: the package objective
``(1/N)||Y - Phi V||_F^2 + lam sum_k ||V_k||`` of ``mtlreg.convex.group_lasso``, which
is ``MultiTaskLasso`` (celer, skglm, scikit-learn) at ``alpha = lam / 2``; no
intercept. Problems (one grid cell each): inputs uniform on [-1, 1]^d, a bumps target
plus 10 Gaussian noise tasks (T = 11), P = 2000 random unit-norm ReLU atoms
(``relu_dictionary``), features and targets projected off the affine span of the inputs
(the unpenalised affine part of the network), ``lam = frac * lam_max``.

Time to a relative accuracy ``--accuracy`` (default 1e-6) of the objective against the
best objective any run reached (mtlreg at certified relative gap 1e-9 among them):
mtlreg stops on its own certified duality gap (``tol = accuracy``; when that times
out, a run with its default budget of 5000 epochs reports the gap it reaches); each
peer climbs a ladder of its own tolerances and the time of the first run that got there
is reported. Where a solver does not get there within ``--timeout`` CPU seconds (all
rungs together; each run is stopped by an RLIMIT_CPU limit, so a loaded machine does not
shorten it), the relative error of its best finished run is reported, against the
best objective and against mtlreg's certified lower bound. Every peer first solves a
tiny problem in this process (imports, numba compilation); the timed runs are forked
from it, so they time solving only. Each run reports its CPU time (the process's, 1
thread: what it would take on an idle core) and its wall time; ratios use CPU time,
which a loaded machine distorts less. The solvers are timed in the same run,
interleaved (mtlreg, celer, skglm, sklearn, then again), ``--repeats`` times for cells
whose slowest run takes less than ``--repeat-below`` seconds, and the medians are
reported with the ratio to celer (below 1: faster).

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
# each solver's ladder of tolerances (mtlreg: budgets of epochs at tol = accuracy, since
# its tol is its certified gap)
LADDERS: dict[str, tuple[float, ...]] = {
    "mtlreg": (10**6, 5_000),  # the second rung only runs when the first timed out
    "celer": (1e-6, 1e-8, 1e-10),
    "skglm": (1e-6, 1e-8, 1e-10),
    "sklearn": (1e-6, 1e-8, 1e-10, 1e-12),
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


def fit(name: str, tol: float) -> tuple[np.ndarray, float]:
    """V (P, T) from one run of solver ``name`` on the problem in _DATA, and its
    certified lower bound on the optimum (nan for the peers)."""
    phi, y, lam = _DATA["phi"], _DATA["y"], _DATA["lam"]
    warnings.filterwarnings("ignore")
    if name == "mtlreg":  # tol is a budget of epochs; the tolerance is --accuracy
        torch.set_num_threads(int(THREADS))
        res = group_lasso(phi, y, lam, tol=_DATA["accuracy"], max_iter=int(tol))
        return res.V, res.lower_bound
    if name == "celer":
        from celer.homotopy import mtl_path

        _, coefs, _ = mtl_path(phi, y, alphas=[lam / 2], tol=tol, max_epochs=10**6)
        return coefs[:, :, 0].T, np.nan
    if name == "skglm":
        from skglm import MultiTaskLasso as SkglmMTL

        est = SkglmMTL(alpha=lam / 2, fit_intercept=False, tol=tol, max_iter=10**4)
        return est.fit(phi, y).coef_.T, np.nan
    if name == "sklearn":
        from sklearn.linear_model import MultiTaskLasso

        est = MultiTaskLasso(alpha=lam / 2, fit_intercept=False, tol=tol, max_iter=10**6)
        return est.fit(phi, y).coef_.T, np.nan
    raise ValueError(name)


def warm_up(solvers: list[str]) -> None:
    """Import every peer and compile numba kernels once in this process (the timed
    runs are forked from here and time solving only)."""
    rng = np.random.default_rng(0)
    # 200 atoms for 30 samples: mtlreg compiles both its Gram- and data-space epochs
    phi, y = rng.random((30, 200)), rng.standard_normal((30, 3))
    _DATA.update(phi=phi, y=y, lam=0.1 * lam_max(phi, y), accuracy=1e-4)
    for name in solvers:
        fit(name, 100 if name == "mtlreg" else 1e-4)


def _child(name: str, tol: float, queue: Any, cpu_limit: float) -> None:
    import resource

    # the timeout counts this run's CPU seconds (SIGXCPU ends it), so a loaded machine
    # does not cut a solver short
    used = time.process_time()
    limit = max(1, int(np.ceil(used + cpu_limit)))
    resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 5))
    t0, c0 = time.perf_counter(), time.process_time()
    v, lower = fit(name, tol)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    obj = objective(_DATA["phi"], _DATA["y"], v, _DATA["lam"])
    queue.put((cpu, obj, int((np.linalg.norm(v, axis=1) > 0).sum()), wall, lower))


def timed(name: str, tol: float, timeout: float) -> tuple[float, float, int, float, float] | None:
    """(CPU seconds, objective, support size, wall seconds, lower bound) of one forked
    run, or None if it used more than ``timeout`` CPU seconds (or 30x that in wall
    seconds)."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, tol, queue, timeout))
    proc.start()
    proc.join(30.0 * timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return None
    return queue.get() if not queue.empty() else None


def bench_cell(d: int, n: int, frac: float, solvers: list[str], args: argparse.Namespace) -> dict:
    phi, y = make_problem(n, d)
    lam = frac * lam_max(phi, y)
    _DATA.update(phi=phi, y=y, lam=lam, accuracy=1e-9)
    ref = timed("mtlreg", 10**6, args.timeout)
    _DATA["accuracy"] = args.accuracy
    ref_obj = ref[1] if ref else np.inf
    lower = ref[4] if ref else -np.inf
    # first pass: each solver climbs its ladder; later passes rerun the rung that got there
    rung: dict[str, float | None] = {}
    cpu: dict[str, list[float]] = {s: [] for s in solvers}
    wall: dict[str, list[float]] = {s: [] for s in solvers}
    last_obj: dict[str, float] = {}
    for name in solvers:
        spent = 0.0
        rung[name] = None
        for tol in LADDERS[name]:
            out = timed(name, tol, max(args.timeout - spent, 1.0))
            if out is None and name == "mtlreg" and tol == LADDERS[name][0]:
                continue  # the budgeted run tells which gap mtlreg reaches
            if out is None:
                break
            spent += out[0]
            ref_obj = min(ref_obj, out[1])
            if np.isfinite(out[4]):
                lower = max(lower, out[4])
            last_obj[name] = min(last_obj.get(name, np.inf), out[1])
            fallback = name == "mtlreg" and tol != LADDERS[name][0]  # budgeted: never counts
            if not fallback and (out[1] - ref_obj) / abs(ref_obj) <= args.accuracy:
                rung[name] = tol
                cpu[name].append(out[0])
                wall[name].append(out[3])
                break
    slowest = max((w[0] for w in wall.values() if w), default=0.0)
    repeats = args.repeats if slowest < args.repeat_below else 1
    for _ in range(repeats - 1):
        for name in solvers:  # interleaved: every solver once per pass
            tol = rung[name]
            if tol is not None:
                out = timed(name, tol, args.timeout)
                if out is not None:
                    cpu[name].append(out[0])
                    wall[name].append(out[3])
    row: dict[str, Any] = {
        "d": d,
        "N": n,
        "P": phi.shape[1],
        "T": y.shape[1],
        "lam_frac": frac,
        "support": ref[2] if ref is not None else -1,
        "repeats": repeats,
        "best_objective": ref_obj,
        "lower_bound": lower,
        "reference_rel_gap": (ref_obj - lower) / abs(ref_obj),
    }
    for name in solvers:
        row[name] = statistics.median(cpu[name]) if cpu[name] else None
        row[f"{name}_wall"] = statistics.median(wall[name]) if wall[name] else None
        row[f"{name}_rung"] = rung[name]
        if name in last_obj and not cpu[name]:  # relative errors of its best finished run
            row[f"{name}_rel_error"] = (last_obj[name] - ref_obj) / abs(ref_obj)
            row[f"{name}_rel_gap_certified"] = (last_obj[name] - lower) / abs(last_obj[name])
    return row


def fmt_cell(row: dict, name: str) -> str:
    sec = row.get(name)
    if sec is None:
        if f"{name}_rel_error" not in row:
            return "> timeout (no run finished)"
        return (
            f"> timeout (rel. err. {row[f'{name}_rel_error']:.1e} vs best, "
            f"{row[f'{name}_rel_gap_certified']:.1e} vs bound)"
        )
    base = row.get("celer")
    ratio = f" ({sec / base:.2f}x celer)" if base and name != "celer" else ""
    return f"{sec:.2f} s cpu / {row[f'{name}_wall']:.2f} s wall{ratio}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--dims", nargs="*", type=int, default=None)
    parser.add_argument("--sizes", nargs="*", type=int, default=None, help="values of N")
    parser.add_argument("--fracs", nargs="*", type=float, default=None, help="lam / lam_max")
    parser.add_argument("--solvers", nargs="*", default=list(SOLVERS), choices=SOLVERS)
    parser.add_argument("--quick", action="store_true", help=f"only the cells {QUICK}")
    parser.add_argument("--accuracy", type=float, default=1e-6)
    parser.add_argument("--timeout", type=float, default=150.0, help="CPU seconds per solver/cell")
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
            f"ref. gap {row['reference_rel_gap']:.1e} (x{row['repeats']}): "
            + "; ".join(f"{s} {fmt_cell(row, s)}" for s in args.solvers),
            flush=True,
        )
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
