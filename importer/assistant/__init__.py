"""The mapping assistant behind ``cg-import init``: propose a mapping file for an export.

It reads the header and the first rows (``read/``), recognises a known export by its
headers (the profiles in ``schemas/profiles/``), maps every API field to a column (exact
and normalised names, then the profiles' aliases, then fuzzy names, then the values
themselves: ``column_choice.py``), infers ``date_format`` from the sampled values
(``dates.py``) and renders a commented TOML that lists every input column
(``toml_file.py``). ``check_sample`` then validates the sample with the file written, as
``validate`` would (``preview.py``, with ``mapping.py`` and ``validate.py``).
"""

from __future__ import annotations

from .preview import SampleCheck, check_sample, summary_lines
from .proposal import Proposal, load_profiles, propose
from .toml_file import PLACEHOLDER, render

__all__ = [
    "PLACEHOLDER",
    "Proposal",
    "SampleCheck",
    "check_sample",
    "load_profiles",
    "propose",
    "render",
    "summary_lines",
]
