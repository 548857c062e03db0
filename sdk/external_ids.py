"""ExternalImageId values that Rekognition accepts, made from file and folder names.

The service's model constrains `ExternalImageId` to `[a-zA-Z0-9_.\\-:]+`, 1 to 255 characters; a name
with a space, an accent or an apostrophe ("José María", "O'Neil") would fail validation. Names are
therefore sanitized the same way everywhere (bulk indexing, resume, the CLI): every other character
becomes `_`, the result is cut to 255 characters, and an empty name becomes `_`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

ExternalIdMode = Literal["filename", "folder"]

MAX_LENGTH = 255
_DISALLOWED = re.compile(r"[^a-zA-Z0-9_.\-:]")


def sanitize_external_id(name: str) -> str:
    """`name` with every character outside `[a-zA-Z0-9_.\\-:]` replaced by `_`, at most 255 long, never empty.

    >>> sanitize_external_id("José María")
    'Jos__Mar_a'
    """
    return _DISALLOWED.sub("_", name)[:MAX_LENGTH] or "_"


def external_id_for(path: Path, mode: ExternalIdMode) -> str:
    """The ExternalImageId of an image file: its stem (`"filename"`) or its parent folder's name (`"folder"`)."""
    if mode == "filename":
        return sanitize_external_id(path.stem)
    if mode == "folder":
        return sanitize_external_id(path.parent.name)
    raise ValueError(f"external_id must be 'filename' or 'folder', not {mode!r}")
