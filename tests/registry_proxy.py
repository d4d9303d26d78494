"""A fault-injecting HTTP proxy in front of the real schema registry: every request is
forwarded unchanged, except schema fetches by id while a fault is set. It stands for a
registry hiccup (an overloaded registry, a load balancer, a restart), not for the registry."""

from __future__ import annotations

import contextlib
import http.server
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["FAULTS", "RegistryProxy", "registry_proxy"]

# What a schema fetch gets while the fault is set.
FAULTS = (
    "503",  # the registry is overloaded
    "reset",  # the connection drops without an answer
    "empty-200",  # a 200 that carries no schema (a proxy's or a starting registry's answer)
    "404-not-registry",  # a 404 without the registry's "schema not found" error code
)
_FETCH = "/schemas/ids/"
_FORWARDED_HEADERS = ("authorization", "accept", "content-type")


@dataclass
class RegistryProxy:
    url: str  # the proxy's registry URL (with the ccompat path)
    fault: str | None = None
    failed: int = 0  # schema fetches answered with the fault
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def heal(self) -> None:
        self.fault = None


def _handler(upstream: str, proxy: RegistryProxy) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def _serve(self) -> None:
            fault = proxy.fault if _FETCH in self.path else None
            if fault is not None:
                with proxy._lock:
                    proxy.failed += 1
                self._fail(fault)
                return
            length = int(self.headers.get("Content-Length") or 0)
            request = urllib.request.Request(
                upstream + self.path,
                data=self.rfile.read(length) if length else None,
                method=self.command,
                headers={k: v for k, v in self.headers.items() if k.lower() in _FORWARDED_HEADERS},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    self._answer(answer.status, answer.read())
            except urllib.error.HTTPError as error:
                self._answer(error.code, error.read())

        def _fail(self, fault: str) -> None:
            if fault == "reset":
                self.close_connection = True
                self.connection.close()
            elif fault == "503":
                self._answer(503, b"")
            elif fault == "empty-200":
                self._answer(200, b"{}")
            else:
                self._answer(404, b"<html>Not Found</html>", "text/html")

        def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Quiet: a test's output is its assertions, not the proxy's access log."""

    return Handler


@contextlib.contextmanager
def registry_proxy(registry_url: str) -> Iterator[RegistryProxy]:
    """A proxy of ``registry_url`` (…/apis/ccompat/v7) on a free local port."""
    root, _, path = registry_url.partition("/apis/")
    proxy = RegistryProxy("")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(root, proxy))
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}/apis/{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
