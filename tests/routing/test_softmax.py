"""routing.softmax: SciPy's softmax and log_softmax, bit for bit, without importing SciPy at serving time."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.special

from routing.softmax import log_softmax, softmax
from routing.predictor import load_predictor
from tests.paths import REPO_ROOT


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_equal_scipys_to_the_bit(dtype):
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(50, 9)) * 8).astype(dtype)
    x[0] = [1000.0, 999.0, -1000.0, 0, 0, 0, 0, 0, 0]  # would overflow without the shift
    for axis in (-1, 0):
        np.testing.assert_array_equal(softmax(x, axis=axis), scipy.special.softmax(x, axis=axis))
        np.testing.assert_array_equal(log_softmax(x, axis=axis), scipy.special.log_softmax(x, axis=axis))
    assert softmax(x).dtype == dtype and np.allclose(softmax(x).sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")  # inf − inf, in SciPy's and ours
def test_log_softmax_of_an_infinite_score_is_scipys():
    x = np.array([[np.inf, 0.0, 1.0]])
    np.testing.assert_array_equal(log_softmax(x), scipy.special.log_softmax(x))


def _modules_after_routing(bundle, similar: bool) -> str:
    """The heavy modules a fresh process has imported after loading ``bundle`` and routing a question."""
    code = (
        "import sys; from routing.predictor import load_predictor; "
        f"p = load_predictor(sys.argv[1], similar={similar}); p.predict(['パスワードを忘れました', '荷物が届きません']); "
        "print(sorted(m for m in ('scipy.optimize', 'scipy.special', 'scipy.sparse', 'bm25s', 'sklearn', 'tensorflow') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(bundle)], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_routing_with_the_hybrid_imports_no_scipy_module_it_can_do_without(hybrid_bundle_dir):
    """Routing only (``toiawase predict``): neither scipy.optimize (about 50 MB resident),
    scipy.special (about 27 MB), nor the similar-tickets index's bm25s and scipy.sparse."""
    assert load_predictor(hybrid_bundle_dir).similar is not None  # the bundle has an index ...
    assert load_predictor(hybrid_bundle_dir, similar=False).similar is None  # ... left unread here
    assert _modules_after_routing(hybrid_bundle_dir, similar=False) == "[]"
    assert _modules_after_routing(hybrid_bundle_dir, similar=True) == "['bm25s', 'scipy.sparse']"
