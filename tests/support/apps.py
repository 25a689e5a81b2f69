"""Writing a livebase app (schema and function modules) into a folder for a test."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path


def write_app(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (relative path -> source, dedented) under ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return root
