"""``AuxTaskRegressor``: random auxiliary tasks as a drop-in regularizer."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from mtlreg.model import ShallowReLUNet
from mtlreg.tasks import AUX_DISTRIBUTIONS, draw_labels
from mtlreg.training import train


class AuxTaskRegressor(RegressorMixin, BaseEstimator):
    """Shallow ReLU network trained on the targets plus random auxiliary tasks.

    Fits ``f(x) = sum_k v_k relu(w_k . x + b_k) + A x + c`` with one output per real
    target and ``n_aux_tasks`` further outputs whose labels are i.i.d. noise, by
    minimising the package objective (docs/theory.md §1)::

        (1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty

    with ``lam = alpha``, the sum running over all outputs and the penalty the weight
    decay ``1/2 sum_k ||w_k||^2 + ||v_k||^2`` (docs/theory.md §2). Only the real
    outputs are predicted: the auxiliary tasks act purely as a regularizer.
    ``n_aux_tasks=0`` is plain weight decay on the real target(s). Training is
    :func:`mtlreg.training.train` with its ``"continuation"`` recipe (Adam with a
    continuation in lam over the first half of the steps, then a learning rate
    decayed 100-fold); there is no second-order polish.

    Parameters
    ----------
    n_aux_tasks : int, default=10
        Number of random auxiliary outputs (0: single-task weight decay).
    aux_dist : {"gaussian", "bernoulli", "rademacher", "uniform"}, default="gaussian"
        Distribution of the auxiliary labels (see :func:`mtlreg.aux_tasks`).
    aux_scale : float, default=1.0
        Scale of the auxiliary labels, in units of the (standardised) targets.
    width : int, default=64
        Number of hidden ReLU neurons.
    alpha : float, default=0.1
        Weight-decay strength: the package's ``lam`` (named ``alpha`` as in
        scikit-learn; in standardised units when ``standardize``). Smaller values
        fit more closely but train more slowly. Measured on diabetes (``n_aux_tasks``
        0 and 10): the objective after 500 steps is within 1e-4 (relative) of a
        5000-step run at ``alpha=0.1``, 3 % above it at ``1e-2`` and 10-60 % above
        it at ``1e-3``; raise ``max_iter`` for small ``alpha``.
    skip : bool, default=True
        Include the unregularised linear skip connection ``A x + c``.
    max_iter : int, default=500
        Maximum number of Adam steps.
    tol : float, default=1e-4
        Convergence tolerance, for every ``max_iter``: training has converged when
        the objective fell by at most ``tol`` (relative) over the last tenth of the
        steps (``converged_``). The learning rate is small by then, so this says
        that training settled, not how far the objective is from a minimum. Runs
        longer than 4000 steps also stop early once the objective moves by at most
        ``tol`` (relative) over 1000 steps of the final phase (the stopping rule of
        :func:`mtlreg.training.train`). A ``ConvergenceWarning`` is raised when
        training has not converged.
    n_init : int, default=1
        Initialisations trained together as one batch; the lowest final objective
        wins (``restarts`` of :func:`mtlreg.training.train`). All run for 70% of the
        steps; then only the best one, by objective at ``alpha`` on balanced weights,
        continues (so 4 initialisations cost about 3.1 single runs).
    standardize : bool, default=True
        Centre and scale inputs and targets to unit variance before training
        (predictions are mapped back).
    random_state : int, RandomState instance or None, default=None
        Seeds the auxiliary labels and the initialisation (the package's ``seed``).
    device : str or torch.device, default="cpu"
        Where to train (e.g. ``"cuda"``). The fitted network is moved to the CPU.

    Attributes
    ----------
    net_ : ShallowReLUNet
        The trained network (standardised units), with ``n_outputs_ + n_aux_tasks``
        outputs: the real targets first.
    result_ : mtlreg.training.TrainResult
        The training result (the package's result protocol: ``objective``, ``fit``,
        ``penalty``, ``n_iter``, ``seconds``, ...; no lower bound, so ``gap`` is nan).
    n_outputs_ : int
        Number of real targets.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input names, when ``X`` has string column names.
    x_mean_, x_scale_, y_mean_, y_scale_ : ndarray
        The standardisation (zeros and ones when ``standardize=False``).
    n_iter_ : int
        Adam steps taken.
    objective_ : float
        Final training objective (all outputs, standardised units).
    final_decrease_ : float
        Relative decrease of the objective over the last tenth of the steps (~0 when
        training settled; negative when it rose).
    converged_ : bool
        Whether training converged in the sense of ``tol``.

    Example
    -------
    >>> import numpy as np
    >>> from mtlreg.sklearn import AuxTaskRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (40, 2))
    >>> y = np.sin(2 * X[:, 0]) + X[:, 1]
    >>> reg = AuxTaskRegressor(n_aux_tasks=5, width=16, random_state=0).fit(X, y)
    >>> reg.predict(X).shape
    (40,)
    >>> reg.score(X, y) > 0.9
    True
    """

    _parameter_constraints: dict[str, list[Any]] = {  # noqa: RUF012 (sklearn convention)
        "n_aux_tasks": [Interval(Integral, 0, None, closed="left")],
        "aux_dist": [StrOptions(set(AUX_DISTRIBUTIONS))],
        "aux_scale": [Interval(Real, 0, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "skip": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "standardize": ["boolean"],
        "random_state": ["random_state"],
        "device": [str, torch.device],
    }

    def __init__(
        self,
        n_aux_tasks: int = 10,
        aux_dist: str = "gaussian",
        aux_scale: float = 1.0,
        width: int = 64,
        alpha: float = 0.1,
        skip: bool = True,
        max_iter: int = 500,
        tol: float = 1e-4,
        n_init: int = 1,
        standardize: bool = True,
        random_state: int | np.random.RandomState | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.n_aux_tasks = n_aux_tasks
        self.aux_dist = aux_dist
        self.aux_scale = aux_scale
        self.width = width
        self.alpha = alpha
        self.skip = skip
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.standardize = standardize
        self.random_state = random_state
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> AuxTaskRegressor:
        """Train on inputs ``X`` (n_samples, n_features) and targets ``y`` (n,) or (n, k)."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        X, y = np.asarray(X), np.asarray(y)
        self._y_ndim = y.ndim
        targets = y.reshape(y.shape[0], -1)
        self.n_outputs_ = targets.shape[1]
        self.x_mean_, self.x_scale_ = _moments(X, self.standardize)
        self.y_mean_, self.y_scale_ = _moments(targets, self.standardize)
        rng = check_random_state(self.random_state)
        aux_seed, init_seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=2))
        aux = draw_labels(
            X.shape[0], self.n_aux_tasks, dist=self.aux_dist, scale=self.aux_scale, seed=aux_seed
        )
        labels = np.concatenate([(targets - self.y_mean_) / self.y_scale_, aux], axis=1)
        result = train(
            (X - self.x_mean_) / self.x_scale_,
            labels,
            width=self.width,
            lam=float(self.alpha),
            skip=bool(self.skip),
            seed=init_seed,
            method="continuation",
            max_steps=self.max_iter,
            tol=float(self.tol),
            restarts=self.n_init,
            device=self.device,
            progress=False,
            log_every=max(1, self.max_iter // 50),
        )
        self.result_ = result
        self.net_: ShallowReLUNet = result.net.cpu()
        self.n_iter_ = int(result.n_iter)
        self.objective_ = float(result.objective)
        self.final_decrease_, window = final_decrease(result.history.step, result.history.objective)
        self.converged_ = bool(result.converged) or self.final_decrease_ <= self.tol
        if not self.converged_:
            warnings.warn(
                f"AuxTaskRegressor: the training objective was still falling after "
                f"max_iter={self.max_iter} steps (by {self.final_decrease_:.2g}, relative, "
                f"over the last {window} steps; tol={self.tol:g}); increase `max_iter` or "
                "`tol`.",
                ConvergenceWarning,
                stacklevel=3,  # the caller of fit, past sklearn's _fit_context wrapper
            )
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Predict the real target(s): shape (n,) if fitted on 1-D ``y``, else (n, k)."""
        check_is_fitted(self)
        X = np.asarray(validate_data(self, X, reset=False, dtype=np.float64))
        with torch.no_grad():
            xs = torch.as_tensor((X - self.x_mean_) / self.x_scale_, dtype=self.net_.w.dtype)
            out = self.net_(xs)[:, : self.n_outputs_].double().numpy()
        pred = out * self.y_scale_ + self.y_mean_
        return pred[:, 0] if self._y_ndim == 1 else pred

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


def final_decrease(steps: NDArray[np.int64], objective: NDArray[np.float64]) -> tuple[float, int]:
    """Relative decrease of ``objective`` over the last tenth of ``steps``, and that span.

    ``(objective[then] - objective[end]) / |objective[end]|`` where ``then`` is the last
    logged step at least a tenth of the run before the end; 0.0 when fewer than two
    entries are logged. Negative when the objective rose.
    """
    if len(steps) < 2:
        return 0.0, 0
    end = int(steps[-1])
    then = max(int(np.searchsorted(steps, end - max(end // 10, 1), side="right")) - 1, 0)
    then = min(then, len(steps) - 2)
    last = float(objective[-1])
    decrease = (float(objective[then]) - last) / max(abs(last), 1e-300)
    return decrease, end - int(steps[then])


def _moments(a: NDArray[np.float64], standardize: bool) -> tuple[NDArray, NDArray]:
    if not standardize:
        return np.zeros(a.shape[1]), np.ones(a.shape[1])
    mean = a.mean(axis=0)
    std = a.std(axis=0)
    return mean, np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
