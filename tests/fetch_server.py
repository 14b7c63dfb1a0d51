"""A misbehaving feed server for tests: a real threaded HTTP server on 127.0.0.1 (ephemeral port).

Every way a feed host goes wrong in the wild has a path here, so fetch tests, pipeline tests and
DAG end-to-end tests can all point real HTTP at it::

    with MisbehavingServer() as srv:
        url = srv.url("/flaky/k1?fail=1")

Paths (``<key>`` lets each test keep its own failure counter):

================================  ===========================================================
``/feeds/<file>``                 a fixture from ``tests/fixtures/feeds`` with ETag and
                                  Last-Modified; answers 304 to matching validators
``/novalidators/<file>``          the same bytes, no ETag/Last-Modified (content-hash case)
``/slow?delay=S``                 waits S seconds before answering (timeout case)
``/drip?delay=S&bytes=N``         headers at once, then one byte every S seconds
``/flaky/<key>?fail=N``           500 for the first N requests, then the ok feed
``/ratelimit/<key>?after=S``      429 with ``Retry-After: S`` once, then the ok feed
``/reset/<key>?fail=N``           closes the connection with a TCP reset N times, then ok feed
``/status/<code>``                that HTTP status with a small HTML body (404, 410, 500...)
``/loop/a`` ↔ ``/loop/b``         a 302 redirect loop
``/chain/<n>``                    n 302 redirects before the ok feed
``/moved``                        301 to ``/feeds/ok.xml``
``/temp``                         302 to ``/feeds/ok.xml``
``/big?size=N``                   a 200 body of N bytes with Content-Length
``/big-stream?size=N``            the same without Content-Length (connection-delimited)
``/gzip``, ``/deflate``           the ok feed, gzip / raw-deflate encoded
``/bomb?mib=N``                   gzip bomb: a few KiB that expand to N MiB (default 64)
``/wrong-charset``                a Windows-1251 feed declared ``charset=utf-8``
``/html``                         an HTML page where a feed should be
``/empty``                        200 with an empty body
``/truncated``                    XML cut off mid-item
``/same-guid``                    items that all share one guid
``/items?n=N&seed=S``             a generated RSS feed of N items (load tests)
================================  ===========================================================

``srv.hits`` records every request (path, headers, start and end time) so tests can check what
the client sent, how many times, and how many requests were in flight at once.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
LAST_MODIFIED = formatdate(1764320400, usegmt=True)  # a fixed date, so validators are stable


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    started: float
    ended: float | None = None
    client: tuple[str, int] | None = None  # the client's address: one per TCP connection


def generated_feed(n: int, seed: str = "x", title: str = "Generated") -> bytes:
    """An RSS 2.0 document with ``n`` distinct items (guid, link, date, a paragraph of text)."""
    items = []
    for i in range(n):
        items.append(
            f"<item><title>{title} story {seed}-{i}</title>"
            f"<link>https://gen.example/{seed}/{i}</link><guid isPermaLink='false'>{seed}-{i}</guid>"
            f"<pubDate>Sat, 28 Nov 2026 {i % 24:02d}:{i % 60:02d}:00 GMT</pubDate>"
            f"<description>&lt;p&gt;Paragraph {i} of feed {seed}: officials said talks would continue "
            f"next week, according to the agency.&lt;/p&gt;</description></item>"
        )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{title} {seed}</title><link>https://gen.example/{seed}</link>" + "".join(items) + "</channel></rss>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet tests
        pass

    # --- helpers --------------------------------------------------------------------------------
    def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        hdrs = {"Content-Type": "application/rss+xml; charset=utf-8", **(headers or {})}
        for k, v in hdrs.items():
            self.send_header(k, v)
        if "Content-Length" not in hdrs:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _count(self, key: str) -> int:
        """How many times ``key`` was requested before (thread-safe)."""
        with self.server.lock:
            n = self.server.counters.get(key, 0)
            self.server.counters[key] = n + 1
            return n

    def _fixture(self, name: str, validators: bool = True) -> None:
        path = FIXTURES / name
        if not path.is_file() or path.parent != FIXTURES:
            self._send(404, b"no such fixture", {"Content-Type": "text/plain"})
            return
        body = path.read_bytes()
        ctype = "text/html; charset=utf-8" if name.endswith(".html") else "application/rss+xml"
        if not validators:
            self._send(200, body, {"Content-Type": ctype})
            return
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        hdrs = {"Content-Type": ctype, "ETag": etag, "Last-Modified": LAST_MODIFIED}
        if self.headers.get("If-None-Match") == etag or (
            "If-None-Match" not in self.headers and self.headers.get("If-Modified-Since") == LAST_MODIFIED
        ):
            self._send(304, b"", {"ETag": etag, "Last-Modified": LAST_MODIFIED, "Content-Length": "0"})
            return
        self._send(200, body, hdrs)

    def _ok_feed(self) -> None:
        self._fixture("ok.xml", validators=False)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), like a crashed proxy."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    # --- dispatch -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        split = urlsplit(self.path)
        path, query = split.path, {k: v[-1] for k, v in parse_qs(split.query).items()}
        hit = Hit(
            self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic(), None, self.client_address
        )
        with self.server.lock:
            self.server.hits.append(hit)
            self.server.active += 1
            self.server.max_active = max(self.server.max_active, self.server.active)
        try:
            self._route(path, query)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            hit.ended = time.monotonic()
            with self.server.lock:
                self.server.active -= 1

    do_HEAD = do_GET

    def _route(self, path: str, q: dict[str, str]) -> None:
        srv = self.server
        parts = path.strip("/").split("/")
        head = parts[0]
        if srv.latency:
            time.sleep(srv.latency)
        custom = srv.routes.get(path)
        if custom is not None:
            custom(self, q)
        elif head == "feeds" and len(parts) == 2:
            self._fixture(parts[1])
        elif head == "novalidators" and len(parts) == 2:
            self._fixture(parts[1], validators=False)
        elif head == "slow":
            time.sleep(float(q.get("delay", "2")))
            self._ok_feed()
        elif head == "drip":
            delay, n = float(q.get("delay", "0.2")), int(q.get("bytes", "100"))
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            for _ in range(n):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(delay)
        elif head == "flaky":
            if self._count(path) < int(q.get("fail", "1")):
                self._send(500, b"<html>oops</html>", {"Content-Type": "text/html"})
            else:
                self._ok_feed()
        elif head == "ratelimit":
            if self._count(path) < int(q.get("times", "1")):
                hdrs = {"Retry-After": q.get("after", "1"), "Content-Type": "text/plain"}
                self._send(429, b"slow down", hdrs)
            else:
                self._ok_feed()
        elif head == "reset":
            if self._count(path) < int(q.get("fail", "1")):
                self._reset()
            else:
                self._ok_feed()
        elif head == "status" and len(parts) == 2:
            code = int(parts[1])
            self._send(code, f"<html><body>{code}</body></html>".encode(), {"Content-Type": "text/html"})
        elif head == "loop" and len(parts) == 2:
            other = "b" if parts[1] == "a" else "a"
            self._send(302, b"", {"Location": f"/loop/{other}"})
        elif head == "chain" and len(parts) == 2:
            n = int(parts[1])
            self._send(302, b"", {"Location": f"/chain/{n - 1}" if n > 1 else "/feeds/ok.xml"})
        elif head == "moved":
            self._send(301, b"", {"Location": "/feeds/ok.xml"})
        elif head == "temp":
            self._send(302, b"", {"Location": "/feeds/ok.xml"})
        elif head == "big":
            size = int(q.get("size", str(11 * 2**20)))
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self._stream_zeros(size)
        elif head == "big-stream":
            size = int(q.get("size", str(11 * 2**20)))
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self._stream_zeros(size)
        elif head == "gzip":
            body = gzip.compress((FIXTURES / "ok.xml").read_bytes())
            self._send(200, body, {"Content-Encoding": "gzip"})
        elif head == "deflate":
            comp = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            body = comp.compress((FIXTURES / "ok.xml").read_bytes()) + comp.flush()
            self._send(200, body, {"Content-Encoding": "deflate"})
        elif head == "bomb":
            self._send(200, srv.bomb(int(q.get("mib", "64"))), {"Content-Encoding": "gzip"})
        elif head == "wrong-charset":
            body = (FIXTURES / "cp1251_declared_utf8.xml").read_bytes()
            self._send(200, body, {"Content-Type": "application/rss+xml; charset=utf-8"})
        elif head == "html":
            self._fixture("html_page.html")
        elif head == "empty":
            self._send(200, b"")
        elif head == "truncated":
            self._fixture("truncated.xml", validators=False)
        elif head == "same-guid":
            self._fixture("same_guid.xml", validators=False)
        elif head == "items":
            self._send(200, generated_feed(int(q.get("n", "50")), q.get("seed", "x")))
        else:
            self._send(404, b"<html>not found</html>", {"Content-Type": "text/html"})

    def _stream_zeros(self, size: int) -> None:
        chunk = b"<" + b" " * 65535
        sent = 0
        while sent < size:
            part = chunk[: min(len(chunk), size - sent)]
            self.wfile.write(part)
            sent += len(part)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int]) -> None:
        super().__init__(addr, _Handler)
        self.lock = threading.Lock()
        self.hits: list[Hit] = []
        self.counters: dict[str, int] = {}
        self.active = 0
        self.max_active = 0
        self.latency = 0.0
        self.routes: dict[str, object] = {}
        self._bombs: dict[int, bytes] = {}

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up on us (size limits, timeouts) is the point of this server: stay quiet."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)

    def bomb(self, mib: int) -> bytes:
        with self.lock:
            if mib not in self._bombs:
                comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
                zeros = b"\0" * 2**20
                parts = [comp.compress(zeros) for _ in range(mib)]
                self._bombs[mib] = b"".join(parts) + comp.flush()
            return self._bombs[mib]


@dataclass
class MisbehavingServer:
    """Start/stop wrapper; use as a context manager. ``latency`` delays every response."""

    host: str = "127.0.0.1"
    latency: float = 0.0
    _server: _Server | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def start(self) -> MisbehavingServer:
        self._server = _Server((self.host, 0))
        self._server.latency = self.latency
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fetch-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> MisbehavingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def hits(self) -> list[Hit]:
        assert self._server is not None
        with self._server.lock:
            return list(self._server.hits)

    def hits_for(self, prefix: str) -> list[Hit]:
        return [h for h in self.hits if h.path.startswith(prefix)]

    @property
    def max_active(self) -> int:
        assert self._server is not None
        return self._server.max_active

    def reset_stats(self) -> None:
        assert self._server is not None
        with self._server.lock:
            self._server.hits.clear()
            self._server.max_active = 0

    def prepare_bomb(self, mib: int = 64) -> None:
        """Build the gzip bomb up front, so compressing it does not slow the first request down."""
        assert self._server is not None
        self._server.bomb(mib)

    def add_route(self, path: str, handler: object) -> None:
        """Serve ``path`` with ``handler(request_handler, query_dict)`` (for one-off cases)."""
        assert self._server is not None
        self._server.routes[path] = handler


if __name__ == "__main__":  # manual poking: python tests/fetch_server.py
    with MisbehavingServer() as s:
        print(f"serving on {s.base} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
