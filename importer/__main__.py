"""``python -m importer`` is the same program as ``cg-import``."""

from .cli import console

console()
