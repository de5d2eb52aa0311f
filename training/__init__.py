"""Training routers: fitting each model kind, evaluating them, and writing the model bundle.

:func:`training.run.train` is the orchestration behind ``toiawase train``. The fit modules
(:mod:`training.fit_lstm`, :mod:`training.fit_tfidf`) import TensorFlow or scikit-learn; the
served side (:mod:`routing`) never imports anything from here.
"""
