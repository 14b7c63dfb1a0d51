"""The product benchmark's feed server: a separate process serving a built corpus on K loopback hosts.

Run as ``python bench/product_server.py --corpus DIR --hosts K [--latency S]``; it prints one JSON
line ``{"ports": {"127.0.0.1": port, ...}}`` once it listens, then serves until stdin closes (so it
never outlives the benchmark). Feed ``i`` is ``/f/<i>.xml`` on host ``127.0.0.<1 + i % K>``, the way
an agency hosts several feeds: per-host politeness in the clients applies as on a real feed list.

Like a real feed host it answers HTTP/1.1 with keep-alive, sends ``ETag`` and ``Last-Modified``,
answers ``304 Not Modified`` to a matching ``If-None-Match`` or ``If-Modified-Since``, gzips when
the client accepts it (bodies are stored gzipped), and waits ``--latency`` seconds before every
response, 304s included (``/stats`` answers at once with the counts of requests, 304s and bytes,
and ``fetch_span_s``: from the first request's arrival to the last response's end since the
previous ``/stats``, so a benchmark can tell a run's fetch from the rest of its wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import sys
import time
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from product_corpus import load_manifest

CONTENT_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml", "rdf": "application/rdf+xml"}


def loopback_hosts(k: int) -> list[str]:
    """127.0.0.1 .. 127.0.0.k (k <= 254): Linux answers on the whole 127/8 without set-up."""
    return [f"127.0.0.{n}" for n in range(1, max(1, min(k, 254)) + 1)]


def host_of_feed(i: int, hosts: list[str]) -> str:
    return hosts[i % len(hosts)]


class Feeds:
    """Validators of every feed (bodies are read from disk per request: the page cache keeps them)."""

    def __init__(self, corpus: Path) -> None:
        manifest = load_manifest(corpus)
        self.dir = corpus / "feeds"
        self.types = [CONTENT_TYPES[f["format"]] for f in manifest["feeds"]]
        self.etags = []
        for f in manifest["feeds"]:
            digest = hashlib.sha1((self.dir / f"{f['index']}.xml.gz").read_bytes()).hexdigest()[:20]
            self.etags.append(f'"{digest}"')
        day = manifest["spec"]["day"]
        self.last_modified = format_datetime(datetime.fromisoformat(f"{day}T23:59:00").replace(tzinfo=UTC), usegmt=True)
        self.requests = self.not_modified = self.bytes = 0
        self.first: float | None = None  # the window /stats reports and restarts
        self.last: float | None = None

    def arrived(self) -> None:
        if self.first is None:
            self.first = time.monotonic()

    def answered(self) -> None:
        self.last = time.monotonic()

    def response(self, path: str, hdrs: dict[str, str]) -> bytes:
        if path == "/stats":  # for the benchmark: what the clients really asked for
            span = self.last - self.first if self.first is not None and self.last is not None else 0.0
            self.first = self.last = None
            counts = {"requests": self.requests, "not_modified": self.not_modified, "bytes": self.bytes}
            stats = json.dumps(counts | {"fetch_span_s": round(span, 3)})
            return f"HTTP/1.1 200 OK\r\nContent-Length: {len(stats)}\r\n\r\n{stats}".encode()
        try:
            i = int(path.split("?", 1)[0].rsplit("/", 1)[1].removesuffix(".xml"))
            etag, ctype = self.etags[i], self.types[i]
        except (ValueError, IndexError):
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        self.requests += 1
        validators = f"ETag: {etag}\r\nLast-Modified: {self.last_modified}\r\n"
        if hdrs.get("if-none-match") == etag or self._not_modified_since(hdrs.get("if-modified-since")):
            self.not_modified += 1
            return f"HTTP/1.1 304 Not Modified\r\n{validators}Content-Length: 0\r\n\r\n".encode()
        body = (self.dir / f"{i}.xml.gz").read_bytes()
        encoding = ""
        if "gzip" in hdrs.get("accept-encoding", ""):
            encoding = "Content-Encoding: gzip\r\n"
        else:
            body = gzip.decompress(body)
        self.bytes += len(body)
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}; charset=utf-8\r\n{validators}{encoding}"
            f"Vary: Accept-Encoding\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def _not_modified_since(self, value: str | None) -> bool:
        if not value:
            return False
        try:
            return parsedate_to_datetime(value) >= parsedate_to_datetime(self.last_modified)
        except (TypeError, ValueError):
            return False


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    """The path and the lower-cased headers of the next request on a keep-alive connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    return lines[0].split(" ")[1], hdrs


async def serve(feeds: Feeds, hosts: list[str], latency: float) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                path, hdrs = await read_request(reader)
                if path != "/stats":
                    feeds.arrived()
                if latency and path != "/stats":
                    await asyncio.sleep(latency)
                writer.write(feeds.response(path, hdrs))
                await writer.drain()
                if path != "/stats":
                    feeds.answered()
                if hdrs.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, IndexError):
            pass
        finally:
            writer.close()

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, _ctx: None)  # quiet resets at shutdown
    ports = {}
    for host in hosts:
        srv = await asyncio.start_server(handle, host, 0, backlog=1024)
        ports[host] = srv.sockets[0].getsockname()[1]
    print(json.dumps({"ports": ports}), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # the parent closes stdin to stop us


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, type=Path)
    p.add_argument("--hosts", type=int, default=1)
    p.add_argument("--latency", type=float, default=0.0)
    a = p.parse_args()
    feeds = Feeds(a.corpus)
    asyncio.run(serve(feeds, loopback_hosts(a.hosts), a.latency))
    print(
        json.dumps({"requests": feeds.requests, "not_modified": feeds.not_modified, "bytes": feeds.bytes}),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
