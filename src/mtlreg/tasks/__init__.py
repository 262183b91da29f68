"""Random auxiliary tasks: the regularizer of this library.

>>> from mtlreg.tasks import aux_tasks
>>> aux_tasks([1.0, 2.0], n_aux=1, dist="bernoulli", seed=0).shape
(2, 2)
"""

from mtlreg.tasks._aux import AUX_DISTRIBUTIONS, aux_tasks, draw_labels

__all__ = ["AUX_DISTRIBUTIONS", "aux_tasks", "draw_labels"]
