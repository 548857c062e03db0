"""Cloud-vs-on-prem comparison report: the same face workload on two Rekognition endpoints.

`run_comparison(a, b, gallery=..., probes=..., out=...)` takes two plain boto3 Rekognition
clients (AWS, rekog-compat, or two rekog-compat servers with different settings) and writes
`report.json` and a self-contained `report.html`: top-k agreement, rank correlation, accuracy
when identities are known, detection box/landmark agreement, latency and cost per side.
"""

from __future__ import annotations

from .runner import run_comparison

__all__ = ["run_comparison"]
