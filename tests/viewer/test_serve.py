"""The viewer server (``ccta_ai.viewer.serve``) against a real Orthanc with DICOMweb."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest

from ccta_ai.service.launcher import OrthancServer, free_port
from ccta_ai.viewer.command import PASSWORD_ENV
from ccta_ai.viewer.serve import (
    APP_CONFIG,
    DIST_DIR,
    ViewerError,
    ViewerServer,
    ViewerSite,
    split_credentials,
)


def _get(server: ViewerServer, path: str, host: str | None = None,
         method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    address = urllib.parse.urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=host is not None)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def test_index_and_single_page_routes(viewer: ViewerServer) -> None:
    index = (DIST_DIR / "index.html").read_bytes()
    for path in ("/", "/viewer?StudyInstanceUIDs=1.2.3", "/segmentation/x"):
        status, headers, body = _get(viewer, path)
        assert (status, headers["content-type"], body) == (200, "text/html", index), path
        assert headers["cross-origin-opener-policy"] == "same-origin"
        assert headers["cross-origin-embedder-policy"] == "require-corp"


def test_our_app_config_replaces_ohifs(viewer: ViewerServer) -> None:
    status, headers, body = _get(viewer, "/app-config.js")
    assert status == 200
    assert headers["content-type"] == "text/javascript"
    assert headers["cache-control"] == "no-cache"
    assert body == APP_CONFIG.read_bytes()
    assert b"/dicom-web" in body and b"staticWado: false" in body


def test_bundles_and_missing_files(viewer: ViewerServer) -> None:
    bundle = next(DIST_DIR.glob("app.bundle.*.js"))
    status, headers, body = _get(viewer, f"/{bundle.name}")
    assert (status, headers["content-type"], body) == (200, "text/javascript",
                                                       bundle.read_bytes())
    wasm = next(DIST_DIR.glob("*.wasm"))
    status, headers, _ = _get(viewer, f"/{wasm.name}", method="HEAD")
    assert (status, headers["content-type"]) == (200, "application/wasm")
    assert headers["content-length"] == str(wasm.stat().st_size)
    assert _get(viewer, "/no-such-bundle.js")[0] == 404


@pytest.mark.parametrize("path", ["/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc/passwd",
                                  "/dicom-web/%2e%2e/system", "/dicom-web/../tools/find"])
def test_paths_that_climb_are_refused(viewer: ViewerServer, path: str) -> None:
    status, _, body = _get(viewer, path)
    assert status == 400, body


def test_foreign_host_is_refused_on_loopback(viewer: ViewerServer) -> None:
    """A page of another site that rebinds its name to 127.0.0.1 reaches nothing."""
    assert _get(viewer, "/", host="attacker.example:80")[0] == 421
    assert _get(viewer, "/dicom-web/studies", host="attacker.example")[0] == 421
    port = urllib.parse.urlsplit(viewer.url).port
    assert _get(viewer, "/", host=f"localhost:{port}")[0] == 200


def test_dicomweb_is_proxied_with_orthancs_credentials(
        viewer: ViewerServer, dicomweb_orthanc: OrthancServer) -> None:
    status, headers, body = _get(viewer, "/dicom-web/studies")
    assert status == 200, body  # Orthanc needs credentials: the proxy added them
    assert headers["content-type"].startswith("application/dicom+json")
    assert isinstance(json.loads(body), list)
    assert "www-authenticate" not in headers
    direct = http.client.HTTPConnection("127.0.0.1", dicomweb_orthanc.http_port, timeout=30)
    try:
        direct.request("GET", "/dicom-web/studies")
        assert direct.getresponse().status == 401  # so the proxy's answer is not free
    finally:
        direct.close()


def test_wrong_credentials_are_a_gateway_error(dicomweb_orthanc: OrthancServer) -> None:
    server = ViewerServer(ViewerSite(dicomweb_orthanc.url, username="nobody", password="x"))
    server.start_background()
    try:
        status, headers, body = _get(server, "/dicom-web/studies")
    finally:
        server.stop()
    assert status == 502
    assert b"credentials" in body
    assert "www-authenticate" not in headers  # no password dialog in the browser


def test_orthanc_down_is_a_gateway_error() -> None:
    server = ViewerServer(ViewerSite("http://127.0.0.1:9", username="u", password="p"))
    server.start_background()
    try:
        status, _, body = _get(server, "/dicom-web/studies")
    finally:
        server.stop()
    assert status == 502
    assert b"did not answer" in body


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:8042", ("http://127.0.0.1:8042", "", "")),
    ("http://ccta-ai:s%40cret@127.0.0.1:8042/", ("http://127.0.0.1:8042/", "ccta-ai", "s@cret")),
    ("https://u@pacs.example/orthanc", ("https://pacs.example/orthanc", "u", "")),
    ("http://u:p@[::1]:8042", ("http://[::1]:8042", "u", "p")),
])
def test_split_credentials(url: str, expected: tuple[str, str, str]) -> None:
    assert split_credentials(url) == expected


@pytest.mark.parametrize("url", ["127.0.0.1:8042", "ftp://host/", "http://"])
def test_bad_orthanc_urls_are_refused(url: str) -> None:
    with pytest.raises(ViewerError, match="not http"):
        ViewerSite(url)


def test_cli_serves_the_viewer(dicomweb_orthanc: OrthancServer) -> None:
    """``ccta-ai viewer``, as a radiologist's machine runs it (password from the
    environment, never on the command line)."""
    port = free_port()
    env = {**os.environ, PASSWORD_ENV: dicomweb_orthanc.password}
    process = subprocess.Popen(
        [sys.executable, "-m", "ccta_ai.cli", "viewer", "--orthanc", dicomweb_orthanc.url,
         "--user", dicomweb_orthanc.user, "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in banner, banner
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dicom-web/studies",
                                    timeout=30) as answer:
            assert answer.status == 200
            assert isinstance(json.loads(answer.read()), list)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert process.returncode == 0
