"""Every resource lives under the caller's (account, region)."""

from __future__ import annotations

import json

import pytest

from harness.live_server import LiveServer


def test_two_accounts_and_two_regions_are_isolated(client_for):
    scopes = [(key, region) for key in ("555555555555", "666666666666") for region in ("us-east-1", "eu-west-1")]
    clients = {scope: client_for(access_key=scope[0], region=scope[1]) for scope in scopes}
    for (account, region), client in clients.items():
        arn = client.create_collection(CollectionId="shared-name")["CollectionArn"]
        assert arn == f"arn:aws:rekognition:{region}:{account}:collection/shared-name"
        client.create_collection(CollectionId=f"only-{account}-{region}")

    for (account, region), client in clients.items():
        assert client.list_collections()["CollectionIds"] == ["shared-name", f"only-{account}-{region}"]

    first = clients[scopes[0]]
    first.delete_collection(CollectionId="shared-name")
    with pytest.raises(first.exceptions.ResourceNotFoundException):
        first.describe_collection(CollectionId="shared-name")
    for scope in scopes[1:]:
        described = clients[scope].describe_collection(CollectionId="shared-name")
        assert described["CollectionARN"].split(":")[3:5] == [scope[1], scope[0]]


def test_non_numeric_access_keys_share_the_default_account(client_for):
    a, b = client_for(access_key="AKIAFIRST"), client_for(access_key="AKIASECOND")
    arn = a.create_collection(CollectionId="default-account-coll")["CollectionArn"]
    assert ":123456789012:" in arn
    assert b.describe_collection(CollectionId="default-account-coll")["CollectionARN"] == arn
    a.delete_collection(CollectionId="default-account-coll")


def test_an_accounts_file_maps_access_keys_to_accounts(tmp_path, validated_operations):
    from tests.conftest import make_client

    mapping = tmp_path / "accounts.json"
    mapping.write_text(json.dumps({"AKIAALICE": "210987654321"}))
    server = LiveServer(tmp_path / "data", "--accounts", str(mapping)).start()
    try:
        alice = make_client(server.url, validated_operations, access_key="AKIAALICE")
        arn = alice.create_collection(CollectionId="mapped")["CollectionArn"]
        assert arn == "arn:aws:rekognition:us-east-1:210987654321:collection/mapped"
    finally:
        server.stop()
