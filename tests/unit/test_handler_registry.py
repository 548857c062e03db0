"""The handler table: exactly the implemented operations, each one of botocore's, each race-answering."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import rekog_compat.handlers as handlers_package
from rekog_compat.errors import ResourceNotFoundException
from rekog_compat.handlers import HANDLERS, registry
from rekog_compat.service_model import operation_names
from rekog_compat.store import CollectionMissing

IMPLEMENTED = {
    "CreateCollection", "DeleteCollection", "DescribeCollection", "ListCollections",
    "DetectFaces", "CompareFaces",
    "IndexFaces", "ListFaces", "DeleteFaces", "SearchFaces", "SearchFacesByImage",
    "CreateUser", "DeleteUser", "ListUsers", "AssociateFaces", "DisassociateFaces", "SearchUsers", "SearchUsersByImage",
    "TagResource", "UntagResource", "ListTagsForResource",
    "StartFaceDetection", "GetFaceDetection", "StartFaceSearch", "GetFaceSearch",
    "CreateStreamProcessor", "DescribeStreamProcessor", "ListStreamProcessors", "StartStreamProcessor",
    "StopStreamProcessor", "UpdateStreamProcessor", "DeleteStreamProcessor",
}
HANDLERS_DIR = Path(handlers_package.__file__).parent


def test_registered_operations_are_exactly_the_implemented_ones():
    assert len(IMPLEMENTED) == 32
    assert set(HANDLERS) == IMPLEMENTED


def test_every_registered_name_is_an_operation_of_botocores_model():
    assert set(HANDLERS) <= operation_names()


def test_the_table_holds_each_decorated_function_wrapped_to_answer_races():
    for name, handler in HANDLERS.items():
        decorated = handler.__wrapped__
        assert decorated.__module__.startswith("rekog_compat.handlers."), name
        assert getattr(importlib.import_module(decorated.__module__), decorated.__name__) is decorated


def test_a_collection_deleted_under_a_handler_answers_resource_not_found():
    def deleted_meanwhile(ctx, params):
        raise CollectionMissing("gone")

    wrapped = registry.answering_races(deleted_meanwhile)
    with pytest.raises(ResourceNotFoundException, match="The collection id: gone does not exist"):
        wrapped(None, {"CollectionId": "asked"})


def test_an_operation_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="CreateCollection"):
        registry.operation("CreateCollection")(lambda ctx, params: {})
    assert set(registry.registered()) == IMPLEMENTED


def _registers_operations(tree: ast.Module) -> bool:
    return any(
        isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "operation"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for decorator in node.decorator_list
    )


def test_operation_modules_import_no_other_operation_module():
    trees = {path.stem: ast.parse(path.read_text()) for path in HANDLERS_DIR.glob("*.py")}
    operation_modules = {name for name, tree in trees.items() if _registers_operations(tree)}
    assert operation_modules == {
        "collections", "faces", "collection_faces", "users", "tags", "video", "stream_processors"
    }
    for name in operation_modules | {"common", "registry", "store_races", "idempotency"}:
        for node in ast.walk(trees[name]):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported = {node.module} if node.module else {alias.name for alias in node.names}
                assert not imported & operation_modules, f"{name} imports {imported & operation_modules}"
