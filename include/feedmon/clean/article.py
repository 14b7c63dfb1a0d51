"""The entry points: :func:`clean_title` and :func:`clean_article`, one feed item at a time."""

from __future__ import annotations

from feedmon.clean.boilerplate import BoilerplateModel
from feedmon.clean.credits import TITLE_DASH_CREDIT, TITLE_PAREN_CREDIT, Credits, trailing_credit
from feedmon.clean.fold import folded_lower
from feedmon.clean.html import ESCAPED_MARKUP, plain_line, to_paragraphs
from feedmon.clean.lines import collapse, remove_junk
from feedmon.clean.rules import CleanRules, default_rules
from feedmon.clean.text import normalize_text
from feedmon.models import CleanText

__all__ = ["clean_article", "clean_title", "plain_title"]


def plain_title(title: str, rules: CleanRules | None = None) -> str:
    """The title as plain text: markup removed as in an article's text (Atom ``type="html"``,
    escaped markup such as ``Poor &lt;b&gt;...&lt;/b&gt;``), entities and whitespace normalised.
    No junk or credit removal: that is :func:`clean_title`."""
    rules = rules or default_rules()
    t = normalize_text(plain_line(title, rules), rules=rules)
    if "<" in t and ESCAPED_MARKUP.search(t):
        t = ESCAPED_MARKUP.sub("", t)
    return " ".join(t.split())


def clean_title(title: str, rules: CleanRules | None = None) -> tuple[str, str | None, str | None]:
    """``(title, agency, unknown_credit)``: normalised title without ``(AP)``-style credits or junk."""
    rules = rules or default_rules()
    return _title_without_credits(plain_title(title, rules), rules)


def _title_without_credits(t: str, rules: CleanRules) -> tuple[str, str | None, str | None]:
    """:func:`clean_title` of a title :func:`plain_title` made already."""
    if rules.title_re is not None:
        low = folded_lower(t)
        if any(hint.search(low) for hint in rules.title_hints):  # most titles: no pattern can match
            spans = [m.span() for m in rules.title_re.finditer(low) if m.end() > m.start()]
            for a, b in reversed(spans):
                t = t[:a] + t[b:]
        t = t.strip()
    agency = None
    unknown = None
    m = TITLE_PAREN_CREDIT.search(t)
    if m:
        credit = m.group("credit").strip()
        known = rules.agency_name(credit)
        if known:
            agency, t = known, t[: m.start()].rstrip()
        else:
            unknown = credit  # stripped only if the body confirms it is a credit
    else:
        m = TITLE_DASH_CREDIT.search(t)
        if m and rules.agency_name(m.group("credit")):
            agency, t = rules.agency_name(m.group("credit")), t[: m.start()].rstrip()
    return t, agency, unknown


def clean_article(
    title: str,
    html: str,
    *,
    source: str | None = None,
    rules: CleanRules | None = None,
    boilerplate: BoilerplateModel | None = None,
    article_key: str | None = None,
) -> CleanText:
    """Clean one feed item.

    ``boilerplate`` removes lines learned as junk for ``source``; with ``article_key`` the item is
    also *observed* by the model (before its learned removal, so what it learns never feeds back
    into what it sees). Without ``article_key`` the caller may ``observe()`` the returned text
    itself, handing over ``boilerplate_removed`` so those lines are counted too (a footer must keep
    being counted while it is removed). Pure function of its inputs plus the model's frozen history.
    """
    rules = rules or default_rules()
    printed = plain_title(title or "", rules)
    clean_t, title_agency, title_credit = _title_without_credits(printed, rules)
    credits = Credits(agency=title_agency, title_credit=title_credit)
    paras = to_paragraphs(html or "", rules)
    paras = remove_junk(paras, rules, credits)
    paras = collapse(paras, (clean_t, printed), rules, credits)
    if title_credit and credits.title_credit_confirmed:
        # the body opened with the same credit the title ends with: drop "(X)" from the title
        m = TITLE_PAREN_CREDIT.search(clean_t)
        if m:
            clean_t = clean_t[: m.start()].rstrip()
    paras = trailing_credit(paras, rules, credits)
    removed: list[str] = []
    if boilerplate is not None and source:
        if article_key is not None:
            boilerplate.observe(source, article_key, "\n".join(line for p in paras for line in p))
        if boilerplate.boilerplate_count(source):  # else nothing is learned for the source: all lines stay
            kept: list[list[str]] = []
            for p in paras:
                lines: list[str] = []
                for ln in p:
                    (removed if boilerplate.is_boilerplate(source, ln) else lines).append(ln)
                if lines:
                    kept.append(lines)
            paras = kept
    text = "\n\n".join("\n".join(p) for p in paras)
    return CleanText(
        title=clean_t, text=text, dateline=credits.dateline, agency=credits.agency, boilerplate_removed=removed
    )
