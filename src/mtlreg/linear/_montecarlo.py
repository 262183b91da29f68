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
    l0: float,
    l: float,
    phi: Link = "sign",
    *,
    trials: int = 20,
    noise: float = 0.0,
    ratio: float = 1.0,
    seed: int | None = None,
) -> MonteCarloError:
    """Monte-Carlo test error with ``lambda_0 = d l0`` and ``lambda_t = d l``.

    ``l0 = 0`` (with ``l > 0``) is the limit ``lambda_0 -> 0``; ``l0 = l = 0`` is the
    limit of both with ``l0 / l = ratio``; ``l = 0`` alone is not supported.
    """
    T = check_int(T, "T", low=1)
    sizes = check_sizes(n, T)
    d = check_int(d, "d", low=1)
    sigma = check_number(sigma, "sigma", low=0.0)
    l0 = check_number(l0, "l0", low=0.0)
    l = check_number(l, "l", low=0.0)
    if l == 0.0 and l0 > 0.0:
        raise ValueError("Parameter `l` should be > 0 when `l0` > 0. Found 0.")
    phi = check_link(phi)
    trials = check_int(trials, "trials", low=1)
    ratio = check_number(ratio, "ratio", low=0.0, low_inclusive=False)
    rng = np.random.default_rng(check_seed(seed))
    xis, Ws = [], []
    for _ in range(trials):
        data = sample_multitask(sizes, d, T, sigma, phi, noise=noise, seed=rng)
        if l == 0.0:
            fit = fit_multitask_ridgeless(data.A, data.y, ratio=ratio)
        else:
            fit = fit_multitask(data.A, data.y, d * l0, d * l)
        xis.append(data.xi)
        Ws.append(fit.W)
    err = generalization_error(np.stack(xis), np.stack(Ws), phi, noise=noise)
    per_trial = err.mse.mean(axis=1)
    mse, mse_se = _mean_se(per_trial)
    cls = cls_se = None
    if err.classification_error is not None:
        cls, cls_se = _mean_se(err.classification_error.mean(axis=1))
    return MonteCarloError(mse, mse_se, cls, cls_se, per_trial)
