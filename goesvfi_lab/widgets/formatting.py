"""The panels' stylesheet; their HTML is in :mod:`goesvfi_lab.html` (pure, shared with the dashboard page).

Only what belongs to the widgets package stays here: ``style.css``, read from next to this module.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The panels' CSS (``style.css`` next to this module)."""
    return resources.files(__package__).joinpath("style.css").read_text(encoding="utf-8")


def style_tag() -> str:
    return f"<style>{stylesheet()}</style>"
