"""Extreme-but-finite data: the univariate results are scale-covariant (docs/theory.md §3).

Scaling x by a and Y by c maps f_D to c f_D(. / a): R* scales by c / a, the weight-decay
optimum of the scaled data at lam * a * c has objective c^2 times the original, and the
ambiguity band scales by c. These identities are checked from 1e-150
to 1e150, where naive sums of squares overflow or underflow.
"""

from __future__ import annotations

import numpy as np
import pytest

from mtlreg import univariate as u

X = np.array([-1.5, -1.0, 0.0, 0.2, 2.0])
Y = np.array([[0.7, 0.1], [-0.5, 0.3], [-0.5, -0.2], [0.5, 0.9], [0.2, 0.0]])
SCALES = [1e-150, 1e-100, 1.0, 1e100, 1e150]


@pytest.mark.parametrize("a", SCALES)
@pytest.mark.parametrize("c", SCALES)
def test_results_are_scale_covariant(a: float, c: float) -> None:
    ref_norm = u.min_norm(X, Y)
    np.testing.assert_allclose(u.min_norm(X * a, Y * c), ref_norm * c / a, rtol=1e-12)
    assert bool(u.is_unique(X * a, Y * c)) == bool(u.is_unique(X, Y))

    ref = u.weight_decay_optimum(X, Y, lam=1e-2)
    opt = u.weight_decay_optimum(X * a, Y * c, lam=1e-2 * a * c)
    np.testing.assert_allclose(opt.objective, ref.objective * c * c, rtol=1e-9)
    np.testing.assert_allclose(opt.penalty, ref.penalty * c / a, rtol=1e-9)
    np.testing.assert_allclose(opt.Z, ref.Z * c, rtol=1e-9, atol=1e-12 * c)
    assert opt.relative_gap <= 1e-9
    assert opt.n_knots == ref.n_knots
    np.testing.assert_allclose(opt(X * a), ref(X) * c, rtol=1e-9, atol=1e-12 * c)

    grid = np.linspace(-2.0, 2.5, 9)
    band0 = u.ambiguity_band(X, Y[:, :1], grid)
    band = u.ambiguity_band(X * a, Y[:, :1] * c, grid * a)
    np.testing.assert_allclose(band.lower, band0.lower * c, rtol=1e-9, atol=1e-12 * c)
    np.testing.assert_allclose(band.upper, band0.upper * c, rtol=1e-9, atol=1e-12 * c)
    np.testing.assert_array_equal(band.grid, grid * a)


def test_results_beyond_the_float_range_are_refused() -> None:
    # slopes of 1e160 / 1e-160 = 1e320 are not representable: a clear error, not inf
    with pytest.raises(ValueError, match="exceed the float64 range"):
        u.min_norm(X * 1e-160, Y * 1e160)
    with pytest.raises(ValueError, match="float64 range"):
        u.weight_decay_optimum(X, Y * 1e160, lam=1e-2)


def test_exact_power_of_two_rescaling_keeps_the_digits() -> None:
    ref = u.weight_decay_optimum(X, Y, lam=1e-2)
    opt = u.weight_decay_optimum(X * 2.0**40, Y * 2.0**-30, lam=1e-2 * 2.0**10)
    assert opt.objective == ref.objective * 2.0**-60
    np.testing.assert_array_equal(opt.Z, ref.Z * 2.0**-30)
