"""Shared pytest fixtures for toiawase's tests.

Keep this file small and generic; fixtures used by one test module belong in that module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The feedback store's fixtures (a throwaway PostgreSQL server, store URLs per dialect).
from tests.feedback_fixtures import postgres_server, store_url  # noqa: F401
from tests.paths import SAMPLE_TICKETS


@pytest.fixture(scope="session")
def trained_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory with ONE small model trained on ``data/sample/tickets.tsv``.

    Trained once per test session (a few seconds: 3 epochs, 16 units, 32-dimensional
    embeddings, a learning rate of 0.01 so that 3 epochs learn something), so it is a real
    bundle (``current`` symlink, metrics, plots) but a weak router: tests should compare
    against ``load_bundle(dir).predict(...)``, not against the true categories. Returns the
    models directory; ``load_bundle`` accepts it.
    """
    from routing.lstm import ModelConfig
    from training.config import TrainConfig
    from training.run import train

    models = tmp_path_factory.mktemp("models")
    config = TrainConfig(kind="lstm", epochs=3, learning_rate=1e-2, batch_size=32, model=ModelConfig(units=16, embedding_dim=32))
    train(str(SAMPLE_TICKETS), models, config, log=lambda line: None, verbose=0)
    return models


@pytest.fixture(scope="session")
def tfidf_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory with one model of kind ``tfidf`` trained on ``data/sample/tickets.tsv``.

    The TF-IDF + logistic regression baseline served through the predictor seam (about two
    seconds to train). Returns the models directory.
    """
    from training.config import TrainConfig
    from training.run import train

    models = tmp_path_factory.mktemp("tfidf-models")
    train(str(SAMPLE_TICKETS), models, TrainConfig(kind="tfidf"), log=lambda line: None, verbose=0)
    return models


@pytest.fixture(scope="session")
def hybrid_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory with one model of kind ``hybrid`` trained on ``data/sample/tickets.tsv``.

    A tiny LSTM member (2 epochs, 8 units, 16-dimensional embeddings) and the n-gram member
    (word 1–2-grams + char 1–4-grams, LinearSVC): about ten seconds. Returns the models directory.
    """
    from routing.lstm import ModelConfig
    from training.config import TrainConfig
    from training.run import train

    models = tmp_path_factory.mktemp("hybrid-models")
    config = TrainConfig(kind="hybrid", epochs=2, learning_rate=1e-2, batch_size=32, model=ModelConfig(units=8, embedding_dim=16), lstm_weight=None)
    train(str(SAMPLE_TICKETS), models, config, log=lambda line: None, verbose=0)
    return models
