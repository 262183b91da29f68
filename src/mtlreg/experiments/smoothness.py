"""Poster Fig. 2 as a fit–smoothness frontier: do auxiliary tasks smooth task 1?

Synthetic data with a known smooth ground truth f* (inputs uniform in [-1, 1]^d,
four Gaussian bumps normalised to unit standard deviation, Gaussian label noise).
Three series on the axes (task-1 train error, task-1 average input-gradient norm)
(docs/theory.md §6):

- ``single``: single-task weight decay traced over a lam path (the *frontier*). In
  d = 2 every point is the certified global optimum (:func:`mtlreg.convex.solve`,
  all activation patterns, relative duality gap checked <= 1e-5); in d > 2 it is
  trained with the gradient recipe (``method="continuation"``).
- ``multi``: task 1 trained with ``n_aux`` Gaussian N(0, s^2) auxiliary tasks at one
  lam, under both conventions: ``sum`` over tasks (the package objective
  ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty``) and ``mean`` (the authors' code:
  the fit also divided by T, which equals ``sum`` at ``T * lam``). By default the
  gradient recipe, so *not certified* (marked in the CSV and the figure). With
  ``solver="certified"`` (``--solver certified``) the multi-task points in d = 2 are
  the certified global optima of their problems (the sweep's ``method: certified``,
  :func:`mtlreg.convex.solve` by column generation), each re-certified on the stored
  network from its own residual.
- ``authors``: the authors' recipe, plain Adam at a fixed learning rate (1e-3) from
  PyTorch's default initialisation, mean convention, ``method="adam"``, with and
  without auxiliary tasks: the implicit bias of early-stopped Adam, shown apart from
  the optimum.

Every trained point in d = 2 whose problem has a certified optimum in the study (the
authors' single-task point: the ``single`` point at the same lam; with
``solver="certified"``: every trained point, solved here if the study has no such
point) reports ``gap_to_certified``, its relative objective gap to that optimum.

Each multi-task or authors point is compared with the frontier of its own data set at
matched train error (:mod:`mtlreg.experiments._frontier`): negative signed distance
means smoother than weight decay can be at that fit. ``metrics.json`` states the
verdict per (d, convention, scale), and the fixed-lam comparison the issue asked for
(ratios of gradient norm and train error to single-task weight decay at the same lam).

Execution: every network is one run in the sweep's results store
(``OUT/results.sqlite``, :class:`mtlreg.sweep.ResultStore`), committed in its own
transaction as soon as it is computed; running the same command again computes only
the missing runs (resumes after ``kill -9`` without losing or repeating rows).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import platform
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from mtlreg._io import atomic_write_text, prepare_out, write_json
from mtlreg._result import relative_gap
from mtlreg._validation import check_choice, check_int, check_number
from mtlreg.experiments._frontier_report import (
    CONVENTIONS,
    TRAINED,
    plot,
    summarize,
    with_frontier,
)
from mtlreg.metrics import gradient_norm
from mtlreg.model import ShallowReLUNet
from mtlreg.sweep import (
    ResultStore,
    RunConfig,
    build_problem,
    expand,
    load_network,
    load_results,
    parse_spec,
    run_sweep,
)
from mtlreg.training import TrainingError, objective_terms, train

NAME = "smoothness"
HELP = "Poster Fig. 2: the fit-smoothness frontier of task 1 with random auxiliary tasks."

TARGETS: tuple[str, ...] = ("bumps", "ridge")
SERIES: tuple[str, ...] = ("single", "multi", "authors")
#: A point counts as certified when its relative gap is at most this.
CERTIFIED_GAP = 1e-5
#: Input dimensions with certified points: the single-task lam path (``certify``) and,
#: with ``solver="certified"``, the multi-task points.
CERTIFIED_DIMS: tuple[int, ...] = (2,)
#: Solvers of the multi-task points in :data:`CERTIFIED_DIMS` (``--solver``).
SOLVERS: tuple[str, ...] = ("continuation", "certified")
COLUMNS: tuple[str, ...] = (
    "series", "method", "certified", "d", "n", "seed", "n_aux", "aux_scale", "convention",
    "lam", "lam_sum_equivalent", "train_mse", "test_mse", "avg_grad_norm", "max_grad_norm",
    "truth_avg_grad_norm", "objective", "fit", "penalty", "relative_gap", "gap_to_certified",
    "rel_change", "converged",
    "frontier_grad", "frontier_distance", "steps", "seconds", "run_id",
)  # fmt: skip


#: Meaning and units of every column of the CSV (for ``results/README.md``).
CSV_COLUMNS: dict[str, dict[str, str]] = {
    "smoothness_frontier.csv": {
        "series": "`single` (weight-decay lam path), `multi` (with auxiliary tasks: gradient "
        "recipe, or certified optima with --solver certified) or `authors` (plain Adam, fixed "
        "lr, mean convention)",
        "method": "`convex` (single-task certified optimum), `certified` (multi-task certified "
        "optimum, column generation), `continuation` or `adam` (trained)",
        "certified": "relative duality gap <= 1e-5, re-checked on the stored network",
        "d": "input dimension",
        "n": "number of training points N",
        "seed": "seed of the data set (and of the initialisation and auxiliary labels)",
        "n_aux": "number of auxiliary tasks (T - 1)",
        "aux_scale": "standard deviation of the Gaussian auxiliary labels (label units)",
        "convention": "`sum` over tasks (package objective) or `mean` (fit divided by T too)",
        "lam": "weight decay strength lam in the point's convention",
        "lam_sum_equivalent": "the same problem in the sum convention: lam * T for `mean`",
        "train_mse": "task-1 training mean squared error (label units squared)",
        "test_mse": "task-1 mean squared error against f* at test points (label units squared)",
        "avg_grad_norm": "mean input-gradient norm of task 1 at test points (label / input units)",
        "max_grad_norm": "largest input-gradient norm of task 1 at test points (label / input)",
        "truth_avg_grad_norm": "mean input-gradient norm of f* itself (label / input units)",
        "objective": "objective of the stored network in its convention",
        "fit": "fit term of the objective in its convention",
        "penalty": "weight decay (VV norm at balance) of the network",
        "relative_gap": "certified relative gap of a convex or certified point, re-measured on "
        "the stored network (nan for trained networks)",
        "gap_to_certified": "trained points: (objective - certified optimum of the same "
        "problem) / certified optimum, in the point's convention (unitless; nan where the "
        "study has no certified optimum of that problem)",
        "rel_change": "stationarity: relative objective decrease of 300 further Adam steps "
        "(lr 1e-4) from the stored network (unitless; nan for convex and certified points)",
        "converged": "rel_change < 1e-3 (False: flagged; empty for convex and certified points)",
        "frontier_grad": "single-task curve's avg gradient norm at this train MSE (nan outside)",
        "frontier_distance": "log10(avg_grad_norm / frontier_grad): < 0 smoother than weight "
        "decay at the same fit",
        "steps": "training steps (0 for convex points, solver iterations for certified ones)",
        "seconds": "wall-clock time per network (s)",
        "run_id": "the run's id in OUT/results.sqlite",
    }
}
#: The claim each figure tests (for ``results/README.md``).
FIGURE_CLAIMS: dict[str, str] = {
    "smoothness_frontier": "Poster Fig. 2: Gaussian auxiliary tasks make task 1 smoother than "
    "single-task weight decay, i.e. multi-task points lie below the single-task lam-path curve "
    "at matched train error",
}


def verdicts(metrics: dict[str, Any]) -> dict[str, str]:
    """The measured verdict of each figure, from ``metrics.json``."""
    per_d = metrics["verdict_per_d"]
    text = "; ".join(
        f"{d}: " + ", ".join(f"{series} {v}" for series, v in sorted(entry.items()))
        for d, entry in per_d.items()
    )
    return {"smoothness_frontier": text or "no auxiliary-task points"}


@dataclass(frozen=True)
class SmoothnessConfig:
    """The study (defaults: the full frontier of issue 13, about 20 min on one core).

    ``solver``: ``"continuation"`` (default) trains the multi-task points;
    ``"certified"`` solves those in :data:`CERTIFIED_DIMS` to their certified optimum.
    """

    dims: tuple[int, ...] = (2, 5, 10)
    n: int = 20
    seeds: tuple[int, ...] = (0, 1, 2)
    target: str = "bumps"
    noise: float = 0.1
    lams: tuple[float, ...] = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
    lam: float = 1e-3
    n_aux: tuple[int, ...] = (1, 5, 20, 100)
    scales: tuple[float, ...] = (0.3, 1.0, 3.0)
    conventions: tuple[str, ...] = CONVENTIONS
    width: int | None = None  # None: max(64, 2 n)
    max_steps: int = 8000
    certify: bool = True
    solver: str = "continuation"
    authors: bool = True
    authors_lr: float = 1e-3
    authors_steps: int = 20000
    authors_scale: float = 1.0
    n_test: int = 2000


QUICK = SmoothnessConfig(
    dims=(2,), seeds=(0,), lams=(1e-4, 1e-2, 1.0), n_aux=(5,), scales=(1.0,),
    max_steps=1000, authors_steps=1500, n_test=1000,
)  # fmt: skip


# ----------------------------------------------------------------------------- data
def ground_truth(target: str, d: int, seed: int) -> Callable[[NDArray], NDArray]:
    """A smooth f*: R^d -> R with unit standard deviation on [-1, 1]^d.

    ``"bumps"``: four Gaussian bumps (width 0.5) with random centres and signed
    heights; ``"ridge"``: sin(2 u.x) + 0.5 cos(3 u'.x) for random unit u, u'.
    """
    rng = np.random.default_rng([seed, d, 17])
    if target == "bumps":
        centres = rng.uniform(-1, 1, (4, d))
        heights = rng.choice([-1.0, 1.0], 4) * rng.uniform(0.5, 1.5, 4)

        def raw(x: NDArray) -> NDArray:
            sq = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
            return np.exp(-sq / (2 * 0.5**2)) @ heights

    else:
        u = rng.standard_normal((2, d))
        u /= np.linalg.norm(u, axis=1, keepdims=True)

        def raw(x: NDArray) -> NDArray:
            return np.sin(2 * x @ u[0]) + 0.5 * np.cos(3 * x @ u[1])

    probe = raw(rng.uniform(-1, 1, (20_000, d)))
    mean, std = float(probe.mean()), float(probe.std())
    return lambda x: (raw(x) - mean) / std


def make_data(
    cfg: SmoothnessConfig, d: int, n: int, seed: int
) -> tuple[NDArray, NDArray, NDArray, NDArray, float]:
    """Training (X, y), test (X, f*(X)) and the average gradient norm of f* itself."""
    f = ground_truth(cfg.target, d, seed)
    rng = np.random.default_rng([seed, d, n])
    X = rng.uniform(-1, 1, (n, d))
    y = f(X) + cfg.noise * rng.standard_normal(n)
    X_test = rng.uniform(-1, 1, (cfg.n_test, d))
    h = 1e-5  # central differences of the known f*
    grads = [(f(X_test + h * e) - f(X_test - h * e)) / (2 * h) for e in np.eye(d)]
    truth_grad = float(np.linalg.norm(np.stack(grads), axis=0).mean())
    return X, y, X_test, f(X_test), truth_grad


def write_data(cfg: SmoothnessConfig, d: int, seed: int, folder: Path) -> Path:
    """The training set (X, y) of one data set as a ``.npz`` file the sweep can name.

    The bytes are a function of the data only (fixed zip timestamps), so the file's
    hash, and with it every run id, is the same in every folder and on every machine.
    """
    X, y, *_ = make_data(cfg, d, cfg.n, seed)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, arr in (("X", X), ("y", y)):
            member = io.BytesIO()
            np.save(member, arr)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                        member.getvalue())  # fmt: skip
    data = buf.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cfg.target}-d{d}-n{cfg.n}-seed{seed}-noise{cfg.noise:g}.npz"
    if not path.exists() or path.read_bytes() != data:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


# ------------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class Point:
    """One network of the study: one row of the store, identified by ``run_id``.

    Trained points are runs of a sweep (``run`` is their :class:`~mtlreg.sweep.RunConfig`);
    certified single-task points (``method="convex"``) are solved here.
    """

    series: str
    d: int
    seed: int
    n_aux: int
    aux_scale: float
    convention: str
    lam: float
    method: str
    run_id: str
    run: RunConfig | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Study:
    """The points of the study and the sweep specs that train its networks."""

    points: list[Point]
    specs: list[dict[str, Any]]


def _width(cfg: SmoothnessConfig) -> int:
    return cfg.width if cfg.width is not None else max(64, 2 * cfg.n)


def _convex_point(cfg: SmoothnessConfig, d: int, seed: int, lam: float) -> Point:
    from mtlreg import __version__

    config = {"study": "smoothness", "series": "single", "method": "convex",
              "target": cfg.target, "noise": cfg.noise, "d": d, "n": cfg.n, "seed": seed,
              "lam": lam, "skip": True, "n_test": cfg.n_test}  # fmt: skip
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    run_id = hashlib.sha256(f"{text}|mtlreg {__version__}".encode()).hexdigest()[:20]
    return Point("single", d, seed, 0, 0.0, "sum", lam, "convex", run_id)


def _certified_width(cfg: SmoothnessConfig, n_aux: list[int]) -> int:
    """Width of a certified multi-task network: room for ``N min(T, N) + 1`` neurons.

    The optimum's output weights live in the ``min(T, N - 1)``-dimensional row space of
    the centred labels, so an optimum with at most ``N min(T, N)`` neurons exists
    (Carathéodory); the compacted solver output is usually far smaller (55-66 neurons at
    N = 20, T = 6, lam = 1e-3). The padding neurons are zero.
    """
    n_tasks = 1 + max(n_aux, default=0)
    return max(_width(cfg), cfg.n * min(n_tasks, cfg.n) + 1)


def _spec(
    cfg: SmoothnessConfig, name: str, files: list[Path], seed: int, *, convention: str,
    adam: bool, n_aux: list[int], scales: list[float], lams: list[float],
    certified: bool = False,
) -> dict[str, Any]:  # fmt: skip
    training: dict[str, Any] = {
        "method": "adam" if adam else "continuation",
        "steps": cfg.authors_steps if adam else cfg.max_steps,
        "task_reduction": convention,
        "init": "torch" if adam else "data",
    }
    width = _width(cfg)
    if certified:  # the certified recipe: steps unused, tol its certified relative gap
        training.update({"method": "certified", "steps": 1, "tol": CERTIFIED_GAP / 10})
        width = _certified_width(cfg, n_aux)
    grid = {"dataset": [{"name": "file", "path": str(f)} for f in files], "n_aux": n_aux,
            "aux_dist": ["gaussian"], "aux_scale": scales, "width": [width], "lam": lams,
            "seed": [seed], "lr": [cfg.authors_lr if adam else None], "skip": [True]}  # fmt: skip
    # runs of one batch are padded to its largest T: batch only runs with equal n_aux
    batch = len(scales) if len(n_aux) > 1 else 64
    return {"name": f"{name}-seed{seed}", "grid": grid, "training": training,
            "measure": {"test_points": 0}, "execution": {"batch_size": batch}}  # fmt: skip


def plan(cfg: SmoothnessConfig, out: str | Path) -> Study:
    """Every point of the study (data sets written to ``out/data``), in a fixed order.

    Per data seed: certified single-task points (d in :data:`CERTIFIED_DIMS`), then one
    sweep spec per series and convention over every d: the single-task lam path (other
    d), the multi-task points (``sum`` and ``mean``; with ``solver="certified"`` one
    spec of certified optima for d in :data:`CERTIFIED_DIMS` and one trained spec for
    the others) and the authors' recipe.
    """
    lams = sorted(set(cfg.lams) | {cfg.lam})
    aux = sorted({k for k in cfg.n_aux if k > 0})
    points: list[Point] = []
    specs: list[dict[str, Any]] = []
    for seed in cfg.seeds:
        files = {d: write_data(cfg, d, seed, Path(out) / "data") for d in cfg.dims}
        exact = [d for d in cfg.dims if cfg.certify and d in CERTIFIED_DIMS]
        points += [_convex_point(cfg, d, seed, lam) for d in exact for lam in lams]
        trained = [d for d in cfg.dims if d not in exact]
        groups: list[tuple[str, list[int], dict[str, Any]]] = []
        one: dict[str, Any] = {"lams": [cfg.lam]}
        opts: dict[str, Any]
        if trained:
            opts = {"convention": "sum", "adam": False, "n_aux": [0], "scales": [0.0]}
            groups.append(("single", trained, {**opts, "lams": lams}))
        certified = [d for d in cfg.dims if cfg.solver == "certified" and d in CERTIFIED_DIMS]
        for conv in cfg.conventions if aux else ():
            opts = {"convention": conv, "adam": False, "n_aux": aux, "scales": list(cfg.scales)}
            if certified:
                groups.append(("multi", certified, {**opts, **one, "certified": True}))
            rest = [d for d in cfg.dims if d not in certified]
            if rest:
                groups.append(("multi", rest, {**opts, **one}))
        if cfg.authors:
            opts = {"convention": "mean", "adam": True, "n_aux": [0, *aux]}
            groups.append(
                ("authors", list(cfg.dims), {**opts, "scales": [cfg.authors_scale], **one})
            )
        for series, dims, opts in groups:
            kind = "certified-" if opts.get("certified") else ""
            name = f"smoothness-{series}-{kind}{opts['convention']}"
            spec = _spec(cfg, name, [files[d] for d in dims], seed, **opts)
            specs.append(spec)
            dim_of = {files[d].resolve(): d for d in dims}
            for rc in expand(parse_spec(spec)):
                d = dim_of[Path(rc.dataset.path).resolve()]  # type: ignore[union-attr]
                points.append(Point(series, d, seed, rc.n_aux, rc.aux_scale, rc.task_reduction,
                                    rc.lam, rc.method, rc.run_id(), rc))  # fmt: skip
    order = {s: i for i, s in enumerate(SERIES)}
    points.sort(key=lambda p: (p.d, p.seed, order[p.series], p.convention, p.aux_scale,
                               p.n_aux, p.lam))  # fmt: skip
    return Study(points, specs)


def targets(cfg: SmoothnessConfig, point: Point) -> tuple[NDArray, NDArray]:
    """Training inputs and labels (task 1 first, then the auxiliary tasks) of a point."""
    if point.run is not None:
        return build_problem(point.run)
    X, y, *_ = make_data(cfg, point.d, cfg.n, point.seed)
    return X, y[:, None]


# ------------------------------------------------------------------------ computing
def solve_exact(cfg: SmoothnessConfig, point: Point) -> tuple[ShallowReLUNet, dict[str, Any]]:
    """The certified single-task optimum of a ``convex`` point and its stored measures."""
    from mtlreg import convex

    X, Y = targets(cfg, point)
    sol = convex.solve(X, Y[:, 0], point.lam, skip=True)
    net = sol.to_network()
    certified = sol.relative_gap <= CERTIFIED_GAP
    with torch.no_grad():
        vv = float(net.vv_norm())
        active = int(net.active().sum())
    return net, {
        "status": "certified" if certified else "not certified",
        "objective": sol.objective,
        "fit": sol.fit,
        "penalty": sol.penalty,
        "vv_norm": vv,
        "active": active,
        "steps": 0,
        "task1_mse": float(np.mean((net.predict(X)[:, 0] - Y[:, 0]) ** 2)),
        "grad_mean": math.nan,
        "grad_max": math.nan,
        "error": None,
    }


def _network_bytes(net: ShallowReLUNet, scratch: Path) -> bytes:
    """The network as written by :meth:`ShallowReLUNet.save` (safetensors, tagged)."""
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        path = Path(tmp) / "net.safetensors"
        net.save(path)
        return path.read_bytes()


def execute(
    cfg: SmoothnessConfig,
    out: Path,
    study: Study,
    *,
    scheduler: str | None = None,
    local_cluster: int | None = None,
) -> int:
    """Compute every point not yet in ``out``'s store; return how many were computed.

    Certified points are solved and committed one by one; the trained points run as
    sweeps (:func:`mtlreg.sweep.run_sweep`, locally or on Dask) into the same store.
    """
    from mtlreg import __version__

    computed = 0
    with ResultStore(out) as store:
        done = store.run_ids()
        for point in study.points:
            if point.method != "convex" or point.run_id in done:
                continue
            t0 = time.perf_counter()
            net, values = solve_exact(cfg, point)
            config = {"study": "smoothness", "series": "single", "method": "convex",
                      "d": point.d, "seed": point.seed, "lam": point.lam}  # fmt: skip
            row = {
                "run_id": point.run_id,
                "version": __version__,
                "config": json.dumps(config, sort_keys=True, separators=(",", ":")),
                **values,
                "seconds": time.perf_counter() - t0,
                "host": platform.node(),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "network": _network_bytes(net, out),
            }
            computed += store.add([row])
    for spec in study.specs:
        summary = run_sweep(
            spec, out, scheduler=scheduler, local_cluster=local_cluster, progress=False
        )
        computed += summary.computed
    return computed


# ------------------------------------------------------------------------- analysis
#: Stationarity check: further Adam steps from the stored network, and the largest
#: relative objective decrease that still counts as converged (our choices).
POLISH_STEPS = 300
POLISH_LR = 1e-4
CONVERGED_DECREASE = 1e-3


def rel_change(net: ShallowReLUNet, X: NDArray, Y: NDArray, lam: float, convention: str) -> float:
    """Relative objective decrease of :data:`POLISH_STEPS` further Adam steps.

    ``(J(net) - J(polished)) / |J(net)|`` for the objective J the network was trained
    on (its ``convention`` and ``lam``), Adam at the fixed learning rate
    :data:`POLISH_LR` from the stored network (balanced first). Near 0 at a stationary
    point; it can be slightly negative when Adam's first steps overshoot; ``nan`` when
    the check itself diverges (the network is then flagged as not converged).
    """
    start = net.copy().balance()
    x = torch.as_tensor(X, dtype=start.w.dtype)
    y = torch.as_tensor(Y, dtype=start.w.dtype)
    with torch.no_grad():
        before = float(objective_terms(start, x, y, lam, convention)[0])
    try:
        res = train(
            X, Y, width=start.width, lam=lam, skip=start.skip, method="adam", lr=POLISH_LR,
            max_steps=POLISH_STEPS, tol=0.0, restarts=1, task_reduction=convention, net=start,
            progress=False,
        )  # fmt: skip
    except TrainingError:  # the check itself diverged: no verdict, flagged as not converged
        return math.nan
    return (before - res.objective) / max(abs(before), 1e-300)


def measure(cfg: SmoothnessConfig, out: Path, points: list[Point]) -> Any:
    """The tidy table: one row per point, with test error, certificates and distances.

    Everything is measured here from the stored network, on the study's own test set
    (uniform in [-1, 1]^d): train and test error of task 1, its input-gradient norms,
    the certificate of each convex point (re-solved) and each trained network's
    stationarity (:func:`rel_change`).
    """
    import pandas as pd

    from mtlreg import convex

    try:
        stored = load_results(out).set_index("run_id")
    except FileNotFoundError:  # no store yet (analyse_only on an empty folder)
        return pd.DataFrame(columns=list(COLUMNS))
    rows = []
    for point in points:
        run_id = point.run_id
        if run_id not in stored.index:  # only with analyse_only: counted in metrics.json
            continue
        rec = stored.loc[run_id]
        if rec["status"] not in ("ok", "certified", "not certified"):
            raise RuntimeError(f"Run {run_id} of {point} did not finish: {rec.get('error')}.")
        net = load_network(out, run_id)
        X, Y = targets(cfg, point)
        _, _, X_test, y_test, truth_grad = make_data(cfg, point.d, cfg.n, point.seed)
        T = Y.shape[1]
        grad = gradient_norm(net, X_test)
        rel = math.nan
        stat = math.nan
        if point.method == "convex":
            cert = convex.certificate(net, X, Y[:, 0], point.lam)
            rel = relative_gap(cert.gap_bound, cert.objective)
            certified = bool(rec["status"] == "certified" and rel <= CERTIFIED_GAP)
        elif point.method == "certified":  # re-certified from the stored network's residual
            cert = convex.certificate(net, X, Y, point.lam, bound="residual", skip=True,
                                      task_reduction=point.convention)  # fmt: skip
            rel = relative_gap(cert.gap, cert.objective)
            certified = bool(cert.exact and rel <= CERTIFIED_GAP)
        else:
            stat = rel_change(net, X, Y, point.lam, point.convention)
            certified = False
        rows.append({
            "series": point.series,
            "method": point.method,
            "certified": certified,
            "d": point.d,
            "n": cfg.n,
            "seed": point.seed,
            "n_aux": point.n_aux,
            "aux_scale": point.aux_scale,
            "convention": point.convention,
            "lam": point.lam,
            "lam_sum_equivalent": point.lam * (T if point.convention == "mean" else 1),
            "train_mse": float(np.mean((net.predict(X)[:, 0] - Y[:, 0]) ** 2)),
            "test_mse": float(np.mean((net.predict(X_test)[:, 0] - y_test) ** 2)),
            "avg_grad_norm": grad.mean,
            "max_grad_norm": grad.max,
            "truth_avg_grad_norm": truth_grad,
            "objective": float(rec["objective"]),
            "fit": float(rec["fit"]),
            "penalty": float(rec["penalty"]),
            "relative_gap": rel,
            "gap_to_certified": math.nan,
            "rel_change": stat,
            "converged": bool(stat < CONVERGED_DECREASE) if point.method in TRAINED else None,
            "steps": int(rec["steps"]),
            "seconds": float(rec["seconds"]),
            "run_id": run_id,
        })  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS))
    df = pd.DataFrame(rows)
    df["gap_to_certified"] = gaps_to_certified(cfg, points, df)
    return with_frontier(df)


def _problem_key(X: NDArray, Y: NDArray, lam: float, convention: str) -> str:
    """Identity of a problem: its data, lam and convention (one output: no convention)."""
    conv = convention if Y.shape[1] > 1 else "sum"  # with T = 1 "mean" is "sum"
    digest = hashlib.sha256(np.ascontiguousarray(X).tobytes() + np.ascontiguousarray(Y).tobytes())
    return f"{digest.hexdigest()}|{lam!r}|{conv}"


def gaps_to_certified(cfg: SmoothnessConfig, points: list[Point], df: Any) -> NDArray:
    """Each trained point's relative objective gap to the certified optimum of its problem.

    ``(objective - optimum) / |optimum|`` in the point's convention, for trained points in
    :data:`CERTIFIED_DIMS`. The optimum is a certified point of the study with the same
    data, lam and convention; with ``solver="certified"`` a problem without one is solved
    here (:func:`mtlreg.convex.solve`, certified to :data:`CERTIFIED_GAP`). ``nan``
    elsewhere, and where the solve is not certified.
    """
    from mtlreg import convex

    by_id = {p.run_id: p for p in points}
    optimum: dict[str, float] = {}
    for row in df[df["certified"].astype(bool)].itertuples():
        X, Y = targets(cfg, by_id[row.run_id])
        optimum[_problem_key(X, Y, row.lam, row.convention)] = float(row.objective)
    out = np.full(len(df), np.nan)
    for i, row in enumerate(df.itertuples()):
        if row.method not in TRAINED or row.d not in CERTIFIED_DIMS:
            continue
        X, Y = targets(cfg, by_id[row.run_id])
        key = _problem_key(X, Y, row.lam, row.convention)
        if key not in optimum and cfg.solver == "certified":
            conv = row.convention if Y.shape[1] > 1 else "sum"
            sol = convex.solve(X, Y, row.lam, skip=True, method="cg", tol=CERTIFIED_GAP / 10,
                               task_reduction=conv)  # fmt: skip
            ok = bool(sol.converged and sol.relative_gap <= CERTIFIED_GAP)
            optimum[key] = float(sol.objective) if ok else math.nan
        best = optimum.get(key, math.nan)
        out[i] = (float(row.objective) - best) / abs(best)
    return out


# ------------------------------------------------------------------------------ run
def add_arguments(parser: argparse.ArgumentParser) -> None:
    ints = lambda s: tuple(int(v) for v in s.split(","))  # noqa: E731
    floats = lambda s: tuple(float(v) for v in s.split(","))  # noqa: E731
    parser.add_argument("--dims", type=ints, help="comma-separated input dimensions")
    parser.add_argument("--n", type=int, help="number of training points N")
    parser.add_argument("--seeds", type=ints, help="comma-separated seeds (data sets)")
    parser.add_argument("--target", choices=TARGETS, help="ground truth family")
    parser.add_argument("--lams", type=floats, help="lam path of the single-task frontier")
    parser.add_argument("--lam", type=float, help="lam of the multi-task and authors' points")
    parser.add_argument("--n-aux", type=ints, help="comma-separated numbers of aux tasks")
    parser.add_argument("--scales", type=floats, help="comma-separated aux label scales")
    parser.add_argument("--conventions", type=lambda s: tuple(s.split(",")), help="sum and/or mean")
    parser.add_argument("--width", type=int, help="hidden width (default max(64, 2N))")
    parser.add_argument("--max-steps", type=int, help="steps of the gradient recipe")
    parser.add_argument(
        "--solver", choices=SOLVERS,
        help="multi-task points in d = 2: trained (continuation, default) or certified optima",
    )  # fmt: skip
    parser.add_argument("--authors-steps", type=int, help="Adam steps of the authors' recipe")
    parser.add_argument("--scheduler", help="Dask scheduler address (tcp://HOST:PORT)")
    parser.add_argument("--local-cluster", type=int, help="start a local Dask cluster of N workers")
    parser.add_argument(
        "--analyse-only", action="store_true",
        help="compute nothing; analyse the runs already in OUT/results.sqlite",
    )  # fmt: skip
    parser.add_argument(
        "--no-authors", dest="authors", action="store_const", const=False,
        help="skip the authors' recipe series",
    )  # fmt: skip


def _config(quick: bool, options: dict[str, Any]) -> SmoothnessConfig:
    cfg = QUICK if quick else SmoothnessConfig()
    unknown = sorted(set(options) - set(cfg.__dataclass_fields__))
    if unknown:
        raise TypeError(f"Unknown option(s) {unknown}; known: {sorted(cfg.__dataclass_fields__)}.")
    cfg = replace(cfg, **{k: v for k, v in options.items() if v is not None})
    check_choice(cfg.target, "target", TARGETS)
    check_choice(cfg.solver, "solver", SOLVERS)
    for conv in cfg.conventions:
        check_choice(conv, "conventions", CONVENTIONS)
    check_number(cfg.lam, "lam", low=0.0, low_inclusive=False)
    for lam in cfg.lams:
        check_number(lam, "lams", low=0.0, low_inclusive=False)
    check_int(cfg.n, "n", low=2)
    for k in cfg.n_aux:
        check_int(k, "n_aux", low=0)
    for d in cfg.dims:
        check_int(d, "dims", low=1)
    return cfg


def run(
    out: str | Path,
    *,
    quick: bool = False,
    scheduler: str | None = None,
    local_cluster: int | None = None,
    analyse_only: bool = False,
    **options: Any,
) -> dict:
    """Compute every missing point into ``OUT/results.sqlite``; write CSV, figure, metrics.

    ``scheduler`` / ``local_cluster``: run the sweeps on a Dask cluster (see
    :func:`mtlreg.sweep.run_sweep`); they do not change any result. ``analyse_only``:
    compute nothing, analyse the points already in the store (``missing`` in
    ``metrics.json`` counts the others).
    """
    cfg = _config(quick, options)
    path = prepare_out(out)
    t0 = time.perf_counter()
    study = plan(cfg, path)
    computed = 0
    if not analyse_only:
        computed = execute(cfg, path, study, scheduler=scheduler, local_cluster=local_cluster)
    df = measure(cfg, path, study.points)
    if df.empty:
        raise ValueError(f"No finished run of this study in {str(path)!r} to analyse.")
    atomic_write_text(path / "smoothness_frontier.csv", df[list(COLUMNS)].to_csv(index=False))
    metrics = {"config": asdict(cfg), **summarize(df, cfg.lam)}
    from mtlreg.experiments._report import network_counts

    trained = df[df["method"].isin(TRAINED)]
    metrics["networks"] = network_counts(
        trained[["converged", "rel_change"]].to_dict("records"),
        certified=int(df["certified"].sum()),
        measure="rel_change: relative objective decrease of 300 further Adam steps (lr 1e-4)",
    )
    metrics["computed"] = computed
    metrics["missing"] = len(study.points) - len(df)
    metrics["seconds"] = time.perf_counter() - t0
    metrics["figures"] = [p.name for p in plot(df, path)]
    write_json(path / "metrics.json", metrics)
    return metrics
