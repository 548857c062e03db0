"""One handler per implemented API call: orchestration only, no HTTP, no SQL."""

from __future__ import annotations

from . import collection_faces, collections, faces, tags, users
from .store_races import Handler, answering_races

_HANDLERS: dict[str, Handler] = {
    "CreateCollection": collections.create_collection,
    "DeleteCollection": collections.delete_collection,
    "DescribeCollection": collections.describe_collection,
    "ListCollections": collections.list_collections,
    "DetectFaces": faces.detect_faces,
    "CompareFaces": faces.compare_faces,
    "IndexFaces": collection_faces.index_faces,
    "ListFaces": collection_faces.list_faces,
    "DeleteFaces": collection_faces.delete_faces,
    "SearchFaces": collection_faces.search_faces,
    "SearchFacesByImage": collection_faces.search_faces_by_image,
    "CreateUser": users.create_user,
    "DeleteUser": users.delete_user,
    "ListUsers": users.list_users,
    "AssociateFaces": users.associate_faces,
    "DisassociateFaces": users.disassociate_faces,
    "SearchUsers": users.search_users,
    "SearchUsersByImage": users.search_users_by_image,
    "TagResource": tags.tag_resource,
    "UntagResource": tags.untag_resource,
    "ListTagsForResource": tags.list_tags_for_resource,
}

# Every handler answers a collection, user or face deleted under it as AWS does (store_races.py).
HANDLERS: dict[str, Handler] = {name: answering_races(handler) for name, handler in _HANDLERS.items()}
