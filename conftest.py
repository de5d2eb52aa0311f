"""pytest's root configuration: what ``--doctest-modules`` must not import.

``webapp/wsgi.py`` builds the app (and loads ``models/``) when imported; ``toiawase/__main__.py``
runs the command line; ``feedback/migrations/env.py`` is Alembic's environment, which only runs
inside Alembic. None has doctests.
"""

collect_ignore = ["webapp/wsgi.py", "toiawase/__main__.py", "feedback/migrations", "setup.py", "bench"]
