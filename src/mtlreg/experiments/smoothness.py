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
  the fit also divided by T, which equals ``sum`` at ``T * lam``). Gradient recipe,
  so *not certified* (marked in the CSV and the figure).
- ``authors``: the authors' recipe, plain Adam at a fixed learning rate (1e-3) from
  PyTorch's default initialisation, mean convention, ``method="adam"``, with and
  without auxiliary tasks: the implicit bias of early-stopped Adam, shown apart from
  the optimum.

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
import json
import math
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from mtlreg._io import atomic_write_text, prepare_out, write_json
from mtlreg._result import relative_gap
from mtlreg._validation import check_choice, check_int, check_number
from mtlreg.experiments._frontier_report import CONVENTIONS, plot, summarize, with_frontier
from mtlreg.metrics import gradient_norm
from mtlreg.model import ShallowReLUNet
from mtlreg.sweep import ResultStore, load_network, load_results
from mtlreg.tasks import aux_tasks
from mtlreg.training import objective_terms, train

NAME = "smoothness"
HELP = "Poster Fig. 2: the fit-smoothness frontier of task 1 with random auxiliary tasks."

TARGETS: tuple[str, ...] = ("bumps", "ridge")
SERIES: tuple[str, ...] = ("single", "multi", "authors")
#: A d = 2 single-task point counts as certified when its relative gap is at most this.
CERTIFIED_GAP = 1e-5
COLUMNS: tuple[str, ...] = (
    "series", "method", "certified", "d", "n", "seed", "n_aux", "aux_scale", "convention",
    "lam", "lam_sum_equivalent", "train_mse", "test_mse", "avg_grad_norm", "max_grad_norm",
    "truth_avg_grad_norm", "objective", "fit", "penalty", "relative_gap", "stationarity",
    "frontier_grad", "frontier_distance", "steps", "seconds", "run_id",
)  # fmt: skip


@dataclass(frozen=True)
class SmoothnessConfig:
    """The study (defaults: the full frontier of issue 13, about 20 min on one core)."""

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
    authors: bool = True
    authors_lr: float = 1e-3
    authors_steps: int = 20000
    authors_scale: float = 1.0
    n_test: int = 2000


QUICK = SmoothnessConfig(
    dims=(2,), seeds=(0,), lams=(1e-4, 1e-3, 1e-2, 1e-1, 1.0), n_aux=(5,), scales=(1.0,),
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


def targets(cfg: SmoothnessConfig, point: Point) -> tuple[NDArray, NDArray]:
    """Training inputs and labels (task 1 first, then the auxiliary tasks) of a point."""
    X, y, *_ = make_data(cfg, point.d, cfg.n, point.seed)
    if point.n_aux == 0:
        return X, y[:, None]
    aux_rng = np.random.default_rng([point.seed, point.d, cfg.n, point.n_aux, 99])
    Y = aux_tasks(y, point.n_aux, dist="gaussian", scale=point.aux_scale, seed=aux_rng)
    return X, Y


# ------------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class Point:
    """One network of the study (one row of the store)."""

    series: str
    d: int
    seed: int
    n_aux: int
    aux_scale: float
    convention: str
    lam: float
    exact: bool = False  # single-task point solved by the exact convex program

    @property
    def method(self) -> str:
        if self.series == "authors":
            return "adam"
        return "convex" if self.series == "single" and self.exact else "continuation"

    def config(self, cfg: SmoothnessConfig) -> dict[str, Any]:
        """The run's canonical configuration (everything that decides its result)."""
        out: dict[str, Any] = {
            "study": "smoothness",
            "series": self.series,
            "method": self.method,
            "target": cfg.target,
            "noise": cfg.noise,
            "d": self.d,
            "n": cfg.n,
            "seed": self.seed,
            "n_aux": self.n_aux,
            "aux_scale": self.aux_scale,
            "convention": self.convention,
            "lam": self.lam,
            "skip": True,
            "n_test": cfg.n_test,
        }
        if self.method != "convex":
            out["width"] = _width(cfg)
        if self.method == "continuation":
            out["max_steps"] = cfg.max_steps
        if self.method == "adam":
            out |= {"max_steps": cfg.authors_steps, "lr": cfg.authors_lr, "init": "torch"}
        return out

    def run_id(self, cfg: SmoothnessConfig) -> str:
        from mtlreg import __version__

        text = json.dumps(self.config(cfg), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"{text}|mtlreg {__version__}".encode()).hexdigest()[:20]


def _width(cfg: SmoothnessConfig) -> int:
    return cfg.width if cfg.width is not None else max(64, 2 * cfg.n)


def plan(cfg: SmoothnessConfig) -> list[Point]:
    """Every point of the study in a fixed order: frontier, multi-task, authors."""
    points: list[Point] = []
    lams = sorted(set(cfg.lams) | {cfg.lam})
    aux = [k for k in cfg.n_aux if k > 0]
    for d in cfg.dims:
        for seed in cfg.seeds:
            exact = cfg.certify and d == 2
            points += [Point("single", d, seed, 0, 0.0, "sum", lam, exact) for lam in lams]
            for conv in cfg.conventions:
                for scale in cfg.scales:
                    points += [Point("multi", d, seed, k, scale, conv, cfg.lam) for k in aux]
            if cfg.authors:
                for k in [0, *aux]:
                    scale = cfg.authors_scale if k else 0.0
                    points.append(Point("authors", d, seed, k, scale, "mean", cfg.lam))
    return points


# ------------------------------------------------------------------------ computing
def compute(cfg: SmoothnessConfig, point: Point) -> tuple[ShallowReLUNet, dict[str, Any]]:
    """Solve or train one point; return its network and its stored measures."""
    from mtlreg import convex

    X, Y = targets(cfg, point)
    if point.method == "convex":
        sol = convex.solve(X, Y[:, 0], point.lam, skip=True)
        net = sol.to_network()
        certified = sol.relative_gap <= CERTIFIED_GAP
        values = {"objective": sol.objective, "fit": sol.fit, "penalty": sol.penalty}
        status, steps = ("certified" if certified else "not certified"), 0
    else:
        options: dict[str, Any] = {"method": point.method, "max_steps": cfg.max_steps}
        if point.method == "adam":
            options = {"method": "adam", "max_steps": cfg.authors_steps,
                       "lr": cfg.authors_lr, "init": "torch"}  # fmt: skip
        res = train(
            X, Y, width=_width(cfg), lam=point.lam, seed=point.seed,
            task_reduction=point.convention, progress=False, **options,
        )  # fmt: skip
        net = res.net
        values = {"objective": res.objective, "fit": res.fit, "penalty": res.penalty}
        status, steps = "trained", res.steps
    _, _, X_test, _, _ = make_data(cfg, point.d, cfg.n, point.seed)
    grad = gradient_norm(net, X_test)
    with torch.no_grad():
        vv = float(net.vv_norm())
        active = int(net.active().sum())
    return net, {
        "status": status,
        **values,
        "vv_norm": vv,
        "active": active,
        "steps": steps,
        "task1_mse": float(np.mean((net.predict(X)[:, 0] - Y[:, 0]) ** 2)),
        "grad_mean": grad.mean,
        "grad_max": grad.max,
        "error": None,
    }


def _network_bytes(net: ShallowReLUNet, scratch: Path) -> bytes:
    """The network as written by :meth:`ShallowReLUNet.save` (safetensors, tagged)."""
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        path = Path(tmp) / "net.safetensors"
        net.save(path)
        return path.read_bytes()


def execute(cfg: SmoothnessConfig, out: Path, points: list[Point]) -> int:
    """Compute every point not yet in ``out``'s store, committing each one; return the count."""
    from mtlreg import __version__

    computed = 0
    with ResultStore(out) as store:
        done = store.run_ids()
        for point in points:
            run_id = point.run_id(cfg)
            if run_id in done:
                continue
            t0 = time.perf_counter()
            net, values = compute(cfg, point)
            row = {
                "run_id": run_id,
                "version": __version__,
                "config": json.dumps(point.config(cfg), sort_keys=True, separators=(",", ":")),
                **values,
                "seconds": time.perf_counter() - t0,
                "host": platform.node(),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "network": _network_bytes(net, out),
            }
            computed += store.add([row])
            done.add(run_id)
    return computed


# ------------------------------------------------------------------------- analysis
def stationarity(net: ShallowReLUNet, X: NDArray, Y: NDArray, lam: float, convention: str) -> float:
    """||grad_theta J|| * ||theta|| / J of the objective J the network was trained on.

    Dimensionless: the relative change of J per unit relative change of the
    parameters along the gradient; 0 at a stationary point.
    """
    net = net.copy()
    x = torch.as_tensor(X, dtype=net.w.dtype)
    y = torch.as_tensor(Y, dtype=net.w.dtype)
    obj, _, _ = objective_terms(net, x, y, lam, convention)
    params = [p for p in net.parameters() if p.requires_grad]
    grads = torch.autograd.grad(obj, params)
    gnorm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    pnorm = math.sqrt(sum(float((p.detach() ** 2).sum()) for p in params))
    return gnorm * pnorm / max(float(obj.detach()), 1e-300)


def measure(cfg: SmoothnessConfig, out: Path, points: list[Point]) -> Any:
    """The tidy table: one row per point, with test error, certificates and distances."""
    import pandas as pd

    from mtlreg import convex

    stored = load_results(out).set_index("run_id")
    rows = []
    for point in points:
        run_id = point.run_id(cfg)
        rec = stored.loc[run_id]
        net = load_network(out, run_id)
        X, Y = targets(cfg, point)
        _, _, X_test, y_test, truth_grad = make_data(cfg, point.d, cfg.n, point.seed)
        T = Y.shape[1]
        rel = math.nan
        stat = math.nan
        if point.method == "convex":
            cert = convex.certificate(net, X, Y[:, 0], point.lam)
            rel = relative_gap(cert.gap_bound, cert.objective)
        else:
            stat = stationarity(net, X, Y, point.lam, point.convention)
        rows.append({
            "series": point.series,
            "method": point.method,
            "certified": bool(rec["status"] == "certified" and rel <= CERTIFIED_GAP),
            "d": point.d,
            "n": cfg.n,
            "seed": point.seed,
            "n_aux": point.n_aux,
            "aux_scale": point.aux_scale,
            "convention": point.convention,
            "lam": point.lam,
            "lam_sum_equivalent": point.lam * (T if point.convention == "mean" else 1),
            "train_mse": float(rec["task1_mse"]),
            "test_mse": float(np.mean((net.predict(X_test)[:, 0] - y_test) ** 2)),
            "avg_grad_norm": float(rec["grad_mean"]),
            "max_grad_norm": float(rec["grad_max"]),
            "truth_avg_grad_norm": truth_grad,
            "objective": float(rec["objective"]),
            "fit": float(rec["fit"]),
            "penalty": float(rec["penalty"]),
            "relative_gap": rel,
            "stationarity": stat,
            "steps": int(rec["steps"]),
            "seconds": float(rec["seconds"]),
            "run_id": run_id,
        })  # fmt: skip
    df = pd.DataFrame(rows)
    return with_frontier(df)


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
    parser.add_argument("--authors-steps", type=int, help="Adam steps of the authors' recipe")
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


def run(out: str | Path, *, quick: bool = False, **options: Any) -> dict:
    """Compute every missing point into ``OUT/results.sqlite``; write CSV, figure, metrics."""
    cfg = _config(quick, options)
    path = prepare_out(out)
    t0 = time.perf_counter()
    points = plan(cfg)
    computed = execute(cfg, path, points)
    df = measure(cfg, path, points)
    atomic_write_text(path / "smoothness_frontier.csv", df[list(COLUMNS)].to_csv(index=False))
    metrics = {"config": asdict(cfg), **summarize(df, cfg.lam)}
    metrics["computed"] = computed
    metrics["seconds"] = time.perf_counter() - t0
    metrics["figures"] = [p.name for p in plot(df, path)]
    write_json(path / "metrics.json", metrics)
    return metrics
