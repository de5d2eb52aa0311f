"""``python -m toiawase ...``: the same as the ``toiawase`` console script."""

from toiawase.cli import main

main()
