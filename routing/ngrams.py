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

Serving does not keep the terms as strings. Every term is a sequence of symbols (characters, or
the tokens of a word n-gram) and is packed into one exact int64 key (:class:`PackedTerms`: no
hashing, so no collisions); a batch of questions becomes one stream of symbol ids, the keys of
all its windows come from one integer matrix product (:func:`window_keys`), and one
``np.searchsorted`` in the sorted keys finds their columns. Counting, weighting and norms are
a fixed number of NumPy calls per batch, whatever its size. Measured on the mlit hybrid bundle
(229,440 terms; 2,000 dev questions; CPU time, bench/predict_stages.py, on a shared machine):
the n-gram member went from 0.26 to 0.05 ms per question in a batch; one question alone costs
about what the former per-question dict lookup did (0.24 against 0.26 ms; on the jmultiwoz
bundle 0.18 against 0.14 ms); the lookup holds 3.7 MB instead of 34 MB for a dict and its term
strings (tracemalloc).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import chain, repeat
from typing import TYPE_CHECKING

import numpy as np

from preprocessing.pipeline import Document
from routing.tfidf import word_ngrams

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

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


def window_powers(base: int, low: int, high: int) -> np.ndarray:
    """int64 ``[high, high − low + 1]``: ``[j, n − low] = base^(n−1−j)`` for ``j < n``, else 0.

    A window's ids ``[high]`` times column ``n − low`` is the key of its first ``n`` ids.
    """
    return np.array([[base ** (n - 1 - j) if j < n else 0 for n in range(low, high + 1)] for j in range(high)], dtype=np.int64)


def window_keys(
    parts: Sequence[tuple[np.ndarray, np.ndarray]], low: int, high: int, base: int, powers: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The packed keys of every window of ``low ≤ n ≤ high`` symbols inside one sequence.

    Args:
        parts: one or more streams of ``S`` sequences each, as ``(ids, lengths)``: ``ids``
            int ``[N]``, the sequences' symbol ids one after the other (``0`` is a symbol no
            term contains, so a window holding one is left out); ``lengths`` int64 ``[S]``, each
            sequence's length (``sum(lengths) == N``). Sequence ``s`` of every stream belongs to
            item ``s`` (for :class:`NgramFeaturizer`: question ``s``'s characters and its tokens).
        low, high: the window lengths.
        base: more than the largest id; ``base ** high`` must fit in int64.
        powers: :func:`window_powers` of ``base, low, high`` if already computed.

    Returns:
        ``(item, key)``, int64 ``[M]`` each: for each window of non-zero ids ``a_1 … a_n``, its
        item's index and ``Σ a_i · base^(n−i)`` (injective over all lengths, since every digit
        is at least 1), ordered by item, then start, then length.

    The ids are laid out item by item, each sequence followed by a ``0``, with ``high − 1``
    more at the end, so that no window crossing a sequence's end survives; the windows
    ``[starts, high]`` are gathered at once and every length's key is one integer matrix
    product with the powers of ``base`` (exact: no product or sum exceeds ``base ** high − 1``).
    A fixed number of NumPy calls whatever the batch: one question costs tens of microseconds.
    """
    items = len(parts[0][1])
    sizes = sum(lengths for _, lengths in parts) + len(parts)  # [S]: each item's symbols and zeros
    starts = int(sizes.sum())
    padded = np.zeros(starts + high - 1, dtype=np.int64)
    if items == 1:
        at = 0
        for ids, _ in parts:
            padded[at : at + len(ids)] = ids
            at += len(ids) + 1
    else:
        at = np.cumsum(sizes) - sizes  # where each item's part begins
        for ids, lengths in parts:
            padded[np.arange(len(ids)) + np.repeat(at - (np.cumsum(lengths) - lengths), lengths)] = ids
            at = at + lengths + 1
    windows = padded[np.arange(starts)[:, None] + np.arange(high)]  # [starts, high]
    keys = windows @ (window_powers(base, low, high) if powers is None else powers)  # [starts, high − low + 1]
    chosen = np.flatnonzero(np.logical_and.accumulate(windows > 0, axis=1)[:, low - 1 :])
    found = keys.ravel()[chosen]
    if items == 1:
        return np.zeros(len(found), dtype=np.int64), found
    return np.repeat(np.arange(items, dtype=np.int64), sizes)[chosen // (high - low + 1)], found


class PackedTerms:
    """Terms as sorted int64 keys, each term's symbols packed exactly (no hashing).

    A term is a sequence of symbols: characters for the char block, the space-separated tokens
    for the word block (:class:`NgramFeaturizer` numbers both kinds in one alphabet). Each
    symbol found in the terms has an id ``1 … A`` (``0``: a symbol in no term), and a term ``a_1 … a_n`` the key ``Σ a_i · (A+1)^(n−i)`` (as :func:`window_keys`),
    which is exact: two different symbol sequences never share a key (every digit is at least
    1, so keys of different lengths differ too). The table is the keys sorted, with each key's
    column; a lookup is one ``np.searchsorted``. It replaces a Python dict term → column, about
    150 bytes per term with the term's ``str`` (the mlit bundle's 229,440 terms: 34 MB, measured
    with tracemalloc), by 12 bytes per term.

    Args:
        ids: int64, the terms' symbol ids one term after the other, each in ``[1, symbols]``.
        lengths: int64 ``[T]``, each term's length in symbols (at least 1).
        symbols: ``A``, the number of distinct symbols.
        high: the longest window that will be looked up, if longer than the longest term (its
            keys must fit in int64 too).

    Attributes:
        keys: int64 ``[T]`` sorted; columns: int32 ``[T]``, the column of each key.
        base: ``A + 1``.

    Raises:
        OverflowError: if ``(A+1) ** max(lengths, high)`` does not fit in int64 (the caller
            then keeps a dict); ValueError: if two terms are the same.
    """

    def __init__(self, ids: np.ndarray, lengths: np.ndarray, symbols: int, high: int | None = None) -> None:
        self.base = int(symbols) + 1
        high = max(int(lengths.max()) if len(lengths) else 1, high or 1)
        if self.base**high > _MAX_KEY:
            raise OverflowError(f"{symbols} symbols: terms of {high} do not pack into int64")
        starts = np.cumsum(lengths) - lengths
        keys = np.zeros(len(lengths), dtype=np.int64)
        for n in np.unique(lengths):
            rows = np.flatnonzero(lengths == n)
            for i in range(int(n)):  # Horner's rule, all terms of length n at once
                keys[rows] = keys[rows] * self.base + ids[starts[rows] + i]
        order = np.argsort(keys, kind="stable")
        # One more entry past the end, key 2^63 − 1 (no window's: see _MAX_KEY) and column −1, so
        # that a search never falls off the table.
        self._search_keys = np.append(keys[order], _MAX_KEY)
        self._search_columns = np.append(order, -1).astype(np.int32)
        self.keys, self.columns = self._search_keys[:-1], self._search_columns[:-1]
        if len(self.keys) > 1 and not (np.diff(self.keys) > 0).all():
            raise ValueError("two terms of the block are the same")

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The column of each key, int64 ``[len(keys)]``; ``-1`` for keys of no term.

        The distinct keys are searched, in ascending order: a question repeats n-grams, and
        sorted queries visit the table's memory in order (on the mlit dev questions' char
        windows this took the lookup from 34 to 18 ms per 2,000 questions); fewer than 4,096
        keys are searched as they come.
        """
        if len(keys) < 4096:  # a few questions: the sort would cost more than it saves
            return self._search(keys)
        distinct, back = np.unique(keys, return_inverse=True)
        return self._search(distinct)[back]

    def _search(self, keys: np.ndarray) -> np.ndarray:
        """:meth:`lookup` by one binary search per key."""
        at = np.searchsorted(self._search_keys, keys)
        columns = self._search_columns[at].astype(np.int64)
        columns[self._search_keys[at] != keys] = -1
        return columns


class NgramFeaturizer:
    """The fitted n-gram TF-IDF transform (see the module docstring).

    All terms of all blocks are looked up in one table of packed keys (:class:`PackedTerms`),
    over one alphabet of symbols: the characters found in the char terms (ids ``1 … A_c``, by
    a code point table), then the distinct tokens found in the word terms (``A_c + 1 …``, by a
    dict; a word term's tokens are ``term.split(" ")``). A word key and a char key never meet:
    their digits lie in different ranges. A question is read as one stream per batch, its
    characters, a ``0``, its tokens, a ``0``, and every window of the smallest to the largest
    configured length is looked up (windows of a length its block does not use find no term).
    If the keys do not fit in int64 (``(A_c + A_w + 1)^high ≥ 2^63``: with char 4-grams, more
    than about 55,000 symbols), every block keeps a dict term → column instead; both give the
    same features.

    Args:
        config: the blocks and their n-gram ranges.
        terms: per block name, the n-gram of each of its columns (``TfidfVectorizer``'s
            ``get_feature_names_out()``); only read here, not kept.
        idf: per block name, its ``idf_`` vector, ``[len(terms[block])]``.
        packed: ``False`` keeps the dicts (the reference the packed table is tested against).

    Attributes:
        n_features: total columns (word block first).
        idf: per block, its idf vector (float64, a view of one ``[n_features]`` array).
        offsets: per block, its first column.
        sizes: per block, its number of columns.
        lookup: ``"packed"`` or ``"dict"``: how the terms are looked up.

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
        ranges = [getattr(config, f"{b}_ngrams") for b in self.blocks]
        self._low, self._high = min(r[0] for r in ranges), max(r[1] for r in ranges)
        self._table: PackedTerms | None = None
        self._dicts: dict[str, dict[str, int]] = {}
        self._char_ids = np.zeros(1, dtype=np.int32)  # code point → symbol id (0: in no term)
        self._word_ids: dict[str, int] = {}  # token → symbol id
        try:
            if not packed:
                raise OverflowError("packing not asked for")
            self._table = self._pack(terms)
        except OverflowError:
            self._char_ids, self._word_ids = np.zeros(1, dtype=np.int32), {}
            self._dicts = {b: {term: column for column, term in enumerate(terms[b])} for b in self.blocks}
        self.lookup = "packed" if self._table is not None else "dict"
        self._powers = window_powers(self._table.base, self._low, self._high) if self._table is not None else None

    def _pack(self, terms: dict[str, Sequence[str]]) -> PackedTerms:
        """The table of all blocks' terms, in column order; sets the symbol ids (see the class docstring).

        Raises:
            OverflowError: if the keys do not fit in int64.
        """
        ids, lengths = [], []
        symbols = 0
        if "word" in self.blocks:
            words = terms["word"]
        if "char" in self.blocks:
            chars = terms["char"]
            points = _codepoints("".join(chars))
            alphabet = np.unique(points)
            table = np.zeros(int(alphabet.max()) + 2 if len(alphabet) else 1, dtype=np.int32)  # last entry 0: above the alphabet
            table[alphabet] = np.arange(1, len(alphabet) + 1, dtype=np.int32)
            self._char_ids = table
            symbols = len(alphabet)
            char_ids, char_lengths = table[points], np.fromiter(map(len, chars), dtype=np.int64, count=len(chars))
            del points
        if "word" in self.blocks:
            first = symbols + 1
            tokens: dict[str, int] = {}
            # Streamed, not a list of split terms: the load's peak memory is what the terms take.
            pieces = chain.from_iterable(term.split(" ") for term in words)
            ids.append(np.fromiter((tokens.setdefault(p, first + len(tokens)) for p in pieces), dtype=np.int64))
            lengths.append(np.fromiter((term.count(" ") + 1 for term in words), dtype=np.int64, count=len(words)))
            self._word_ids = tokens
            symbols += len(tokens)
        if "char" in self.blocks:  # after the word terms: the columns' order
            ids.append(char_ids)
            lengths.append(char_lengths)
        return PackedTerms(np.concatenate(ids), np.concatenate(lengths), symbols, high=self._high)

    def grams(self, block: str, document: Document) -> list[str]:
        """The n-grams of ``document`` that ``block`` reads (known or not)."""
        if block == "word":
            return word_ngrams(document.tokens, *self.config.word_ngrams)
        return char_ngrams(document.cleaned, *self.config.char_ngrams)

    def _found(self, documents: Sequence[Document]) -> tuple[np.ndarray, np.ndarray]:
        """Every occurrence of a known n-gram: (document index, column), int64 ``[M]`` each, in
        no particular order."""
        if self._table is None:
            return self._found_in_dicts(documents)
        n = len(documents)
        streams, lengths = [], []
        if "char" in self.blocks:
            texts = [_WHITE_SPACES.sub(" ", d.cleaned) for d in documents]
            streams.append(np.take(self._char_ids, _codepoints(texts[0] if n == 1 else "".join(texts)), mode="clip"))  # above the table: 0
            lengths.append(np.fromiter(map(len, texts), dtype=np.int64, count=n))
        odd: list[int] = []
        if "word" in self.blocks:
            token_lists = [d.tokens for d in documents]
            # A token holding a space (MeCab's never do) makes joined n-grams that do not split
            # back into its tokens: such a document's word n-grams are looked up one by one.
            odd = [i for i, tokens in enumerate(token_lists) if " " in "".join(tokens)]
            for i in odd:
                token_lists[i] = []
            counts = np.fromiter(map(len, token_lists), dtype=np.int64, count=n)
            get = self._word_ids.get
            streams.append(np.fromiter(map(get, chain.from_iterable(token_lists), repeat(0)), dtype=np.int64, count=int(counts.sum())))
            lengths.append(counts)
        rows, keys = window_keys(list(zip(streams, lengths)), self._low, self._high, self._table.base, self._powers)
        if odd:
            extra_rows, extra_keys = self._odd_word_keys(documents, odd)
            rows, keys = np.concatenate([rows, extra_rows]), np.concatenate([keys, extra_keys])
        columns = self._table.lookup(keys)
        known = columns >= 0
        return rows[known], columns[known]

    def _odd_word_keys(self, documents: Sequence[Document], odd: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The word n-grams of the documents ``odd`` (tokens holding a space) as (row, key) pairs,
        each n-gram keyed by the parts of its joined string."""
        low, high = self.config.word_ngrams
        get, base = self._word_ids.get, self._table.base
        rows, keys = [], []
        for i in odd:
            for gram in word_ngrams(documents[i].tokens, low, high):
                parts = [get(p, 0) for p in gram.split(" ")]
                if len(parts) <= self._high and all(parts):
                    key = 0
                    for part in parts:
                        key = key * base + part
                    rows.append(i)
                    keys.append(key)
        return np.array(rows, dtype=np.int64), np.array(keys, dtype=np.int64)

    def _found_in_dicts(self, documents: Sequence[Document]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_found` with the dicts term → column."""
        rows, columns = [], []
        for block in self.blocks:
            grams = [self.grams(block, d) for d in documents]
            counts = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
            found = np.fromiter(map(self._dicts[block].get, chain.from_iterable(grams), repeat(-1)), dtype=np.int64, count=int(counts.sum()))
            known = found >= 0
            rows.append(np.repeat(np.arange(len(documents), dtype=np.int64), counts)[known])
            columns.append(found[known] + self.offsets[block])
        return np.concatenate(rows), np.concatenate(columns)

    def features(self, documents: Sequence[Document]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The parts of :meth:`transform`'s CSR matrix: ``(data, indices, indptr)``, float64
        ``[nnz]``, int64 ``[nnz]`` (ascending within a row), int64 ``[len(documents) + 1]``.

        One pass over the whole batch: the occurrences of known n-grams of every document are
        found at once (:meth:`_found`), counted with one sort of ``row · F + column``, weighted
        and normalised per (row, block) with ``np.bincount``. A row's values depend on that
        document alone, so a batch gives each document the row it gets alone.
        """
        n, width = len(documents), self.n_features
        row, column = self._found(documents)
        one = n == 1  # one question (serving): its row is 0, which saves a few NumPy calls
        cells = np.sort(column if one else row * width + column)
        # Distinct cells and their counts (np.unique's result, without its overhead per call).
        first = np.flatnonzero(np.concatenate(([True], cells[1:] != cells[:-1]))) if len(cells) else np.zeros(0, dtype=np.int64)
        tf = np.append(first[1:], len(cells)) - first
        cells = cells[first]
        row = np.zeros(len(cells), dtype=np.int64) if one else cells // width
        column = cells if one else cells - row * width
        weights = (1.0 + np.log(tf)) * self._idf[column]  # sublinear tf × idf
        group = np.searchsorted(self._block_starts, column, side="right") - 1  # the block of each column
        if not one:
            group += row * len(self.blocks)
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
        from scipy.sparse import csr_matrix  # training and tests only: serving uses features() (routing.softmax says why)

        return csr_matrix(self.features(documents), shape=(len(documents), self.n_features))

    def row(self, document: Document) -> tuple[np.ndarray, np.ndarray]:
        """One question's non-zero features: column ids (int64, ascending) and values (float64)."""
        values, columns, _ = self.features([document])
        return columns, values
