"""``InducedKernelRidge``: ridge regression with an auxiliary-task network's own kernel."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from mtlreg.kernel import induced_kernel, rkhs_solve
from mtlreg.sklearn._estimator import AuxTaskRegressor


class InducedKernelRidge(RegressorMixin, BaseEstimator):
    """Ridge regression with the kernel induced by an auxiliary-task network.

    Fits :class:`AuxTaskRegressor` (``n_aux_tasks``, ``alpha``, ...), then, for each
    real target s, solves the RKHS problem of the induced kernel
    ``K_s(x, x') = sum_k c_ks relu(w_k.x + b_k) relu(w_k.x' + b_k)`` with strength
    ``ridge`` (:func:`mtlreg.kernel.rkhs_solve`, in the network's standardised units;
    docs/theory.md §5). The network stage minimises the package objective
    ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` with ``lam = alpha``; the
    kernel stage is the quadratic surrogate of each task's subproblem with
    ``lam = ridge``. The network depends only on the network parameters, so a grid
    search over ``ridge`` alone refits it for every candidate: keep the grid small.

    Parameters
    ----------
    n_aux_tasks : int, default=100
        Random auxiliary outputs of the network (at least 1 is used: the kernel of a
        single-task network is degenerate).
    aux_scale : float, default=1.0
        Scale of the auxiliary labels, in units of the standardised targets.
    width : int, default=64
        Hidden neurons of the network.
    alpha : float, default=1e-2
        Weight-decay strength of the network (the package ``lam``).
    ridge : float, default=1e-2
        Strength ``lam`` of the RKHS problem.
    max_iter : int, default=1000
        Optimisation steps of the network (see :class:`AuxTaskRegressor`).
    random_state : int, RandomState instance or None, default=None
        Seeds the auxiliary labels and the network's initialisation.

    Attributes
    ----------
    network_ : AuxTaskRegressor
        The fitted network.
    solutions_ : list of mtlreg.kernel.RKHSSolution
        One RKHS solution per real target.
    n_iter_ : int
        Training steps of the network (``network_.n_iter_``).
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input names, when ``X`` has string column names.

    Example
    -------
    >>> import numpy as np
    >>> from mtlreg.sklearn import InducedKernelRidge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (40, 2))
    >>> y = np.sin(2 * X[:, 0]) + X[:, 1]
    >>> est = InducedKernelRidge(n_aux_tasks=5, width=16, max_iter=200, random_state=0)
    >>> est.fit(X, y).predict(X).shape
    (40,)
    """

    _parameter_constraints: dict[str, list[Any]] = {  # noqa: RUF012 (sklearn convention)
        "n_aux_tasks": [Interval(Integral, 0, None, closed="left")],
        "aux_scale": [Interval(Real, 0, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "ridge": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_aux_tasks: int = 100,
        aux_scale: float = 1.0,
        width: int = 64,
        alpha: float = 1e-2,
        ridge: float = 1e-2,
        max_iter: int = 1000,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_aux_tasks = n_aux_tasks
        self.aux_scale = aux_scale
        self.width = width
        self.alpha = alpha
        self.ridge = ridge
        self.max_iter = max_iter
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> InducedKernelRidge:
        """Train the network, then solve each target's RKHS problem."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        X, y = np.asarray(X), np.asarray(y)
        net_params = {k: v for k, v in self.get_params().items() if k != "ridge"}
        net_params["n_aux_tasks"] = max(int(self.n_aux_tasks), 1)
        self.network_ = AuxTaskRegressor(**net_params).fit(X, y)
        reg = self.network_
        xs = self._standardised(X)
        ys = (y.reshape(len(xs), -1) - reg.y_mean_) / reg.y_scale_
        self._y_ndim = y.ndim
        self.n_iter_ = reg.n_iter_
        self.solutions_ = [
            rkhs_solve(induced_kernel(reg.net_, task=k), xs, ys[:, k], float(self.ridge))
            for k in range(ys.shape[1])
        ]
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Predict the target(s): shape (n,) if fitted on 1-D ``y``, else (n, k)."""
        check_is_fitted(self)
        X = np.asarray(validate_data(self, X, reset=False, dtype=np.float64))
        reg = self.network_
        xs = self._standardised(X)
        pred = np.column_stack([sol.predict(xs) for sol in self.solutions_])
        pred = pred * reg.y_scale_ + reg.y_mean_
        return pred[:, 0] if self._y_ndim == 1 else pred

    def _standardised(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Inputs in the network's units (its own standardisation)."""
        return (X - self.network_.x_mean_) / self.network_.x_scale_

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
