"""Our Orthanc clients never send a request on a connection Orthanc is closing.

Orthanc closes a keep-alive connection idle for 1 s; a request that arrives as it does
gets no answer. The server below plays that moment deterministically: it closes, without
answering, any request that comes on a connection idle for more than 0.7 s (shorter than
Orthanc's 1 s, longer than our clients' keep-alive expiry). A client that reuses such a
connection fails with ``RemoteProtocolError``, as the integration tests once did in CI.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccta_ai.service.launcher import OrthancServer
from ccta_ai.service.orthanc_port import KEEPALIVE_EXPIRY_S, make_client
from ccta_ai.service.settings import Settings

SERVER_CLOSES_AFTER_S = 0.7
IDLE_S = 0.85  # between the two: Orthanc would not have closed yet, but this server will
BODY = b'{"Version": "1.10.1"}'


class ClosingServer:
    """HTTP/1.1 with keep-alive; drops a request that comes after the idle limit."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.dropped = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        last = time.monotonic()
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                _, buffer = buffer.split(b"\r\n\r\n", 1)
                if time.monotonic() - last > SERVER_CLOSES_AFTER_S:
                    self.dropped += 1
                    return  # closed without an answer
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Connection: keep-alive\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
                last = time.monotonic()


@pytest.fixture
def server() -> Iterator[ClosingServer]:
    running = ClosingServer()
    yield running
    running.sock.close()


def test_the_clients_expiry_is_shorter_than_the_servers_idle_limit() -> None:
    assert KEEPALIVE_EXPIRY_S < SERVER_CLOSES_AFTER_S < IDLE_S < 1.0


def test_the_workers_client_opens_a_new_connection_after_an_idle_pause(
        server: ClosingServer, tmp_path: Path) -> None:
    settings = Settings(orthanc_url=f"http://127.0.0.1:{server.port}", state_dir=tmp_path,
                        job_store_path=tmp_path / "jobs.sqlite")
    with make_client(settings, token=None, timeout_s=5) as client:
        for _ in range(3):
            assert client.get_system() == {"Version": "1.10.1"}
            time.sleep(IDLE_S)
        # a quick one reuses the connection
        assert client.get_system() == {"Version": "1.10.1"}
        assert client.get_system() == {"Version": "1.10.1"}
    assert server.dropped == 0
    assert server.connections == 4


def test_the_launchers_client_opens_a_new_connection_after_an_idle_pause(
        server: ClosingServer, tmp_path: Path) -> None:
    launcher = OrthancServer(tmp_path, {})
    launcher.url = launcher.client.url = f"http://127.0.0.1:{server.port}"
    for _ in range(3):
        assert launcher.api("GET", "/system").json() == {"Version": "1.10.1"}
        time.sleep(IDLE_S)
    assert server.dropped == 0 and server.connections == 3
