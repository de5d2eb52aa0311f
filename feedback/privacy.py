"""The store's last line of defence against personal data at rest.

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

import re
import unicodedata

from feedback.errors import UnmaskedQuestionError
from preprocessing.cleaning import DEFAULT_RULES


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
