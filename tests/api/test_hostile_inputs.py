"""Every hostile or broken file through the operations that take images: an answer or the AWS
image error, never a 500; the server keeps serving and the collection stays intact."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.support.facedata import facedata_dir, facedata_files

IMAGE_ERRORS = {"InvalidImageFormatException", "ImageTooLargeException", "ValidationException"}
GROUP = "nonface_and_bad_inputs/faces_public_domain_and_formats/insightface_t1_friends_6faces.jpg"


def outcome(call, **kwargs) -> str:
    try:
        call(**kwargs)
    except ClientError as error:
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400, error.response
        return str(error.response["Error"]["Code"])
    return "OK"


@pytest.mark.parametrize("operation", ["index_faces", "search_faces_by_image", "compare_faces",
                                       "search_users_by_image"])
def test_hostile_files_get_an_answer_or_an_image_error_and_nothing_is_lost(rekognition, server, operation):
    files = facedata_files("nonface_and_bad_inputs")
    assert len(files) > 100
    rekognition.create_collection(CollectionId="guarded")
    kept = rekognition.index_faces(CollectionId="guarded", Image={"Bytes": (facedata_dir() / GROUP).read_bytes()},
                                   ExternalImageId="kept", QualityFilter="NONE")["FaceRecords"]
    before = rekognition.describe_collection(CollectionId="guarded")["FaceCount"]
    good = {"Bytes": (facedata_dir() / GROUP).read_bytes()}
    outcomes = {}
    for relative in files:
        image = {"Bytes": (facedata_dir() / relative).read_bytes()}
        if operation == "compare_faces":
            result = outcome(rekognition.compare_faces, SourceImage=good, TargetImage=image)
        elif operation == "index_faces":
            result = outcome(rekognition.index_faces, CollectionId="guarded", Image=image, ExternalImageId="probe",
                             MaxFaces=1)
        else:
            result = outcome(getattr(rekognition, operation), CollectionId="guarded", Image=image)
        assert result in IMAGE_ERRORS | {"OK", "InvalidParameterException"}, (relative, result)
        outcomes[relative] = result
        assert server.alive()
    # Every refused file was refused for its image; the collection only grew by what was indexed.
    assert "InvalidImageFormatException" in outcomes.values() and "OK" in outcomes.values()
    faces = [f for page in rekognition.get_paginator("list_faces").paginate(CollectionId="guarded")
             for f in page["Faces"]]
    assert {f["FaceId"] for f in faces} >= {r["Face"]["FaceId"] for r in kept}
    if operation != "index_faces":
        assert rekognition.describe_collection(CollectionId="guarded")["FaceCount"] == before
