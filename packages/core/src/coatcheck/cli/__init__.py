"""``coatcheck``: the operator's command line, pointed at a store by URL.

    coatcheck --store sqlite:///sessions.sqlite3 stats
    coatcheck --store redis://localhost:6379/0 --user-key user list --user ada
    coatcheck --store postgresql://app@db/app show Xk3v9Q
    coatcheck --store redis+cluster://node1:7000 revoke --user ada
    coatcheck --store sqlite:///sessions.sqlite3 prune

Tables for people, ``--json`` for scripts. Session ids are bearer credentials, so they are
shown abbreviated (``Xk3v9Q…``) unless ``--show-ids``; a prefix is enough to ``show`` or
``revoke`` one. Long scans draw a progress bar on stderr when it is a terminal (or with
``--progress``). Only the standard library's argparse; the store drivers come from the
``redis`` / ``postgres`` extras.

Exit codes (``EXIT_*``): 0 done; 1 nothing matched (an unknown id prefix); 2 usage error;
3 the id prefix is ambiguous; 4 the store failed or is unreachable; 5 the store cannot do
that (no user index, ...); 130 interrupted.

The package, by concept: ``_target`` opens a store from its URL and scans it, ``_commands`` runs
the commands, ``_output`` formats for people, ``_exits`` holds the exit codes; this module builds
the argument parser and maps failures to exit codes (``main`` is the console script, also run by
``python -m coatcheck`` and ``python -m coatcheck.cli``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .. import __version__
from .._errors import ConfigError, StoreError
from ._commands import BUCKETS, NO_EXPIRY, Commands
from ._exits import (
    EXIT_AMBIGUOUS,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_STORE,
    EXIT_UNSUPPORTED,
    EXIT_USAGE,
    Failure,
)
from ._output import Progress, duration, percentile, size_text, table
from ._target import BATCH, Row, Target

__all__ = [
    "BATCH",
    "BUCKETS",
    "EXIT_AMBIGUOUS",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_STORE",
    "EXIT_UNSUPPORTED",
    "EXIT_USAGE",
    "NO_EXPIRY",
    "Commands",
    "Failure",
    "Progress",
    "Row",
    "Target",
    "build_parser",
    "duration",
    "main",
    "output_flags",
    "percentile",
    "size_text",
    "table",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coatcheck",
        description="Inspect and manage the sessions in a coatcheck (or express-session) store.",
        epilog=(
            "store URLs: sqlite:///relative.sqlite3, sqlite:////abs/path.sqlite3, "
            "redis://host:6379/0, rediss://..., redis+cluster://node:7000, "
            "postgresql://user@host/db.  exit codes: 0 ok, 1 not found, 2 usage, "
            "3 ambiguous id prefix, 4 store error, 5 unsupported by this store, 130 interrupted"
        ),
    )
    parser.add_argument("--version", action="version", version=f"coatcheck {__version__}")
    parser.add_argument(
        "--store",
        default=os.environ.get("COATCHECK_STORE"),
        help="the store URL (default $COATCHECK_STORE)",
    )
    parser.add_argument(
        "--user-key",
        default=os.environ.get("COATCHECK_USER_KEY"),
        help="the session key holding the user id, as the app's user_key option "
        "(default $COATCHECK_USER_KEY; Django: _auth_user_id)",
    )
    parser.add_argument("--prefix", help="Redis key prefix (default sess:)")
    parser.add_argument("--table", help="table name (default: sessions for SQLite, session for PG)")
    parser.add_argument("--schema", help="PostgreSQL schema of the table")
    output_flags(parser, None)
    # The output flags work after the command too (``coatcheck list --json``).
    common = argparse.ArgumentParser(add_help=False)
    output_flags(common, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, parents=[common])

    command("stats", "live sessions, by expiry, size percentiles")
    listing = command("list", "list sessions (newest expiry first)")
    listing.add_argument("--user", help="only this user's sessions (uses the user index)")
    listing.add_argument("--limit", type=int, default=20, help="at most N rows (0: all; 20)")
    show = command("show", "print one session's record")
    show.add_argument("id_prefix", metavar="ID-PREFIX")
    revoke = command("revoke", "destroy one session, or every session of a user")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--user", help="every session of this user")
    which.add_argument("id_prefix", nargs="?", metavar="ID-PREFIX")
    command("prune", "delete expired sessions (SQL stores)")
    return parser


def output_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    """``--json``, ``--show-ids``, ``--progress`` (``default``: SUPPRESS on subcommands, so the
    top-level value stands unless the flag is repeated there)."""
    for flag, help in (
        ("--json", "machine-readable output"),
        ("--show-ids", "print full session ids"),
        ("--progress", "progress bar on stderr even when it is not a terminal"),
    ):
        if default is None:
            parser.add_argument(flag, action="store_true", help=help)
        else:
            parser.add_argument(flag, action="store_true", default=default, help=help)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    stream = out or sys.stdout
    if not args.store:
        parser.error("--store URL is required (or set $COATCHECK_STORE)")
    if args.command == "list" and args.limit < 0:
        parser.error("--limit must be >= 0")
    target: Target | None = None
    try:
        target = Target(args)
        return int(getattr(Commands(args, target, stream), args.command)())
    except Failure as exc:
        print(f"coatcheck: {exc}", file=sys.stderr)
        return exc.code
    except NotImplementedError as exc:
        print(f"coatcheck: {exc}", file=sys.stderr)
        return EXIT_UNSUPPORTED
    except ConfigError as exc:
        print(f"coatcheck: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TypeError as exc:  # a user id that is no user id
        print(f"coatcheck: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (StoreError, OSError) as exc:
        print(f"coatcheck: store failed: {exc}", file=sys.stderr)
        return EXIT_STORE
    except KeyboardInterrupt:
        print("coatcheck: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if target is not None:
            target.close()
