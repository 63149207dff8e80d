"""``python -m coatcheck.cli``: the ``coatcheck`` console script."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
