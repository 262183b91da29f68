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

``--gaps-at-timeout`` answers, for cells where no solver reaches the accuracy within
``--timeout``, what each one has reached by then: every solver runs with an iteration
cap that doubles (1, 2, 4, ... epochs for mtlreg and scikit-learn, outer iterations for
celer and skglm, tolerance 1e-14) until a run no longer finishes within ``--timeout`` CPU
seconds, and the relative duality gap of its last finished run is reported. The gap is
the same certificate for every solver (:func:`certified_gap`: the residual, scaled to the
dual feasible set), so it bounds each one's distance to the optimum without a reference
solution.

    BENCH_THREADS=1 python benchmarks/bench_convex.py --quick
    BENCH_THREADS=1 python benchmarks/bench_convex.py --dims 2 --fracs 0.001 --gaps-at-timeout
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


def certified_gap(phi: np.ndarray, y: np.ndarray, v: np.ndarray, lam: float) -> tuple[float, float]:
    """(objective, certified lower bound) of any ``v`` for the package objective.

    The dual of ``(1/2)||Y - Phi V||^2 + alpha sum_k ||V_k||`` (alpha = N lam / 2, the
    package objective times N / 2) is ``<Y, theta> - ||theta||^2 / 2`` over
    ``max_k ||Phi_k^T theta|| <= alpha``; the residual ``R`` scaled by the best feasible
    ``s >= 0`` gives a dual value, i.e. a lower bound, for any ``v``.
    """
    n = phi.shape[0]
    alpha = n * lam / 2.0
    r = y - phi @ v
    rr = float((r * r).sum())
    yr = float((y * r).sum())
    cmax = float(np.linalg.norm(phi.T @ r, axis=1).max())
    s = yr / rr if rr > 0 else 0.0
    if cmax > 0:
        s = min(s, alpha / cmax)
    s = max(s, 0.0)
    dual = s * yr - 0.5 * s * s * rr
    return objective(phi, y, v, lam), 2.0 * dual / n


def fit(name: str, tol: float) -> tuple[np.ndarray, float]:
    """V (P, T) from one run of solver ``name`` on the problem in _DATA, and its
    certified lower bound on the optimum (nan for the peers).

    With ``_DATA["cap"]`` set, ``tol`` is ignored: the run stops at that many epochs
    (mtlreg, scikit-learn) or outer iterations (celer, skglm) or at tolerance 1e-14.
    """
    phi, y, lam = _DATA["phi"], _DATA["y"], _DATA["lam"]
    warnings.filterwarnings("ignore")
    cap = _DATA.get("cap")
    if cap is not None:
        return _fit_capped(name, int(cap)), np.nan
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


def _fit_capped(name: str, cap: int) -> np.ndarray:
    """V after at most ``cap`` epochs / outer iterations of solver ``name``."""
    phi, y, lam = _DATA["phi"], _DATA["y"], _DATA["lam"]
    if name == "mtlreg":
        torch.set_num_threads(int(THREADS))
        return group_lasso(phi, y, lam, tol=1e-14, max_iter=cap).V
    if name == "celer":
        from celer.homotopy import mtl_path

        _, coefs, _ = mtl_path(phi, y, alphas=[lam / 2], tol=1e-14, max_iter=cap)
        return coefs[:, :, 0].T
    if name == "skglm":
        from skglm import MultiTaskLasso as SkglmMTL

        est = SkglmMTL(alpha=lam / 2, fit_intercept=False, tol=1e-14, max_iter=cap)
        return est.fit(phi, y).coef_.T
    if name == "sklearn":
        from sklearn.linear_model import MultiTaskLasso

        est = MultiTaskLasso(alpha=lam / 2, fit_intercept=False, tol=1e-14, max_iter=cap)
        return est.fit(phi, y).coef_.T
    raise ValueError(name)


def gaps_cell(d: int, n: int, frac: float, solvers: list[str], args: argparse.Namespace) -> dict:
    """Each solver's certified relative gap at the last doubling cap that finished
    within ``args.timeout`` CPU seconds."""
    phi, y = make_problem(n, d)
    lam = frac * lam_max(phi, y)
    _DATA.update(phi=phi, y=y, lam=lam)
    row: dict[str, Any] = {"d": d, "N": n, "P": phi.shape[1], "T": y.shape[1], "lam_frac": frac,
                           "mode": "gaps-at-timeout", "timeout": args.timeout}  # fmt: skip
    try:
        for name in solvers:
            cap, last = 1, None
            while True:
                _DATA["cap"] = cap
                out = timed(name, 0.0, args.timeout)
                if out is None:
                    break
                stalled = last is not None and out[1] == last[1][1]  # stopped below the cap
                last = (cap, out)
                if stalled or cap >= 2**24:
                    break
                cap *= 2
            if last is None:
                row[name] = None
                continue
            cap_done, (sec, obj, supp, wall, lower) = last
            row[name] = {"cap": cap_done, "cpu": sec, "wall": wall, "objective": obj,
                         "support": supp, "lower_bound": lower}  # fmt: skip
    finally:
        _DATA.pop("cap", None)
    best_lower = max((r["lower_bound"] for r in row.values() if isinstance(r, dict)),
                     default=-np.inf)  # fmt: skip
    best_obj = min((r["objective"] for r in row.values() if isinstance(r, dict)),
                   default=np.inf)  # fmt: skip
    for name in solvers:
        r = row[name]
        if isinstance(r, dict):
            r["rel_gap"] = (r["objective"] - r["lower_bound"]) / abs(r["objective"])
            r["rel_gap_best_bound"] = (r["objective"] - best_lower) / abs(r["objective"])
            r["rel_error_vs_best"] = (r["objective"] - best_obj) / abs(best_obj)
    return row


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
    if _DATA.get("cap") is not None:  # every solver measured by the same certificate
        obj, lower = certified_gap(_DATA["phi"], _DATA["y"], v, _DATA["lam"])
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


def fmt_gap(r: dict | None, name: str) -> str:
    if r is None:
        return f"{name} no capped run finished"
    return (
        f"{name} rel. gap {r['rel_gap']:.1e} (vs best bound {r['rel_gap_best_bound']:.1e}; "
        f"cap {r['cap']}, {r['cpu']:.1f} s CPU, support {r['support']})"
    )


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
    parser.add_argument(
        "--gaps-at-timeout",
        action="store_true",
        help="report each solver's certified relative gap at --timeout (doubling caps)",
    )
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
        if args.gaps_at_timeout:
            row = gaps_cell(d, n, frac, args.solvers, args)
            print(
                f"d={d:2d} N={n:5d} lam={frac:g} lam_max, gaps at {args.timeout:g} CPU s: "
                + "; ".join(fmt_gap(row[s], s) for s in args.solvers),
                flush=True,
            )
            if args.out:
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
            continue
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
