"""WSGI entry point for other servers: ``gunicorn 'webapp.wsgi:app'`` (settings from the environment).

Importing this module builds the app and loads the bundle from ``$TOIAWASE_MODEL`` (default
``models``). Do not combine it with ``--preload``; see :mod:`webapp.serve`.
"""

from webapp import create_app

app = create_app()
