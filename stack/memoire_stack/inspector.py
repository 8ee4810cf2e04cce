"""The memory inspector's static files, on the loopback, for Envoy to route ``/inspector/`` to.

The page (``inspector/index.html``) and its bundle (``inspector/dist``, built by
``scripts/bootstrap.sh``) must come from the same origin as the API, so that its gRPC-web calls
are same-origin and its Content-Security-Policy can say ``connect-src 'self'``: Envoy serves
both, the API from the gRPC server and ``/inspector/`` from this server. It answers GET and HEAD
for exactly those files and nothing else (no directory listing, no path outside ``dist``), from a
thread, since the local stack's event loop must not wait on a browser.
"""

import logging
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2] / "inspector"
PREFIX = "/inspector/"
LOOPBACK = "127.0.0.1"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json; charset=utf-8",
}

# The same policy as the page's meta tag, also as a header: it then covers the bundle's own
# responses and any browser that ignores the meta tag's frame rules.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def built(root: Path = ROOT) -> bool:
    """True once the bundle exists (``npm run build`` in inspector/, run by bootstrap)."""
    return (root / "dist" / "inspector.js").is_file()


def _resolve(root: Path, path: str) -> Path | None:
    """The file a request path names, or None: only index.html and plain names in dist/."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    if path in (PREFIX, PREFIX + "index.html"):
        return root / "index.html"
    if not path.startswith(PREFIX + "dist/"):
        return None
    name = path.removeprefix(PREFIX + "dist/")
    # One plain file name: no subfolders, no "..", no hidden files.
    if not name or "/" in name or "\\" in name or name.startswith(".") or "%" in name:
        return None
    if Path(name).suffix not in CONTENT_TYPES:
        return None
    return root / "dist" / name


class _Handler(BaseHTTPRequestHandler):
    server_version = "memoire-inspector"
    sys_version = ""
    root: Path = ROOT

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        if self.path in ("/", PREFIX.rstrip("/")):
            self._send(HTTPStatus.PERMANENT_REDIRECT, b"", "text/plain", location=PREFIX)
            return
        file = _resolve(self.root, self.path)
        if file is None or not file.is_file():
            if file is not None and file.parent.name == "dist" and not built(self.root):
                message = b"the inspector is not built: run scripts/bootstrap.sh\n"
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, message, "text/plain", body=body)
                return
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", body=body)
            return
        content = file.read_bytes()
        self._send(HTTPStatus.OK, content, CONTENT_TYPES[file.suffix], body=body)

    def _send(
        self,
        status: HTTPStatus,
        content: bytes,
        content_type: str,
        *,
        body: bool = True,
        location: str = "",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        # Rebuilt bundles keep their names: the browser must ask again (a 304 costs nothing).
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", CSP)
        if location:
            self.send_header("Location", location)
        self.end_headers()
        if body:
            self.wfile.write(content)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("inspector: " + format, *args)


@dataclass
class InspectorServer:
    """The static server on ``host:port`` (port 0 takes a free one); ``start`` returns its URL."""

    root: Path = ROOT
    host: str = LOOPBACK
    port: int = 0
    name: str = "inspector"
    _server: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{PREFIX}"

    def start(self) -> str:
        if not built(self.root):
            log.warning(
                "the memory inspector is not built (%s is missing); run scripts/bootstrap.sh",
                self.root / "dist" / "inspector.js",
            )
        handler = type("InspectorHandler", (_Handler,), {"root": self.root})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="memoire-inspector", daemon=True
        )
        self._thread.start()
        return self.url

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def restart(self) -> None:
        """Start again on the same port (``start`` took a free one the first time)."""
        self.stop()
        self.start()

    def guarded(self) -> None:
        """No process for the watchdog to stop: the server is a thread of ``memoire up``."""

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None
        self._thread = None
