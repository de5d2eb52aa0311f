"""toiawase's tests: one module per package module they check, fixtures in conftest.py, the server helper in server.py."""
