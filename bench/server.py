"""A threaded HTTP server on 127.0.0.1 serving a corpus from memory, honouring ETag and
If-None-Match, so re-polls can be answered 304 as real outlets do."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The listen backlog is fixed when the socket opens: the default of 5 drops the SYNs of a
    # burst of new connections, which then wait a second to retry.
    request_queue_size = 256


@contextmanager
def serve(routes: Mapping[str, bytes]) -> Iterator[str]:
    """Serve ``routes`` (path → body, read at request time so it may be filled after the
    base URL is known); yields the base URL."""
    etags: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Without it small responses wait ~40 ms for a delayed ACK: the server, not the
        # clients, would be what is measured.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = routes.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            etag = etags.get(self.path)
            if etag is None:
                etag = etags[self.path] = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            ctype = (
                "text/html; charset=utf-8"
                if self.path.startswith("/a/")
                else "application/xml; charset=utf-8"
            )
            self.send_header("Content-Type", ctype)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
