"""MeCab tokenization with the unidic-lite dictionary, one Tagger per thread.

MeCab (https://taku910.github.io/mecab/) splits Japanese text, which has no spaces, into
morphemes. We call it through mecab-python3 with the dictionary of the ``unidic-lite`` package
(UniDic 2.1.2, NINJAL), which mecab-python3 documents as the dictionary to pair it with.

Two token forms are offered:

* ``"surface"`` (the default): the text as written, what MeCab's ``-Owakati`` output gives
  (``住んでいた`` → ``住ん で い た``). The fast path: one C call per question.
* ``"base"``: the dictionary form (UniDic's ``orthBase`` field, feature index 10: ``住む で いる た``),
  which merges inflected forms. Unknown words have no such field and keep their surface form.

Placeholders from cleaning (``<EMAIL>``, ``<URL>``, ...) are kept as single tokens rather than
being split into ``<``, ``EMAIL``, ``>``.

A ``MeCab.Tagger`` is not safe to share between threads, so each thread builds its own on first
use (``threading.local``); gunicorn threads and Python's thread pools are therefore safe. The
taggers of one process are made from one ``MeCab.Model`` per token form, which holds the
dictionary and is shared by threads (MeCab's documented multi-thread use: one thread-safe
``Model``, one ``Tagger`` per thread from ``Model.createTagger``): the 190 MB ``sys.dic`` and
70 MB ``matrix.bin`` of unidic-lite are mapped once per process instead of once per thread. With
a ``Tagger`` per thread built on its own, a server worker with 24 threads had 580–670 MB of
file-backed resident memory (``RssFile``, the dictionary pages counted once per mapping) after
12 s of mixed requests.
"""

from __future__ import annotations

import threading

import MeCab
import unidic_lite

from preprocessing.cleaning import PLACEHOLDER_RE

TOKEN_FORMS: tuple[str, ...] = ("surface", "base")

# UniDic feature fields (unidic-lite 1.0.8, dicrc): index 10 is orthBase, the written base form.
_ORTH_BASE_FIELD = 10

_local = threading.local()
# The process's MeCab.Model per token form (made once, under _models_lock; read-only afterwards).
_models: dict[str, "MeCab.Model"] = {}
_models_lock = threading.Lock()


def _dictionary_args() -> str:
    # -r /dev/null: do not read a system-wide mecabrc, which may point to another dictionary.
    return f'-r /dev/null -d "{unidic_lite.DICDIR}"'


def _tagger(form: str) -> "MeCab.Tagger":
    """Return this thread's Tagger for ``form``, building it on first use (about 5 ms)."""
    cache = getattr(_local, "taggers", None)
    if cache is None:
        cache = _local.taggers = {}
    tagger = cache.get(form)
    if tagger is None:
        tagger = cache[form] = _model(form).createTagger()
    return tagger


def _model(form: str) -> "MeCab.Model":
    """The process's ``MeCab.Model`` for ``form`` (the dictionary, shared by every thread's Tagger)."""
    with _models_lock:
        model = _models.get(form)
        if model is None:
            args = _dictionary_args()
            if form == "surface":
                args += " -Owakati"
            model = _models[form] = MeCab.Model(args)
        return model


def _wakati_parser():
    """This thread's ``Tagger.parse`` for the surface form (MeCab ``-Owakati``: tokens and spaces)."""
    try:
        return _local.wakati_parse
    except AttributeError:
        parse = _local.wakati_parse = _tagger("surface").parse
        return parse


def _tokenize_segment(segment: str, form: str) -> list[str]:
    tagger = _tagger(form)
    if form == "surface":
        return tagger.parse(segment).split()
    tokens = []
    node = tagger.parseToNode(segment)
    while node is not None:
        surface = node.surface
        if surface:
            fields = node.feature.split(",")
            base = fields[_ORTH_BASE_FIELD] if len(fields) > _ORTH_BASE_FIELD else "*"
            tokens.append(surface if base in ("*", "") else base)
        node = node.next
    return tokens


def tokenize(text: str, form: str = "surface") -> list[str]:
    """Split cleaned Japanese ``text`` into tokens with MeCab (unidic-lite).

    Args:
        text: one cleaned question (see ``preprocessing.cleaning.clean``).
        form: ``"surface"`` (as written, MeCab wakati) or ``"base"`` (UniDic orthBase).

    Returns:
        The tokens in order; ``[]`` for empty or whitespace-only text. Placeholders such as
        ``<EMAIL>`` come back as one token each.

    Raises:
        ValueError: if ``form`` is not one of :data:`TOKEN_FORMS`.

    Example:
        >>> tokenize("パスワードを忘れました <EMAIL>")
        ['パスワード', 'を', '忘れ', 'まし', 'た', '<EMAIL>']
    """
    if "<" not in text and form == "surface":  # the common case, with the fewest Python calls
        return _wakati_parser()(text).split() if text.strip() else []
    if form not in TOKEN_FORMS:
        raise ValueError(f"unknown token form {form!r}; expected one of {TOKEN_FORMS}")
    if "<" not in text:
        return _tokenize_segment(text, form) if text.strip() else []
    tokens: list[str] = []
    start = 0
    for match in PLACEHOLDER_RE.finditer(text):
        if match.start() > start:
            tokens.extend(_tokenize_segment(text[start:match.start()], form))
        tokens.append(match.group())
        start = match.end()
    if start < len(text):
        tokens.extend(_tokenize_segment(text[start:], form))
    return tokens
