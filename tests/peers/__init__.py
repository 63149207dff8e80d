"""The frameworks' own session test suites, run unchanged against the adapters (``nox -s peers``).

``run.py`` fetches each framework's sdist for the installed version, extracts only the session
test files and drops one wiring conftest next to them (``wiring_*.py``); ``expected.py`` is the
table of deliberate differences, applied as ``xfail(strict=True)`` marks.
"""
