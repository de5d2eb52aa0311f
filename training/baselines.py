"""Classical baselines a support team could set up in an afternoon (scikit-learn).

Both are trained on the same training split as the LSTM and reported beside it, so that the
LSTM has to earn its place. The settings are the reference points published with the two real
data sets of BENCHMARKS.md (their README's table of dev accuracy and macro-F1):

* ``tfidf_word_logreg``: TF-IDF over MeCab token 1–2-grams + LogisticRegression(C=10).
* ``tfidf_char_svm``: TF-IDF over character 1–3-grams (``char_wb``) of the cleaned text +
  LinearSVC(C=0.5).
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

BASELINES: tuple[str, ...] = ("tfidf_word_logreg", "tfidf_char_svm")


def _split_on_space(text: str) -> list[str]:
    return text.split(" ")


def make_baseline(name: str, seed: int = 0):
    """Return an unfitted scikit-learn pipeline taking one string per example.

    For ``tfidf_word_logreg`` the string is the question's tokens joined by single spaces; for
    ``tfidf_char_svm`` it is the cleaned question. Raises ``ValueError`` for an unknown name.
    """
    if name == "tfidf_word_logreg":
        vectorizer = TfidfVectorizer(
            tokenizer=_split_on_space, token_pattern=None, lowercase=False, ngram_range=(1, 2), sublinear_tf=True
        )
        return make_pipeline(vectorizer, LogisticRegression(C=10, max_iter=2000, random_state=seed))
    if name == "tfidf_char_svm":
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
        return make_pipeline(vectorizer, LinearSVC(C=0.5, random_state=seed))
    raise ValueError(f"unknown baseline {name!r}; expected one of {BASELINES}")


def baseline_inputs(name: str, tokens: Sequence[Sequence[str]], cleaned: Sequence[str]) -> list[str]:
    """The input strings ``make_baseline(name)`` expects, from tokens and cleaned texts."""
    if name == "tfidf_word_logreg":
        return [" ".join(t) for t in tokens]
    return list(cleaned)
