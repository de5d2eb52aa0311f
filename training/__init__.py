"""Training, evaluation, the model bundle and the command line of toiawase."""
