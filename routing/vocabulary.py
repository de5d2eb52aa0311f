"""The token vocabulary: token ↔ integer id, with padding and out-of-vocabulary ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

PAD, OOV = "<PAD>", "<OOV>"
PAD_ID, OOV_ID = 0, 1


class Vocabulary:
    """Maps tokens to ids: 0 is padding (masked by the Embedding), 1 is out-of-vocabulary.

    Like ``keras.layers.TextVectorization`` (whose id layout this follows) but fitted on
    MeCab tokens and saved as a plain token list in the bundle.

    Attributes:
        tokens: id → token; ``tokens[0] == "<PAD>"``, ``tokens[1] == "<OOV>"``.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != [PAD, OOV]:
            raise ValueError("a vocabulary starts with <PAD> and <OOV>")
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def fit(cls, documents: Iterable[Sequence[str]], max_tokens: int = 15000, min_count: int = 1) -> "Vocabulary":
        """Keep the ``max_tokens`` most frequent tokens seen at least ``min_count`` times.

        Ties in frequency are broken by first appearance, so the result is deterministic.
        """
        counts: Counter[str] = Counter()
        for tokens in documents:
            counts.update(tokens)
        kept = [t for t, c in counts.most_common() if c >= min_count and t not in (PAD, OOV)][:max_tokens]
        return cls([PAD, OOV, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str], max_len: int | None = None) -> list[int]:
        """Return the ids of ``tokens`` (OOV → 1), cut to the first ``max_len``; never padded."""
        get = self.index.get
        ids = [get(t, OOV_ID) for t in tokens]
        return ids[:max_len] if max_len is not None else ids
