"""Japanese-aware preprocessing for toiawase: loading ticket files, cleaning, tokenization, sampling.

One question follows one path (see ``preprocessing.pipeline.preprocess``) in training and in
serving; its settings travel inside the model bundle so that the two can never drift apart.
"""
