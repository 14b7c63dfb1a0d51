"""One URL per page: strip tracking parameters, fragments, ``www.`` and AMP variants.

Outlets hand out the same article under many URLs (``?utm_source=rss``, ``#comments``,
``amp.example.com``, ``/story/amp``, Google's AMP cache). Exact dedup and ``article_id`` use the
canonical form, so this must be deterministic and independent of configuration: the tracking
list lives here, in code, not in the editable rule file (changing it would change every id).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

__all__ = ["TRACKING_PARAMS", "TRACKING_PREFIXES", "canonical_url"]

#: Query parameters that only say where a click came from (case-insensitive).
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "twclid", "ttclid", "li_fat_id",
        "igshid", "igsh", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "vero_id",
        "oly_anon_id", "oly_enc_id", "rb_clickid", "s_cid", "s_kwcid", "ncid", "ocid", "cmpid", "cmp",
        "cid_source", "traffic_source", "trafficsource", "ref", "ref_src", "ref_url", "referrer",
        "source", "smid", "smtyp", "share", "shared", "sharetype", "ito", "xtor", "ns_mchannel",
        "ns_source", "ns_campaign", "ns_linkname", "ns_fee", "at_medium", "at_campaign", "at_custom1",
        "at_custom2", "at_custom3", "at_custom4", "wt.mc_id", "wt.mc_ev", "spm", "scm", "rss",
        "rssfeed", "feedtype", "via", "amp", "amp_js_v", "amp_gsa", "usqp",
        "outputtype", "__twitter_impression", "__tn__", "__cft__", "__xts__", "guccounter",
        "guce_referrer", "guce_referrer_sig", "sr_share", "soc_src", "soc_trk", "taid",
        "campaign_id", "ad_id", "adgroupid", "utm",
    }
)  # fmt: skip
#: Parameter-name prefixes that are always tracking (``utm_source``, ``pk_campaign``...).
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmb_", "at_", "wt.", "ga_", "fb_action", "oly_", "icid")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_AMP_PATH_TAIL = re.compile(r"/amp/?$|/amp\.html?$", re.IGNORECASE)
_AMP_DOT_HTML = re.compile(r"\.amp(\.html?)?$", re.IGNORECASE)
_AMP_SEGMENT = re.compile(r"^/amp(?=/)", re.IGNORECASE)
_AMP_CACHE = re.compile(r"^/(?:c|v|i)/(?:s/)?(?P<rest>.+)$")
_GOOGLE_AMP = re.compile(r"^/amp/(?:s/)?(?P<rest>.+)$")
_QUERY_SEP = re.compile(r"[&;]")


def _is_tracking(name: str) -> bool:
    n = name.lower()
    return n in TRACKING_PARAMS or n.startswith(TRACKING_PREFIXES)


def _unwrap_amp_cache(host: str, path: str) -> str | None:
    """Publisher URL behind Google's AMP cache / viewer links, or None."""
    if host.endswith(".cdn.ampproject.org"):
        m = _AMP_CACHE.match(path)
        if m:
            rest = m.group("rest")
            secure = path.startswith(("/c/s/", "/v/s/", "/i/s/"))
            return ("https://" if secure else "http://") + rest
    if host in {"google.com", "www.google.com"}:
        m = _GOOGLE_AMP.match(path)
        if m:
            return ("https://" if path.startswith("/amp/s/") else "http://") + m.group("rest")
    return None


def canonical_url(url: str) -> str:
    """The canonical form of ``url``; input that is not an absolute http(s) URL is returned stripped.

    Lower-case scheme and host, no ``www.`` or ``amp.`` host prefix, no default port, no fragment,
    no tracking parameters, remaining parameters sorted, AMP variants (``/amp``, ``.amp.html``,
    ``?amp``, ``amp.`` host, AMP caches) mapped to the page.
    """
    url = (url or "").strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    hostname = parts.hostname  # a property that parses the netloc on every access: read once
    if scheme not in ("http", "https") or not hostname:
        return url
    host = hostname.lower().rstrip(".")
    unwrapped = _unwrap_amp_cache(host, parts.path)
    if unwrapped and unwrapped != url:
        if parts.query:
            unwrapped += "?" + parts.query
        return canonical_url(unwrapped)
    for prefix in ("www.", "amp."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
    netloc = host
    if "@" in parts.netloc and parts.username:  # no "@", no user: skip parsing the netloc again
        netloc = parts.username + (f":{parts.password}" if parts.password else "") + "@" + netloc
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    path = parts.path or "/"
    low = path.lower()
    if "/amp" in low or ".amp" in low:  # each AMP pattern needs one of them (most paths have neither)
        path = _AMP_DOT_HTML.sub(lambda m: m.group(1) or "", path)
        if _AMP_PATH_TAIL.search(path):
            path = _AMP_PATH_TAIL.sub("", path) or "/"
        path = _AMP_SEGMENT.sub("", path)
    query = parts.query
    if query:
        # work on the raw "k=v" pairs: re-encoding values would turn one URL into another spelling
        pairs = [p for p in _QUERY_SEP.split(query) if p]
        pairs = [p for p in pairs if not _is_tracking(unquote_plus(p.split("=", 1)[0]))]
        pairs.sort(key=lambda p: p.split("=", 1)[0])  # stable: repeated keys keep their order
        query = "&".join(pairs)
    return urlunsplit((scheme, netloc, path, query, ""))


def safe_href(url: str | None) -> str | None:
    """The URL if it is plain http(s), else None: feed links must never become ``javascript:``/``data:``."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None
