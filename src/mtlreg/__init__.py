"""mtlreg: multi-task learning as a regularizer of shallow ReLU networks.

The one-way data flow of the library is
data + tasks -> problem -> solver -> solution -> analysis -> report.

>>> import numpy as np
>>> import mtlreg
>>> x = np.array([-1.5, -1.0, 0.0, 0.2, 2.0])
>>> y = np.array([0.7, -0.5, -0.5, 0.5, 0.2])
>>> Y = mtlreg.aux_tasks(y, n_aux=2, seed=0)
>>> Y.shape
(5, 3)
>>> round(mtlreg.univariate.min_norm(x, y), 3)
12.567
"""

from importlib.metadata import PackageNotFoundError, version

from mtlreg import univariate
from mtlreg.model import ShallowReLUNet
from mtlreg.tasks import aux_tasks
from mtlreg.training import TrainHistory, TrainingError, TrainResult, train

try:
    __version__ = version("mtlreg")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ShallowReLUNet",
    "TrainHistory",
    "TrainResult",
    "TrainingError",
    "__version__",
    "aux_tasks",
    "train",
    "univariate",
]
