"""Monte-Carlo estimate of the test error of the multi-task estimator.

Each trial draws fresh task parameters and data, fits the estimator (exact ridgeless
limits when a penalty is 0) and computes every task's exact error from
``(||xi_t||, ||w_t||, xi_t . w_t)`` (:func:`~mtlreg.linear.generalization_error`,
vectorised over trials and tasks). A trial's value is the mean over its tasks; the
result is the mean over trials and its standard error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mtlreg._validation import check_int, check_number, check_seed
from mtlreg.linear._compat import renamed
from mtlreg.linear._data import check_sizes, sample_multitask
from mtlreg.linear._error import generalization_error
from mtlreg.linear._estimator import fit_multitask, fit_multitask_ridgeless
from mtlreg.linear._link import Link, check_link


@dataclass(frozen=True)
class MonteCarloError:
    """Mean over trials (and tasks) of the exact test errors, with standard errors.

    Attributes:
        mse, mse_se: squared error and its standard error over trials.
        classification_error, classification_error_se: same for ``phi == "sign"``
            (``None`` otherwise).
        per_trial_mse: the task-averaged squared error of every trial.
    """

    mse: float
    mse_se: float
    classification_error: float | None
    classification_error_se: float | None
    per_trial_mse: NDArray[np.float64]

    @property
    def trials(self) -> int:
        return int(self.per_trial_mse.size)


def _mean_se(values: NDArray[np.float64]) -> tuple[float, float]:
    se = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else math.nan
    return float(values.mean()), se


def simulate_error(
    n: int | Sequence[int],
    d: int,
    T: int,
    sigma: float,
    *,
    lam_shared: float | None = None,
    lam_task: float | None = None,
    phi: Link = "sign",
    trials: int = 20,
    noise: float = 0.0,
    lam_ratio: float | None = None,
    seed: int | None = None,
    l0: float | None = None,
    l: float | None = None,
    ratio: float | None = None,
) -> MonteCarloError:
    """Monte-Carlo test error of :func:`~mtlreg.linear.fit_multitask`.

    The estimator minimises the package objective::

        (1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty

    with ``lam * penalty = lam_shared ||w_0||^2 + sum_t lam_task
    ||v_t||^2`` and ``N = sum_t n_t``. ``lam_shared = 0`` (with ``lam_task > 0``) is
    the limit ``lam_shared -> 0``; both 0 is the limit of both with ``lam_shared /
    lam_task = lam_ratio`` (default 1); ``lam_task = 0`` alone is not supported.
    ``l0``, ``l`` (deprecated) are the strengths over d of the unnormalised objective
    (``lam_shared = d l0 / N``); ``ratio`` (deprecated) is ``lam_ratio``.
    """
    T = check_int(T, "T", low=1)
    sizes = check_sizes(n, T)
    d = check_int(d, "d", low=1)
    sigma = check_number(sigma, "sigma", low=0.0)
    total = sum(sizes)
    old0 = None if l0 is None else check_number(l0, "l0", low=0.0) * d / total
    oldt = None if l is None else check_number(l, "l", low=0.0) * d / total
    lam_shared = renamed(lam_shared, old0, "lam_shared", "l0", note=" (lam_shared = d l0 / N)")
    lam_task = renamed(lam_task, oldt, "lam_task", "l", note=" (lam_task = d l / N)")
    if lam_ratio is None and ratio is None:
        lam_ratio = 1.0
    lam_ratio = renamed(lam_ratio, ratio, "lam_ratio", "ratio")
    lam_shared = check_number(lam_shared, "lam_shared", low=0.0)
    lam_task = check_number(lam_task, "lam_task", low=0.0)
    if lam_task == 0.0 and lam_shared > 0.0:
        raise ValueError("Parameter `lam_task` should be > 0 when `lam_shared` > 0. Found 0.")
    phi = check_link(phi)
    trials = check_int(trials, "trials", low=1)
    lam_ratio = check_number(lam_ratio, "lam_ratio", low=0.0, low_inclusive=False)
    rng = np.random.default_rng(check_seed(seed))
    xis, Ws = [], []
    for _ in range(trials):
        data = sample_multitask(sizes, d, T, sigma, phi, noise=noise, seed=rng)
        if lam_task == 0.0:
            fit = fit_multitask_ridgeless(data.A, data.y, lam_ratio=lam_ratio)
        else:
            fit = fit_multitask(data.A, data.y, lam_shared=lam_shared, lam_task=lam_task)
        xis.append(data.xi)
        Ws.append(fit.W)
    err = generalization_error(np.stack(xis), np.stack(Ws), phi, noise=noise)
    per_trial = err.mse.mean(axis=1)
    mse, mse_se = _mean_se(per_trial)
    cls = cls_se = None
    if err.classification_error is not None:
        cls, cls_se = _mean_se(err.classification_error.mean(axis=1))
    return MonteCarloError(mse, mse_se, cls, cls_se, per_trial)
