"""State survives a restart of the server on the same data directory."""

from __future__ import annotations

from harness.live_server import LiveServer
from tests.conftest import make_client


def test_collections_and_tags_survive_a_restart(tmp_path, validated_operations):
    data_dir = tmp_path / "data"
    first = LiveServer(data_dir).start()
    try:
        client = make_client(first.url, validated_operations, access_key="777777777777", region="eu-central-1")
        arns = [client.create_collection(CollectionId=f"keep-{i}", Tags={"n": str(i)})["CollectionArn"] for i in range(3)]
        client.delete_collection(CollectionId="keep-1")
        before = client.describe_collection(CollectionId="keep-0")
    finally:
        code = first.stop()
        assert code == 0, f"exit code {code}:\n" + "".join(first.output)

    second = LiveServer(data_dir).start()
    try:
        client = make_client(second.url, validated_operations, access_key="777777777777", region="eu-central-1")
        assert client.list_collections()["CollectionIds"] == ["keep-0", "keep-2"]
        after = client.describe_collection(CollectionId="keep-0")
        assert after["CreationTimestamp"] == before["CreationTimestamp"]
        assert after["CollectionARN"] == before["CollectionARN"]
        assert client.list_tags_for_resource(ResourceArn=arns[2])["Tags"] == {"n": "2"}
    finally:
        second.stop()


def test_pagination_tokens_stay_valid_across_a_restart(tmp_path, validated_operations):
    data_dir = tmp_path / "data"
    first = LiveServer(data_dir).start()
    try:
        client = make_client(first.url, validated_operations)
        for i in range(3):
            client.create_collection(CollectionId=f"p{i}")
        token = client.list_collections(MaxResults=2)["NextToken"]
    finally:
        first.stop()
    second = LiveServer(data_dir).start()
    try:
        client = make_client(second.url, validated_operations)
        assert client.list_collections(MaxResults=2, NextToken=token)["CollectionIds"] == ["p2"]
    finally:
        second.stop()
