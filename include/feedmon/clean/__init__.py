"""Turn a feed item's HTML into clean plain text, and pull the dateline and agency credit out of it.

Agency copy reaches us decorated by every outlet that carries it: the title repeated as the first
line, the lede printed twice (once with a ``MOSCOW:`` dateline, once without), credits such as
``AP -`` or ``(Reuters)``, site footers, comment widgets, and broken entities (``#39;``) that were
escaped once too often or not at all. Dedup and tagging compare *text*, so all of that has to go
the same way for every copy, and fast: the 1M-article benchmark runs through here.

The package, bottom to top (each module imports only the ones above it in this list):

* :mod:`~feedmon.clean.fold`: character folding for matching;
* :mod:`~feedmon.clean.rules`: the junk rules (``data/clean_rules.yaml`` + ``FEEDMON_CLEAN_RULES``);
* :mod:`~feedmon.clean.text`: entity and mojibake repair, whitespace, :func:`match_key`;
* :mod:`~feedmon.clean.html`: HTML to paragraphs, drop selectors;
* :mod:`~feedmon.clean.credits`: datelines and agency credits;
* :mod:`~feedmon.clean.lines`: junk lines, repeated titles and ledes;
* :mod:`~feedmon.clean.boilerplate`: learned per-source boilerplate (:class:`BoilerplateModel`);
* :mod:`~feedmon.clean.article`: :func:`clean_title` (on :func:`plain_title`) and :func:`clean_article`.

See ``docs/cleaning.md``.
"""

from feedmon.clean.article import clean_article, clean_title, plain_title
from feedmon.clean.boilerplate import BoilerplateModel, BoilerplateSettings, line_key
from feedmon.clean.rules import CleanRules, default_rules
from feedmon.clean.text import match_key, normalize_text

__all__ = [
    "BoilerplateModel",
    "BoilerplateSettings",
    "CleanRules",
    "clean_article",
    "clean_title",
    "default_rules",
    "line_key",
    "match_key",
    "normalize_text",
    "plain_title",
]
