"""Personal data and the store: :func:`mask_question` for callers, :func:`check_masked` in the store.

:func:`mask_question` turns a question into what the prediction log keeps: the question as the
model bundle's cleaning masks it (NFKC, then the bundle's *masking* rules, those whose
replacement is a placeholder such as ``<EMAIL>``), but not lower-cased, digit-mapped or
otherwise tidied, so that an agent can still read it.

:func:`check_masked` is the store's last line of defence against personal data at rest.
Callers mask questions before logging them (``preprocessing.cleaning.clean`` replaces e-mail
addresses with ``<EMAIL>`` and phone numbers with ``<TEL>``). :func:`check_masked` re-runs the
*same* two rules of ``preprocessing.cleaning.DEFAULT_RULES`` (looked up by name, so the
definition of "masked" has one source) on the NFKC form of the text and refuses a question in
which either still matches.

A phone-shaped match made only of zeros is accepted: cleaning maps every digit to ``0`` after
masking, so ``0000000000`` in a cleaned question is a former number of another kind (an amount,
a product code) from which nothing personal can be recovered.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import Protocol

from feedback.errors import UnmaskedQuestionError
from preprocessing.cleaning import DEFAULT_RULES

#: A masking rule's replacement, once stripped of its padding spaces: one placeholder such as
#: ``<EMAIL>`` (the form of ``preprocessing.cleaning.PLACEHOLDERS``).
PLACEHOLDER = re.compile(r"<[A-Z]+>")


class Rule(Protocol):
    """What :func:`mask_question` reads of a cleaning rule (``preprocessing.cleaning.CleaningRule``)."""

    @property
    def pattern(self) -> str:
        """A Python ``re`` pattern."""

    @property
    def replacement(self) -> str:
        """Its replacement, as for ``re.sub``."""


def masking_rules(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """The rules of ``rules`` that mask: those whose replacement is a placeholder, in order.

    Example:
        >>> [rule.name for rule in masking_rules(DEFAULT_RULES)]
        ['url', 'email', 'order', 'phone']
    """
    return tuple(rule for rule in rules if PLACEHOLDER.fullmatch(rule.replacement.strip()))


def mask_question(question: str, rules: Iterable[Rule] = DEFAULT_RULES) -> str:
    """The question as the prediction log stores it: NFKC, then the masking rules, stripped.

    Only the rules whose replacement is a placeholder are applied (:func:`masking_rules`; for
    the default rules ``url``, ``email``, ``order``, ``phone``, in that order, since the order of
    a bundle's rules matters: URLs before e-mail addresses, order numbers before phone numbers).
    Letters keep their case and digits stay digits: an agent reads the text, a model does not.

    Args:
        question: the question as the customer wrote it (any length).
        rules: the model bundle's cleaning rules (``predictor.settings.rules``), so that what is
            masked in the log is what the model saw masked.

    Returns:
        The masked question (``""`` for a question of spaces only).

    Raises:
        re.error: a rule's pattern does not compile (bundles are checked when read, so only
            for hand-made rules).

    Example:
        >>> mask_question("ＴＥＬ：０９０－１２３４－５６７８ Yamada@Example.com 注文番号:AB-12345678 届きません")
        'TEL: <TEL> <EMAIL> <ORDER> 届きません'
    """
    text = unicodedata.normalize("NFKC", question)
    for pattern, replacement in _compiled_masks(tuple(rules)):
        text = pattern.sub(replacement, text)
    return _SPACES.sub(" ", text).strip()


def _compiled_masks(rules: tuple[Rule, ...]) -> tuple[tuple[re.Pattern[str], str], ...]:
    """The compiled masking rules of ``rules`` (cached per tuple of hashable rules, e.g. a bundle's)."""
    try:
        return _cached_masks(rules)
    except TypeError:  # unhashable rule objects: compile every time
        return tuple((re.compile(rule.pattern), rule.replacement) for rule in masking_rules(rules))


@functools.lru_cache(maxsize=16)
def _cached_masks(rules: tuple[Rule, ...]) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(rule.pattern), rule.replacement) for rule in masking_rules(rules))


# Runs of spaces left by the padded placeholders (" <TEL> " after a space); other whitespace
# (line breaks of a long mail) is kept.
_SPACES = re.compile(r" {2,}")


def _rule(name: str) -> re.Pattern[str]:
    for rule in DEFAULT_RULES:
        if rule.name == name:
            return re.compile(rule.pattern)
    raise ImportError(f"preprocessing.cleaning.DEFAULT_RULES has no rule named {name!r}; feedback.privacy needs it")


_EMAIL = _rule("email")
_PHONE = _rule("phone")
_NONZERO_DIGIT = re.compile(r"[1-9]")


def check_masked(question: str) -> None:
    """Raise if ``question`` still contains an e-mail address or a phone number.

    Args:
        question: the text about to be stored.

    Raises:
        UnmaskedQuestionError: the message says which kind was found (never the value).
    """
    text = unicodedata.normalize("NFKC", question)
    if _EMAIL.search(text):
        raise UnmaskedQuestionError("the question contains an e-mail address: mask it (preprocessing.cleaning.clean) before storing")
    for match in _PHONE.finditer(text):
        if _NONZERO_DIGIT.search(match.group(0)):
            raise UnmaskedQuestionError("the question contains a phone number: mask it (preprocessing.cleaning.clean) before storing")
