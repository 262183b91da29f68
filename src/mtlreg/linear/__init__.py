"""Linear multi-task models: exact error, implicit regularization, double descent.

Theory: docs/theory.md §8.

T related misspecified perceptrons ``y = phi(a . xi_t)`` with ``xi_t = sigma v_t + v_0``
are fitted jointly by a shared part ``w_0`` plus task-specific parts ``v_t``, each
ridge-penalised, by minimising the package objective::

    (1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty

with ``f(x_i) = a_i . (w_0 + v_t)`` for a sample of task t, ``N`` samples in all and
``lam * penalty = lam_shared ||w_0||^2 + sum_t lam_task ||v_t||^2``. Task t's
predictor ``w_t = w_0 + v_t`` is ridge regression pulled towards the shared estimate;
for ``T = 1`` it is plain ridge with ``lam = lam_shared lam_task / (lam_shared +
lam_task)``. Test errors are exact (no
test set) and :func:`theory_error` gives their high-dimensional limit.

>>> import numpy as np
>>> from mtlreg.linear import (
...     fit_multitask, generalization_error, sample_multitask, theory_error)
>>> data = sample_multitask(n=40, d=100, T=5, sigma=0.5, phi="sign", seed=0)
>>> fit = fit_multitask(data.A, data.y, lam_shared=0.0, lam_task=0.5)  # lam_shared -> 0
>>> fit.method, fit.W.shape
('lstsq', (5, 100))
>>> err = generalization_error(data.xi, fit.W, "sign")
>>> err.mse.shape, bool(np.all(err.classification_error < 0.5))
((5,), True)
>>> theory = theory_error(0.4, T=5, sigma=0.5, lam_shared=0.0, lam_task=0.5, phi="sign")
>>> round(theory.mse, 3), round(theory.classification_error, 3)
(0.931, 0.264)
"""

from mtlreg.linear._data import (
    MultiTaskData,
    sample_multitask,
    sample_task_parameters,
    sigma_from_rho,
)
from mtlreg.linear._error import GeneralizationError, generalization_error
from mtlreg.linear._estimator import (
    MultiTaskFit,
    fit_multitask,
    fit_multitask_ridgeless,
    fit_ridge,
)
from mtlreg.linear._link import LINKS, LinkMoments, link_moments
from mtlreg.linear._montecarlo import MonteCarloError, simulate_error
from mtlreg.linear._theory import TheoryError, theory_error

__all__ = [
    "LINKS",
    "GeneralizationError",
    "LinkMoments",
    "MonteCarloError",
    "MultiTaskData",
    "MultiTaskFit",
    "TheoryError",
    "fit_multitask",
    "fit_multitask_ridgeless",
    "fit_ridge",
    "generalization_error",
    "link_moments",
    "sample_multitask",
    "sample_task_parameters",
    "sigma_from_rho",
    "simulate_error",
    "theory_error",
]
