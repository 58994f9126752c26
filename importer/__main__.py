"""``python -m importer`` is the same program as ``cg-import``."""

import sys

from .cli import main

sys.exit(main())
