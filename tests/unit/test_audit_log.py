"""The audit log file: chained appends, reopening, a torn last line."""

from __future__ import annotations

import json

from rekog_compat.audit import GENESIS, AuditLog, line_hash, verify


def test_records_are_chained_and_numbered_across_reopening(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, fsync=False)
    log.append({"operation": "A"})
    log.close()
    again = AuditLog(path, fsync=False)
    again.append({"operation": "B"})
    again.close()
    lines = path.read_bytes().splitlines(keepends=True)
    first, second = (json.loads(line) for line in lines)
    assert (first["seq"], first["prev"]) == (0, GENESIS)
    assert (second["seq"], second["prev"]) == (1, line_hash(lines[0]))
    assert verify(lines)[0] == 2 and verify(lines)[2] is None


def test_a_torn_last_line_is_cut_and_the_chain_goes_on(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, fsync=False)
    log.append({"operation": "A"})
    log.close()
    with open(path, "ab") as f:
        f.write(b'{"seq":1,"prev":"tor')  # a crash in the middle of a write
    log = AuditLog(path, fsync=False)
    log.append({"operation": "B"})
    log.close()
    lines = path.read_bytes().splitlines(keepends=True)
    assert [json.loads(line)["operation"] for line in lines] == ["A", "B"]
    assert verify(lines)[2] is None


def test_a_line_that_is_not_json_breaks_the_chain(tmp_path):
    count, _, broken = verify([b"not json\n"])
    assert count == 0 and broken is not None and broken.line == 1


def test_two_processes_appending_to_one_log_keep_one_chain(tmp_path):
    """`--workers` siblings each hold the file open; every append chains on the other's last record."""
    path = tmp_path / "audit.jsonl"
    first, second = AuditLog(path, fsync=False), AuditLog(path, fsync=False)
    for i in range(3):
        first.append({"operation": f"first-{i}"})
        second.append({"operation": f"second-{i}"})
    first.close()
    second.close()
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 6
    count, _, broken = verify(lines)
    assert broken is None and count == 6
