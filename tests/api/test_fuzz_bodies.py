"""Property-based fuzzing of every implemented operation's request body, over real HTTP.

Bodies are generated from botocore's own input shapes (`rekog_compat.service_model`): members that obey or break
their min/max/pattern/enum, integers and floats in and out of range (NaN and infinities included), blobs as base64
of random bytes, of corrupt or tiny real PNG/JPEG files and invalid base64, nested structures, lists and maps
(empty, small, one past their maximum), plus wrong JSON types, nulls, unknown members, huge strings (to ~100 KB),
lone surrogates, deep nesting and bodies that are not JSON objects. Each one goes to the live server with a valid
X-Amz-Target and content type; whatever it is, the answer must be a non-5xx JSON document (`__type` on errors, the
output shape on success), within a bounded time, and the server must stay up.

Image.S3Object is only ever generated with an invalid Bucket: a valid one would make the server fetch from AWS
(the session server has no --s3-endpoint-url), which is neither offline nor bounded in time.

Everything is derandomized (`derandomize=True`, no example database) so CI runs the same examples every time.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.model import Shape, StructureShape
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from PIL import Image

from harness.facedata import facedata_location
from harness.live_server import LiveServer
from rekog_compat.handlers import HANDLERS
from rekog_compat.protocol import dump
from rekog_compat.service_model import operation_model
from tests.support.shape_validation import output_problems

FUZZ_ACCOUNT = "424242424242"  # a 12-digit access key is the account: the fuzz keeps to its own
AUTHORIZATION = (
    f"AWS4-HMAC-SHA256 Credential={FUZZ_ACCOUNT}/20250101/us-east-1/rekognition/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)
ANSWER_TIMEOUT_S = 20.0
EXAMPLES_PER_OPERATION = 100
HOSTILE_EXAMPLES = 150
OPERATIONS = sorted(HANDLERS)
SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


# -- talking to the server ---------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    document: Any
    seconds: float


def send(url: str, operation: str, body: bytes) -> Answer:
    """POST `body` as `operation` with plain urllib; fails the test on a hang or an answer that is not JSON."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"RekognitionService.{operation}",
        "Authorization": AUTHORIZATION,
    })
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT_S) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    except (TimeoutError, urllib.error.URLError, ConnectionError) as error:
        pytest.fail(f"{operation}: no answer ({error!r}) to body {shown(body)}")
    seconds = time.monotonic() - started
    try:
        document = json.loads(payload)
    except ValueError:
        pytest.fail(f"{operation}: HTTP {status} answer is not JSON: {payload[:300]!r}; body {shown(body)}")
    return Answer(status, document, seconds)


def shown(body: bytes, limit: int = 400) -> str:
    return repr(body[:limit]) + (f"... ({len(body)} bytes)" if len(body) > limit else "")


def remark(text: str) -> None:
    """A note in Hypothesis's report of a failing example (the regression tests run outside Hypothesis)."""
    if currently_in_test_context():
        note(text)


def check_exchange(server: LiveServer, operation: str, body: bytes) -> Answer:
    """Send one fuzzed body and check every invariant of the answer."""
    remark(f"{operation} body: {shown(body)}")
    answer = send(server.url, operation, body)
    remark(f"answer: HTTP {answer.status} {str(answer.document)[:300]}")
    assert answer.status < 500, f"{operation}: HTTP {answer.status} {answer.document} for body {shown(body)}"
    assert answer.seconds < ANSWER_TIMEOUT_S
    assert isinstance(answer.document, dict)
    if answer.status == 200:
        problems = output_problems(operation_model(operation), answer.document)
        assert not problems, f"{operation}: response outside its output shape: {problems}; body {shown(body)}"
    else:
        assert answer.document.get("__type"), answer.document
        assert answer.document.get("Message") is not None, answer.document
    assert server.alive(), "".join(server.output[-40:])
    return answer


# -- things to put in the bodies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text spliced into a body as it is: nesting deeper than json.dumps (or anything recursive) would go."""

    text: str


def encode(value: Any) -> str:
    """JSON text of a generated value; NaN and infinities are written as Python's json writes them."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)  # ensure_ascii: lone surrogates travel as \udXXX escapes


def deep(levels: int, kind: str) -> Raw:
    if kind == "[":
        return Raw("[" * levels + "]" * levels)
    return Raw('{"a":' * levels + "null" + "}" * levels)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tiny_image(width: int, height: int, mode: str, fmt: str) -> bytes:
    """A real, decodable image far too small to hold a face (fast to decode and to search)."""
    image = Image.new(mode, (width, height))
    if fmt == "JPEG" and mode not in ("L", "RGB", "CMYK"):
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk claiming any size, with no pixel data (a decompression-bomb shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


surrogates = st.integers(0xD800, 0xDFFF).map(chr)
characters = st.one_of(st.characters(codec="ascii"), st.characters(), surrogates)
short_text = st.text(characters, max_size=24)
huge_text = st.builds(lambda c, n: c * n, st.one_of(st.just("a"), characters), st.integers(1_000, 100_000))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    short_text,
)
any_json = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(short_text, inner, max_size=3)),
    max_leaves=8,
)
deep_values = st.builds(deep, st.sampled_from([2, 50, 200, 1_000, 5_000, 50_000]), st.sampled_from("[{"))
image_bytes = st.one_of(
    st.binary(max_size=64),
    st.builds(tiny_image, st.integers(1, 48), st.integers(1, 48), st.sampled_from(["L", "RGB", "RGBA", "P"]),
              st.sampled_from(["PNG", "JPEG"])),
    st.builds(lambda data: b"\xff\xd8\xff" + data, st.binary(max_size=64)),
    st.builds(lambda data: b"\x89PNG\r\n\x1a\n" + data, st.binary(max_size=64)),
    st.builds(png_header, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1)),
    st.builds(lambda image, cut: image[:cut], st.builds(tiny_image, st.just(40), st.just(40), st.just("RGB"),
                                                          st.sampled_from(["PNG", "JPEG"])), st.integers(0, 200)),
)
bad_base64 = st.one_of(
    st.just(""), st.just("A"), st.just("AAA"), st.just("A==="), st.just("=="),
    st.text(st.sampled_from("!@#$%^&*() \n\t"), min_size=1, max_size=8),
    st.builds(lambda s: b64(s) + "*", st.binary(min_size=1, max_size=16)),
)


@dataclass
class Seeds:
    """What the fuzz account holds before fuzzing: values the bodies use so that calls reach past 'not found'."""

    hints: dict[str, list[str]] = field(default_factory=dict)

    def for_operation(self, operation: str) -> dict[str, list[str]]:
        # Destructive operations aim at scratch resources, so the shared ones stay for the later operations.
        if operation == "DeleteCollection":
            return {**self.hints, "CollectionId": ["fuzz-scratch"]}
        if operation in ("DeleteUser", "DisassociateFaces"):
            return {**self.hints, "UserId": ["fuzz-scratch-user"]}
        return self.hints


# -- strategies from shapes --------------------------------------------------------------------------------------
#
# A body is built valid first, member by member from the shape; then, at a mutation rate drawn once per body (0 for
# about half of them, which is also what shrinking aims at), any value may be swapped for a broken one: out of its
# constraints, of another JSON type, null, huge or deeply nested; required members may go missing and unknown ones
# appear. Valid bodies reach the handlers (and the store, the engine and the audit log); broken ones, validation.

RATES = [0, 0, 0, 5, 15, 40]  # percent of values broken in one body
valid_characters = st.one_of(st.characters(codec="ascii"), st.characters())


def strings(shape: Shape, hints: dict[str, list[str]]) -> st.SearchStrategy[str]:
    """Strings that satisfy the shape's length, pattern and enum (or a hint: a name the fuzz account holds)."""
    meta = shape.metadata
    low, high = meta.get("min", 0), meta.get("max")
    if "enum" in meta:
        return st.sampled_from(meta["enum"])
    pattern = meta.get("pattern")
    if pattern and "\\p{" in pattern:  # Java classes (TagKey, TagValue): letters, separators, numbers, symbols
        alphabet = st.one_of(st.characters(categories=["L", "Z", "N"]), st.sampled_from("_.:/=+-@"))
        fitting = st.text(alphabet, min_size=low, max_size=min(high or 32, 32))
    elif pattern:
        fitting = st.from_regex(pattern, fullmatch=True).map(lambda text: text[:high] if high else text)
    else:
        fitting = st.text(valid_characters, min_size=low, max_size=min(high or 64, 64))
    fitting = fitting.filter(lambda text: len(text) >= low)
    if shape.name in hints:
        return st.one_of(st.sampled_from(hints[shape.name]), st.sampled_from(hints[shape.name]), fitting)
    return fitting


def broken_strings(shape: Shape, hints: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    meta = shape.metadata
    low, high = meta.get("min", 0), meta.get("max")
    options: list[st.SearchStrategy[Any]] = [short_text, huge_text, st.builds(
        lambda text, junk: text + junk, strings(shape, hints), st.sampled_from([" ", "!", "\x00", "\ud800", "é"]))]
    if low > 0:
        options.append(st.just("a" * (low - 1)))
    if high is not None and high < 200_000:
        options.append(st.just("a" * (high + 1)))
    if "enum" in meta:
        options.append(st.sampled_from([value.lower() for value in meta["enum"]] + ["BEST", ""]))
    return st.one_of(options)


def numbers(shape: Shape) -> st.SearchStrategy[Any]:
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")
    if shape.type_name in ("integer", "long"):
        return st.integers(low if low is not None else -(2**31), high if high is not None else 2**31)
    return st.one_of(st.floats(low, high, allow_nan=False), st.integers(int(low or 0), int(high or 100)))


def broken_numbers(shape: Shape) -> st.SearchStrategy[Any]:
    meta = shape.metadata
    edges = [v for v in (meta.get("min"), meta.get("max")) if v is not None]
    outside = [v - 1 for v in edges] + [v + 1 for v in edges]
    if shape.type_name in ("float", "double"):
        outside += [v - 1e-9 for v in edges] + [v + 1e-9 for v in edges]
    specials = [float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324, 0.5, 2**31, 2**63, -(2**63) - 1,
                10**100, True, "5", "50.0"]
    return st.sampled_from(outside + specials)


def oversize_blob() -> str:
    """Base64 of one byte more than Image.Bytes' 5,242,880 (decodes to zeros)."""
    return "A" * 6_990_508


def broken_blobs() -> st.SearchStrategy[Any]:
    return st.one_of(bad_base64, bad_base64, st.builds(oversize_blob))


@st.composite
def structures(draw: st.DrawFn, shape: StructureShape, hints: dict[str, list[str]], rate: int) -> dict[str, Any]:
    if shape.name == "Image" and not (rate and draw(st.integers(0, 99)) < rate):
        return {"Bytes": b64(draw(image_bytes))}  # never S3Object: it would be a fetch from AWS
    body: dict[str, Any] = {}
    for name, member in shape.members.items():
        if name in shape.required_members:
            if rate and draw(st.integers(0, 99)) < rate:  # a required member absent, or null
                if draw(st.booleans()):
                    body[name] = None
                continue
        elif not draw(st.booleans()):
            continue
        if name == "S3Object":  # always with a Bucket that fails validation: never a fetch from AWS
            body[name] = {"Bucket": draw(st.sampled_from(["", "ab", "bad bucket!", "a" * 256])),
                          "Name": draw(st.one_of(short_text, st.just("photo.jpg")))}
            continue
        body[name] = draw(values(member, hints, rate))
    if rate and draw(st.integers(0, 99)) < rate:
        unknown = st.text(characters, max_size=12).filter(lambda key: key not in shape.members)
        body.update(draw(st.dictionaries(unknown, any_json, min_size=1, max_size=2)))
    return body


@st.composite
def values(draw: st.DrawFn, shape: Shape, hints: dict[str, list[str]], rate: int) -> Any:
    """A value for `shape`: valid, or (at `rate` percent, at every level) broken."""
    kind, meta = shape.type_name, shape.metadata
    if rate and draw(st.integers(0, 99)) < rate:
        return draw(broken(shape, hints))
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        return draw(structures(shape, hints, rate))
    if kind == "list":
        low = meta.get("min", 0)
        return draw(st.lists(values(shape.member, hints, rate), min_size=low, max_size=max(low, 3)))
    if kind == "map":
        low = meta.get("min", 0)
        return draw(st.dictionaries(strings(shape.key, hints), values(shape.value, hints, rate), min_size=low,
                                    max_size=max(low, 3)))
    if kind == "string":
        return draw(strings(shape, hints))
    if kind in ("integer", "long", "float", "double"):
        return draw(numbers(shape))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "blob":
        return b64(draw(image_bytes))
    return draw(any_json)  # pragma: no cover - no other types in the input shapes


def broken(shape: Shape, hints: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    """A value that `shape` must refuse: out of its constraints, of another JSON type, null, huge or deep."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "string":
        typed = broken_strings(shape, hints)
    elif kind in ("integer", "long", "float", "double"):
        typed = broken_numbers(shape)
    elif kind == "blob":
        typed = broken_blobs()
    elif kind == "list":
        item = values(shape.member, hints, 0)
        high = meta.get("max")
        typed = st.one_of(st.just([]), st.lists(st.none(), min_size=1, max_size=2),
                          *([item.map(lambda v: [v] * (high + 1))] if high is not None else []))
    elif kind == "map":
        high = meta.get("max")
        typed = st.one_of(st.dictionaries(broken_strings(shape.key, hints), strings(shape.value, hints),
                                          min_size=1, max_size=2),
                          *([st.just({f"k{i}": "v" for i in range(high + 1)})] if high is not None else []))
    elif kind == "structure":
        typed = st.one_of(st.just({}), st.dictionaries(short_text, any_json, max_size=3))
    else:
        typed = st.nothing()
    return st.one_of(typed, typed, any_json, st.none(), deep_values)


def bodies_for(operation: str, seeds: Seeds) -> st.SearchStrategy[bytes]:
    shape = operation_model(operation).input_shape
    assert isinstance(shape, StructureShape)
    hints = seeds.for_operation(operation)
    structured = st.sampled_from(RATES).flatmap(lambda rate: structures(shape, hints, rate))
    encoded = structured.map(lambda body: encode(body).encode())
    return st.one_of(encoded, encoded, encoded, encoded, encoded, encoded, encoded, hostile_bodies)


non_objects = st.one_of(scalars, st.lists(any_json, max_size=3), deep_values)
hostile_bodies = st.one_of(
    non_objects.map(lambda value: encode(value).encode()),
    deep_values.map(lambda value: value.text.encode()),
    st.builds(lambda levels: ('{"CollectionId":"fuzz-scratch","Tags":' + deep(levels, "{").text + "}").encode(),
              st.sampled_from([200, 5_000, 50_000])),
    st.binary(max_size=64),
    st.sampled_from([b"", b" ", b"{", b"}", b"{}}", b'{"a":1,}', b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b"NaN",
                     b'{"CollectionId":"fuzz-scratch","CollectionId":"fuzz-scratch"}', b"[" * 10 + b"]" * 9]),
    huge_text.map(lambda text: encode({"CollectionId": text, "junk": text}).encode()),
)


# -- the fuzz account ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds(server: LiveServer) -> Seeds:
    """Collections (and, with the face data, a face and a user) in the fuzz account, named by the hints."""

    def call(operation: str, body: dict[str, Any]) -> Any:
        answer = send(server.url, operation, json.dumps(body).encode())
        assert answer.status == 200, (operation, answer.document)
        return answer.document

    for collection in ("fuzz", "fuzz-scratch"):
        call("CreateCollection", {"CollectionId": collection})
    arn = f"arn:aws:rekognition:us-east-1:{FUZZ_ACCOUNT}:collection/fuzz"
    face_ids = ["00000000-0000-0000-0000-000000000000"]
    users = ["fuzz-user", "fuzz-scratch-user"]
    for user in users:
        call("CreateUser", {"CollectionId": "fuzz", "UserId": user})
    photos = sorted((facedata_location() / "lfw_tiny").glob("*/*.jpg"))
    if photos:
        indexed = call("IndexFaces", {"CollectionId": "fuzz", "Image": {"Bytes": b64(photos[0].read_bytes())},
                                      "ExternalImageId": "seed", "MaxFaces": 2, "QualityFilter": "NONE"})
        seeded = [record["Face"]["FaceId"] for record in indexed["FaceRecords"]]
        if seeded:
            call("AssociateFaces", {"CollectionId": "fuzz", "UserId": "fuzz-user", "FaceIds": seeded[:1]})
        face_ids = seeded + face_ids
    return Seeds({
        "CollectionId": ["fuzz", "fuzz", "fuzz", "fuzz-scratch", "never-created"],
        "FaceId": face_ids,
        "UserId": users,
        "ExternalImageId": ["seed"],
        "ResourceArn": [arn, arn.replace(FUZZ_ACCOUNT, "111111111111"), "arn:aws:rekognition:us-east-1:x"],
    })


# -- the properties ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
@settings(SETTINGS, max_examples=EXAMPLES_PER_OPERATION)
@given(data=st.data())
def test_fuzzed_bodies_get_an_aws_answer_and_never_a_5xx(server: LiveServer, seeds: Seeds, operation: str,
                                                         data: st.DataObject) -> None:
    body = data.draw(bodies_for(operation, seeds))
    check_exchange(server, operation, body)


@settings(SETTINGS, max_examples=HOSTILE_EXAMPLES)
@given(operation=st.sampled_from(OPERATIONS), body=hostile_bodies)
def test_hostile_bodies_to_any_operation_get_an_aws_answer(server: LiveServer, operation: str, body: bytes) -> None:
    check_exchange(server, operation, body)


# -- regressions of what the fuzzing found ----------------------------------------------------------------------


# Was a 500: json.loads raised RecursionError (not a ValueError) past ~1000 levels.
@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b'{"CollectionId":"fuzz","Tags":' + b'{"a":' * 5_000 + b"null" + b"}" * 5_001,
], ids=["list-100k-deep", "object-5k-deep", "member-5k-deep"])
def test_nesting_deeper_than_the_parser_recurses_is_a_serialization_exception(server: LiveServer,
                                                                              body: bytes) -> None:
    answer = check_exchange(server, "CreateCollection", body)
    assert (answer.status, answer.document["__type"]) == (400, "SerializationException")


# Was a 500: a lone \udXXX escape became a str with no UTF-8 form; the ValidationException echoing it failed in
# the response encoder, outside dispatch's error handling, and Flask answered 500 (as UnknownOperationException).
@pytest.mark.parametrize(("operation", "body"), [
    ("DescribeCollection", {"CollectionId": "\ud800"}),
    ("CreateCollection", {"CollectionId": "fuzz-tags", "Tags": {"k": "\udc00"}}),
    ("ListTagsForResource", {"ResourceArn": "arn:aws:rekognition:us-east-1:\udbff:collection/x"}),
    ("ListCollections", {"NextToken": "\ud83d"}),
    ("DetectFaces", {"Image": {"S3Object": {"Bucket": "bucket", "Name": "\udfff.jpg"}}}),
], ids=["collection-id", "tag-value", "arn", "next-token", "s3-name"])
def test_unpaired_surrogate_escapes_are_a_serialization_exception(server: LiveServer, operation: str,
                                                                  body: dict[str, Any]) -> None:
    answer = check_exchange(server, operation, json.dumps(body).encode())
    assert (answer.status, answer.document["__type"]) == (400, "SerializationException")


def test_paired_surrogate_escapes_are_ordinary_characters(server: LiveServer) -> None:
    answer = check_exchange(server, "DescribeCollection", json.dumps({"CollectionId": "\U0001f600"}).encode())
    assert answer.document["__type"] == "ValidationException"
    assert "\U0001f600" in answer.document["Message"]


def test_answers_stay_utf8_json_whatever_text_reaches_them() -> None:
    # Defence in depth behind the refusal above: an answer holding a lone surrogate is still written (escaped).
    raw = dump({"Message": "Value '\udc00' at 'x'", "Id": "\U0001f600 é"})
    assert json.loads(raw.decode("utf-8")) == {"Message": "Value '\udc00' at 'x'", "Id": "\U0001f600 é"}


# Was a 200: Python's json reads NaN; NaN fails no min/max comparison, so a FaceMatchThreshold of NaN passed
# validation, the search ran at NaN (matching nothing) and the audit record said "applied": NaN, which is not JSON.
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_json_constants_are_a_serialization_exception(server: LiveServer, constant: str) -> None:
    body = f'{{"CollectionId":"fuzz","FaceId":"00000000-0000-0000-0000-000000000000","FaceMatchThreshold":{constant}}}'
    answer = check_exchange(server, "SearchFaces", body.encode())
    assert (answer.status, answer.document["__type"]) == (400, "SerializationException")


def test_the_server_still_answers_boto3_after_the_fuzzing(server: LiveServer, client_for: Any) -> None:
    assert server.alive()
    collections = client_for(access_key=FUZZ_ACCOUNT).list_collections()["CollectionIds"]
    assert "fuzz" in collections
