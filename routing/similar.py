"""Similar past tickets and the team's answers to them: a BM25 index kept in the bundle.

At training, every ticket the model learned from (the fit and holdout parts, not the validation
part) is indexed with BM25 over the same MeCab tokens the model reads (``Document.tokens``), by
the ``bm25s`` package (Lù, "BM25S: Orders of magnitude faster lexical search via eager sparse
scoring", 2024, arXiv:2407.03618; its default variant, Lucene's BM25 with ``k1 = 1.5``,
``b = 0.75``). Only the tokens are given to ``bm25s``: its own tokenizer (English, split on
spaces) never runs.

Ranking (:meth:`SimilarIndex.search`): a ticket is a candidate when it shares at least one token
with the question (BM25 score above 0). Candidates are ordered by ``score × boost`` where
``boost`` is :data:`CATEGORY_BOOST` (1.5) for tickets of the predicted category and 1 for the
others, then by their position in the index (file order) among equal values, so the order is
deterministic. A ticket of another category therefore comes first only when its BM25 score is
more than 1.5 times that of the best ticket of the predicted category: the agent sees answers of
the team the model routes to, unless another team answered a clearly closer question. The
``score`` returned is the plain BM25 score (not boosted).

The bundle keeps, under ``similar/``, the ``bm25s`` index files (``BM25.save``: ``*.index.npy``,
``vocab.index.json``, ``params.index.json``) and ``tickets.json``: per ticket its ``id``, the
question and the answer *as the bundle's cleaning masks them* (e-mail addresses, phone numbers,
URLs and order numbers replaced by placeholders, ``feedback.privacy.mask_question``, applied at
training) and its category. The manifest's ``similar`` entry (``{"tickets": n, "boost": 1.5}``)
says the part is there; bundles without it load as before and have no similar tickets.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

from routing.bundle import BundleError

#: The bundle's directory holding the index, and the file of the tickets' texts.
SIMILAR_DIR = "similar"
TICKETS = "tickets.json"
#: Most similar tickets one question may ask for (the API's ``"similar"`` is 0 to this).
MAX_SIMILAR = 10
#: Factor on the BM25 score of tickets in the predicted category (see the module docstring).
CATEGORY_BOOST = 1.5

# bm25s reports through the "bm25s" logger; its progress bars are off (show_progress=False).
logging.getLogger("bm25s").setLevel(logging.WARNING)


@dataclass(frozen=True)
class SimilarTicket:
    """One past ticket like the question.

    Attributes:
        id: the ticket's id in the training file.
        question: its question, masked (see the module docstring).
        answer: the team's answer, masked; ``None`` when the training file had none.
        category: its category (as trained, after any category merge).
        score: the BM25 score of the ticket for the question (> 0, not boosted), 4 decimals.
    """

    id: str
    question: str
    answer: str | None
    category: str
    score: float

    def to_dict(self) -> dict:
        """``{"id", "question", "answer", "category", "score"}``."""
        return {"id": self.id, "question": self.question, "answer": self.answer, "category": self.category, "score": self.score}


class SimilarIndex:
    """The BM25 index of a bundle's training tickets, with their masked texts.

    Args:
        retriever: a ``bm25s.BM25`` indexed on the tickets' tokens, in ticket order.
        ids, questions, answers, categories: per ticket, ``n`` each (answers may be ``None``).
        boost: the factor on the predicted category's scores (≥ 1).

    Raises:
        ValueError: if the lists differ in length, do not fit the index, or ``boost < 1``.
    """

    def __init__(
        self,
        retriever: bm25s.BM25,
        ids: Sequence[str],
        questions: Sequence[str],
        answers: Sequence[str | None],
        categories: Sequence[str],
        boost: float = CATEGORY_BOOST,
    ) -> None:
        n = len(ids)
        if not (len(questions) == len(answers) == len(categories) == n):
            raise ValueError(f"ids, questions, answers, categories differ in length ({n}, {len(questions)}, {len(answers)}, {len(categories)})")
        if int(retriever.scores["num_docs"]) != n:
            raise ValueError(f"the BM25 index holds {retriever.scores['num_docs']} tickets, the texts {n}")
        if boost < 1:
            raise ValueError(f"boost must be at least 1, not {boost}")
        self.retriever = retriever
        self.ids, self.questions, self.answers = list(ids), list(questions), list(answers)
        self.categories = list(categories)
        self.boost = float(boost)
        by_category: dict[str, list[int]] = {}
        for position, name in enumerate(self.categories):
            by_category.setdefault(name, []).append(position)
        self._members = {name: np.asarray(positions, dtype=np.int64) for name, positions in by_category.items()}

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls,
        tokens: Sequence[Sequence[str]],
        ids: Sequence[str],
        questions: Sequence[str],
        answers: Sequence[str | None],
        categories: Sequence[str],
        boost: float = CATEGORY_BOOST,
    ) -> "SimilarIndex":
        """Index tickets by their MeCab tokens (``bm25s.BM25().index`` on lists of strings).

        Args:
            tokens: per ticket, its question's tokens (``Document.tokens``; at least one each).
            ids, questions, answers, categories: per ticket; questions and answers already masked.
            boost: see :data:`CATEGORY_BOOST`.

        Raises:
            ValueError: for no tickets, or lists of different lengths.
        """
        if not tokens:
            raise ValueError("no tickets to index")
        retriever = bm25s.BM25()
        retriever.index([list(t) for t in tokens], show_progress=False)
        return cls(retriever, ids, questions, answers, categories, boost)

    def save(self, bundle_dir: str | Path) -> dict:
        """Write the index under ``bundle_dir/similar/``; return the manifest entry ``{"tickets", "boost"}``."""
        directory = Path(bundle_dir) / SIMILAR_DIR
        directory.mkdir(parents=True, exist_ok=True)
        self.retriever.save(str(directory), show_progress=False)
        document = {"id": self.ids, "question": self.questions, "answer": self.answers, "category": self.categories}
        (directory / TICKETS).write_text(json.dumps(document, ensure_ascii=False) + "\n", encoding="utf-8")
        return {"tickets": len(self), "boost": self.boost}

    @classmethod
    def load(cls, bundle_dir: str | Path, entry: dict) -> "SimilarIndex":
        """Read ``bundle_dir/similar/`` (the manifest's ``similar`` entry gives the boost).

        Raises:
            BundleError: naming the directory or file that is missing or damaged.
        """
        directory = Path(bundle_dir) / SIMILAR_DIR
        if not (directory / TICKETS).is_file():
            raise BundleError(f"{directory / TICKETS}: missing; the bundle's similar-tickets index is incomplete")
        try:
            document = json.loads((directory / TICKETS).read_text(encoding="utf-8"))
            retriever = bm25s.BM25.load(str(directory), mmap=False, show_progress=False)
            return cls(retriever, document["id"], document["question"], document["answer"], document["category"], float(entry.get("boost", CATEGORY_BOOST)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"{directory}: damaged similar-tickets index ({type(exc).__name__}: {exc})") from None

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 scores of every ticket for a question's tokens, ``[n]`` float32.

        ``bm25s.BM25.get_scores_from_ids``: each occurrence of a query token adds that token's
        precomputed BM25 weight in each ticket holding it; tokens the index does not know count
        for nothing; all zero when it knows none.
        """
        ids = self.retriever.get_tokens_ids(list(tokens))
        if not ids:
            return np.zeros(len(self), dtype=np.float32)
        return self.retriever.get_scores_from_ids(ids)

    def search(self, tokens: Sequence[str], category: str | None, n: int = 3) -> list[SimilarTicket]:
        """The ``n`` tickets most like a question, preferring ``category`` (rule: module docstring).

        Args:
            tokens: the question's MeCab tokens (``Predictor.prepare(question).tokens``).
            category: the predicted category (``None``: no preference).
            n: how many, 0 to :data:`MAX_SIMILAR` (fewer when fewer tickets share a token).

        Returns:
            Up to ``n`` :class:`SimilarTicket`, most similar first.

        Raises:
            ValueError: if ``n`` is outside [0, MAX_SIMILAR].
        """
        if not 0 <= n <= MAX_SIMILAR:
            raise ValueError(f"n must be between 0 and {MAX_SIMILAR}, not {n}")
        if n == 0:
            return []
        scores = self.scores(tokens)
        ranked = scores
        members = self._members.get(category) if category is not None else None
        if members is not None and self.boost != 1:
            ranked = scores.copy()
            ranked[members] *= self.boost
        size = len(ranked)
        if size > n:
            best = np.argpartition(ranked, size - n)[size - n :]
            # Every ticket at least as good as the n-th best (ties included), then ordered exactly.
            candidates = np.flatnonzero(ranked >= ranked[best].min())
        else:
            candidates = np.arange(size)
        candidates = candidates[scores[candidates] > 0]
        order = np.lexsort((candidates, -ranked[candidates]))[:n]
        return [self._ticket(int(i), float(scores[i])) for i in candidates[order]]

    def _ticket(self, i: int, score: float) -> SimilarTicket:
        return SimilarTicket(self.ids[i], self.questions[i], self.answers[i], self.categories[i], round(score, 4))


def load_similar(bundle_dir: str | Path, manifest: dict) -> SimilarIndex | None:
    """The bundle's :class:`SimilarIndex`, or ``None`` for a bundle without one (no ``similar`` entry).

    Raises:
        BundleError: if the manifest names an index that is missing or damaged.
    """
    entry = manifest.get("similar")
    if not entry:
        return None
    return SimilarIndex.load(bundle_dir, entry)
