"""Full-batch weight-decay training of shallow multi-output ReLU networks.

:func:`train_many` is the one entry point: it validates a list of problems and hands
them to a recipe of :data:`RECIPES`; :func:`train` is its one-problem case.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from numpy.typing import ArrayLike

from mtlreg._validation import check_choice, check_device, check_dtype, check_int, check_number
from mtlreg.model import ShallowReLUNet
from mtlreg.training._base import (
    RECIPES,
    Problem,
    TrainingError,
    TrainOptions,
    check_problem,
    register_recipe,
)
from mtlreg.training._certified import CertifiedRecipe
from mtlreg.training._exact import AutoRecipe, ExactRecipe
from mtlreg.training._gradient import PRUNE, GradientRecipe
from mtlreg.training._history import TrainResult

ADAM = GradientRecipe(name="adam", lr=1e-3, max_steps=100_000, restarts=1)
CONTINUATION = GradientRecipe(
    name="continuation",
    lr=1e-2,
    max_steps=20_000,
    restarts=4,
    lr_decay=0.01,
    rescale=True,
    continuation=True,
    output_layer_start=True,
    prune=PRUNE,
)
register_recipe(ADAM)
register_recipe(CONTINUATION)
register_recipe(ExactRecipe())
register_recipe(AutoRecipe(fallback=CONTINUATION))
register_recipe(CertifiedRecipe())

ERRORS: tuple[str, ...] = ("raise", "return")


def train_many(
    problems: Sequence[Problem],
    *,
    method: str = "auto",
    max_steps: int | None = None,
    tol: float = 1e-7,
    restarts: int | None = None,
    lam_start: float | None = None,
    lr_decay: float | None = None,
    prune: bool | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    log_every: int = 100,
    progress: bool = False,
    callback: Callable[[int, int, float], None] | None = None,
    on_error: str = "raise",
) -> list[TrainResult | TrainingError]:
    """Train many problems at once; one :class:`TrainResult` per problem, in order.

    Each problem minimises ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` with the
    weight decay WD as penalty (the fit divided by T as well with
    ``task_reduction="mean"``; docs/theory.md §1). The gradient recipes train every
    problem x restart of equal (N, d) as one batch on the batched engine; each network
    follows the trajectory it would follow alone, so ``train_many(problems)[i]`` is
    ``train(**problems[i])`` (the same network, bit for bit, in a batch of networks of
    equal width and task count). ``max_steps`` is shared by all problems; each problem
    stops on its own by the stopping rule.

    Parameters
    ----------
    problems
        The :class:`Problem` list (data, width, lam, seed, skip, init,
        task_reduction, lr, start network).
    method
        A recipe of :data:`RECIPES`: ``"auto"``, ``"exact"``, ``"certified"``,
        ``"continuation"`` or ``"adam"`` (see :func:`mtlreg.train`).
    max_steps, tol, restarts, lam_start, lr_decay, prune, device, dtype, log_every, progress
        As for :func:`mtlreg.train`.
    callback
        Called as ``callback(problem_index, step, objective)`` at every logged step.
    on_error
        ``"raise"`` (default): a problem whose training diverges raises
        :class:`TrainingError`. ``"return"``: its :class:`TrainingError` takes the
        place of its result in the returned list, and the other problems finish.

    Raises
    ------
    ValueError, TypeError
        On bad input; the message names the problem and the field.
    TrainingError
        With ``on_error="raise"``, when a problem's objective diverges.

    Example
    -------
    >>> import numpy as np
    >>> from mtlreg.training import Problem, train_many
    >>> x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]); y = np.array([0.0, 1.0, 0.0])
    >>> res = train_many([Problem(x, y, width=4, lam=1e-3, seed=s) for s in range(3)],
    ...                  max_steps=50)
    >>> [r.net.width for r in res]
    [4, 4, 4]
    """
    method = check_choice(method, "method", tuple(RECIPES))
    on_error = check_choice(on_error, "on_error", ERRORS)
    if isinstance(problems, Problem) or len(problems) == 0:
        raise ValueError("Parameter `problems` should be a non-empty list of Problem. Found none.")
    checked = [check_problem(p, i, f"problems[{i}]") for i, p in enumerate(problems)]
    options = _options(
        max_steps, tol, restarts, lam_start, lr_decay, device, dtype, log_every, progress, callback
    )
    if prune is not None:
        if not isinstance(prune, bool):
            raise TypeError(f"Parameter `prune` should be a bool or None. Found {prune!r}.")
        options = replace(options, prune=prune)
    results = RECIPES[method].run(checked, options)
    if on_error == "raise":
        for r in results:
            if isinstance(r, TrainingError):
                raise r
    return results


def _options(
    max_steps: int | None,
    tol: float,
    restarts: int | None,
    lam_start: float | None,
    lr_decay: float | None,
    device: str | torch.device,
    dtype: torch.dtype,
    log_every: int,
    progress: bool,
    callback: Callable[[int, int, float], None] | None,
) -> TrainOptions:
    if max_steps is not None:
        max_steps = check_int(max_steps, "max_steps", low=1)
    if restarts is not None:
        restarts = check_int(restarts, "restarts", low=1)
    if lam_start is not None:
        lam_start = check_number(lam_start, "lam_start", low=0.0)
    if lr_decay is not None:
        lr_decay = check_number(lr_decay, "lr_decay", low=0.0, low_inclusive=False, high=1.0)
    if not isinstance(progress, bool):
        raise TypeError(f"Parameter `progress` should be a bool. Found {progress!r}.")
    return TrainOptions(
        max_steps=max_steps,
        tol=check_number(tol, "tol", low=0.0),
        restarts=restarts,
        lam_start=lam_start,
        lr_decay=lr_decay,
        device=check_device(device),
        dtype=check_dtype(dtype),
        log_every=check_int(log_every, "log_every", low=1),
        progress=progress,
        callback=callback,
    )


def train(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    width: int,
    lam: float,
    skip: bool = True,
    seed: int | None = None,
    method: str = "auto",
    max_steps: int | None = None,
    lr: float | None = None,
    tol: float = 1e-7,
    init: str = "data",
    task_reduction: str = "sum",
    lam_start: float | None = None,
    restarts: int | None = None,
    lr_decay: float | None = None,
    prune: bool | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    net: ShallowReLUNet | None = None,
    progress: bool | None = None,
    log_every: int = 100,
    callback: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a shallow ReLU network by full-batch weight decay.

    Minimises ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` where the penalty is
    the weight decay WD = ``1/2 sum_k ||w_k||^2 + ||v_k||^2`` (biases and the skip
    connection are never decayed; docs/theory.md §1). At the optimum WD equals the VV
    norm; the returned network is balanced. This is the one-problem case of
    :func:`mtlreg.training.train_many` (the same code).

    Parameters
    ----------
    X
        Inputs, shape (N,) for 1-D data or (N, d).
    Y
        Targets, shape (N,) or (N, T): task 1 first, then any auxiliary tasks
        (see :func:`mtlreg.aux_tasks`).
    width
        Number of hidden neurons K.
    lam
        Weight-decay strength (>= 0).
    skip
        Include the unregularised skip connection ``A x + c``.
    seed
        Seed of the initialisation (``None``: fresh entropy).
    method
        ``"auto"`` (default): the certified global optimum wherever it can be computed,
        gradient training elsewhere. In order: for 1-D inputs with the skip connection
        (and no ``net``) the exact optimum (``"exact"``) if ``width`` holds its knots;
        for inputs of a dimension in :data:`mtlreg.convex.EXACT_DIMS`, no ``net``,
        ``lam > 0`` and at most 200 (d = 1), 100 (d = 2) or 20 (d = 3) samples, the
        certified optimum (``"certified"``) if it is certified within 30 s and ``width``
        holds its neurons; otherwise ``"continuation"``. Where an exact or certified
        solve ran but could not answer (``width`` too small, budget spent), the result
        is the better of the trained and the solver's network (if it fits), with the
        best proven ``lower_bound`` (valid for every network of the problem, of any
        width). ``config["solver"]`` names what produced the network (``"exact-1d"``,
        ``"certified-cg"``, ``"continuation"``), ``config["certified"]`` whether its
        measured relative gap is at most ``max(tol, 1e-9)``; ``converged`` keeps the
        meaning of that solver. To train a network by gradient descent in d <= 3, pass
        ``method="continuation"``.
        ``"exact"``: :func:`mtlreg.univariate.weight_decay_optimum` (a convex problem
        in the fitted values, certified by a duality gap; milliseconds), solved in a
        rescaled space and verified on the original data (docs/theory.md §3). It does
        not depend on ``seed``, and the step, learning-rate, restart and init options
        do not apply to it (``callback`` is called once).
        ``"certified"``: the certified global optimum for inputs of a dimension in
        :data:`mtlreg.convex.EXACT_DIMS` and any number of outputs
        (:func:`mtlreg.convex.solve`, column generation with an exact dual oracle;
        docs/certified.md), solved at unit input and label scale, its neurons
        compacted (same activation pattern on the data and parallel output weights
        merged) and padded to ``width`` (which must hold them); ``lower_bound`` is its
        certified bound. It stops at a certified relative gap of ``max(tol, 1e-9)`` or
        after 60 s.
        ``"continuation"``: gradient training. The problem is first rescaled to unit
        input and label scale (an exact symmetry of the objective at balanced
        points), then Adam runs with a continuation in lam (from ``lam_start`` down
        to ``lam`` over the first half of the steps) and a learning rate held, then
        decayed by ``lr_decay`` (default 100-fold) over the second half. This reaches
        the near-interpolation regime (lam ~ 1e-5) in seconds, but, like any local
        method, may stop in a local minimum.
        ``"adam"``: the papers' recipe, Adam with a fixed learning rate (default
        1e-3) on the raw problem for ``max_steps`` steps (default 100000).
    max_steps
        Maximum number of Adam steps (default 20000 for ``continuation``, 100000 for
        ``adam``); training stops earlier by the stopping rule (see ``tol``).
    lr
        Adam's initial learning rate, in the space the recipe trains in (default 1e-2
        for ``continuation``, in rescaled units; 1e-3 for ``adam``, in the data's
        units).
    tol
        The one stopping rule: in the final phase, every 1000 steps, training stops
        and ``converged`` is set once the relative change of the objective over those
        steps is at most ``tol`` (``0``: run ``max_steps``); for the exact 1-D
        solution, ``converged`` means the relative duality gap on the original
        problem is at most ``tol``; for the certified solver (``"certified"``, and
        ``auto``'s certified step) it is the certified relative gap at which column
        generation stops, floored at 1e-9 (``tol=0`` means 1e-9 there).
    init
        ``"data"``: hyperplanes through random training inputs or random points of
        the data's bounding box (our choice); ``"torch"``: PyTorch's default init.
    task_reduction
        ``"sum"`` over tasks (our convention) or ``"mean"`` (the authors' code).
    lam_start
        Start of the lam continuation of ``continuation``, in rescaled units (default
        1e-3, never below the rescaled lam).
    restarts
        Number of initialisations trained together as one batch (default 4 for
        ``continuation``, 1 for ``adam``); the run with the lowest final objective is
        returned (among those left by ``prune``). Restart 0 starts from ``seed``
        itself, so ``restarts=1`` is a plain single run; with ``continuation``,
        odd-numbered restarts start from the exact output layer of their hidden units.
    prune
        Stop dominated restarts early (default ``None``: the recipe's choice, on for
        ``continuation``, off for ``adam``). At 70% of ``max_steps`` each problem keeps
        only its restart with the lowest objective at the target ``lam`` on balanced
        weights (the objective the result is judged by), so 4 restarts cost about 3.1
        single runs instead of 4. ``False`` trains every restart to the end and
        returns the best. On 37 validation problems (1-D, d = 2 and d = 3) the pruned
        default ended within 0.1% of the best of the 4 full restarts on every one;
        earlier cuts (needed for 4 restarts to cost at most 2 single runs) missed by
        more than 1% on some (benchmarks/README.md, "Cost per step").
    lr_decay
        Final over initial learning rate, reached geometrically (default 0.01 for
        ``continuation`` over its second half, 1.0 for ``adam``).
    device, dtype
        Where and in which precision to train (float64 on CPU by default; float32
        is faster and fine away from the near-interpolation regime).
    net
        Start from this network instead of a fresh one (it is copied, not modified).
    progress
        Show a progress bar (default: when stderr is a terminal).
    log_every
        Steps between history entries (and divergence checks).
    callback
        Called as ``callback(step, objective)`` at every logged step.

    Raises
    ------
    ValueError
        On bad input (NaN, mismatched lengths, negative lam, width < 1, labels too
        large for float64, ...).
    TrainingError
        When the objective becomes NaN/inf or grows above 1e3 times its start.
    """
    if progress is None:
        progress = sys.stderr.isatty()
    problem = Problem(X, Y, width, lam, seed, skip, init, task_reduction, lr, net)
    if net is not None:
        restarts = 1
    check_problem(problem, 0, "")
    outer = None if callback is None else (lambda _i, step, value: callback(step, value))
    result = train_many(
        [problem],
        method=method,
        max_steps=max_steps,
        tol=tol,
        restarts=restarts,
        lam_start=lam_start,
        lr_decay=lr_decay,
        prune=prune,
        device=device,
        dtype=dtype,
        log_every=log_every,
        progress=progress,
        callback=outer,
    )[0]
    if isinstance(result, TrainingError):  # unreachable with on_error="raise"
        raise result
    return result


__all__ = ["train", "train_many"]
