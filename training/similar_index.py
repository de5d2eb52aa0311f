"""The similar-tickets index of a bundle, built from the tickets a model is trained on.

The questions and answers are stored as the bundle's cleaning masks them
(:func:`feedback.privacy.mask_question` with the bundle's rules: the same readable masking the
prediction log uses), so no e-mail address or phone number of a training file is kept at rest in
the bundle. The index reads the MeCab tokens of the cleaned question, the very tokens the model
was fitted on (:mod:`routing.similar`).
"""

from __future__ import annotations

from feedback.privacy import mask_question
from preprocessing.pipeline import PreprocessSettings
from routing.similar import SimilarIndex
from training.data import Examples


def build_similar_index(examples: Examples, settings: PreprocessSettings) -> SimilarIndex:
    """Index ``examples`` (tickets, tokens, labels in parallel) for :class:`routing.similar.SimilarIndex`.

    Args:
        examples: the training tickets (fit and holdout parts), each with at least one token.
        settings: the bundle's preprocessing settings (its cleaning rules mask the texts).

    Returns:
        The index; a ticket without an answer has answer ``None``.

    Raises:
        ValueError: for no examples.
    """
    rules = settings.rules
    return SimilarIndex.build(
        examples.tokens,
        [ticket.id for ticket in examples.tickets],
        [mask_question(ticket.question, rules) for ticket in examples.tickets],
        [mask_question(ticket.answer, rules) or None if ticket.answer else None for ticket in examples.tickets],
        examples.labels,
    )
