"""``softmax`` and ``log_softmax`` in plain NumPy, as ``scipy.special`` computes them.

Serving imports no SciPy module it can do without: ``scipy.special`` alone adds about 27 MB and
``scipy.optimize`` about 50 MB to a process's resident memory (``VmRSS`` after the import, on
the 2-core benchmark machine), against the 150 MB goal for a loaded bundle (issue 9). The
operations are those of ``scipy.special.softmax`` and ``log_softmax`` (SciPy 1.x source:
subtract the maximum, exponentiate, normalise), so the results are the same to the bit.
"""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``exp(x − max) / Σ exp(x − max)`` along ``axis``; same shape and floating dtype as ``x``.

    Example:
        >>> softmax(np.array([[0.0, np.log(3.0)]])).round(4)
        array([[0.25, 0.75]])
    """
    x = np.asarray(x)
    shifted = np.exp(x - np.amax(x, axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``(x − max) − log Σ exp(x − max)`` along ``axis``: ``log(softmax(x))`` without underflow.

    A non-finite maximum (``inf``) is replaced by 0 before the shift, as SciPy does.

    Example:
        >>> np.exp(log_softmax(np.array([[0.0, np.log(3.0)]]))).round(4)
        array([[0.25, 0.75]])
    """
    x = np.asarray(x)
    top = np.amax(x, axis=axis, keepdims=True)
    if top.ndim > 0:
        top[~np.isfinite(top)] = 0
    elif not np.isfinite(top):
        top = 0
    shifted = x - top
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
