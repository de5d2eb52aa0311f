"""From loaded tickets to cleaned, tokenized, validated training examples.

Every row that does not make it into training is counted by reason (``Drops``), and rows that
point to a broken export raise :class:`~preprocessing.errors.TicketFileError` naming file and line
unless the caller asked to skip bad rows.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from preprocessing.datasets import LoadResult, Ticket
from preprocessing.errors import TicketFileError
from preprocessing.pipeline import PreprocessSettings, clean_text
from preprocessing.tokenizer import tokenize


@dataclass
class Examples:
    """Parallel lists of usable examples: one entry per kept ticket, in file order."""

    tickets: list[Ticket] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)
    tokens: list[list[str]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices) -> "Examples":
        """The examples at ``indices`` (repeats allowed), as a new :class:`Examples`."""
        return Examples(
            [self.tickets[i] for i in indices],
            [self.cleaned[i] for i in indices],
            [self.tokens[i] for i in indices],
            [self.labels[i] for i in indices],
        )


def has_word(text: str) -> bool:
    """True if ``text`` has a letter or digit (Unicode categories L* or N*: kana, kanji, Latin...).

    A question of only symbols (``"？？？！"``, ``"////"``) usually comes from a broken export,
    e.g. text lost to ``?`` in a lossy encoding conversion, so it is treated as a bad row.
    """
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def prepare_examples(
    loaded: LoadResult,
    settings: PreprocessSettings,
    drops: Counter,
    skip_bad_rows: bool = False,
) -> Examples:
    """Clean and tokenize every ticket of ``loaded`` with the shared preprocessing.

    Questions empty after cleaning (only a signature separator, a version line...) are dropped
    and counted under ``drops["empty after cleaning"]``. Questions of only symbols are bad rows.

    Raises:
        TicketFileError: for a symbols-only question unless ``skip_bad_rows`` (then counted
            under ``drops["only symbols"]``).
    """
    if loaded.skipped:
        drops["unreadable rows skipped"] += len(loaded.skipped)
    examples = Examples()
    for ticket in loaded.tickets:
        cleaned = clean_text(ticket.question, settings)
        if not cleaned:
            drops["empty after cleaning"] += 1
            continue
        if not has_word(cleaned):
            if not skip_bad_rows:
                raise TicketFileError(loaded.path, ticket.line, f"question has only symbols, no words: {ticket.question[:40]!r}")
            drops["only symbols"] += 1
            continue
        tokens = tokenize(cleaned, settings.token_form)
        examples.tickets.append(ticket)
        examples.cleaned.append(cleaned)
        examples.tokens.append(tokens)
        examples.labels.append(ticket.category or "")
    return examples


def drop_rare_categories(examples: Examples, path: str, drops: Counter, skip_bad_rows: bool = False, minimum: int = 2) -> Examples:
    """Check every category has at least ``minimum`` examples (a stratified split needs two).

    Raises:
        TicketFileError: naming the line of the lone example, unless ``skip_bad_rows`` (then
            such categories are dropped and counted under ``drops["category with too few examples"]``).
    """
    counts = Counter(examples.labels)
    rare = {label for label, count in counts.items() if count < minimum}
    if not rare:
        return examples
    if not skip_bad_rows:
        index = min(i for i, label in enumerate(examples.labels) if label in rare)
        label = examples.labels[index]
        raise TicketFileError(
            path,
            examples.tickets[index].line,
            f"category {label!r} has only {counts[label]} example(s); each category needs at least {minimum} "
            "(add examples, merge it with --keep-categories, or drop it with --skip-bad-rows)",
        )
    keep = [i for i, label in enumerate(examples.labels) if label not in rare]
    drops["category with too few examples"] += len(examples) - len(keep)
    return examples.subset(keep)
