"""request_types.py is what botocore's model renders, and each handler takes its operation's TypedDict."""

from __future__ import annotations

import inspect

from rekog_compat.handlers import HANDLERS, request_types
from rekog_compat.handlers.gen_request_types import TARGET, render
from rekog_compat.service_model import operation_model


def test_committed_request_types_match_botocores_model():
    assert TARGET.read_text() == render(HANDLERS), (
        "request_types.py is stale: run `python -m rekog_compat.handlers.gen_request_types`"
    )


def test_each_request_typeddict_requires_what_the_model_requires():
    for name in HANDLERS:
        shape = operation_model(name).input_shape
        typed = getattr(request_types, shape.name)
        assert typed.__required_keys__ == frozenset(shape.required_members), name
        assert typed.__required_keys__ | typed.__optional_keys__ == frozenset(shape.members), name


def test_nested_structures_are_typeddicts_too():
    assert request_types.Image.__optional_keys__ == {"Bytes", "S3Object"}
    assert request_types.S3Object.__optional_keys__ == {"Bucket", "Name", "Version"}


def test_each_handler_takes_its_operations_request_typeddict():
    for name, handler in HANDLERS.items():
        params = list(inspect.signature(handler.__wrapped__).parameters.values())[1]
        assert params.annotation == operation_model(name).input_shape.name, name
