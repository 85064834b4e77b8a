"""Classic global-optimisation test functions, batched in numpy, with their box and known minimum.

Each function takes ``X`` of shape ``(m, d)`` and returns shape ``(m,)`` (the ``fun_batch``
convention of the ``direct_search`` pair); a row's value never depends on the other rows, to the
last bit (sums run column by column, no BLAS), so a batched and a one-point-per-call DIRECT see
the same numbers. :data:`FUNCTIONS` maps a name to a
:class:`TestFunction`: the callable, its search box and its global minimum ``f_min``: the
Dixon-Szegö set that DIRECT papers use (Jones, Perttunen & Stuckman 1993), each minimum being
the value of the function as written here at its polished global minimiser (the textbook
values of Hartmann 3 and Shekel 7/10 are quoted at rounded points and differ in the 6th digit).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["TestFunction", "FUNCTIONS", "branin", "goldstein_price", "six_hump_camel",
           "hartmann3", "hartmann6", "shekel", "sphere", "plateau"]


@dataclass(frozen=True)
class TestFunction:
    """A batched objective, its box ``bounds`` ((low, high) per dimension) and minimum value."""

    name: str
    fun: Callable[[np.ndarray], np.ndarray]
    bounds: tuple[tuple[float, float], ...]
    f_min: float

    @property
    def dim(self) -> int:
        return len(self.bounds)


def branin(X: np.ndarray) -> np.ndarray:
    x, y = X[:, 0], X[:, 1]
    return ((y - 5.1 / (4 * np.pi ** 2) * x ** 2 + 5 / np.pi * x - 6) ** 2
            + 10 * (1 - 1 / (8 * np.pi)) * np.cos(x) + 10)


def goldstein_price(X: np.ndarray) -> np.ndarray:
    x, y = X[:, 0], X[:, 1]
    a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x ** 2 - 14 * y + 6 * x * y + 3 * y ** 2)
    b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x ** 2 + 48 * y - 36 * x * y + 27 * y ** 2)
    return a * b


def six_hump_camel(X: np.ndarray) -> np.ndarray:
    x, y = X[:, 0], X[:, 1]
    return (4 - 2.1 * x ** 2 + x ** 4 / 3) * x ** 2 + x * y + (-4 + 4 * y ** 2) * y ** 2


_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547],
                         [381, 5743, 8828]])
_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann(X: np.ndarray, A: np.ndarray, P: np.ndarray) -> np.ndarray:
    total = np.zeros(X.shape[0])
    for i in range(A.shape[0]):
        inner = np.zeros(X.shape[0])
        for j in range(A.shape[1]):
            inner = inner + A[i, j] * (X[:, j] - P[i, j]) ** 2
        total = total + _H_ALPHA[i] * np.exp(-inner)
    return -total


def hartmann3(X: np.ndarray) -> np.ndarray:
    return _hartmann(X, _H3_A, _H3_P)


def hartmann6(X: np.ndarray) -> np.ndarray:
    return _hartmann(X, _H6_A, _H6_P)


_SHEKEL_C = np.array([[4, 1, 8, 6, 3, 2, 5, 8, 6, 7], [4, 1, 8, 6, 7, 9, 3, 1, 2, 3.6],
                      [4, 1, 8, 6, 3, 2, 5, 8, 6, 7], [4, 1, 8, 6, 7, 9, 3, 1, 2, 3.6]], dtype=float)
_SHEKEL_BETA = 0.1 * np.array([1, 2, 2, 4, 4, 6, 3, 7, 5, 5], dtype=float)


def shekel(X: np.ndarray, m: int = 10) -> np.ndarray:
    """Shekel's foxholes in 4-D with the first ``m`` of the 10 holes."""
    total = np.zeros(X.shape[0])
    for i in range(m):
        sq = np.zeros(X.shape[0])
        for j in range(4):
            sq = sq + (X[:, j] - _SHEKEL_C[j, i]) ** 2
        total = total + 1.0 / (sq + _SHEKEL_BETA[i])
    return -total


def _row_sum(Y: np.ndarray) -> np.ndarray:
    """Sum over columns one at a time: each row's value never depends on the other rows."""
    total = np.zeros(Y.shape[0])
    for j in range(Y.shape[1]):
        total = total + Y[:, j]
    return total


def sphere(X: np.ndarray) -> np.ndarray:
    """A shifted bowl: the "no work" objective that times an optimizer's own overhead."""
    return _row_sum((X - 0.3) ** 2)


def plateau(X: np.ndarray) -> np.ndarray:
    """A staircase (piecewise constant, many exact ties) like a limit-order strategy's profit."""
    return np.floor(4 * _row_sum((X - 0.3) ** 2)) - (np.abs(X - 0.3) < 0.05).all(axis=1)


FUNCTIONS: dict[str, TestFunction] = {
    tf.name: tf for tf in (
        TestFunction("branin", branin, ((-5.0, 10.0), (0.0, 15.0)), 0.39788735772973816),
        TestFunction("goldstein_price", goldstein_price, ((-2.0, 2.0), (-2.0, 2.0)), 3.0),
        TestFunction("six_hump_camel", six_hump_camel, ((-3.0, 3.0), (-2.0, 2.0)),
                     -1.0316284534898774),
        TestFunction("hartmann3", hartmann3, ((0.0, 1.0),) * 3, -3.862779787332663),
        TestFunction("hartmann6", hartmann6, ((0.0, 1.0),) * 6, -3.3223680114155147),
        TestFunction("shekel5", lambda X: shekel(X, 5), ((0.0, 10.0),) * 4, -10.153199679058229),
        TestFunction("shekel7", lambda X: shekel(X, 7), ((0.0, 10.0),) * 4, -10.402915336777745),
        TestFunction("shekel10", lambda X: shekel(X, 10), ((0.0, 10.0),) * 4, -10.53644315348353),
    )
}
