"""scikit-learn interface: random auxiliary tasks as a drop-in regularizer.

:class:`AuxTaskRegressor` trains a shallow ReLU network on the targets plus random
auxiliary tasks; :class:`InducedKernelRidge` is ridge regression with the kernel
induced by such a network's neurons (docs/theory.md §5, strength ``ridge``). Their
networks minimise the package objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam *
penalty`` with ``lam = alpha`` (scikit-learn's name; ``random_state`` is the
package's ``seed``).

>>> import numpy as np
>>> from sklearn.model_selection import GridSearchCV
>>> from mtlreg.sklearn import AuxTaskRegressor
>>> rng = np.random.default_rng(0)
>>> X = rng.uniform(-1, 1, (30, 2))
>>> y = X[:, 0] - X[:, 1] ** 2
>>> grid = GridSearchCV(AuxTaskRegressor(width=8, max_iter=100, tol=0.0, random_state=0),
...                     {"n_aux_tasks": [0, 5]}, cv=2).fit(X, y)
>>> grid.best_params_["n_aux_tasks"] in (0, 5)
True
"""

from mtlreg.sklearn._estimator import AuxTaskRegressor
from mtlreg.sklearn._induced import InducedKernelRidge

__all__ = ["AuxTaskRegressor", "InducedKernelRidge"]
