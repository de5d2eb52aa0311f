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
from collections.abc import Sequence
from itertools import chain, repeat
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


#: Largest key a packed table may hold: keys are int64 (see :class:`PackedTerms`).
_MAX_KEY = 2**63 - 1


def _codepoints(text: str) -> np.ndarray:
    """The code points of ``text``, uint32 ``[len(text)]`` (lone surrogates kept as they are)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def window_keys(ids: np.ndarray, lengths: np.ndarray, low: int, high: int, base: int) -> tuple[np.ndarray, np.ndarray]:
    """The packed keys of every window of ``low ≤ n ≤ high`` symbols inside one sequence.

    Args:
        ids: int64 ``[N]``, the sequences' symbol ids one after the other; ``0`` is a symbol no
            term contains, so a window holding one is left out.
        lengths: int64 ``[S]``, each sequence's length (``sum(lengths) == N``).
        low, high: the window lengths.
        base: more than the largest id; ``base ** high`` must fit in int64.

    Returns:
        ``(sequence, key)``, int64 ``[M]`` each: for each window of non-zero ids ``a_1 … a_n``,
        its sequence's index and ``Σ a_i · base^(n−i)`` (Horner; injective over all lengths,
        since every digit is at least 1), shortest windows first.

    A ``0`` is put between the sequences, so that no window that crosses into the next
    sequence survives; the keys of all lengths are computed as one ``[high, N]`` array, a
    fixed number of NumPy calls whatever the batch (one question costs tens of microseconds).
    """
    if len(lengths) > 1:
        ids = np.insert(ids, np.cumsum(lengths)[:-1], 0)
    width = len(ids)
    keys = np.zeros((high, width), dtype=np.int64)
    ok = np.zeros((high, width), dtype=bool)
    keys[0] = ids
    np.greater(ids, 0, out=ok[0])
    for n in range(2, min(high, width) + 1):
        # Windows of length n start at 0 … width−n: those of length n−1, one symbol longer.
        np.multiply(keys[n - 2, : width - n + 1], base, out=keys[n - 1, : width - n + 1])
        keys[n - 1, : width - n + 1] += ids[n - 1 :]
        np.logical_and(ok[n - 2, : width - n + 1], ok[0, n - 1 :], out=ok[n - 1, : width - n + 1])
    chosen = np.flatnonzero(ok[low - 1 :])
    found = keys[low - 1 :].ravel()[chosen]
    if len(lengths) <= 1:
        return np.zeros(len(found), dtype=np.int64), found
    sequence = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths + 1)[:width]
    return sequence[chosen % width], found


class PackedTerms:
    """One block's terms as sorted int64 keys, each term's symbols packed exactly (no hashing).

    A term is a sequence of symbols: characters for the char block, the space-separated tokens
    for the word block. Each symbol found in the terms has an id ``1 … A`` (``0``: a symbol in no
    term), and a term ``a_1 … a_n`` the key ``Σ a_i · (A+1)^(n−i)`` (as :func:`window_keys`),
    which is exact: two different symbol sequences never share a key (every digit is at least
    1, so keys of different lengths differ too). The table is the keys sorted, with each key's
    column; a lookup is one ``np.searchsorted``. It replaces a Python dict term → column, about
    140 bytes per term with the term's ``str`` (the mlit bundle's 229,440 terms: 33 MB, measured
    with tracemalloc), by 12 bytes per term.

    Args:
        ids: int64, the terms' symbol ids one term after the other, each in ``[1, symbols]``.
        lengths: int64 ``[T]``, each term's length in symbols (at least 1).
        symbols: ``A``, the number of distinct symbols.

    Attributes:
        keys: int64 ``[T]`` sorted; columns: int32 ``[T]``, the column of each key.
        base: ``A + 1``.

    Raises:
        OverflowError: if ``(A+1) ** max(lengths)`` does not fit in int64 (the caller then keeps
            a dict); ValueError: if two terms are the same.
    """

    def __init__(self, ids: np.ndarray, lengths: np.ndarray, symbols: int) -> None:
        self.base = int(symbols) + 1
        high = int(lengths.max()) if len(lengths) else 1
        if self.base**high > _MAX_KEY:
            raise OverflowError(f"{symbols} symbols: terms of {high} do not pack into int64")
        starts = np.cumsum(lengths) - lengths
        keys = np.zeros(len(lengths), dtype=np.int64)
        for n in np.unique(lengths):
            rows = np.flatnonzero(lengths == n)
            for i in range(int(n)):  # Horner's rule, all terms of length n at once
                keys[rows] = keys[rows] * self.base + ids[starts[rows] + i]
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.columns = order.astype(np.int32)
        if len(self.keys) > 1 and not (np.diff(self.keys) > 0).all():
            raise ValueError("two terms of the block are the same")

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The column of each key, int64 ``[len(keys)]``; ``-1`` for keys of no term.

        The distinct keys are searched, in ascending order: a question repeats n-grams, and
        sorted queries visit the table's memory in order (on the mlit dev questions' char
        windows this took the lookup from 34 to 18 ms per 2,000 questions).
        """
        if len(self.keys) == 0 or len(keys) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        if len(keys) < 4096:  # a few questions: the sort would cost more than it saves
            at = np.searchsorted(self.keys, keys)
            np.minimum(at, len(self.keys) - 1, out=at)
            return np.where(self.keys[at] == keys, self.columns[at], -1)
        distinct, back = np.unique(keys, return_inverse=True)
        at = np.searchsorted(self.keys, distinct)
        np.minimum(at, len(self.keys) - 1, out=at)
        return np.where(self.keys[at] == distinct, self.columns[at], -1).astype(np.int64)[back]


class NgramFeaturizer:
    """The fitted n-gram TF-IDF transform (see the module docstring).

    Each block's terms are looked up as packed keys (:class:`PackedTerms`): characters are
    mapped to ids by a code point table, the word block's tokens by a dict of the distinct
    tokens found in its terms. A block whose symbols do not pack into int64 (``(A+1)^high ≥
    2^63``: more than 2^15 − 1 distinct symbols with ``high = 4``) keeps a dict term → column.
    Both give the same features.

    Args:
        config: the blocks and their n-gram ranges.
        terms: per block name, the n-gram of each of its columns (``TfidfVectorizer``'s
            ``get_feature_names_out()``); only read here, not kept.
        idf: per block name, its ``idf_`` vector, ``[len(terms[block])]``.
        packed: ``False`` keeps a dict term → column for every block (the reference the packed
            tables are tested against).

    Attributes:
        n_features: total columns (word block first).
        idf: per block, its idf vector (float64, a view of one ``[n_features]`` array).
        offsets: per block, its first column.
        sizes: per block, its number of columns.
        lookups: per block, ``"packed"`` or ``"dict"``: how its terms are looked up.

    Raises:
        ValueError: if a configured block has no terms or idf, or their lengths differ.
    """

    def __init__(self, config: NgramConfig, terms: dict[str, Sequence[str]], idf: dict[str, np.ndarray], packed: bool = True) -> None:
        self.config = config
        self.blocks = config.blocks
        self.offsets: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        vectors = []
        offset = 0
        for block in self.blocks:
            vector = np.asarray(idf[block], dtype=np.float64)
            if vector.shape != (len(terms[block]),):
                raise ValueError(f"{block} block: idf {vector.shape} does not fit {len(terms[block])} terms")
            vectors.append(vector)
            self.offsets[block], self.sizes[block] = offset, len(vector)
            offset += len(vector)
        self.n_features = offset
        self.scale = 1.0 / math.sqrt(len(self.blocks))
        self._idf = np.concatenate(vectors) if vectors else np.zeros(0)
        self.idf = {b: self._idf[self.offsets[b] : self.offsets[b] + self.sizes[b]] for b in self.blocks}
        self._block_starts = np.array([self.offsets[b] for b in self.blocks], dtype=np.int64)
        self._tables: dict[str, PackedTerms] = {}
        self._dicts: dict[str, dict[str, int]] = {}
        self._char_ids = np.zeros(1, dtype=np.int32)  # code point → symbol id (0: in no term)
        self._word_ids: dict[str, int] = {}  # token → symbol id
        for block in self.blocks:
            try:
                if not packed:
                    raise OverflowError("packing not asked for")
                self._tables[block] = self._pack_chars(terms[block]) if block == "char" else self._pack_words(terms[block])
            except OverflowError:
                self._dicts[block] = {term: column for column, term in enumerate(terms[block])}
        self.lookups = {b: "dict" if b in self._dicts else "packed" for b in self.blocks}

    def _pack_chars(self, terms: Sequence[str]) -> PackedTerms:
        """The char block's table; sets the code point → id table."""
        points = _codepoints("".join(terms))
        alphabet = np.unique(points)
        table = np.zeros(int(alphabet.max()) + 2 if len(alphabet) else 1, dtype=np.int32)  # last entry 0: above the alphabet
        table[alphabet] = np.arange(1, len(alphabet) + 1, dtype=np.int32)
        lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
        packed = PackedTerms(table[points].astype(np.int64), lengths, len(alphabet))
        self._char_ids = table
        return packed

    def _pack_words(self, terms: Sequence[str]) -> PackedTerms:
        """The word block's table; sets the token → id dict (a term's tokens: ``term.split(" ")``)."""
        parts = [term.split(" ") for term in terms]
        ids: dict[str, int] = {}
        flat = np.fromiter((ids.setdefault(p, len(ids) + 1) for ps in parts for p in ps), dtype=np.int64)
        packed = PackedTerms(flat, np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)), len(ids))
        self._word_ids = ids
        return packed

    def grams(self, block: str, document: Document) -> list[str]:
        """The n-grams of ``document`` that ``block`` reads (known or not)."""
        if block == "word":
            return word_ngrams(document.tokens, *self.config.word_ngrams)
        return char_ngrams(document.cleaned, *self.config.char_ngrams)

    def _found(self, block: str, documents: Sequence[Document]) -> tuple[np.ndarray, np.ndarray]:
        """Every occurrence of a known n-gram of ``block``: (document index, column in the
        block), int64 ``[M]`` each, in no particular order."""
        if block in self._dicts:
            grams = [self.grams(block, d) for d in documents]
            counts = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
            columns = np.fromiter(map(self._dicts[block].get, chain.from_iterable(grams), repeat(-1)), dtype=np.int64, count=int(counts.sum()))
            rows = np.repeat(np.arange(len(documents), dtype=np.int64), counts)
        elif block == "char":
            low, high = self.config.char_ngrams
            texts = [_WHITE_SPACES.sub(" ", d.cleaned) for d in documents]
            points = _codepoints("".join(texts))
            ids = self._char_ids[np.minimum(points, len(self._char_ids) - 1)].astype(np.int64)
            lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
            rows, keys = window_keys(ids, lengths, low, high, self._tables[block].base)
            columns = self._tables[block].lookup(keys)
        else:
            rows, columns = self._found_words(documents)
        known = columns >= 0
        return rows[known], columns[known]

    def _found_words(self, documents: Sequence[Document]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_found` for the packed word block (columns ``-1`` for unknown n-grams)."""
        low, high = self.config.word_ngrams
        table, get = self._tables["word"], self._word_ids.get
        token_lists = [d.tokens for d in documents]
        # A token holding a space (MeCab's never do) makes joined n-grams that do not split back
        # into its tokens: such a document's n-grams are looked up one by one, by their parts.
        odd = [i for i, tokens in enumerate(token_lists) if " " in "".join(tokens)]
        for i in odd:
            token_lists[i] = []
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        ids = np.fromiter(map(get, chain.from_iterable(token_lists), repeat(0)), dtype=np.int64, count=int(lengths.sum()))
        rows, keys = window_keys(ids, lengths, low, high, table.base)
        extra_rows, extra_keys = [], []
        for i in odd:
            for gram in word_ngrams(documents[i].tokens, low, high):
                parts = [get(p, 0) for p in gram.split(" ")]
                if len(parts) <= high and all(parts):
                    key = 0
                    for part in parts:
                        key = key * table.base + part
                    extra_rows.append(i)
                    extra_keys.append(key)
        if extra_keys:
            rows = np.concatenate([rows, np.array(extra_rows, dtype=np.int64)])
            keys = np.concatenate([keys, np.array(extra_keys, dtype=np.int64)])
        return rows, table.lookup(keys)

    def features(self, documents: Sequence[Document]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The parts of :meth:`transform`'s CSR matrix: ``(data, indices, indptr)``, float64
        ``[nnz]``, int64 ``[nnz]`` (ascending within a row), int64 ``[len(documents) + 1]``.

        One pass over the whole batch: the occurrences of known n-grams of every document are
        found at once (:meth:`_found`), counted with one sort of ``row · F + column``, weighted
        and normalised per (row, block) with ``np.bincount``. A row's values depend on that
        document alone, so a batch gives each document the row it gets alone.
        """
        n, width = len(documents), self.n_features
        rows, columns = [], []
        for block in self.blocks:
            r, c = self._found(block, documents)
            rows.append(r)
            columns.append(c + self.offsets[block] if self.offsets[block] else c)
        one = n == 1  # one question (serving): its row is 0, which saves a few NumPy calls
        cells = np.sort(np.concatenate(columns) if one else np.concatenate(rows) * width + np.concatenate(columns))
        # Distinct cells and their counts (np.unique's result, without its overhead per call).
        first = np.flatnonzero(np.concatenate(([True], cells[1:] != cells[:-1]))) if len(cells) else np.zeros(0, dtype=np.int64)
        tf = np.diff(np.append(first, len(cells)))
        cells = cells[first]
        row = np.zeros(len(cells), dtype=np.int64) if one else cells // width
        column = cells if one else cells - row * width
        weights = (1.0 + np.log(tf)) * self._idf[column]  # sublinear tf × idf
        group = row * len(self.blocks)
        for start in self._block_starts[1:]:
            group += column >= start  # the block of each column
        norms = np.sqrt(np.bincount(group, weights=weights * weights, minlength=n * len(self.blocks)))
        weights *= self.scale / norms[group]
        indptr = np.zeros(n + 1, dtype=np.int64)
        if one:
            indptr[1] = len(cells)
        else:
            np.cumsum(np.bincount(row, minlength=n), out=indptr[1:])
        return weights, column, indptr

    def transform(self, documents: Sequence[Document]) -> csr_matrix:
        """The feature matrix ``[len(documents), n_features]``, float64 CSR with sorted column
        indices (see the module docstring and :meth:`features`). Each row's blocks have L2 norm
        ``1 / sqrt(number of blocks)`` each; a block with none of its n-grams known contributes
        nothing."""
        return csr_matrix(self.features(documents), shape=(len(documents), self.n_features))

    def row(self, document: Document) -> tuple[np.ndarray, np.ndarray]:
        """One question's non-zero features: column ids (int64, ascending) and values (float64)."""
        values, columns, _ = self.features([document])
        return columns, values
