"""Sparse TF-IDF features over word and character n-grams, in NumPy/SciPy (no scikit-learn).

The wide member of model kind ``hybrid`` (:mod:`routing.hybrid`) reads a question as two blocks of
n-grams, each weighted as scikit-learn's ``TfidfVectorizer`` weights them (scikit-learn user
guide, "Tf–idf term weighting"), and concatenated:

* **word** n-grams of the MeCab tokens, joined by one space (``TfidfVectorizer`` with a
  space-splitting tokenizer and ``lowercase=False``; :func:`routing.tfidf.word_ngrams`);
* **char** n-grams of the cleaned text (``TfidfVectorizer(analyzer="char", lowercase=False)``:
  runs of two or more white-space characters become one space first, then every substring of
  each length in the range);
* per block: term counts of the fitted terms only (unknown n-grams are ignored), ``1 + ln(tf)``
  (``sublinear_tf``), times the fitted ``idf`` (smooth idf, ``ln((1 + n) / (1 + df)) + 1``),
  each row scaled to unit L2 norm (``norm="l2"``);
* the blocks side by side (word columns first), each scaled by ``1 / sqrt(number of blocks)``
  so that a whole row has unit norm (the design of the research behind kind ``hybrid``;
  BENCHMARKS.md, "Winning design").

Training fits the scikit-learn vectorizers (:mod:`training.fit_hybrid`) and keeps only their
terms (``ngrams.json``) and idf vectors (``weights.npz``); :meth:`NgramFeaturizer.transform`
recomputes ``TfidfVectorizer.transform`` from them (tests check it to 1e-6).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.sparse import csr_matrix

from preprocessing.pipeline import Document
from routing.tfidf import word_ngrams

#: scikit-learn's ``_VectorizerMixin._white_spaces``: what the char analyzer turns into one space.
_WHITE_SPACES = re.compile(r"\s\s+")

#: The blocks, in column order.
BLOCKS: tuple[str, ...] = ("word", "char")


def char_ngrams(text: str, low: int, high: int) -> list[str]:
    """The character n-grams of ``text`` for ``low ≤ n ≤ high``, as ``TfidfVectorizer(analyzer="char")``.

    Runs of two or more white-space characters are first replaced by one space
    (``sklearn.feature_extraction.text._VectorizerMixin._char_ngrams``).

    Example:
        >>> char_ngrams("返品  したい", 1, 2)
        ['返', '品', ' ', 'し', 'た', 'い', '返品', '品 ', ' し', 'した', 'たい']
    """
    text = _WHITE_SPACES.sub(" ", text)
    grams: list[str] = []
    for n in range(low, high + 1):
        grams.extend(text[i : i + n] for i in range(len(text) - n + 1))
    return grams


@dataclass(frozen=True)
class NgramConfig:
    """Which n-grams the wide member reads and which it keeps.

    Attributes:
        word_ngrams: ``(low, high)`` lengths of word n-grams (MeCab tokens), or ``None`` for no
            word block.
        char_ngrams: ``(low, high)`` lengths of character n-grams (cleaned text), or ``None``.
        min_df: n-grams in fewer training questions than this are dropped (``TfidfVectorizer``'s
            ``min_df``, an absolute count).

    The defaults are the research's best (word 1–2-grams + char 1–4-grams, ``min_df=2``;
    BENCHMARKS.md, "Winning design").

    Raises:
        ValueError: for no block at all, a range with ``low < 1`` or ``high < low``, or
            ``min_df < 1``.
    """

    word_ngrams: tuple[int, int] | None = (1, 2)
    char_ngrams: tuple[int, int] | None = (1, 4)
    min_df: int = 2

    def __post_init__(self) -> None:
        # JSON gives lists: store tuples, so equal configs compare and hash equal.
        for name in ("word_ngrams", "char_ngrams"):
            value = getattr(self, name)
            if value is not None:
                value = (int(value[0]), int(value[1]))
                if value[0] < 1 or value[1] < value[0]:
                    raise ValueError(f"{name} must be (low, high) with 1 ≤ low ≤ high, not {value}")
                object.__setattr__(self, name, value)
        if self.word_ngrams is None and self.char_ngrams is None:
            raise ValueError("the n-gram member needs word n-grams, character n-grams or both")
        if self.min_df < 1:
            raise ValueError(f"min_df must be at least 1, not {self.min_df}")

    @property
    def blocks(self) -> list[str]:
        """The configured blocks in column order (a subset of :data:`BLOCKS`)."""
        return [b for b in BLOCKS if getattr(self, f"{b}_ngrams") is not None]

    def to_dict(self) -> dict:
        """The fields as a JSON-serialisable dict (ranges as lists)."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


class NgramFeaturizer:
    """The fitted n-gram TF-IDF transform (see the module docstring).

    Args:
        config: the blocks and their n-gram ranges.
        terms: per block name, the n-gram of each of its columns (``TfidfVectorizer``'s
            ``get_feature_names_out()``).
        idf: per block name, its ``idf_`` vector, ``[len(terms[block])]``.

    Attributes:
        n_features: total columns (word block first).

    Raises:
        ValueError: if a configured block has no terms or idf, or their lengths differ.
    """

    def __init__(self, config: NgramConfig, terms: dict[str, Sequence[str]], idf: dict[str, np.ndarray]) -> None:
        self.config = config
        self.blocks = config.blocks
        self.index: dict[str, dict[str, int]] = {}
        self.idf: dict[str, np.ndarray] = {}
        self.offsets: dict[str, int] = {}
        offset = 0
        for block in self.blocks:
            vector = np.asarray(idf[block], dtype=np.float64)
            if vector.shape != (len(terms[block]),):
                raise ValueError(f"{block} block: idf {vector.shape} does not fit {len(terms[block])} terms")
            self.index[block] = {term: column for column, term in enumerate(terms[block])}
            self.idf[block] = vector
            self.offsets[block] = offset
            offset += len(vector)
        self.n_features = offset
        self.scale = 1.0 / math.sqrt(len(self.blocks))

    def grams(self, block: str, document: Document) -> list[str]:
        """The n-grams of ``document`` that ``block`` reads (known or not)."""
        if block == "word":
            return word_ngrams(document.tokens, *self.config.word_ngrams)
        return char_ngrams(document.cleaned, *self.config.char_ngrams)

    def row(self, document: Document) -> tuple[np.ndarray, np.ndarray]:
        """One question's non-zero features: column ids (int64) and values (float64), block by block.

        Each block's values have L2 norm ``1 / sqrt(number of blocks)``; a block with none of its
        n-grams known contributes nothing.
        """
        columns, values = [], []
        for block in self.blocks:
            # Counted in C (Counter over map), in first-seen order; unknown n-grams count under None.
            counts = Counter(map(self.index[block].get, self.grams(block, document)))
            counts.pop(None, None)
            if not counts:
                continue
            ids = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            weights = (1.0 + np.log(tf)) * self.idf[block][ids]
            weights *= self.scale / np.sqrt(weights @ weights)
            columns.append(ids + self.offsets[block])
            values.append(weights)
        if not columns:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        return np.concatenate(columns), np.concatenate(values)

    def transform(self, documents: Sequence[Document]) -> csr_matrix:
        """The feature matrix ``[len(documents), n_features]``, float64 CSR (rows as :meth:`row`)."""
        rows = [self.row(document) for document in documents]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(ids) for ids, _ in rows])
        column_index = np.concatenate([ids for ids, _ in rows]) if rows else np.zeros(0, dtype=np.int64)
        data = np.concatenate([values for _, values in rows]) if rows else np.zeros(0, dtype=np.float64)
        return csr_matrix((data, column_index, indptr), shape=(len(documents), self.n_features))
