"""Data sets a sweep can name: the papers' two, a random teacher, or a file.

Each data set is a small frozen pydantic model (the spec's ``dataset`` entries) whose
``load()`` returns the inputs X (N, d) and the real labels y (N,) deterministically.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, computed_field

Arrays = tuple[NDArray[np.float64], NDArray[np.float64]]


class _Dataset(BaseModel, ABC):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @abstractmethod
    def load(self) -> Arrays:
        """The inputs X (N, d) and real labels y (N,)."""


class UnivariateData(_Dataset):
    """The five points of the papers' univariate figure (docs/theory.md §7)."""

    name: Literal["univariate"]

    def load(self) -> Arrays:
        x = np.array([[-1.5], [-1.0], [0.0], [0.2], [2.0]])
        y = np.array([0.7, -0.5, -0.5, 0.5, 0.2])
        return x, y


class TwoSquaresData(_Dataset):
    """Two squares: (+-1, +-1) labelled 1 and (+-2, +-2) labelled 0 (docs/theory.md §7)."""

    name: Literal["two_squares"]

    def load(self) -> Arrays:
        corners = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
        x = np.concatenate([corners, 2.0 * corners])
        y = np.concatenate([np.ones(4), np.zeros(4)])
        return x, y


class TeacherData(_Dataset):
    """n Gaussian inputs in d dimensions labelled by a random ReLU teacher plus noise.

    The teacher has ``teacher_width`` neurons with Gaussian weights scaled by
    1/sqrt(d); everything is drawn from ``seed`` (our choice of multivariate data).
    """

    name: Literal["teacher"]
    n: PositiveInt
    d: PositiveInt
    teacher_width: PositiveInt = 5
    noise: float = Field(default=0.0, ge=0.0)
    seed: int = Field(default=0, ge=0)

    def load(self) -> Arrays:
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.n, self.d))
        w = rng.standard_normal((self.teacher_width, self.d)) / np.sqrt(self.d)
        b = 0.5 * rng.standard_normal(self.teacher_width)
        v = rng.standard_normal(self.teacher_width) / np.sqrt(self.teacher_width)
        y = np.maximum(x @ w.T + b, 0.0) @ v
        return x, y + self.noise * rng.standard_normal(self.n)


class FileData(_Dataset):
    """Arrays ``X`` (N, d) or (N,) and ``y`` (N,) read from a ``.npz`` file.

    The file's SHA-256 is part of the run configuration, so changing the data
    changes the run ids.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["file"]
    path: str

    @computed_field  # type: ignore[prop-decorator]
    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(Path(self.path).read_bytes()).hexdigest()

    def load(self) -> Arrays:
        with np.load(self.path) as data:
            missing = {"X", "y"} - set(data.files)
            if missing:
                raise ValueError(
                    f"Data file {self.path!r} should hold arrays 'X' and 'y'. "
                    f"Found {sorted(data.files)}."
                )
            x = np.asarray(data["X"], dtype=np.float64)
            y = np.asarray(data["y"], dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if y.ndim != 1 or x.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"Data file {self.path!r} should hold X of shape (N, d) and y of shape (N,). "
                f"Found {x.shape} and {y.shape}."
            )
        return x, y


DatasetSpec = Annotated[
    UnivariateData | TwoSquaresData | TeacherData | FileData, Field(discriminator="name")
]
