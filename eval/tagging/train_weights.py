"""Learn the tagger's two logistic models from the dev splits, and say how well they generalise.

The tagger gathers what its one automaton pass finds into evidence features
(:data:`feedmon.tag.CONFLICT_FEATURES`, :data:`feedmon.tag.TERRITORY_FEATURES`); this script fits
the weights that turn them into ``conflict_score`` and ``countries`` and writes them to
``include/feedmon/data/tag_model.json``.

Training data: **dev splits only** — ``real/<lang>_dev.jsonl`` of every language (real and
written items), AG News ``split: dev`` and modern ``split: dev``. Blind splits, holdouts and the
label sources are never read. Each item goes through the pipeline's own steps
(``run_eval.prepare``: cleaner, language resolution), then :meth:`ConflictTagger.evidence`.

* conflict model: one row per item, target ``is_conflict``;
* territory model: one row per (gold-conflict item, country its evidence names), target "the
  country is in the gold ``countries``". A gold country the evidence never names cannot be learned
  (it is a vocabulary gap, counted in the report).

Both are L2-regularised logistic regressions (bias not penalised) fitted by Newton's method to
convergence: deterministic, no random start, no solver options. The penalty (``LAMBDA``) was fixed
before looking at cross-validated figures. Reported: 5-fold cross-validation (folds by a hash of the
item id), each fold's items scored by models fitted on the other four, per set and origin, with
the same measures as ``run_eval.py``.

Usage::

    python eval/tagging/train_weights.py            # fit, report CV, write the weights file
    python eval/tagging/train_weights.py --check    # exit 1 if the committed weights are not what a fit gives
    python eval/tagging/train_weights.py --misses en  # the dev items the cross-validated models get wrong
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from feedmon.gazetteer import load_gazetteer
from feedmon.tag import (
    CONFLICT_FEATURES,
    TERRITORY_FEATURES,
    ConflictTagger,
    Evidence,
    TagModel,
    choose_countries,
    conflict_features,
    conflict_probability,
    features_row,
    model_path,
    territory_features,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_eval  # the sets, their loading and the pipeline's preparation of an item

LAMBDA = 1.0  # L2 penalty, fixed beforehand
FOLDS = 5
DIGITS = 5  # weights are stored rounded: a refit on another machine gives the same file


def dev_items() -> list[tuple[str, dict[str, Any]]]:
    """(part name, item) of every dev item: real/<lang>_dev.jsonl, AG dev, modern dev."""
    items: list[tuple[str, dict[str, Any]]] = []
    for lang in run_eval.LANGUAGES:
        for it in run_eval.load(run_eval.REAL / f"{lang}_dev.jsonl"):
            items.append((f"{lang}/dev/{it.get('origin', 'real')}", it))
    for name in ("ag", "modern"):
        items += [(f"{name}/dev", it) for it in run_eval.load(run_eval.SETS[name]) if it.get("split") == "dev"]
    return items


def fold_of(item: dict[str, Any]) -> int:
    """The item's cross-validation fold, from its id (fixed, not chosen)."""
    key = str(item.get("id", item.get("row")))
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % FOLDS


def fit(x: np.ndarray, y: np.ndarray, lam: float = LAMBDA) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method (the bias, column 0, is not penalised)."""
    w = np.zeros(x.shape[1])
    penalty = lam * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + penalty @ w
        hess = (x * (p * (1.0 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


class Row:
    """One item's evidence features, territory candidates and gold labels."""

    def __init__(self, part: str, item: dict[str, Any], ev: Evidence | None) -> None:
        self.part = part
        self.title = str(item["title"])
        self.note = str(item.get("note", ""))
        self.fold = fold_of(item)
        self.gold = bool(item["is_conflict"])
        self.gold_countries = set(item.get("countries") or [])
        self.ev = ev
        self.x = features_row(*conflict_features(ev)) if ev is not None else None
        self.cands = territory_features(ev) if ev is not None else {}
        self.cand_rows = {c: features_row(f, m) for c, (f, m) in self.cands.items()}


def build_rows() -> list[Row]:
    """Evidence of every dev item, as the pipeline would tag it."""
    zero = TagModel.from_weights([0.0] * len(CONFLICT_FEATURES), [0.0] * len(TERRITORY_FEATURES))
    tagger = ConflictTagger(load_gazetteer(), model=zero)
    rows = []
    for part, item in dev_items():
        title, text, dateline, lang = run_eval.prepare(item, raw=False)
        rows.append(Row(part, item, tagger.evidence(title, text, dateline, lang)))
    return rows


def matrices(rows: Sequence[Row]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(conflict X, y) over items with evidence, (territory X, y) over gold-conflict items' candidates."""
    cx = [r.x for r in rows if r.x is not None]
    cy = [r.gold for r in rows if r.x is not None]
    tx = [f for r in rows if r.gold for f in r.cand_rows.values()]
    ty = [c in r.gold_countries for r in rows if r.gold for c in r.cands]
    return (
        np.array(cx, dtype=float),
        np.array(cy, dtype=float),
        np.array(tx, dtype=float).reshape(-1, len(TERRITORY_FEATURES)),
        np.array(ty, dtype=float),
    )


def fit_models(rows: Sequence[Row]) -> tuple[np.ndarray, np.ndarray]:
    """Conflict and territory weights fitted on ``rows``."""
    cx, cy, tx, ty = matrices(rows)
    return fit(cx, cy), fit(tx, ty)


def predict(row: Row, wc: np.ndarray, wt: np.ndarray, threshold: float = 0.5) -> tuple[bool, set[str]]:
    """What the tagger's own decision code says with these weights (no evidence: not conflict)."""
    if row.x is None or row.ev is None:
        return False, set()
    model = TagModel.from_weights(wc, wt)
    if conflict_probability(row.ev, model.conflict) < threshold:
        return False, set()
    return True, set(choose_countries(row.cands, model.territory))


def measures(rows: Sequence[Row], preds: Sequence[tuple[bool, set[str]]]) -> dict[str, dict[str, Any]]:
    """run_eval's measures (is_conflict P/R/F1, countries micro-F1) per part and over all dev items."""
    acc: dict[str, list[int]] = {}
    for row, (pc, pk) in zip(rows, preds, strict=True):
        for name in (row.part, "all dev"):
            a = acc.setdefault(name, [0] * 7)
            a[0] += 1
            a[1] += row.gold and pc
            a[2] += pc and not row.gold
            a[3] += row.gold and not pc
            a[4] += len(row.gold_countries & pk)
            a[5] += len(pk - row.gold_countries)
            a[6] += len(row.gold_countries - pk)
    return {
        name: {
            "items": a[0],
            "positives": a[1] + a[3],
            "is_conflict": run_eval.prf(a[1], a[2], a[3]),
            "countries": run_eval.prf(a[4], a[5], a[6]),
        }
        for name, a in acc.items()
    }


def cross_validated_predictions(rows: Sequence[Row]) -> list[tuple[bool, set[str]]]:
    """Each fold's items as models fitted on the other folds tag them."""
    preds: list[tuple[bool, set[str]]] = [(False, set())] * len(rows)
    for k in range(FOLDS):
        wc, wt = fit_models([r for r in rows if r.fold != k])
        for i, row in enumerate(rows):
            if row.fold == k:
                preds[i] = predict(row, wc, wt)
    return preds


def cross_validate(rows: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Each fold scored by models fitted on the other folds."""
    return measures(rows, cross_validated_predictions(rows))


def misses(rows: Sequence[Row], only: str = "") -> str:
    """The dev items the cross-validated models get wrong (dev only: blind items are never read)."""
    out = []
    for row, (pc, pk) in zip(rows, cross_validated_predictions(rows), strict=True):
        if row.part.startswith(only) and (pc != row.gold or pk != row.gold_countries):
            evidence = " ".join(sorted(set(row.ev.labels))) if row.ev is not None else ""
            out.append(
                f"- {row.part} {row.title[:90]!r} gold={row.gold, sorted(row.gold_countries)} "
                f"cv={pc, sorted(pk)} {row.note}\n    {evidence}"
            )
    return "\n".join(out)


def model_data(rows: Sequence[Row]) -> dict[str, Any]:
    """The weights file's content: both models fitted on every dev item, and the CV figures."""
    wc, wt = fit_models(rows)
    cv = cross_validate(rows)
    fitted = measures(rows, [predict(r, wc, wt) for r in rows])
    unreachable = sum(len(r.gold_countries - set(r.cands)) for r in rows if r.gold)
    gaz = load_gazetteer()
    return {
        "about": "feedmon tagger weights: learned by eval/tagging/train_weights.py from the dev splits only",
        "gazetteer": gaz.version,
        "training": {
            "items": len(rows),
            "conflict_items": sum(r.gold for r in rows),
            "lambda": LAMBDA,
            "folds": FOLDS,
            "gold_countries_never_named": unreachable,
        },
        "conflict": {
            "features": list(CONFLICT_FEATURES),
            "weights": [round(float(w), DIGITS) for w in wc],
            "threshold": 0.5,
        },
        "territory": {"features": list(TERRITORY_FEATURES), "weights": [round(float(w), DIGITS) for w in wt]},
        "cross_validated": dict(sorted(cv.items())),
        "fitted": {"all dev": fitted["all dev"]},
    }


def report(data: dict[str, Any]) -> str:
    """CV figures per part, and the weights by feature."""
    lines = [f"{'dev part (5-fold CV)':22} {'items':>5} {'pos':>4}   is_conflict P / R / F1   countries P / R / F1"]
    for name, r in data["cross_validated"].items():
        c, k = r["is_conflict"], r["countries"]
        lines.append(
            f"{name:22} {r['items']:5d} {r['positives']:4d}   {c['precision']:.3f} {c['recall']:.3f} {c['f1']:.3f}"
            f"        {k['precision']:.3f} {k['recall']:.3f} {k['f1']:.3f}"
        )
    fit_all = data["fitted"]["all dev"]
    lines.append(
        f"fitted on all dev, scored on it: is_conflict {fit_all['is_conflict']['f1']:.3f}, "
        f"countries {fit_all['countries']['f1']:.3f}; gold countries the evidence never names: "
        f"{data['training']['gold_countries_never_named']}"
    )
    for name in ("conflict", "territory"):
        lines.append(f"\n{name} model weights:")
        for feat, w in zip(data[name]["features"], data[name]["weights"], strict=True):
            lines.append(f"  {w:+8.3f}  {feat}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare a fresh fit with the committed weights")
    ap.add_argument("--out", type=Path, default=model_path(), help="where to write the weights")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--misses", metavar="PART", nargs="?", const="", help="list cross-validated misses (dev)")
    args = ap.parse_args(argv)
    rows = build_rows()
    if args.misses is not None:
        print(misses(rows, args.misses))
        return 0
    if args.check:
        old = json.loads(args.out.read_text(encoding="utf-8"))
        fitted = dict(zip(("conflict", "territory"), fit_models(rows), strict=True))
        same = all(
            len(old[m]["weights"]) == len(fitted[m])
            and all(abs(a - b) <= 2 * 10**-DIGITS for a, b in zip(old[m]["weights"], fitted[m], strict=True))
            for m in ("conflict", "territory")
        )
        print("weights file up to date" if same else f"{args.out}: not what a fit on the dev splits gives; retrain")
        return 0 if same else 1
    data = model_data(rows)
    if not args.quiet:
        print(report(data))
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
