"""The README's headline speed figures are the committed benchmark results, and docs/benchmarks.md agrees.

Issue 12 began with a README and docs that disagreed and no result file behind either: here each
headline figure is read from ``bench/results/*.json`` and must appear, as printed, in both texts.
Rerunning the benchmark without updating the texts fails this test, which is the point.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO

RESULTS = REPO / "bench" / "results"


def _figures() -> dict[str, list[str]]:
    """Per result file: the figures the texts must show, formatted as they print them."""
    full = json.loads((RESULTS / "product.json").read_text(encoding="utf-8"))
    # S2 alone (``--only s2``) when a later run measured it, else the full run's
    s2_file = RESULTS / "product-s2.json"
    s2 = json.loads(s2_file.read_text(encoding="utf-8")) if s2_file.exists() else full
    c1, c2, seq = (s2["scenarios"]["s2"][k] for k in ("feedmon_cycle1", "feedmon_cycle2", "sequential"))
    s1 = full["scenarios"]["s1"]
    s3_large = full["scenarios"]["s3"]["points"][-1]
    return {
        "s2": [
            s2["machine"]["feedmon_commit"][:7],
            f"{c1['wall_s']:.1f} s",
            f"fetch {c1['server']['fetch_span_s']:.1f} s",
            f"{c2['wall_s']:.1f} s",
            f"fetch {c2['server']['fetch_span_s']:.1f} s",
            f"sequential {seq['seconds']:.1f} s",
            f"{s2['scenarios']['s2']['ratio_vs_sequential']:.1f}×",
        ],
        "product.json": [
            full["machine"]["feedmon_commit"][:7],
            f"{s1['feedmon_run']['wall_s']:.1f} s",
            f"{s1['standard']['wall_s']:.1f} s",
            f"{s1['ratio_vs_standard']:.2f}×",
            f"{s1['dag_run']['dag_test_s']:.1f} s",
            f"{s3_large['peak_rss_mib'] / 1024:.2f} GiB",
        ],
    }


@pytest.mark.parametrize("doc", ["README.md", "docs/benchmarks.md"])
def test_headline_figures_come_from_the_committed_results(doc):
    text = (REPO / doc).read_text(encoding="utf-8")
    missing = {name: [f for f in figs if f not in text] for name, figs in _figures().items()}
    assert not any(missing.values()), f"{doc} does not show these figures of bench/results: {missing}"
