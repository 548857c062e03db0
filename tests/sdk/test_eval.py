"""`rekog-compat eval`: the metrics on hand-made scores, the pairs file and the gallery split, and end to end
against a live server on lfw_tiny (JSON, failures, identification, determinism, resume, the HTML in Chromium)."""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from rekog_sdk import connect
from rekog_sdk.evaluation import verification as v
from rekog_sdk.evaluation.cache import ResultCache, cache_key
from rekog_sdk.evaluation.identification import (
    LabelledImage,
    ProbeOutcome,
    identification_metrics,
    identity_images,
    split_gallery,
)
from rekog_sdk.evaluation.pairs import PairsFormatError, read_pairs
from rekog_sdk.evaluation.report import render
from rekog_sdk.evaluation.runner import compare_pair, search_probe

from harness.live_server import LiveServer
from rekog_compat.cli import main as rekog_main
from tests.support import browser
from tests.support.facedata import facedata_dir

# -- verification metrics on hand-made scores ----------------------------------------------------------------------


def test_best_threshold_picks_the_lowest_best_midpoint() -> None:
    scores = [90, 80, 70, 60, 75, 10]
    genuine = [True, True, True, False, False, False]
    # Accepting >= 65 (70, 75, 80, 90) and >= 77.5 (80, 90) are both right on 5 of 6 pairs: the lower one wins.
    assert v.best_threshold(scores, genuine) == (65.0, 5 / 6)
    assert v.accuracy_at(scores, genuine, 65.0) == 5 / 6
    assert v.accuracy_at(scores, genuine, 77.5) == 5 / 6
    assert v.accuracy_at(scores, genuine, 0.0) == 0.5


def test_best_threshold_on_separable_scores_is_between_the_classes() -> None:
    threshold, accuracy = v.best_threshold([99.0, 95.0, 20.0, 40.0], [True, True, False, False])
    assert accuracy == 1.0
    assert threshold == 67.5


def test_best_threshold_can_accept_everything_or_nothing() -> None:
    assert v.best_threshold([5.0, 6.0], [True, True]) == (4.0, 1.0)
    assert v.best_threshold([5.0, 6.0], [False, False]) == (7.0, 1.0)


def _ten_folds(low_genuine_in_last: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores, genuine, folds = [], [], []
    for fold in range(10):
        same = [60.0, 70.0, 80.0, 90.0, 95.0]
        if fold == 9 and low_genuine_in_last is not None:
            same[0] = low_genuine_in_last
        for value, same_person in [(x, True) for x in same] + [(x, False) for x in (10.0, 20.0, 30.0, 40.0, 45.0)]:
            scores.append(value)
            genuine.append(same_person)
            folds.append(fold)
    return np.array(scores), np.array(genuine), np.array(folds)


def test_ten_fold_chooses_each_threshold_on_the_other_nine_folds() -> None:
    scores, genuine, folds = _ten_folds(low_genuine_in_last=50.0)
    result = v.kfold_accuracy(scores, genuine, folds)
    assert result["folds"] == 10
    # Folds 1-9 train on data holding the genuine 50: threshold 47.5, right on all of their own pairs. Fold 10
    # trains on the nine clean folds (threshold 52.5) and so rejects its genuine 50: 9 of 10.
    assert [row["threshold"] for row in result["per_fold"]] == [47.5] * 9 + [52.5]
    assert [row["accuracy"] for row in result["per_fold"]] == [1.0] * 9 + [0.9]
    assert result["mean"] == pytest.approx(0.99)
    assert result["std"] == pytest.approx(0.03)
    assert result["standard_error"] == pytest.approx(np.std([1.0] * 9 + [0.9], ddof=1) / math.sqrt(10))
    clean = v.kfold_accuracy(*_ten_folds())
    assert clean["mean"] == 1.0 and clean["std"] == 0.0


def _naive_best_accuracy(scores: list[float], genuine: list[bool]) -> float:
    candidates = sorted(set(scores)) + [max(scores) + 1]
    return max(sum((s >= t) == g for s, g in zip(scores, genuine, strict=True)) / len(scores) for t in candidates)


def test_ten_fold_agrees_with_a_naive_implementation_on_random_scores() -> None:
    rng = random.Random(7)
    scores = [rng.gauss(80, 10) if i % 2 == 0 else rng.gauss(50, 15) for i in range(400)]
    genuine = [i % 2 == 0 for i in range(400)]
    folds = [i // 40 for i in range(400)]
    result = v.kfold_accuracy(scores, genuine, folds)
    for row in result["per_fold"]:
        train = [(s, g) for s, g, f in zip(scores, genuine, folds, strict=True) if f != row["fold"] - 1]
        assert row["train_accuracy"] == pytest.approx(_naive_best_accuracy(*map(list, zip(*train, strict=True))))
        test = [(s, g) for s, g, f in zip(scores, genuine, folds, strict=True) if f == row["fold"] - 1]
        naive = sum((s >= row["threshold"]) == g for s, g in test) / len(test)
        assert row["accuracy"] == pytest.approx(naive)
    with pytest.raises(ValueError):
        v.kfold_accuracy(scores, genuine, [0] * 400)


def test_tar_at_far_with_enough_impostors() -> None:
    impostor = [float(i) for i in range(100)]  # 0 .. 99
    genuine_scores = [98.7, 99.5, 50.0]
    scores = impostor + genuine_scores
    labels = [False] * 100 + [True] * 3
    result = v.tar_at_far(scores, labels, 1e-2)  # 1 impostor of 100 may pass: threshold between 98 and 98.7
    assert result["tar"] == pytest.approx(2 / 3)
    assert result["impostors_accepted"] == 1 and result["far_measured"] == 0.01
    assert 98.0 < result["threshold"] <= 98.7
    assert result["reason"] is None


def test_tar_at_far_with_too_few_impostors_is_null_and_says_why() -> None:
    scores = [float(i % 97) for i in range(300)] + [99.0] * 300
    labels = [False] * 300 + [True] * 300
    resolved = v.tar_at_far(scores, labels, 1e-2)
    assert resolved["tar"] == 1.0
    for far, need in ((1e-3, "1000"), (1e-4, "10000")):
        result = v.tar_at_far(scores, labels, far)
        assert result["tar"] is None and result["threshold"] is None
        assert "300 impostor pairs cannot resolve" in result["reason"] and need in result["reason"]
    assert v.resolvable(1e-3, 1000) and not v.resolvable(1e-3, 999)


def test_fmr_and_fnmr_count_a_score_equal_to_the_threshold_as_a_match() -> None:
    scores = [80.0, 79.99, 95.0, 80.0, 10.0, 85.0, 99.5]
    labels = [True, True, True, False, False, False, True]
    row = v.error_rates_at(scores, labels, 80.0)
    assert (row["false_matches"], row["impostors"], row["fmr"]) == (2, 3, 2 / 3)
    assert (row["false_non_matches"], row["genuines"], row["fnmr"]) == (1, 4, 0.25)
    assert row["smallest_resolvable_fmr"] == pytest.approx(1 / 3)
    strict = v.error_rates_at(scores, labels, 99.0)
    assert strict["fmr"] == 0.0 and strict["fnmr"] == 0.75
    low, high = strict["fmr_interval_95"]
    assert low == 0.0 and 0.4 < high < 0.6


def test_wilson_interval_of_zero_in_300() -> None:
    low, high = v.wilson_interval(0, 300) or (None, None)
    assert low == 0.0 and high == pytest.approx(3.8415 / (300 + 3.8415), rel=1e-3)
    assert v.wilson_interval(0, 0) is None


def test_roc_curve_auc_and_eer() -> None:
    separable = v.roc_curve([90.0, 80.0, 10.0, 20.0], [True, True, False, False])
    assert separable["auc"] == 1.0 and separable["eer"] == 0.0
    assert separable["points"][0] == {"threshold": 90.0, "far": 0.0, "tar": 0.5}
    assert separable["points"][-1] == {"threshold": 10.0, "far": 1.0, "tar": 1.0}
    useless = v.roc_curve([50.0] * 4, [True, False, True, False])
    assert useless["auc"] == 0.5
    with pytest.raises(ValueError):
        v.roc_curve([1.0], [True])


# -- pairs files, the split, identification rates, the cache -------------------------------------------------------


def _write_pairs(path: Path, header: str, lines: list[str]) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def test_pairs_file_folds_and_images(tmp_path: Path) -> None:
    lines = []
    for fold in range(2):
        lines += [f"A_{fold} 1 2", f"B_{fold} 3 4", f"A_{fold} 1 B_{fold} 2", f"C_{fold} 1 D_{fold} 12"]
    pairs = read_pairs(_write_pairs(tmp_path / "p.txt", "2\t2", lines), tmp_path / "img")
    assert (pairs.folds, pairs.pairs_per_class, len(pairs.pairs)) == (2, 2, 8)
    assert [p.fold for p in pairs.pairs] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [p.genuine for p in pairs.pairs[:4]] == [True, True, False, False]
    assert pairs.pairs[3].second == tmp_path / "img" / "D_0" / "D_0_0012.jpg"
    assert pairs.pairs[0].line == 2
    assert len(pairs.missing_images()) == 14  # every image named, each once (A_f 1 is named twice per fold)

    one = read_pairs(_write_pairs(tmp_path / "q.txt", "3", lines[:3]), tmp_path)
    assert one.folds == 1 and {p.fold for p in one.pairs} == {0}


@pytest.mark.parametrize(("header", "lines", "message"), [
    ("ten 300", ["A 1 2"], "header"),
    ("2 1", ["A 1 2", "A 1 B 2"], "announces 2 folds"),
    ("1", ["A 1 2 3 4 5"], ":2: expected"),
    ("1", ["A x 2"], "not an image number"),
    ("1", [], "no pairs"),
])
def test_malformed_pairs_files_are_refused(tmp_path: Path, header: str, lines: list[str], message: str) -> None:
    with pytest.raises(PairsFormatError, match=message):
        read_pairs(_write_pairs(tmp_path / "p.txt", header, lines), tmp_path)


def test_gallery_split_is_seeded_and_complete() -> None:
    identities = {
        "Ann": [Path(f"Ann/Ann_{i:04d}.jpg") for i in range(1, 6)],
        "Bob": [Path("Bob/Bob_0001.jpg"), Path("Bob/Bob_0002.jpg")],
        "Cy": [Path("Cy/Cy_0001.jpg")],
    }
    split = split_gallery(identities, seed=3)
    assert split == split_gallery({k: list(reversed(p)) for k, p in identities.items()}, seed=3)
    assert [g.identity for g in split.gallery] == ["Ann", "Bob", "Cy"]
    assert split.distractors == ("Cy",)
    used = [g.path for g in split.gallery] + [p.path for p in split.probes]
    assert sorted(used) == sorted(p for paths in identities.values() for p in paths)
    assert all(p.identity != "Cy" for p in split.probes)
    galleries = {tuple(g.path for g in split_gallery(identities, seed).gallery) for seed in range(20)}
    assert len(galleries) > 1  # the seed matters


def test_identification_rates_on_hand_made_outcomes() -> None:
    def outcome(identity: str, *matches: tuple[str, float], failure: bool = False) -> ProbeOutcome:
        return ProbeOutcome(LabelledImage(identity, Path(f"{identity}.jpg")), tuple(matches),
                            {"code": "InvalidParameterException", "message": ""} if failure else None)

    outcomes = [
        outcome("a", ("a", 97.0), ("b", 30.0)),  # right, top
        outcome("a", ("b", 85.0), ("a", 82.0)),  # right at rank 2; a wrong person at 85
        outcome("b", ("c", 91.0), ("d", 10.0)),  # wrong
        outcome("c", failure=True),  # no face: a miss, no false positive
    ]
    metrics = identification_metrics(outcomes, enrolled={"a", "b"}, thresholds=(80.0, 90.0, 99.0))
    everyone = metrics["all_probes"]
    assert (everyone["probes"], everyone["rank1_hits"], everyone["rank5_hits"]) == (4, 1, 2)
    at = {row["threshold"]: row for row in everyone["at_thresholds"]}
    assert (at[80.0]["true_identifications"], at[80.0]["false_positives"]) == (1, 2)
    assert (at[90.0]["true_identifications"], at[90.0]["false_positives"]) == (1, 1)
    assert (at[99.0]["tir"], at[99.0]["fpir"]) == (0.0, 0.0)
    assert metrics["enrolled_probes"]["probes"] == 3


def test_cache_survives_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "cache.jsonl"
    with ResultCache(path) as cache:
        cache.put(cache_key("CompareFaces", "s", "a", "b"), {"similarity": 1.0})
    with path.open("a") as handle:
        handle.write('{"key": "torn", "val')
    with ResultCache(path) as cache:
        assert cache.ignored_lines == 1
        assert cache.get(cache_key("CompareFaces", "s", "a", "b")) == {"similarity": 1.0}
        cache.put("k2", {"similarity": 2.0})
    reread = ResultCache(path)
    assert reread.get("k2") == {"similarity": 2.0} and reread.ignored_lines == 1
    assert cache_key("CompareFaces", "s", "a", "b") != cache_key("CompareFaces", "other model", "a", "b")


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "img"
    images.mkdir()
    pairs = _write_pairs(tmp_path / "p.txt", "1", ["Nobody 1 2"])
    common = ["eval", "--endpoint-url", "http://127.0.0.1:9", "--images", str(images), "--out", str(tmp_path / "o")]
    assert rekog_main([*common, "--pairs", str(pairs)]) == 2
    assert "2 image(s)" in capsys.readouterr().err
    bad = _write_pairs(tmp_path / "bad.txt", "folds", ["Nobody 1 2"])
    assert rekog_main([*common, "--pairs", str(bad)]) == 2
    assert "header" in capsys.readouterr().err
    assert rekog_main([*common, "--pairs", str(tmp_path / "absent.txt")]) == 2
    with pytest.raises(SystemExit):
        rekog_main([*common, "--pairs", str(pairs), "--aws", "--seed", "1"])  # --aws and --endpoint-url: exclusive


def _stubbed() -> tuple[Any, Stubber]:
    client = boto3.client("rekognition", region_name="us-east-1", aws_access_key_id="123456789012",
                          aws_secret_access_key="x")
    return client, Stubber(client)


def test_compare_pair_scores_the_best_match_and_keeps_no_face_failures(tmp_path: Path) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(b"\xff\xd8 not really")
    client, stub = _stubbed()
    face = {"BoundingBox": {"Width": 0.5, "Height": 0.5, "Left": 0.1, "Top": 0.1}, "Confidence": 99.0}
    stub.add_response("compare_faces", {"FaceMatches": [{"Similarity": 12.5, "Face": face},
                                                        {"Similarity": 88.25, "Face": face}],
                                        "UnmatchedFaces": [face]})
    stub.add_client_error("compare_faces", "InvalidParameterException", "Request has invalid parameters.")
    stub.add_client_error("compare_faces", "ThrottlingException", "slow down", http_status_code=400)
    with stub:
        assert compare_pair(client, image, image) == {"similarity": 88.25, "target_faces": 3, "failure": None}
        assert compare_pair(client, image, image) == {
            "similarity": 0.0, "target_faces": 0,
            "failure": {"code": "InvalidParameterException", "message": "Request has invalid parameters."}}
        with pytest.raises(ClientError):  # not the image's fault: the run stops (and resumes later)
            compare_pair(client, image, image)


def test_search_probe_maps_external_ids_and_orders_ties(tmp_path: Path) -> None:
    image = tmp_path / "p.jpg"
    image.write_bytes(b"\xff\xd8 not really")
    client, stub = _stubbed()

    def match(external_id: str, similarity: float) -> dict[str, Any]:
        return {"Similarity": similarity, "Face": {"FaceId": "11111111-1111-1111-1111-111111111111",
                                                   "ExternalImageId": external_id}}

    stub.add_response("search_faces_by_image", {"FaceMatches": [match("g000002", 40.0), match("g000001", 90.0),
                                                                match("g000000", 40.0)]})
    with stub:
        result = search_probe(client, "c", image, {"g000000": "Zed", "g000001": "Amy", "g000002": "Bob"})
    assert result == {"matches": [["Amy", 90.0], ["Bob", 40.0], ["Zed", 40.0]], "failure": None}


# -- end to end: a live server on lfw_tiny --------------------------------------------------------------------------

NO_FACE_IMAGES = ("nonface_and_bad_inputs/nonface_real/pillow_flower.jpg",
                  "nonface_and_bad_inputs/nonface_real/skimage_retina.jpg")


def _tiny_with_a_faceless_person(root: Path) -> tuple[Path, Path]:
    """lfw_tiny copied to `root`, plus "Nobody" (2 photos without a face); the pairs file gains one genuine and
    one impostor pair of Nobody. Returns (pairs file, image root)."""
    data = facedata_dir()
    shutil.copytree(data / "lfw_tiny", root / "images", copy_function=shutil.copyfile)
    nobody = root / "images" / "Nobody"
    nobody.mkdir()
    for number, name in enumerate(NO_FACE_IMAGES, start=1):
        shutil.copyfile(data / name, nobody / f"Nobody_{number:04d}.jpg")
    lines = (data / "lfw_tiny" / "pairs_tiny.txt").read_text().splitlines()[1:]
    same = [line for line in lines if len(line.split()) == 3]
    different = [line for line in lines if len(line.split()) == 4]
    first_person = same[0].split()[0]
    pairs = [*same, "Nobody\t1\t2", *different, f"Nobody\t1\t{first_person}\t1"]
    pairs_file = root / "pairs.txt"
    pairs_file.write_text(f"1\t{len(same) + 1}\n" + "\n".join(pairs) + "\n")
    (root / "images" / "pairs_tiny.txt").unlink()
    return pairs_file, root / "images"


def run_eval(server: LiveServer, *args: str | Path) -> dict[str, Any]:
    """`python -m rekog_compat eval` against `server`; returns its stdout summary."""
    cmd = [sys.executable, "-m", "rekog_compat", "eval", "--endpoint-url", server.url, "--no-progress",
           *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-4000:]}"
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def tiny_eval(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One full evaluation of lfw_tiny (+ Nobody) with --gallery: (eval.json, out folder)."""
    root = tmp_path_factory.mktemp("eval-tiny")
    pairs, images = _tiny_with_a_faceless_person(root)
    out = root / "out"
    run_eval(server, "--pairs", pairs, "--images", images, "--gallery", images, "--out", out, "--seed", "5")
    return json.loads((out / "eval.json").read_text()), out


def test_tiny_verification(tiny_eval: tuple[dict[str, Any], Path]) -> None:
    document, out = tiny_eval
    assert document["schema"] == "rekog-compat-eval/1"
    assert {"server", "scorer", "inputs", "protocol", "verification", "identification", "run"} <= set(document)
    assert document["server"]["model"] == "Dlib" and "version" in document["server"] and "store" in document["server"]
    assert document["run"]["health"]["status"] == "ok"
    assert document["run"]["command"][:2] == ["rekog-compat", "eval"] and "--pairs" in document["run"]["command"]
    ver = document["verification"]
    assert (ver["pairs"], ver["genuine"], ver["impostor"], ver["folds"]) == (82, 41, 41, 1)
    assert ver["accuracy"]["folds"] == 1 and "best threshold" in ver["accuracy"]["protocol"]
    assert ver["accuracy"]["value"] > 0.9
    assert 0.9 < ver["roc"]["auc"] <= 1.0 and ver["roc"]["points"]
    assert len(ver["scores"]) == 82 and all(0.0 <= row["similarity"] <= 100.0 for row in ver["scores"])
    # 41 impostor pairs resolve none of the target FARs: every TAR@FAR is null, with the reason.
    assert [r["tar"] for r in ver["tar_at_far"]] == [None, None, None]
    assert all("41 impostor pairs cannot resolve" in r["reason"] for r in ver["tar_at_far"])
    rows = {row["threshold"]: row for row in ver["operating_points"]}
    assert set(rows) == {80.0, 90.0, 95.0, 99.0}
    assert rows[80.0]["false_matches"] == 0  # as tests/api/test_compare_faces.py checks on these pairs
    assert rows[80.0]["fnmr"] <= 0.15 and rows[99.0]["fnmr"] >= rows[80.0]["fnmr"]
    # Both Nobody pairs failed (no face), are counted and scored 0, and are never dropped.
    failures = ver["failures"]
    nobody = [f for f in failures["pairs"] if "Nobody" in f["first"] + f["second"]]
    assert {(f["genuine"], f["code"]) for f in nobody} == {(True, "InvalidParameterException"),
                                                           (False, "InvalidParameterException")}
    assert failures["count"] == len(failures["pairs"]) >= 2
    assert failures["count"] == failures["genuine"] + failures["impostor"]
    failed = [row for row in ver["scores"] if row["failure"]]
    assert len(failed) == failures["count"] and all(row["similarity"] == 0.0 for row in failed)
    clean = rows[80.0]["without_failures"]
    assert (clean["genuines"], clean["impostors"]) == (41 - failures["genuine"], 41 - failures["impostor"])
    assert clean["false_non_matches"] == rows[80.0]["false_non_matches"] - failures["genuine"]
    assert document["run"]["calls"]["compare_faces"] == 82
    assert (out / "eval-cache.jsonl").exists()


def test_tiny_identification(tiny_eval: tuple[dict[str, Any], Path]) -> None:
    document, _ = tiny_eval
    ident = document["identification"]
    assert (ident["identities"], ident["distractors"], ident["probes"]) == (41, 20, 61)
    assert ident["collection_id"].startswith("rekog-compat-eval-s5-")
    assert document["run"]["collection_cleanup_error"] is None
    listed = connect("local", endpoint_url=document["target"]["endpoint_url"]).list_collections()["CollectionIds"]
    assert ident["collection_id"] not in listed  # deleted at the end
    gallery_failures = {f["identity"] for f in ident["gallery_failures"]}
    assert "Nobody" in gallery_failures
    probe_failures = ident["probe_failures"]
    assert "Nobody" in {p["identity"] for p in probe_failures["probes"]}
    assert probe_failures["count"] == sum(1 for p in ident["probe_results"] if p["failure"])
    rates = ident["metrics"]["all_probes"]
    assert rates["probes"] == 61
    assert rates["rank1"] >= 0.8 and rates["rank5"] >= rates["rank1"]
    at = {row["threshold"]: row for row in rates["at_thresholds"]}
    assert at[99.0]["fpir"] == 0.0 and at[80.0]["tir"] >= at[99.0]["tir"]
    assert ident["metrics"]["enrolled_probes"]["probes"] < 61  # Nobody's probe has no gallery face
    calls = document["run"]["calls"]
    assert (calls["index_faces"], calls["search_faces_by_image"], calls["create_collection"]) == (41, 61, 1)
    assert calls["delete_collection"] >= 1


def _small_subset(root: Path) -> tuple[Path, Path]:
    """10 + 10 pairs of lfw_tiny as 10 folds of 1 + 1, and a gallery of 6 identities (5 with 4 photos, 1
    distractor), copied."""
    data = facedata_dir() / "lfw_tiny"
    lines = (data / "pairs_tiny.txt").read_text().splitlines()[1:]
    same = [line for line in lines if len(line.split()) == 3][:10]
    different = [line for line in lines if len(line.split()) == 4][:10]
    pairs = root / "pairs.txt"
    pairs.write_text("10\t1\n" + "".join(f"{a}\n{b}\n" for a, b in zip(same, different, strict=True)))
    people = identity_images(data)
    chosen = [name for name, images in people.items() if len(images) >= 4][:5]
    chosen += [name for name, images in people.items() if len(images) == 1][:1]
    for name in chosen:
        shutil.copytree(data / name, root / "gallery" / name, copy_function=shutil.copyfile)
    return pairs, root / "gallery"


def _audit_count(server: LiveServer, operation: str) -> int:
    log = server.data_dir / "audit.jsonl"
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if line and json.loads(line).get("operation") == operation)


def test_deterministic_and_resumable(server: LiveServer, tmp_path: Path) -> None:
    pairs, gallery = _small_subset(tmp_path)
    images = facedata_dir() / "lfw_tiny"
    args: list[str | Path] = ["--pairs", pairs, "--images", images, "--gallery", gallery, "--seed", "11"]
    run_eval(server, *args, "--out", tmp_path / "a")
    run_eval(server, *args, "--out", tmp_path / "b")
    first = json.loads((tmp_path / "a" / "eval.json").read_text())
    second = json.loads((tmp_path / "b" / "eval.json").read_text())
    assert first["run"]["calls"]["compare_faces"] == second["run"]["calls"]["compare_faces"] == 20
    assert {k: x for k, x in first.items() if k != "run"} == {k: x for k, x in second.items() if k != "run"}
    accuracy = first["verification"]["accuracy"]
    assert accuracy["folds"] == 10 and accuracy["protocol"].startswith("10-fold") and len(accuracy["per_fold"]) == 10
    assert accuracy["value"] == accuracy["mean"] and accuracy["std"] >= 0.0

    compares, searches = _audit_count(server, "CompareFaces"), _audit_count(server, "SearchFacesByImage")
    summary = run_eval(server, *args, "--out", tmp_path / "a")  # resume: everything is in a's cache
    again = json.loads((tmp_path / "a" / "eval.json").read_text())
    calls = again["run"]["calls"]
    assert summary["calls"] == calls
    assert (calls["compare_faces"], calls["index_faces"], calls["search_faces_by_image"]) == (0, 0, 0)
    assert (calls["pairs_from_cache"], calls["probes_from_cache"]) == (20, first["identification"]["probes"])
    assert again["run"]["cache"]["stored"] == 0 and again["run"]["gallery_indexed"] is False
    assert (_audit_count(server, "CompareFaces"), _audit_count(server, "SearchFacesByImage")) == (compares, searches)
    assert {k: x for k, x in again.items() if k != "run"} == {k: x for k, x in first.items() if k != "run"}

    # A different seed is a different split (and gallery collection), the verification part unchanged.
    run_eval(server, "--pairs", pairs, "--images", images, "--out", tmp_path / "a", "--seed", "12")
    no_gallery = json.loads((tmp_path / "a" / "eval.json").read_text())
    assert no_gallery["identification"] is None and no_gallery["run"]["calls"]["compare_faces"] == 0
    assert no_gallery["verification"] == first["verification"]


def test_report_is_self_contained(tiny_eval: tuple[dict[str, Any], Path]) -> None:
    document, out = tiny_eval
    page = (out / "eval.html").read_text()
    assert page == render(document)  # the page shows the document, nothing else
    assert "<title>rekog-compat eval: pairs.txt on Dlib</title>" in page
    for external in ('src="http', "src='http", 'href="http', "@import", "url(http", "<script"):
        assert external not in page
    assert page.count('src="data:image/png;base64,') == 3
    for section in ("verification", "roc", "histograms", "operating-points", "identification", "failures",
                    "configuration"):
        assert f'id="{section}"' in page


def test_report_renders_in_chromium(tiny_eval: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, out = tiny_eval
    _, dom = browser.render(out / "eval.html", tmp_path)
    assert "<title>rekog-compat eval: pairs.txt on Dlib</title>" in dom
    assert "<h1>rekog-compat eval: pairs.txt on Dlib</h1>" in dom
