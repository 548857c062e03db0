"""rekog_sdk: the client side of rekog-compat, for AWS Rekognition or an on-prem server alike.

`connect()` builds a plain boto3 Rekognition client for either side; the helpers take any such
client, so one program runs against both. Importing the package has no side effects and loads
neither Pillow nor tqdm (they are imported when an image is re-encoded or a progress bar shown).
"""

from __future__ import annotations

from .bulk import IndexSummary, discover_images, index_folder
from .client import connect
from .external_ids import external_id_for, sanitize_external_id
from .helpers import compare_images, ensure_collection, iter_collections, iter_faces, search_image
from .images import image_param

__all__ = [
    "IndexSummary",
    "compare_images",
    "connect",
    "discover_images",
    "ensure_collection",
    "external_id_for",
    "image_param",
    "index_folder",
    "iter_collections",
    "iter_faces",
    "sanitize_external_id",
    "search_image",
]
