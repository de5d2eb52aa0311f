"""``metrics.json`` of the wrong shape is a damaged bundle file, named with the field at fault."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from routing.bundle import BundleError
from routing.metrics_check import check_metrics
from routing.predictor import load_predictor
from routing.versions import list_versions
from tests.bundles import copy_models, with_field
from tests.paths import TEST_DATA

PATH = Path("/srv/models/v1/metrics.json")


@pytest.fixture(scope="module")
def metrics(trained_bundle_dir: Path) -> dict:
    """The session model's real metrics.json (hybrid: calibration, review, baselines, data)."""
    return json.loads((trained_bundle_dir / "current" / "metrics.json").read_text(encoding="utf-8"))


def test_real_metrics_pass_unchanged(metrics):
    before = copy.deepcopy(metrics)
    assert check_metrics(metrics, PATH) is metrics and metrics == before
    assert {"calibration", "review", "baselines", "data", "per_category"} <= metrics.keys()


def test_a_format_1_bundle_without_calibration_or_review_passes():
    old = json.loads((TEST_DATA / "format1_bundle" / "metrics.json").read_text(encoding="utf-8"))
    assert "calibration" not in old and check_metrics(old, PATH) is old


def test_absent_and_null_fields_are_accepted():
    assert check_metrics({}, PATH) == {}
    nulls = {"n": None, "accuracy": None, "per_category": None, "calibration": None, "review": None, "baselines": None, "data": None}
    assert check_metrics(nulls, PATH) is nulls


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("accuracy", "91.2%", "accuracy is '91.2%', not a number in [0, 1]"),
        ("macro_f1", 1.5, "macro_f1 is 1.5, not a number in [0, 1]"),
        ("macro_f1", float("nan"), "macro_f1 is nan, not a number in [0, 1]"),
        ("n", True, "n is True, not a count (an integer ≥ 0)"),
        ("n", -3, "n is -3, not a count (an integer ≥ 0)"),
        ("per_category", [], "per_category is [], not a JSON object"),
        ("per_category.配送", "x", "per_category.配送 is 'x', not a JSON object"),
        ("per_category.配送.recall", "0.5", "per_category.配送.recall is '0.5', not a number in [0, 1]"),
        ("per_category.配送.support", 2.5, "per_category.配送.support is 2.5, not a count (an integer ≥ 0)"),
        ("confusion_matrix", {}, "confusion_matrix is {}, not a JSON list"),
        ("categories", ["配送", 3], "categories[1] is 3, not a category name"),
        ("calibration", "x", "calibration is 'x', not a JSON object"),
        ("calibration.temperature", 0, "calibration.temperature is 0, not a positive number"),
        ("calibration.ece_after", -0.01, "calibration.ece_after is -0.01, not a number in [0, 1]"),
        ("calibration.bins", "15", "calibration.bins is '15', not a positive count"),
        ("review.auto_routed", "65", "review.auto_routed is '65', not a count (an integer ≥ 0)"),
        ("review.reasons", [], "review.reasons is [], not a JSON object"),
        ("review.reasons.ambiguous", None, "review.reasons.ambiguous is None, not a count (an integer ≥ 0)"),
        ("baselines.tfidf_word_logreg", 0.7, "baselines.tfidf_word_logreg is 0.7, not a JSON object"),
        ("baselines.tfidf_word_logreg.macro_f1", "x", "baselines.tfidf_word_logreg.macro_f1 is 'x', not a number in [0, 1]"),
        ("baselines.tfidf_word_logreg.per_category.配送", [], "baselines.tfidf_word_logreg.per_category.配送 is [], not a JSON object"),
        ("data", [], "data is [], not a JSON object"),
        ("data.train_counts.配送", "x", "data.train_counts.配送 is 'x', not a count (an integer ≥ 0)"),
        ("data.vocabulary_size", 12.0, "data.vocabulary_size is 12.0, not a count (an integer ≥ 0)"),
        ("data.train_file", 7, "data.train_file is 7, not a text"),
    ],
)
def test_a_field_of_the_wrong_shape_is_named(metrics, field, value, message):
    with pytest.raises(BundleError) as raised:
        check_metrics(with_field(metrics, field, value), PATH)
    assert str(raised.value) == f"{PATH}: damaged: {message}"


def test_the_file_itself_must_be_an_object():
    with pytest.raises(BundleError, match=r"metrics.json: damaged: the file is \[1, 2\], not a JSON object"):
        check_metrics([1, 2], PATH)


def test_a_long_value_is_shortened_in_the_message(metrics):
    with pytest.raises(BundleError) as raised:
        check_metrics(with_field(metrics, "accuracy", "x" * 500), PATH)
    assert len(str(raised.value)) < len(str(PATH)) + 120 and "..." in str(raised.value)


def test_loading_and_listing_name_the_damaged_file(trained_bundle_dir, tmp_path):
    models = copy_models(trained_bundle_dir, tmp_path / "models")
    version = os.readlink(models / "current")
    path = models / version / "metrics.json"
    metrics = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(with_field(metrics, "data.train_counts", ["配送"]), ensure_ascii=False), encoding="utf-8")
    expected = f"{path}: damaged: data.train_counts is ['配送'], not a JSON object"
    with pytest.raises(BundleError) as raised:
        load_predictor(models)
    assert str(raised.value) == expected
    [info] = list_versions(models)
    assert info.version == version and info.current and info.error == expected
