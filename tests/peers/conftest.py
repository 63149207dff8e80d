"""The main suite does not collect the peers' files: they run under ``nox -s peers`` only,
next to the frameworks' own tests (see run.py)."""

collect_ignore = ["files_django"]
