"""The cloud-vs-on-prem comparison report (rekog_sdk.report).

- the metric functions on hand-made inputs, edge cases included;
- the whole pipeline on two deterministic in-process fakes (fast: disagreements, thumbnails,
  no-face images, AWS cost), and its HTML in a real headless Chromium;
- a real comparison between two rekog-compat servers with different detectors (dlib's HOG
  and dlib's CNN), on LFW photos, and that report's HTML in Chromium too.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from PIL import Image, ImageDraw
from rekog_sdk.report import metrics as m
from rekog_sdk.report import run_comparison
from rekog_sdk.report.analysis import probe_metrics
from rekog_sdk.report.cost import is_aws_endpoint, side_cost
from rekog_sdk.report.dataset import (
    ImageItem,
    assign_external_ids,
    find_images,
    identities_known,
    sample_indices,
    sanitize_external_id,
)
from rekog_sdk.report.workload import CallRecord

from harness.live_server import LiveServer
from tests.support.browser import chromium, page_problems, render, require_chromium
from tests.support.facedata import facedata_dir
from tests.support.shape_validation import install_output_validation

SECTION_IDS = ("summary", "charts", "latency", "cost", "detection", "compare", "disagreements", "probes", "gallery",
               "config")


# -- metric functions ------------------------------------------------------------------------------------------------


def test_jaccard() -> None:
    assert m.jaccard(["a", "b", "c"], ["c", "b", "a"]) == 1.0
    assert m.jaccard(["a", "b", "c"], ["b", "c", "d"]) == 0.5
    assert m.jaccard(["a"], ["b"]) == 0.0
    assert m.jaccard([], ["b"]) == 0.0
    assert m.jaccard([], []) == 1.0  # two empty sets are the same set
    assert m.jaccard(["a", "a", "b"], ["a"]) == 0.5  # sets, not lists


def test_average_ranks_share_ties() -> None:
    assert m.average_ranks([10.0, 30.0, 20.0]).tolist() == [1.0, 3.0, 2.0]
    assert m.average_ranks([5.0, 1.0, 5.0, 5.0]).tolist() == [3.0, 1.0, 3.0, 3.0]
    assert m.average_ranks([]).tolist() == []


def test_spearman() -> None:
    assert m.spearman([1, 2, 3, 4], [10, 20, 400, 8000]) == pytest.approx(1.0)  # monotonic, not linear
    assert m.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert m.spearman([1, 2], [5, 3]) == pytest.approx(-1.0)
    # With ties (average ranks): x ranks 1..5, y = [5, 6, 7, 8, 7] ranks [1, 2, 3.5, 5, 3.5];
    # deviations [-2,-1,0,1,2] and [-2,-1,.5,2,.5]: rho = 8 / sqrt(10 * 9.5).
    assert m.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))


def test_spearman_undefined() -> None:
    assert m.spearman([], []) is None
    assert m.spearman([1.0], [2.0]) is None  # fewer than 2 shared matches
    assert m.spearman([1, 2, 3], [7, 7, 7]) is None  # no ranking on one side
    with pytest.raises(ValueError):
        m.spearman([1, 2], [1, 2, 3])


def test_iou() -> None:
    assert m.iou((0, 0, 2, 2), (0, 0, 2, 2)) == 1.0
    assert m.iou((0, 0, 2, 2), (1, 0, 2, 2)) == pytest.approx(2 / 6)
    assert m.iou((0, 0, 4, 4), (1, 1, 2, 2)) == pytest.approx(4 / 16)  # one inside the other
    assert m.iou((0, 0, 1, 1), (1, 0, 1, 1)) == 0.0  # touching edges
    assert m.iou((0, 0, 1, 1), (5, 5, 1, 1)) == 0.0
    assert m.iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0  # empty boxes
    # Ratio boxes give the pixel IoU (each axis scaled by its own factor).
    ratio = m.iou((0.1, 0.2, 0.5, 0.4), (0.2, 0.25, 0.5, 0.4))
    pixels = m.iou(m.ratio_box_to_pixels({"Left": 0.1, "Top": 0.2, "Width": 0.5, "Height": 0.4}, 640, 480),
                   m.ratio_box_to_pixels({"Left": 0.2, "Top": 0.25, "Width": 0.5, "Height": 0.4}, 640, 480))
    assert ratio == pytest.approx(pixels)


def test_greedy_match_takes_the_best_pair_first() -> None:
    a = [(0.0, 0.0, 10.0, 10.0), (8.0, 0.0, 10.0, 10.0), (100.0, 100.0, 5.0, 5.0)]
    b = [(1.0, 0.0, 10.0, 10.0), (0.0, 0.0, 10.0, 10.0)]
    pairs = m.greedy_match(a, b)
    # a0-b1 is exact (1.0); then a1 takes b0 (its only candidate left); a2 overlaps nothing.
    assert [(i, j) for i, j, _ in pairs] == [(0, 1), (1, 0)]
    assert pairs[0][2] == 1.0
    assert pairs[1][2] == pytest.approx(m.iou(a[1], b[0]))
    assert m.greedy_match([], b) == []
    assert m.greedy_match(a, []) == []
    assert m.greedy_match(a[:1], b[:1], min_iou=0.9) == []  # 0.818 is not enough


def test_landmark_distance() -> None:
    a = {"eyeLeft": (10.0, 10.0), "eyeRight": (30.0, 10.0), "nose": (20.0, 20.0), "other": (0.0, 0.0)}
    b = {"eyeLeft": (13.0, 14.0), "eyeRight": (30.0, 10.0), "nose": (20.0, 21.0), "other": (50.0, 50.0)}
    assert m.landmark_distances(a, b) == {"eyeLeft": 5.0, "eyeRight": 0.0, "nose": 1.0}  # the 5 default types only
    assert m.box_diagonal((0, 0, 30, 40)) == 50.0
    points = m.landmarks_to_pixels([{"Type": "nose", "X": 0.5, "Y": 0.25}, {"Type": "bad", "X": None}], 200, 100)
    assert points == {"nose": (100.0, 25.0)}


def test_latency_summary_and_rates() -> None:
    stats = m.latency_summary([0.1, 0.2, 0.3, 0.4])
    assert stats["count"] == 4
    assert stats["mean_ms"] == pytest.approx(250.0)
    assert stats["p50_ms"] == pytest.approx(250.0)
    assert stats["p95_ms"] == pytest.approx(385.0)  # linear interpolation
    assert m.latency_summary([])["p50_ms"] is None
    assert m.rate([True, False, None, True]) == pytest.approx(2 / 3)
    assert m.rate([None]) is None
    assert m.first_rank(["x", None, "y", "y"], "y") == 3
    assert m.first_rank(["x"], "y") is None


def test_dataset_rules(tmp_path: Path) -> None:
    assert sanitize_external_id("Jean Dupont (1)") == "Jean_Dupont__1_"
    assert sanitize_external_id("ok-name_1.v2:x") == "ok-name_1.v2:x"
    assert sanitize_external_id("éé") == "__"
    assert len(sanitize_external_id("x" * 300)) == 255
    for rel in ("alice/a 1.jpg", "bob/a 1.JPG", "bob/b.png", "bob/notes.txt", ".hidden/c.jpg", "carol/deep/d.jpeg"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    items = find_images(tmp_path)
    assert [i.relative for i in items] == ["alice/a 1.jpg", "bob/a 1.JPG", "bob/b.png", "carol/deep/d.jpeg"]
    assert [i.identity for i in items] == ["alice", "bob", "bob", "deep"]
    ids = assign_external_ids(items)
    assert list(ids) == ["a_1", "a_1-2", "b", "d"]  # same stem, two folders: still unique
    assert ids["a_1-2"].relative == "bob/a 1.JPG"
    assert identities_known(items, items)
    loose = ImageItem(tmp_path / "x.jpg", "x.jpg", None)
    assert not identities_known(items, [loose])
    assert sample_indices(10, 4) == [0, 2, 5, 7]
    assert sample_indices(3, 10) == [0, 1, 2]
    assert sample_indices(5, 0) == []
    with pytest.raises(FileNotFoundError):
        find_images(tmp_path / "missing")


def test_cost() -> None:
    assert is_aws_endpoint("https://rekognition.us-east-1.amazonaws.com")
    assert is_aws_endpoint("https://rekognition-fips.us-gov-west-1.amazonaws.com/")
    assert is_aws_endpoint("https://rekognition.cn-north-1.amazonaws.com.cn")
    assert not is_aws_endpoint("http://127.0.0.1:9090")
    assert not is_aws_endpoint("https://notamazonaws.com")
    assert not is_aws_endpoint("https://amazonaws.com.example.org")
    calls = [CallRecord("CreateCollection", 0.1), CallRecord("IndexFaces", 0.1),
             CallRecord("SearchFacesByImage", 0.1, "InvalidParameterException"), CallRecord("CompareFaces", 0.1)]
    aws = side_cost(calls, "https://rekognition.eu-west-1.amazonaws.com", 0.001)
    assert aws["total_image_calls"] == 3  # CreateCollection is not an image; the failed search counts
    assert aws["usd"] == pytest.approx(0.003)
    assert side_cost(calls, "https://rekognition.eu-west-1.amazonaws.com", None)["usd"] is None
    assert side_cost(calls, "http://10.0.0.5:9090", 0.001)["usd"] == 0.0


def _match(ext: str, sim: float, identity: str) -> dict[str, Any]:
    return {"external_image_id": ext, "similarity": sim, "identity": identity}


def test_probe_metrics() -> None:
    record = {
        "identity": "bob",
        "a": {"status": "ok", "matches": [_match("b1", 99.0, "bob"), _match("c1", 60.0, "carol"),
                                          _match("d1", 40.0, "dan")]},
        "b": {"status": "ok", "matches": [_match("c1", 90.0, "carol"), _match("b1", 80.0, "bob"),
                                          _match("e1", 70.0, "eve")]},
    }
    result = probe_metrics(record, {"bob", "carol", "dan", "eve"})
    assert result["top1_agree"] is False
    assert result["jaccard"] == pytest.approx(2 / 4)
    assert result["shared_matches"] == 2
    assert result["spearman"] == pytest.approx(-1.0)  # b1 > c1 on A, c1 > b1 on B
    assert (result["rank_a"], result["rank_b"]) == (1, 2)
    assert (result["correct_a"], result["correct_b"]) == (True, False)
    assert result["in_top_k_b"] is True
    one_sided = {"identity": "bob", "a": record["a"], "b": {"status": "no_face", "matches": []}}
    result = probe_metrics(one_sided, {"bob"})
    assert result["searched_both"] is False and result["top1_agree"] is None and result["jaccard"] is None
    assert result["correct_b"] is False  # a probe not searched is a miss, not dropped
    assert probe_metrics(record, None)["correct_a"] is None  # identities unknown


# -- the pipeline on deterministic fakes -------------------------------------------------------------------------------

AWS_URL = "https://rekognition.us-east-1.amazonaws.com"
PEOPLE = ["Alice_A", "Bob_B", "Carol_C", "Dan_D", "Eve_E"]


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Request has invalid parameters"}}, operation)


class FakeRekognition:
    """A deterministic stand-in for a boto3 Rekognition client, for the calls run_comparison makes.

    The fixture's images encode who they show: width 100 + 10 × person index; an image narrower
    than 90 px has no face. Similarity is 95 for the same person, less for others, except for
    the people in `confuse` (probe person -> person this side prefers). Boxes and landmarks are
    shifted by `shift` (ratios), so the two sides' detections differ by a known amount.
    """

    def __init__(self, endpoint: str, confuse: dict[int, int] | None = None, shift: float = 0.0) -> None:
        self.meta = SimpleNamespace(endpoint_url=endpoint, region_name="us-east-1")
        self.confuse = confuse or {}
        self.shift = shift
        self.collections: dict[str, list[dict[str, Any]]] = {}

    def _person(self, image: dict[str, bytes], operation: str) -> int:
        width = Image.open(io.BytesIO(image["Bytes"])).size[0]
        if width < 90:
            raise _error("InvalidParameterException", operation)
        return (width - 100) // 10

    def _box(self) -> dict[str, float]:
        return {"Left": 0.25 + self.shift, "Top": 0.25, "Width": 0.5, "Height": 0.5 + self.shift}

    def _similarity(self, probe: int, gallery: int) -> float:
        if self.confuse.get(probe) == gallery:
            return 97.0
        return 95.0 if probe == gallery else 50.0 - 5 * abs(probe - gallery)

    def create_collection(self, CollectionId: str) -> dict[str, Any]:
        self.collections[CollectionId] = []
        return {"StatusCode": 200}

    def delete_collection(self, CollectionId: str) -> dict[str, Any]:
        del self.collections[CollectionId]
        return {"StatusCode": 200}

    def index_faces(self, CollectionId: str, Image: dict[str, bytes], ExternalImageId: str,
                    MaxFaces: int) -> dict[str, Any]:
        try:
            person = self._person(Image, "IndexFaces")
        except ClientError:
            return {"FaceRecords": [], "UnindexedFaces": []}  # as AWS: no face is not an error here
        face = {"FaceId": f"face-{ExternalImageId}", "ExternalImageId": ExternalImageId, "BoundingBox": self._box()}
        self.collections[CollectionId].append({**face, "person": person})
        return {"FaceRecords": [{"Face": face}], "UnindexedFaces": []}

    def search_faces_by_image(self, CollectionId: str, Image: dict[str, bytes], MaxFaces: int,
                              FaceMatchThreshold: float) -> dict[str, Any]:
        probe = self._person(Image, "SearchFacesByImage")
        faces = sorted(self.collections[CollectionId], key=lambda f: -self._similarity(probe, f["person"]))
        matches = [{"Similarity": self._similarity(probe, f["person"]),
                    "Face": {k: v for k, v in f.items() if k != "person"}} for f in faces[:MaxFaces]]
        return {"SearchedFaceBoundingBox": self._box(), "SearchedFaceConfidence": 99.0, "FaceMatches": matches}

    def detect_faces(self, Image: dict[str, bytes]) -> dict[str, Any]:
        try:
            self._person(Image, "DetectFaces")
        except ClientError:
            return {"FaceDetails": []}
        marks = [{"Type": t, "X": x + self.shift, "Y": y} for t, x, y in
                 (("eyeLeft", 0.4, 0.4), ("eyeRight", 0.6, 0.4), ("nose", 0.5, 0.5), ("mouthLeft", 0.42, 0.62),
                  ("mouthRight", 0.58, 0.62))]
        return {"FaceDetails": [{"BoundingBox": self._box(), "Confidence": 99.0, "Landmarks": marks}]}

    def compare_faces(self, SourceImage: dict[str, bytes], TargetImage: dict[str, bytes],
                      SimilarityThreshold: float) -> dict[str, Any]:
        source, target = self._person(SourceImage, "CompareFaces"), self._person(TargetImage, "CompareFaces")
        return {"SourceImageFace": {"BoundingBox": self._box()}, "UnmatchedFaces": [],
                "FaceMatches": [{"Similarity": self._similarity(source, target), "Face": {"BoundingBox": self._box()}}]}


def _fake_photo(path: Path, width: int, height: int, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (width, height), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.25, height * 0.25, width * 0.75, height * 0.75), fill=colour)
    draw.ellipse((width * 0.38, height * 0.38, width * 0.44, height * 0.44), fill=(20, 20, 20))
    draw.ellipse((width * 0.56, height * 0.38, width * 0.62, height * 0.44), fill=(20, 20, 20))
    image.save(path)


@pytest.fixture
def fake_folders(tmp_path: Path) -> tuple[Path, Path]:
    gallery, probes = tmp_path / "gallery", tmp_path / "probes"
    for index, person in enumerate(PEOPLE):
        colour = (60 + 35 * index, 140, 220 - 35 * index)
        _fake_photo(gallery / person / f"{person}_0001.jpg", 100 + 10 * index, 130, colour)
        _fake_photo(probes / person / f"{person} (2).png", 100 + 10 * index, 140, colour)
    _fake_photo(gallery / "Nobody" / "empty wall.jpg", 60, 130, (200, 200, 200))  # no face
    _fake_photo(probes / "Zed_Z" / "Zed_Z_0001.jpg", 60, 140, (200, 200, 200))  # no face, person not in gallery
    return gallery, probes


def test_pipeline_on_fakes(tmp_path: Path, fake_folders: tuple[Path, Path]) -> None:
    gallery, probes = fake_folders
    a = FakeRekognition(AWS_URL)
    b = FakeRekognition("http://127.0.0.1:9", confuse={1: 2}, shift=0.02)  # B takes Bob for Carol
    out = tmp_path / "out"
    report = run_comparison(a, b, gallery=gallery, probes=probes, out=out, label_a="AWS <cloud>", label_b="on-prem",
                            top_k=3, sample=6, price_per_image=0.001, progress=False)

    assert report["outputs"] == {"json": str(out / "report.json"), "html": str(out / "report.html")}
    assert "probes" not in report  # the returned dict is the headline; report.json has everything
    saved = json.loads((out / "report.json").read_text())
    assert saved["summary"] == report["summary"] and saved["cost"] == report["cost"]
    s = report["summary"]
    assert (s["probes"], s["gallery_images"], len(saved["probes"])) == (6, 6, 6)  # none dropped
    assert s["identities_known"] and s["mated_probes"] == 5 and s["non_mated_probes"] == 1
    assert (s["searched_both"], s["searched_neither"]) == (5, 1)
    assert s["top1_agreement"] == pytest.approx(4 / 5) and s["top1_disagreements"] == 1
    assert s["sides"]["a"]["rank1_accuracy"] == 1.0
    assert s["sides"]["b"]["rank1_accuracy"] == pytest.approx(4 / 5)
    assert s["sides"]["b"]["rank_k_accuracy"] == 1.0
    for key in "ab":
        assert s["sides"][key]["gallery_indexed"] == 5 and s["sides"][key]["gallery_no_face"] == 1
        assert s["sides"][key]["probes_searched"] == 5 and s["sides"][key]["probes_no_face"] == 1
    no_face = next(p for p in saved["probes"] if p["identity"] == "Zed_Z")
    assert no_face["a"]["error"]["code"] == "InvalidParameterException"
    assert no_face["metrics"]["correct_a"] is None  # Zed is not in the gallery: no accuracy either way
    bob = next(p for p in saved["probes"] if p["identity"] == "Bob_B")
    assert bob["a"]["matches"][0]["external_image_id"] == "Bob_B_0001"
    assert bob["b"]["matches"][0]["gallery_file"] == "Carol_C/Carol_C_0001.jpg"
    assert bob["metrics"]["jaccard"] == 1.0 and bob["metrics"]["spearman"] is not None

    detection = s["detection"]
    assert detection["images"] == 6 and detection["pairs"] == 5
    assert detection["mean_iou"] == pytest.approx(0.24 / 0.27)  # (0.48 × 0.5) / (0.25 + 0.26 − 0.24)
    for record in saved["detect_sample"]:
        for pair in record["metrics"]["pairs"]:
            assert pair["mean_landmark_px"] == pytest.approx(0.02 * record["image_size"][0])
    compare = {r["file"]: r for r in saved["compare_sample"]}
    assert compare["Bob_B/Bob_B (2).png"]["target_file"] == "Bob_B/Bob_B_0001.jpg"  # A's top-1
    assert compare["Zed_Z/Zed_Z_0001.jpg"]["a"]["status"] == "no_face"
    assert compare["Zed_Z/Zed_Z_0001.jpg"]["target_kind"] == "next_probe"

    latency = report["latency"]
    assert latency["a"]["IndexFaces"]["count"] == 6 and latency["b"]["SearchFacesByImage"]["count"] == 6
    assert latency["a"]["DetectFaces"]["count"] == 6 and latency["b"]["CompareFaces"]["count"] == 6
    assert report["cost"]["a"]["is_aws"] and report["cost"]["a"]["total_image_calls"] == 24
    assert report["cost"]["a"]["usd"] == pytest.approx(0.024)
    assert report["cost"]["b"]["usd"] == 0.0
    assert a.collections == {} and b.collections == {}  # cleaned up

    html = (out / "report.html").read_text()
    _check_static_html(html)
    assert "AWS &lt;cloud&gt;" in html and "AWS <cloud>" not in html  # labels escaped
    disagreements = html.split('id="disagreements"')[1].split("</section>")[0]
    assert disagreements.count("data:image/jpeg;base64,") == 4  # probe twice, each side's top-1


def test_keep_collections(tmp_path: Path, fake_folders: tuple[Path, Path]) -> None:
    gallery, probes = fake_folders
    a, b = FakeRekognition("http://127.0.0.1:1"), FakeRekognition("http://127.0.0.1:2")
    report = run_comparison(a, b, gallery=gallery, probes=probes, out=tmp_path / "out", sample=0, progress=False,
                            keep_collections=True)
    assert list(a.collections) == [report["config"]["sides"]["a"]["collection_id"]]
    assert re.fullmatch(r"rekog-compare-[0-9a-f]{8}-b", next(iter(b.collections)))
    assert report["summary"]["detection"]["images"] == 0 and report["summary"]["detection"]["mean_iou"] is None


def test_bad_arguments(tmp_path: Path, fake_folders: tuple[Path, Path]) -> None:
    gallery, probes = fake_folders
    a, b = FakeRekognition("http://127.0.0.1:1"), FakeRekognition("http://127.0.0.1:2")
    with pytest.raises(ValueError, match="top_k"):
        run_comparison(a, b, gallery=gallery, probes=probes, out=tmp_path / "o", top_k=0, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no JPEG or PNG"):
        run_comparison(a, b, gallery=tmp_path / "empty", probes=probes, out=tmp_path / "o", progress=False)


def _check_static_html(html: str) -> None:
    """Self-contained: every section, no script, every src/href internal or a data: URI."""
    for section in SECTION_IDS:
        assert f'<section id="{section}">' in html
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert "url(" not in html
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert references and all(r.startswith(("data:image/", "#")) for r in references)
    assert "data:image/png;base64," in html  # the charts


# -- headless Chromium -------------------------------------------------------------------------------------------------

def check_in_chromium(html_path: Path, work: Path) -> Path:
    """Render report.html in headless Chromium: a non-blank screenshot, the DOM built, no console error."""
    screenshot, dom = render(html_path, work)
    assert "<h1>Rekognition comparison:" in dom
    for section in SECTION_IDS:
        assert f'id="{section}"' in dom
    return screenshot


def test_chromium_check_sees_console_errors(tmp_path: Path) -> None:
    """The console check is not vacuous: a page with a console error and an uncaught one is caught."""
    require_chromium()
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><title>bad</title><h1>bad</h1><script>console.error("boom"); nope();</script>')
    run = chromium(["--dump-dom", page.as_uri()], tmp_path / "profile")
    assert "<h1>bad</h1>" in run.stdout
    problems = page_problems(run.stderr)
    assert any('"boom"' in line for line in problems) and any("Uncaught ReferenceError" in line for line in problems)


def test_fake_report_in_chromium(tmp_path: Path, fake_folders: tuple[Path, Path]) -> None:
    gallery, probes = fake_folders
    a, b = FakeRekognition(AWS_URL), FakeRekognition("http://127.0.0.1:9", confuse={0: 3}, shift=0.03)
    run_comparison(a, b, gallery=gallery, probes=probes, out=tmp_path / "out", price_per_image=0.001, progress=False)
    check_in_chromium(tmp_path / "out" / "report.html", tmp_path)


# -- real: two rekog-compat servers, HOG vs CNN detector ----------------------------------------------------------------

PEOPLE_IN_REAL_RUN = 6


def _client(url: str, validated: list[str]) -> Any:
    client = boto3.client("rekognition", endpoint_url=url, region_name="us-east-1", aws_access_key_id="123456789012",
                          aws_secret_access_key="x", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    install_output_validation(client, validated)  # every answer also checked against botocore's output shape
    return client


def _small_copy(source: Path, target: Path, size: int = 250) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        image.convert("RGB").resize((size, size)).save(target)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    """One comparison of dlib HOG (A) against dlib CNN (B): 6 LFW people (first photo in the
    gallery, second as probe), plus a no-face image on each side; copied into tmp at test time."""
    data = facedata_dir()
    root = tmp_path_factory.mktemp("real-compare")
    gallery, probes = root / "gallery", root / "probes"
    people = [p for p in sorted((data / "lfw_tiny").iterdir()) if p.is_dir() and len(list(p.glob("*.jpg"))) >= 2]
    assert len(people) >= PEOPLE_IN_REAL_RUN
    for person in people[:PEOPLE_IN_REAL_RUN]:
        first, second = sorted(person.glob("*.jpg"))[:2]
        (gallery / person.name).mkdir(parents=True)
        (probes / person.name).mkdir(parents=True)
        shutil.copyfile(first, gallery / person.name / first.name)
        shutil.copyfile(second, probes / person.name / second.name)
    no_face = data / "nonface_and_bad_inputs" / "nonface_real"
    _small_copy(no_face / "skimage_grass.png", gallery / "000_gallery_no_face" / "grass.png")
    _small_copy(no_face / "skimage_brick.png", probes / "000_no_face" / "brick.png")

    (root / "data-hog").mkdir()
    (root / "data-cnn").mkdir()
    hog = LiveServer(root / "data-hog", "--detector", "dlib").start(timeout=180)
    try:
        cnn = LiveServer(root / "data-cnn", "--detector", "dlib-cnn").start(timeout=180)
    except Exception:
        hog.stop()
        raise
    try:
        validated: list[str] = []
        a, b = _client(hog.url, validated), _client(cnn.url, validated)
        try:
            report = run_comparison(a, b, gallery=gallery, probes=probes, out=root / "out", label_a="dlib HOG",
                                    label_b="dlib CNN", top_k=5, sample=4, price_per_image=0.001, progress=False)
        except Exception as exc:  # say what the servers said, too
            logs = "".join(f"--- {name} server ---\n{''.join(server.output[-40:])}" for name, server in
                           (("HOG", hog), ("CNN", cnn)))
            raise AssertionError(f"run_comparison failed: {exc!r}\n{logs}") from exc
        assert {"IndexFaces", "SearchFacesByImage", "DetectFaces", "CompareFaces"} <= set(validated), validated
        assert a.list_collections()["CollectionIds"] == [] and b.list_collections()["CollectionIds"] == []
    finally:
        hog.stop()
        cnn.stop()
    yield report, root / "out"


def test_real_comparison_hog_vs_cnn(real_run: tuple[dict[str, Any], Path]) -> None:
    report, out = real_run
    saved = json.loads((out / "report.json").read_text())
    assert saved["config"]["sides"]["b"]["label"] == "dlib CNN"
    s = saved["summary"]
    people = PEOPLE_IN_REAL_RUN
    assert (s["probes"], s["gallery_images"], len(saved["probes"]), len(saved["gallery"])) == (people + 1,) * 4
    assert s["identities_known"] and s["mated_probes"] == people and s["non_mated_probes"] == 1
    assert s["searched_neither"] >= 1  # the brick wall has no face on either side ...
    brick = next(p for p in saved["probes"] if p["file"] == "000_no_face/brick.png")
    for key in "ab":  # ... and is reported as such, not dropped
        assert brick[key]["status"] == "no_face" and brick[key]["error"]["code"] == "InvalidParameterException"
        side = s["sides"][key]
        assert side["gallery_no_face"] >= 1 and side["probes_no_face"] >= 1
        assert side["probes_searched"] + side["probes_no_face"] + side["probes_errors"] == people + 1
        assert side["rank1_accuracy"] is not None and side["rank1_accuracy"] >= 0.5  # Dlib ResNet on LFW
        assert 0.0 <= side["rank_k_accuracy"] <= 1.0
    assert s["searched_both"] >= people - 1
    assert 0.0 <= s["top1_agreement"] <= 1.0
    assert 0.0 <= s["mean_jaccard"] <= 1.0
    assert s["mean_spearman"] is None or -1.0 <= s["mean_spearman"] <= 1.0
    for probe in saved["probes"]:
        for key in "ab":
            matches = probe[key]["matches"]
            assert len(matches) <= 5
            assert [x["similarity"] for x in matches] == sorted((x["similarity"] for x in matches), reverse=True)
            assert all(x["gallery_file"] and x["identity"] for x in matches)  # ExternalImageId maps back

    detection = s["detection"]
    assert detection["images"] == 4 and detection["pairs"] >= 2
    assert 0.0 < detection["mean_iou"] <= 1.0
    ious = [p["iou"] for r in saved["detect_sample"] for p in r["metrics"]["pairs"]]
    assert min(ious) < 0.999  # two different detectors: the boxes differ
    assert detection["mean_landmark_px"] is not None and detection["mean_landmark_fraction"] < 0.5
    assert len(saved["compare_sample"]) == 4

    for key in "ab":
        latency = saved["latency"][key]
        assert latency["IndexFaces"]["count"] == people + 1
        assert latency["SearchFacesByImage"]["count"] == people + 1
        assert latency["DetectFaces"]["count"] == 4 and latency["CompareFaces"]["count"] == 4
        assert all(latency[op]["p50_ms"] > 0 and latency[op]["p95_ms"] >= latency[op]["p50_ms"] for op in latency)
        assert saved["cost"][key]["usd"] == 0.0 and not saved["cost"][key]["is_aws"]  # both local
    # dlib's CNN detector is much slower than HOG on the CPU: the two servers really differ.
    assert saved["latency"]["b"]["DetectFaces"]["mean_ms"] > saved["latency"]["a"]["DetectFaces"]["mean_ms"]

    html = (out / "report.html").read_text()
    _check_static_html(html)
    assert "dlib HOG" in html and "dlib CNN" in html


def test_real_report_in_chromium(real_run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, out = real_run
    check_in_chromium(out / "report.html", tmp_path)
