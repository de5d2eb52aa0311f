"""Routing questions with a trained model bundle: everything a served question touches.

No module here imports TensorFlow or the web app. The entry point is
:func:`routing.predictor.load_predictor`, which reads a bundle (:mod:`routing.bundle`) and builds
the predictor of its kind (:mod:`routing.lstm`, :mod:`routing.tfidf`); :mod:`routing.batch`
routes large inputs on every CPU core.
"""
