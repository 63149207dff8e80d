"""``python -m coatcheck``: the ``coatcheck`` console script (see ``coatcheck.cli``)."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
