"""Serve the prebuilt OHIF Viewer and Orthanc's DICOMweb on one origin.

OHIF (npm ``@ohif/app``, its ``dist/``, installed by ``npm ci --prefix viewer``) is a
static single-page application that reads studies over DICOMweb. This server, standard
library only, puts both on one origin, so the browser needs no CORS and never sees
Orthanc's credentials:

- ``/dicom-web/...`` is proxied to Orthanc's DICOMweb root (QIDO-RS, WADO-RS, and
  STOW-RS when a radiologist saves measurements), with Orthanc's user and password
  added here; the browser's own ``Host`` is passed on, so the bulk-data URIs in
  Orthanc's metadata point back at this server;
- ``/app-config.js`` is our configuration (``viewer/app-config.js``);
- every other path is a file of ``dist/``, or ``index.html`` (the viewer's own router
  handles ``/viewer?StudyInstanceUIDs=...``).

Responses carry ``Cross-Origin-Opener-Policy``/``-Embedder-Policy`` so that OHIF gets
``SharedArrayBuffer`` (its volume viewports need it). Bound to a loopback address, the
server only answers requests whose ``Host`` is a loopback name (a web page cannot reach
the PACS through it by DNS rebinding).
"""

from __future__ import annotations

import base64
import http.client
import logging
import mimetypes
import posixpath
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from ccta_ai.errors import CctaAiError
from ccta_ai.service.settings import REPO_ROOT

log = logging.getLogger(__name__)

VIEWER_DIR = REPO_ROOT / "viewer"
DIST_DIR = VIEWER_DIR / "node_modules" / "@ohif" / "app" / "dist"
APP_CONFIG = VIEWER_DIR / "app-config.js"
PROXY_PREFIX = "/dicom-web/"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})

_CHUNK = 1 << 16
_UPSTREAM_TIMEOUT_S = 120.0
_REQUEST_HEADERS = ("accept", "content-type")
_RESPONSE_HEADERS = ("content-type", "content-encoding", "etag", "last-modified",
                     "cache-control")
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
          ".json": "application/json", ".css": "text/css", ".woff2": "font/woff2",
          ".svg": "image/svg+xml", ".map": "application/json"}
_ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin",
              "Cross-Origin-Embedder-Policy": "require-corp",
              "X-Content-Type-Options": "nosniff"}


class ViewerError(CctaAiError):
    """The viewer cannot be served as configured (says what is missing and how to fix)."""


@dataclass(frozen=True)
class ViewerSite:
    """What one viewer server serves, and where its DICOMweb requests go.

    ``orthanc_url`` is Orthanc's HTTP root (``http://host:8042``, optionally with a path
    prefix); ``dicomweb_root`` is its DICOMweb plugin's ``Root`` (``/dicom-web/``).
    """

    orthanc_url: str
    username: str = ""
    password: str = ""
    dicomweb_root: str = "/dicom-web/"
    dist_dir: Path = DIST_DIR
    app_config: Path = APP_CONFIG

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.orthanc_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ViewerError(f"Orthanc URL {self.orthanc_url!r} is not http(s)://host:port")
        if not (self.dist_dir / "index.html").is_file():
            raise ViewerError(f"OHIF Viewer not found in {self.dist_dir}: run "
                              "`npm ci --prefix viewer` in the repository")
        if not self.app_config.is_file():
            raise ViewerError(f"viewer configuration {self.app_config} not found")

    def upstream_path(self, proxied: str) -> str:
        """Orthanc's path for ``proxied`` (the path and query after ``/dicom-web/``)."""
        prefix = urllib.parse.urlsplit(self.orthanc_url).path.rstrip("/")
        root = "/" + self.dicomweb_root.strip("/") + "/"
        return prefix + root + proxied

    def authorization(self) -> str | None:
        if not self.username:
            return None
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"


def split_credentials(url: str) -> tuple[str, str, str]:
    """``(url without user info, user, password)`` from ``http://user:pass@host:port``."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, "", ""
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    bare = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return (bare, urllib.parse.unquote(parts.username),
            urllib.parse.unquote(parts.password or ""))


def _safe_relative(path: str) -> str | None:
    """A URL path as a relative path with no ``..`` (None if it tries to climb)."""
    decoded = urllib.parse.unquote(path)
    if "\x00" in decoded or "\\" in decoded:
        return None
    parts = [part for part in decoded.split("/") if part not in ("", ".")]
    if ".." in parts:
        return None
    return posixpath.join(*parts) if parts else ""


class ViewerHandler(BaseHTTPRequestHandler):
    """Static files of ``dist/``, our ``app-config.js``, and the DICOMweb proxy."""

    protocol_version = "HTTP/1.1"
    server_version = "ccta-ai-viewer"
    site: ClassVar[ViewerSite]
    allowed_hosts: ClassVar[frozenset[str] | None] = None

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # --- routing ----------------------------------------------------------------------

    def do_GET(self) -> None:
        self._route(head=False)

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_POST(self) -> None:
        if self._host_ok():
            if self.path.startswith(PROXY_PREFIX):
                self._proxy()
            else:
                self._plain(405, "only /dicom-web/ accepts POST")

    def _route(self, *, head: bool) -> None:
        if not self._host_ok():
            return
        if self.path.startswith(PROXY_PREFIX):
            self._proxy()
            return
        path = urllib.parse.urlsplit(self.path).path
        relative = _safe_relative(path)
        if relative is None:
            self._plain(400, f"bad path {path!r}")
        elif relative == "app-config.js":
            self._file(self.site.app_config, head=head, cache=False)
        else:
            candidate = self.site.dist_dir / relative
            if relative and candidate.is_file():
                self._file(candidate, head=head, cache=True)
            elif posixpath.splitext(relative)[1] in _TYPES:
                self._plain(404, f"{path} not found")  # a missing bundle, not a route
            else:  # the single-page application's own routes
                self._file(self.site.dist_dir / "index.html", head=head, cache=False)

    def _host_ok(self) -> bool:
        if self.allowed_hosts is None:
            return True
        host = urllib.parse.urlsplit(f"//{self.headers.get('Host', '')}").hostname or ""
        if host in self.allowed_hosts:
            return True
        self._plain(421, f"host {host!r} is not served here")
        return False

    # --- answers ----------------------------------------------------------------------

    def _plain(self, status: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _file(self, path: Path, *, head: bool, cache: bool) -> None:
        body = path.read_bytes()
        kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        self.send_response(200)
        self.send_header("Content-Type", kind or "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "public, max-age=3600" if cache else "no-cache")
        for name, value in _ISOLATION.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _proxy(self) -> None:
        proxied = self.path[len(PROXY_PREFIX):]
        if _safe_relative(urllib.parse.urlsplit(proxied).path) is None:
            self._plain(400, f"bad path {self.path!r}")
            return
        target = urllib.parse.urlsplit(self.site.orthanc_url)
        headers = {name: self.headers[name] for name in _REQUEST_HEADERS if self.headers[name]}
        headers["Host"] = self.headers.get("Host") or target.netloc
        authorization = self.site.authorization()
        if authorization:
            headers["Authorization"] = authorization
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        connection_type = (http.client.HTTPSConnection if target.scheme == "https"
                           else http.client.HTTPConnection)
        connection = connection_type(target.hostname or "", target.port,
                                     timeout=_UPSTREAM_TIMEOUT_S)
        try:
            try:
                connection.request(self.command, self.site.upstream_path(proxied), body=body,
                                   headers=headers)
                answer = connection.getresponse()
            except OSError as error:
                log.warning("Orthanc at %s did not answer %s: %s", self.site.orthanc_url,
                            self.path, error)
                self._plain(502, f"Orthanc at {self.site.orthanc_url} did not answer: {error}")
                return
            try:
                self._relay(answer)
            except OSError as error:  # headers are out: all we can do is hang up
                log.warning("relaying %s broke off: %s", self.path, error)
                self.close_connection = True
        finally:
            connection.close()

    def _relay(self, answer: http.client.HTTPResponse) -> None:
        if answer.status == 401:  # never let the browser ask the user for Orthanc's password
            answer.read()
            self._plain(502, "Orthanc refused the viewer's credentials (see --user)")
            return
        self.send_response(answer.status, answer.reason)
        for name in _RESPONSE_HEADERS:
            value = answer.getheader(name)
            if value:
                self.send_header(name, value)
        for name, value in _ISOLATION.items():
            self.send_header(name, value)
        length = answer.getheader("Content-Length")
        chunked = length is None and self.command != "HEAD"
        if length is not None:
            self.send_header("Content-Length", length)
        elif chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            return
        while block := answer.read(_CHUNK):
            self.wfile.write(b"%x\r\n%b\r\n" % (len(block), block) if chunked else block)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")


class ViewerServer(ThreadingHTTPServer):
    """The viewer on ``host:port`` (port 0: a free one, see :attr:`url`)."""

    daemon_threads = True

    def __init__(self, site: ViewerSite, host: str = "127.0.0.1", port: int = 0) -> None:
        loopback = host in LOOPBACK_NAMES or host.startswith("127.")
        handler = type("BoundViewerHandler", (ViewerHandler,), {
            "site": site,
            "allowed_hosts": (LOOPBACK_NAMES | {host}) if loopback else None,
        })
        super().__init__((host, port), handler)
        self.site = site
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{'localhost' if name in ('0.0.0.0', '::') else name}:{port}"

    def start_background(self) -> str:
        """Serve from a daemon thread (tests); returns :attr:`url`."""
        self._thread = threading.Thread(target=self.serve_forever, name="ccta-ai-viewer",
                                        daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
