"""MeCab tokenization (unidic-lite): surface and base forms, placeholders, threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import unidic_lite

from preprocessing import tokenizer
from preprocessing.cleaning import PLACEHOLDERS
from preprocessing.datasets import load_tickets
from preprocessing.pipeline import PreprocessSettings, clean_text
from preprocessing.tokenizer import TOKEN_FORMS, tokenize
from tests.paths import SAMPLE_TICKETS

SAMPLE = SAMPLE_TICKETS


def test_wakati_surface_tokens_of_a_known_sentence():
    # UniDic splits the auxiliary chain of 住んでいた into 住ん/で/い/た (as the module documents).
    assert tokenize("私は東京に住んでいた") == ["私", "は", "東京", "に", "住ん", "で", "い", "た"]


def test_surface_tokens_concatenate_back_to_the_text_without_spaces():
    text = "注文した商品がまだ届きません。いつ発送されますか?"
    tokens = tokenize(text)
    assert "".join(tokens) == text
    assert "届き" in tokens and "発送" in tokens


def test_base_forms_merge_inflections():
    assert tokenize("私は東京に住んでいた", form="base") == ["私", "は", "東京", "に", "住む", "で", "いる", "た"]
    # 忘れ/まし (inflected) → 忘れる/ます (dictionary forms).
    assert tokenize("パスワードを忘れました", form="base") == ["パスワード", "を", "忘れる", "ます", "た"]
    assert tokenize("パスワードを忘れました") == ["パスワード", "を", "忘れ", "まし", "た"]


def test_base_form_of_an_unknown_word_is_its_surface():
    # A made-up Latin word has no dictionary entry, hence no orthBase: the surface is kept.
    assert "Zqxvw" in tokenize("Zqxvwが起動しない", form="base")


@pytest.mark.parametrize("form", ["surface", "base"])
def test_placeholders_are_kept_whole(form):
    tokens = tokenize("パスワードを忘れました <EMAIL> と <URL> <TEL> <ORDER>", form=form)
    assert [t for t in tokens if t.startswith("<")] == ["<EMAIL>", "<URL>", "<TEL>", "<ORDER>"]
    assert not any(t in ("<", ">", "EMAIL", "URL") for t in tokens)


def test_placeholder_glued_to_text_is_still_one_token():
    tokens = tokenize("返信は<EMAIL>まで")
    i = tokens.index("<EMAIL>")
    # The text on each side is tokenized on its own (how MeCab splits a lone "まで" is its business).
    assert tokens[:i] == ["返信", "は"] and "".join(tokens[i + 1 :]) == "まで"


def test_cleaned_question_placeholders_survive_tokenization():
    cleaned = clean_text("注文番号：AB-12345678 連絡先 yamada@example.com", PreprocessSettings())
    tokens = tokenize(cleaned)
    assert "<ORDER>" in tokens and "<EMAIL>" in tokens
    assert set(t for t in tokens if t.startswith("<")) <= set(PLACEHOLDERS)


@pytest.mark.parametrize("text", ["", " ", "   \t ", "\u3000"])
@pytest.mark.parametrize("form", ["surface", "base"])
def test_empty_text_gives_no_tokens(text, form):
    assert tokenize(text, form=form) == []


def test_unknown_form_raises_value_error():
    with pytest.raises(ValueError, match="unknown token form 'lemma'"):
        tokenize("返品したい", form="lemma")


def _sample_questions(n: int = 120) -> list[str]:
    settings = PreprocessSettings()
    tickets = load_tickets(str(SAMPLE)).tickets[:n]
    return [clean_text(t.question, settings) for t in tickets]


@pytest.mark.parametrize("form", ["surface", "base"])
def test_concurrent_tokenization_matches_single_threaded(form):
    questions = _sample_questions()
    expected = [tokenize(q, form) for q in questions]
    # Each worker tokenizes the whole list several times, interleaved with the others.
    work = [questions] * 16
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda qs: [tokenize(q, form) for q in qs], work))
    assert all(result == expected for result in results)


def test_each_thread_gets_its_own_tagger():
    n = 4
    barrier = threading.Barrier(n)
    taggers: list[object] = [None] * n
    same_within_thread: list[bool] = [False] * n

    def worker(i: int) -> None:
        first = tokenizer._tagger("surface")
        tokenize("配送状況を確認したい")
        same_within_thread[i] = tokenizer._tagger("surface") is first
        taggers[i] = first  # keep a reference so no id is reused while comparing
        barrier.wait(timeout=30)  # all threads alive at once: their thread-locals coexist

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(same_within_thread)
    assert len({id(t) for t in taggers}) == n
    assert all(t is not tokenizer._tagger("surface") for t in taggers)  # nor the main thread's


def test_the_threads_taggers_share_one_mapping_of_the_dictionary():
    n = 8
    tokenized = threading.Barrier(n + 1)
    counted = threading.Event()

    def worker() -> None:
        for form in TOKEN_FORMS:
            tokenize("配送状況を確認したい", form)
        tokenized.wait(timeout=30)
        counted.wait(timeout=30)  # alive, so its taggers (thread-locals) still exist while counting

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    try:
        tokenized.wait(timeout=30)
        sys_dic = str(Path(unidic_lite.DICDIR) / "sys.dic")
        mappings = [line for line in Path("/proc/self/maps").read_text().splitlines() if line.endswith(sys_dic)]
    finally:
        counted.set()
        for thread in threads:
            thread.join(timeout=60)
    # One Model per form maps the dictionary; 8 threads × 2 forms of own Taggers would map it 16 times.
    assert 1 <= len(mappings) <= len(TOKEN_FORMS)
