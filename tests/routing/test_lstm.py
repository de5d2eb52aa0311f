"""Kind ``lstm``: the NumPy forward pass against Keras itself, on tiny random models of every supported shape."""

from __future__ import annotations

import itertools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from routing.lstm import POOLINGS, RNN_KINDS, ModelConfig, RecurrentNetwork  # noqa: E402
from training.fit_lstm import build_model, export_weights  # noqa: E402

VOCAB, CLASSES = 30, 4
LENGTHS = [1, 3, 7, 7, 12, 2, 12]  # variable lengths, with repeats (grouped by length inside)


def random_model(config: ModelConfig, seed: int):
    """A built model whose every weight (biases too) is random, so all code paths matter."""
    keras.utils.set_random_seed(seed)
    model = build_model(config, VOCAB, CLASSES)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.7, size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def sequences(seed: int) -> tuple[list[list[int]], np.ndarray]:
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(1, VOCAB, size=n).tolist() for n in LENGTHS]
    return seqs, keras.utils.pad_sequences(seqs, padding="post", dtype="int32")


# Every supported shape: lstm/gru × bi/unidirectional × 1/2 layers × each pooling.
SHAPES = list(itertools.product(RNN_KINDS, [True, False], [1, 2], POOLINGS))


@pytest.mark.parametrize("rnn, bidirectional, layers, pooling", SHAPES)
def test_fast_path_equals_keras_predict(rnn, bidirectional, layers, pooling):
    config = ModelConfig(
        embedding_dim=8, rnn=rnn, units=5, layers=layers, bidirectional=bidirectional, pooling=pooling,
        dropout=0.3, embedding_dropout=0.2,  # inactive at inference, in both implementations
    )
    seed = SHAPES.index((rnn, bidirectional, layers, pooling))
    model = random_model(config, seed)
    seqs, padded = sequences(seed)

    expected = model.predict(padded, verbose=0)  # Keras masks the zero padding
    got = RecurrentNetwork(config, export_weights(model, config)).predict_proba(seqs)

    assert got.shape == (len(LENGTHS), CLASSES) and got.dtype == np.float32
    # The comparison means something only if the outputs differ between questions.
    assert expected.std(axis=0).max() > 0.01
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("rnn", RNN_KINDS)
def test_fast_path_equals_keras_predict_for_many_questions_of_one_length(rnn):
    # Groups of more than 16 rows take the per-direction BLAS path rather than NumPy's stacked
    # matmul; both must agree with Keras.
    config = ModelConfig(embedding_dim=8, rnn=rnn, units=5, layers=2, bidirectional=True, pooling="max")
    model = random_model(config, 7)
    rng = np.random.default_rng(7)
    lengths = [4] * 40 + [6] * 25 + [2] * 3
    seqs = [rng.integers(1, VOCAB, size=n).tolist() for n in lengths]
    padded = keras.utils.pad_sequences(seqs, padding="post", dtype="int32")
    got = RecurrentNetwork(config, export_weights(model, config)).predict_proba(seqs)
    np.testing.assert_allclose(got, model.predict(padded, verbose=0), rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def network() -> RecurrentNetwork:
    config = ModelConfig(embedding_dim=8, units=5, layers=2, bidirectional=True, pooling="mean")
    return RecurrentNetwork(config, export_weights(random_model(config, 99), config))


def test_padding_does_not_change_a_question(network):
    # Grouping by length is invisible: a question gets the same answer alone or in a batch.
    seqs, _ = sequences(5)
    batch = network.predict_proba(seqs)
    for row, ids in enumerate(seqs):
        np.testing.assert_allclose(network.predict_proba([ids])[0], batch[row], rtol=0, atol=1e-6)


def test_chunking_gives_the_same_result(network):
    seqs, _ = sequences(6)
    many = seqs * 5
    np.testing.assert_allclose(network.predict_proba(many, chunk=2), network.predict_proba(many), rtol=0, atol=1e-6)


def test_empty_sequence_raises_value_error(network):
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        network.predict_proba([[3, 4], []])


@pytest.mark.parametrize("bad", [[0, 3], [3, VOCAB]])
def test_ids_outside_the_vocabulary_raise_value_error(network, bad):
    # 0 is padding (never a real token) and VOCAB is one past the last id.
    with pytest.raises(ValueError, match="out of range"):
        network.predict_proba([bad])


def test_no_questions_give_an_empty_matrix(network):
    assert network.predict_proba([]).shape == (0, CLASSES)


def test_export_weights_names_and_shapes():
    config = ModelConfig(embedding_dim=8, rnn="gru", units=5, layers=2, bidirectional=True)
    weights = export_weights(random_model(config, 1), config)
    assert weights["embedding"].shape == (VOCAB, 8)
    assert weights["rnn_0_0_kernel"].shape == (8, 3 * 5)
    assert weights["rnn_1_1_kernel"].shape == (2 * 5, 3 * 5)  # layer 2 reads both directions
    assert weights["rnn_0_1_recurrent"].shape == (5, 15)
    assert weights["rnn_0_0_bias"].shape == (2, 15)  # GRU reset_after: input and recurrent bias
    assert weights["output_kernel"].shape == (10, CLASSES) and weights["output_bias"].shape == (CLASSES,)
    assert all(w.dtype == np.float32 for w in weights.values())


def test_network_rejects_weights_that_do_not_fit_the_config():
    config = ModelConfig(embedding_dim=8, units=5, bidirectional=False)
    weights = export_weights(random_model(config, 2), config)
    with pytest.raises(ValueError, match="does not fit the config"):
        RecurrentNetwork(ModelConfig(embedding_dim=8, units=6, bidirectional=False), weights)
