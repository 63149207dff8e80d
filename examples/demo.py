"""The coatcheck demo (``nox -s demo``): express-session's login example on Starlette, with
sessions in SQLite, the embedded store, so a logged-in user stays logged in across restarts.

    python examples/demo.py [--port 8000] [--db ./coatcheck-demo.sqlite3]

Open http://127.0.0.1:8000/, log in with any name, stop the server (Ctrl+C), start it again and
reload: still logged in. Sessions are signed with ``$COATCHECK_SECRET`` (a development default
otherwise); the same secret must be used across restarts.
"""

from __future__ import annotations

from collections.abc import Sequence

import uvicorn
from _shared import announce, open_store, parse_args
from starlette_app import create_app


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(
        "coatcheck demo: the login example (Starlette) with sessions in SQLite",
        port=8000,
        db="coatcheck-demo.sqlite3",
        argv=argv,
    )
    with open_store(args) as store:
        announce("coatcheck demo (the Starlette login example)", args)
        uvicorn.run(create_app(store), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
