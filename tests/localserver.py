"""A real HTTP server on 127.0.0.1 for tests: serves recorded bodies, honours ETag and
Last-Modified, and can misbehave on purpose (errors, stalls, drips, redirects)."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What the server answers at one path."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    #: Seconds to wait before answering.
    delay: float = 0.0
    #: Send the body this many bytes at a time, sleeping ``drip_pause`` between pieces.
    drip: int = 0
    drip_pause: float = 0.0
    gzip: bool = False
    #: Send this raw, ready-compressed body with ``Content-Encoding: gzip`` (bombs).
    raw_gzip: bytes | None = None
    #: Close the connection without answering.
    hang_up: bool = False


class LocalServer:
    """Routes by path; counts requests per path; records request headers."""

    def __init__(self) -> None:
        self.routes: dict[str, Route | Callable[[BaseHTTPRequestHandler], Route]] = {}
        self.hits: dict[str, int] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, route: Route | Callable[[BaseHTTPRequestHandler], Route]) -> str:
        self.routes[path] = route
        return self.url(path)

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Small responses otherwise wait ~40 ms for a delayed ACK on every request.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                path = self.path
                with server._lock:
                    server.hits[path] = server.hits.get(path, 0) + 1
                    server.requests.append((path, dict(self.headers.items())))
                spec = server.routes.get(path) or server.routes.get(path.split("?")[0])
                if spec is None:
                    self._send(Route(b"not found", 404, "text/plain"))
                    return
                route = spec(self) if callable(spec) else spec
                if route.delay:
                    time.sleep(route.delay)
                if route.hang_up:
                    self.close_connection = True
                    self.connection.close()
                    return
                if (
                    (route.etag
                    and self.headers.get("If-None-Match") == route.etag)
                    or (
                        route.last_modified
                        and not route.etag
                        and self.headers.get("If-Modified-Since") == route.last_modified
                    )
                ):
                    self.send_response(304)
                    if route.etag:
                        self.send_header("ETag", route.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._send(route)

            def _send(self, route: Route) -> None:
                body = route.body
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                if route.raw_gzip is not None:
                    body = route.raw_gzip
                    self.send_header("Content-Encoding", "gzip")
                elif route.gzip:
                    body = gzip.compress(body)
                    self.send_header("Content-Encoding", "gzip")
                if route.etag:
                    self.send_header("ETag", route.etag)
                if route.last_modified:
                    self.send_header("Last-Modified", route.last_modified)
                for k, v in route.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if route.drip:
                        for i in range(0, len(body), route.drip):
                            self.wfile.write(body[i : i + route.drip])
                            self.wfile.flush()
                            time.sleep(route.drip_pause)
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should on a drip

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The listen backlog is fixed when the socket opens; the default of 5 drops the SYNs of a
    # burst of connections (a crawl opens many at once), which then wait a second to retry.
    request_queue_size = 128


@contextmanager
def serving() -> Iterator[LocalServer]:
    server = LocalServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
