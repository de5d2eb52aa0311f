"""Routing many questions at once on several CPU cores: the engine of ``toiawase predict``.

Cleaning and MeCab run in Python (one core per process), so a file of questions is split into
chunks routed by ``jobs`` worker processes. Workers are forked from the process that loaded the
model (``multiprocessing`` "fork" context, POSIX), so they share its weights copy-on-write and
start in milliseconds; serving never imports TensorFlow, which is what makes forking safe here.
Each worker limits OpenBLAS to one thread (threadpoolctl): with a BLAS thread pool per process,
two processes on two cores oversubscribe the CPU and run several times slower than one.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence

from threadpoolctl import threadpool_limits

from routing.predictor import Prediction, Predictor

_worker_predictor: Predictor | None = None  # the loaded model of a worker process (set once, after fork)


def _set_worker_predictor(predictor: Predictor) -> None:
    global _worker_predictor
    _worker_predictor = predictor
    threadpool_limits(limits=1)  # one core per worker process (see the module docstring)


def _predict_chunk(args: tuple[list[str], int]) -> list[Prediction]:
    questions, top_k = args
    return _worker_predictor.predict(questions, top_k)


def default_jobs(n_questions: int, chunk_size: int) -> int:
    """One process per CPU core, but no more than there are chunks (small inputs stay in-process)."""
    chunks = -(-n_questions // chunk_size)
    return max(1, min(os.cpu_count() or 1, chunks))


def predict_many(
    predictor: Predictor, questions: Sequence[str], top_k: int = 3, jobs: int = 1, chunk_size: int = 2048
) -> Iterator[list[Prediction]]:
    """Route ``questions`` in chunks of ``chunk_size``, yielding each chunk's predictions in order.

    Args:
        predictor: the loaded model.
        questions: raw questions.
        top_k: candidates per question.
        jobs: worker processes (1: in this process).
        chunk_size: questions per chunk (the unit of work and of memory).

    Yields:
        Lists of :class:`~routing.predictor.Prediction` (reason ``no_content`` where a question
        has no words), chunk by chunk, in input order.
    """
    chunks = [(list(questions[i : i + chunk_size]), top_k) for i in range(0, len(questions), chunk_size)]
    if jobs <= 1 or len(chunks) <= 1:
        for chunk_questions, _ in chunks:
            yield predictor.predict(chunk_questions, top_k)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs, initializer=_set_worker_predictor, initargs=(predictor,)) as pool:
        yield from pool.imap(_predict_chunk, chunks)

