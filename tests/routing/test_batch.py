"""Batch routing over several processes gives exactly what one process gives, in input order."""

from __future__ import annotations

from routing.batch import default_jobs, predict_many
from routing.predictor import load_predictor as load_bundle

QUESTIONS = [
    "注文した商品がまだ届きません",
    "-----",  # nothing left after cleaning: None, without losing its place
    "パスワードを忘れてログインできません",
    "返品したいのですが送料はかかりますか",
    "アプリが起動しません。バージョン：3.4.1",
] * 7


def test_predict_many_in_two_processes_equals_one_process(trained_bundle_dir):
    bundle = load_bundle(trained_bundle_dir)
    serial = [p for chunk in predict_many(bundle, QUESTIONS, top_k=2, jobs=1, chunk_size=4) for p in chunk]
    parallel = [p for chunk in predict_many(bundle, QUESTIONS, top_k=2, jobs=2, chunk_size=4) for p in chunk]
    assert len(serial) == len(QUESTIONS) == 35
    assert parallel == serial  # same categories and exactly the same probabilities
    assert [p.reason == "no_content" for p in serial[:5]] == [False, True, False, False, False]
    direct = bundle.predict([QUESTIONS[0], QUESTIONS[2]], top_k=2)
    assert [serial[0], serial[2]] == direct


def test_default_jobs_keeps_small_inputs_in_process():
    assert default_jobs(100, chunk_size=2048) == 1
    assert default_jobs(0, chunk_size=2048) == 1
    assert 1 <= default_jobs(100_000, chunk_size=2048) <= 100_000 // 2048 + 1
