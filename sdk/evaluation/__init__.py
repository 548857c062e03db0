"""Accuracy evaluation through the HTTP API: `rekog-compat eval`.

Verification (CompareFaces on an LFW-format pairs file) and, given a gallery folder, 1:N identification
(SearchFacesByImage), scored against a running server (or AWS) exactly as a user's program would see it, into
`eval.json` and a self-contained `eval.html`. The modules each do one job:

- `pairs`: read an LFW pairs file (folds, images, same person or not);
- `verification`: the verification metrics (numpy only: accuracy, k-fold, ROC, TAR@FAR, FMR/FNMR);
- `identification`: the seeded gallery/probe split and the identification metrics;
- `cache`: the resumable per-pair/per-probe result cache;
- `runner`: the API calls (CompareFaces, IndexFaces, SearchFacesByImage) with the cache and a progress bar;
- `evaluate`: one evaluation from inputs to the eval.json document;
- `charts` and `report`: the matplotlib charts and the HTML page;
- `cli`: the `rekog-compat eval` subcommand.

Importing the package has no side effects and loads neither matplotlib nor tqdm.
"""
