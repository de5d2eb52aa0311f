"""Check a bundle's ``metrics.json`` before anything shows it.

``metrics.json`` is written by training (:func:`training.evaluate.evaluate`, then
:mod:`training.run` adds ``baselines`` and ``data``) and read back by the ``/model`` page, the
``/api/v1/model`` answer, ``/monitor`` (``data.train_counts``), ``toiawase models list`` and the
re-training report. A hand-edited or damaged copy (valid JSON of the wrong shape, such as
``"accuracy": "x"`` or ``"data": []``) used to surface as a 500 on ``/model`` or a traceback in the
CLI. :func:`check_metrics` checks the shape of every field those readers use, so a bad file is
refused at load like any other damaged bundle file (:class:`~routing.bundle.BundleError`, naming
the file and the field) and the last good model keeps serving (:mod:`webapp.reload`).

Every field is optional (older bundles lack ``calibration``, ``review`` and ``overlap``); a field
that is present must have the documented type. Fields no reader uses are not checked.
"""

from __future__ import annotations

from pathlib import Path

from routing.bundle import BundleError, is_count, is_number

#: Scores in [0, 1] (or ``null``) at the top level, in each per-category row and each baseline.
SCORES = ("accuracy", "macro_f1", "weighted_f1")
ROW_SCORES = ("precision", "recall", "f1")
#: ``calibration`` fields: errors in [0, 1] or ``null``.
CALIBRATION_ERRORS = ("ece_before", "ece_temperature", "ece_after")
#: ``data`` fields that count questions (or vocabulary entries): integers ≥ 0.
DATA_COUNTS = ("train_examples", "holdout_examples", "validation_examples", "vocabulary_size")
#: ``data`` fields that map a category to its number of questions.
DATA_CATEGORY_COUNTS = ("file_counts", "train_counts", "holdout_counts", "sampled_counts")


def check_metrics(metrics: object, path: Path) -> dict:
    """Return ``metrics`` (parsed ``metrics.json``) if every field readers use has its type.

    Args:
        metrics: the parsed JSON.
        path: the file it came from, for the message.

    Returns:
        ``metrics`` itself, unchanged.

    Raises:
        BundleError: ``"<path>: damaged: <field> is <value>, not <what it must be>"`` for the
            first field of the wrong shape, e.g. ``data.train_counts.配送 is 'x', not a count``.
    """
    checker = _Checker(path)
    top = checker.mapping(metrics, "the file")
    checker.count(top, "n")
    for name in SCORES:
        checker.score(top, name)
    categories = checker.optional(top, "categories", list)
    if categories is not None:
        for i, category in enumerate(categories):
            checker.require(isinstance(category, str), f"categories[{i}]", category, "a category name")
    checker.rows(top)
    matrix = checker.optional(top, "confusion_matrix", list)
    for i, line in enumerate(matrix or []):
        checker.require(isinstance(line, list) and all(is_count(v) for v in line), f"confusion_matrix[{i}]", line, "a list of counts")
    calibration = checker.optional(top, "calibration", dict)
    if calibration is not None:
        temperature = calibration.get("temperature")
        checker.require(
            temperature is None or (is_number(temperature) and temperature > 0), "calibration.temperature", temperature, "a positive number"
        )
        for name in CALIBRATION_ERRORS:
            checker.score(calibration, name, "calibration.")
        bins = calibration.get("bins")
        checker.require(bins is None or (is_count(bins) and bins > 0), "calibration.bins", bins, "a positive count")
    review = checker.optional(top, "review", dict)
    if review is not None:
        checker.count(review, "n", "review.")
        checker.count(review, "auto_routed", "review.")
        for name in ("coverage", "auto_accuracy"):
            checker.score(review, name, "review.")
        checker.counts(review, "reasons", "review.")
    baselines = checker.optional(top, "baselines", dict)
    for name, baseline in (baselines or {}).items():
        baseline = checker.mapping(baseline, f"baselines.{name}")
        for score in SCORES:
            checker.score(baseline, score, f"baselines.{name}.")
        checker.rows(baseline, f"baselines.{name}.")
    data = checker.optional(top, "data", dict)
    if data is not None:
        for name in DATA_COUNTS:
            checker.count(data, name, "data.")
        for name in DATA_CATEGORY_COUNTS:
            checker.counts(data, name, "data.")
        for name in ("train_file", "dev_file", "validation"):
            value = data.get(name)
            checker.require(value is None or isinstance(value, str), f"data.{name}", value, "a text")
    return top


class _Checker:
    """Raises the :class:`BundleError` of one ``metrics.json`` file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def require(self, condition: bool, field: str, value: object, expected: str) -> None:
        if not condition:
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise BundleError(f"{self.path}: damaged: {field} is {shown}, not {expected}")

    def mapping(self, value: object, field: str) -> dict:
        self.require(isinstance(value, dict), field, value, "a JSON object")
        return value  # type: ignore[return-value]

    def optional(self, parent: dict, name: str, kind: type, prefix: str = "") -> object:
        value = parent.get(name)
        expected = "a JSON object" if kind is dict else "a JSON list"
        self.require(value is None or isinstance(value, kind), prefix + name, value, expected)
        return value

    def rows(self, parent: dict, prefix: str = "") -> None:
        """``per_category``: an object of ``{precision, recall, f1, support}`` rows."""
        rows = self.optional(parent, "per_category", dict, prefix)
        for category, row in (rows or {}).items():
            field = f"{prefix}per_category.{category}"
            row = self.mapping(row, field)
            for name in ROW_SCORES:
                self.score(row, name, field + ".")
            self.count(row, "support", field + ".")

    def score(self, parent: dict, name: str, prefix: str = "") -> None:
        value = parent.get(name)
        self.require(value is None or (is_number(value) and 0 <= value <= 1), prefix + name, value, "a number in [0, 1]")

    def count(self, parent: dict, name: str, prefix: str = "") -> None:
        value = parent.get(name)
        self.require(value is None or is_count(value), prefix + name, value, "a count (an integer ≥ 0)")

    def counts(self, parent: dict, name: str, prefix: str = "") -> None:
        value = parent.get(name)
        if value is None:
            return
        self.mapping(value, prefix + name)
        for key, count in value.items():
            self.require(is_count(count), f"{prefix}{name}.{key}", count, "a count (an integer ≥ 0)")
