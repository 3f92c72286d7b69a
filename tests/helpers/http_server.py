"""A tiny HTTP server on 127.0.0.1 for download tests: Range support and a scripted cut."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Served:
    files: dict[str, bytes]  # URL path -> body
    cut_after: dict[str, int] = field(
        default_factory=dict
    )  # path -> bytes sent before closing, once
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)


def serve(served: Served):
    """Start a server in a thread; returns (base_url, stop)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):
            rng = self.headers.get("Range")
            served.requests.append((self.path, rng))
            body = served.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            if rng:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            rest = body[start:]
            self.send_header("Content-Length", str(len(rest)))
            self.end_headers()
            cut = served.cut_after.pop(self.path, None)
            if cut is not None:
                # Announce the full length, send part of it, then drop the connection.
                self.wfile.write(rest[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(rest)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}", stop


def free_port() -> int:
    """A port with nothing listening on it (for the 'server down' case)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
