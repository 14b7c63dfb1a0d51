"""One HTTP attempt at one feed: conditional GET, redirects by hand, a streamed and capped body.

* **Own the HTTP.** Redirects are followed by hand (loops and chains bounded, permanent moves
  recorded); the body is streamed with a byte cap and gzip/deflate is decoded here with a cap on the
  *decoded* size, so a decompression bomb stops at the cap instead of filling memory.
* An attempt never raises for a feed's trouble: it returns an :class:`Outcome` with a status from
  :data:`feedmon.vocab.FEED_STATUSES`, and says whether the failure is worth a retry.
"""

from __future__ import annotations

import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from feedmon.config import FetchSettings
from feedmon.ids import body_hash
from feedmon.models import FeedConfig
from feedmon.sniff import looks_like_html

if TYPE_CHECKING:  # state.py builds on this module (Retry-After), not the other way round
    from feedmon.fetch.state import FeedState

__all__ = ["Decoder", "Fetcher", "Outcome", "TooLarge", "retry_after_seconds"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT_REDIRECTS = frozenset({301, 308})
_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
_CHUNK = 64 * 1024


@dataclass(slots=True)
class Outcome:
    """What one attempt produced; the scheduler turns the final one into a :class:`FetchResult`."""

    status: str
    http_status: int | None = None
    error: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    final_url: str | None = None
    nbytes: int = 0
    transient: bool = False
    retry_after: float | None = None
    consumed: bool = False  # the body was read to its end: the connection can be reused


class TooLarge(Exception):
    """The body went over a size cap (as sent, or once decoded)."""


class Decoder:
    """Streaming gzip/deflate decoder that refuses to produce more than ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1:
            raise ValueError(f"unsupported stacked content-encoding {encoding!r}")
        self.coding = codings[0] if codings else ""
        if self.coding not in ("", "gzip", "x-gzip", "deflate"):
            raise ValueError(f"unsupported content-encoding {self.coding!r}")
        self.limit = limit
        self.total = 0
        self._z = self._member() if self.coding else None  # None: identity, bytes pass through
        self._raw_deflate_tried = False
        self._started = False

    def _member(self) -> zlib._Decompress:
        """A fresh decompressor for the coding (a gzip body may hold several members)."""
        if self.coding == "deflate":
            return zlib.decompressobj()
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _count(self, chunk: bytes) -> bytes:
        self.total += len(chunk)
        if self.total > self.limit:
            raise TooLarge(f"body over {self.limit} bytes once decompressed")
        return chunk

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of the next chunk off the wire (raises :class:`TooLarge` over the cap)."""
        z = self._z
        if z is None:
            return self._count(data)
        out: list[bytes] = []
        buf = data
        while buf:
            try:
                chunk = z.decompress(buf, self.limit - self.total + 1)
            except zlib.error:
                # "deflate" is often sent raw (no zlib header): retry once as raw deflate.
                if self.coding == "deflate" and not self._started and not self._raw_deflate_tried:
                    self._raw_deflate_tried = True
                    z = self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise
            self._started = True
            out.append(self._count(chunk))
            if z.eof and z.unused_data.strip(b"\0"):
                buf = z.unused_data  # concatenated gzip members
                z = self._z = self._member()
            else:
                buf = z.unconsumed_tail
        return b"".join(out)

    def flush(self) -> bytes:
        return self._count(self._z.flush()) if self._z is not None else b""


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP-date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now_ts = time.time() if now is None else now
    return max(0.0, when.timestamp() - now_ts)


class Fetcher:
    """Performs single attempts; holds one ``requests.Session`` per worker thread (keep-alive)."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        sess = getattr(self._local, "session", None)
        if sess is None:
            sess = requests.Session()
            adapter = HTTPAdapter(pool_connections=64, pool_maxsize=max(2, self.settings.per_host), max_retries=0)
            sess.mount("http://", adapter)
            sess.mount("https://", adapter)
            # Off by default: no ~/.netrc credentials sent to feed hosts, no per-request proxy lookup.
            sess.trust_env = self.settings.trust_env
            self._local.session = sess
            with self._lock:
                self._sessions.append(sess)
        return sess

    def close(self) -> None:
        with self._lock:
            for sess in self._sessions:
                sess.close()
            self._sessions.clear()

    def attempt(self, feed: FeedConfig, prior: FeedState | None) -> Outcome:
        """One attempt at ``feed`` (following redirects), conditional on ``prior``; never raises for
        network trouble."""
        try:
            return self._attempt(feed, prior)
        except TooLarge as exc:
            return Outcome("too_large", error=str(exc))
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError) as exc:
            return Outcome("timeout", error=f"timeout: {_short(exc)}")
        except requests.exceptions.SSLError as exc:
            return Outcome("connection_error", error=f"TLS error: {_short(exc)}")
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            return Outcome("connection_error", error=f"invalid URL: {_short(exc)}")
        except requests.exceptions.InvalidSchema as exc:
            return Outcome("connection_error", error=f"unsupported URL scheme: {_short(exc)}")
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.HTTPError,
            ConnectionError,
        ) as exc:
            return Outcome("connection_error", error=f"connection error: {_short(exc)}", transient=True)
        except zlib.error as exc:
            return Outcome("http_error", error=f"content decoding failed: {exc}")
        except (requests.exceptions.RequestException, OSError) as exc:
            return Outcome("connection_error", error=f"{type(exc).__name__}: {_short(exc)}")

    def _attempt(self, feed: FeedConfig, prior: FeedState | None) -> Outcome:
        s = self.settings
        read_timeout = feed.timeout or s.read_timeout
        deadline = time.monotonic() + s.connect_timeout + read_timeout
        headers = {
            "User-Agent": s.user_agent,
            "Accept": "application/rss+xml, application/atom+xml, application/rdf+xml, "
            "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        }
        prior = prior if prior is not None and prior.url == feed.url else None
        if prior is not None:
            if prior.etag:
                headers["If-None-Match"] = prior.etag
            if prior.last_modified:
                headers["If-Modified-Since"] = prior.last_modified
        url = feed.url
        visited = {url}
        permanent_url: str | None = None
        all_permanent = True
        session = self.session()
        for hop in range(s.max_redirects + 1):
            scheme = urlsplit(url).scheme.lower()
            if scheme not in ("http", "https"):
                return Outcome("connection_error", error=f"unsupported URL scheme {scheme!r} in {url}")
            resp = session.get(
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(s.connect_timeout, read_timeout),
            )
            reusable = False
            try:
                location = resp.headers.get("location")
                if resp.status_code in _REDIRECTS and location:
                    target = urljoin(url, location.strip())
                    if all_permanent and resp.status_code in _PERMANENT_REDIRECTS:
                        permanent_url = target
                    else:
                        all_permanent = False
                    if target in visited:
                        return Outcome("redirect_loop", resp.status_code, f"redirect loop: {url} -> {target}")
                    if hop == s.max_redirects:
                        return Outcome("redirect_loop", resp.status_code, f"more than {s.max_redirects} redirects")
                    visited.add(target)
                    url = target
                    reusable = _drain(resp)
                    continue
                out = self._read(resp, feed, prior, deadline)
                if out.status in ("ok", "not_modified"):
                    out.final_url = permanent_url
                # Only bodies we never started reading (304, error pages) are worth draining.
                reusable = out.consumed or (out.status in ("http_error", "not_modified") and _drain(resp))
                return out
            finally:
                # A fully read response goes back to the pool (keep-alive); anything else is closed,
                # because unread bytes would poison the next request on that connection.
                if reusable:
                    resp.raw.release_conn()
                else:
                    resp.close()
        raise AssertionError("unreachable")  # the loop always returns

    def _read(self, resp: requests.Response, feed: FeedConfig, prior: FeedState | None, deadline: float) -> Outcome:
        s = self.settings
        code = resp.status_code
        hdrs = {k.lower(): v for k, v in resp.headers.items()}
        if code == 304:
            return Outcome("not_modified", code, headers=hdrs)
        if code >= 300 or code < 200:
            reason = resp.reason or ""
            return Outcome(
                "http_error",
                code,
                f"HTTP {code} {reason}".strip(),
                headers=hdrs,
                transient=code in _TRANSIENT_HTTP or code >= 500,
                retry_after=retry_after_seconds(hdrs.get("retry-after")),
            )
        max_bytes = feed.max_bytes or s.max_bytes
        declared = hdrs.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > max_bytes:
            return Outcome("too_large", code, f"Content-Length {declared} over limit {max_bytes}", headers=hdrs)
        try:
            decoder = Decoder(hdrs.get("content-encoding", ""), s.max_decoded_bytes)
        except ValueError as exc:
            return Outcome("http_error", code, str(exc), headers=hdrs)
        parts: list[bytes] = []
        wire = 0
        while True:
            if time.monotonic() > deadline:
                return Outcome("timeout", code, "body not complete within the time limit", headers=hdrs)
            data = resp.raw.read1(_CHUNK, decode_content=False)
            if not data:
                break
            wire += len(data)
            if wire > max_bytes:
                return Outcome("too_large", code, f"body over limit {max_bytes} bytes", headers=hdrs)
            try:
                parts.append(decoder.feed(data))
            except TooLarge as exc:
                return Outcome("too_large", code, str(exc), headers=hdrs)
        try:
            parts.append(decoder.flush())
        except TooLarge as exc:
            return Outcome("too_large", code, str(exc), headers=hdrs)
        body = b"".join(parts)
        if not body.strip():
            return Outcome("empty", code, "empty body", headers=hdrs, consumed=True)
        if looks_like_html(body, hdrs.get("content-type")):
            msg = "not a feed: the server sent an HTML page"
            return Outcome("parse_error", code, msg, headers=hdrs, nbytes=len(body), consumed=True)
        if prior is not None and prior.content_hash and prior.content_hash == body_hash(body):
            return Outcome("not_modified", code, None, headers=hdrs, nbytes=len(body), consumed=True)
        return Outcome("ok", code, None, body=body, headers=hdrs, nbytes=len(body), consumed=True)


def _drain(resp: requests.Response, limit: int = 64 * 1024) -> bool:
    """Read a small unread body (redirect, 304, error page) so the connection can be reused."""
    if resp.status_code == 304 or resp.status_code < 200 or resp.status_code == 204:
        return True
    length = resp.headers.get("content-length", "").strip()
    if not length.isdigit() or int(length) > limit:
        return False
    try:
        resp.raw.read(int(length), decode_content=False)
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError):
        return False
    return True


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
