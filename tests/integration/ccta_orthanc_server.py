"""A real Orthanc (the Debian package) with our plugin, for the integration tests:
free loopback ports, a temporary data folder, started and stopped by PID, logs kept."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pyorthanc

from ccta_ai.service.orthanc_config import render_config, write_config

ORTHANC = Path("/usr/sbin/Orthanc")
PYTHON_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancPython.so")
TESTS_DIR = Path(__file__).resolve().parents[1]
USER, PASSWORD = "tester", "secret"


def free_port() -> int:
    """A TCP port free on every interface (Orthanc binds them all)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


class OrthancServer:
    """One Orthanc process (restartable) over one data folder."""

    def __init__(self, root: Path, overrides: dict[str, Any]) -> None:
        self.root = root
        self.http_port, self.dicom_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.config = render_config(
            http_port=self.http_port, dicom_port=self.dicom_port, data_dir=root / "data",
            overrides=overrides)
        self.config_path = write_config(root / "orthanc.json", self.config)
        self.log_path = root / "orthanc.log"
        self.state_dir = root / "data" / "orthanc" / "ccta-ai"
        self.process: subprocess.Popen[bytes] | None = None
        self.client = pyorthanc.Orthanc(self.url, username=USER, password=PASSWORD, timeout=30)

    def start(self, timeout_s: float = 30.0) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(TESTS_DIR), env.get("PYTHONPATH", "")) if p)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(ORTHANC), str(self.config_path)], cwd=self.root, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.process.returncode}\n"
                                   f"{self.logs()}")
            try:
                self.client.get_system()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Orthanc did not answer\n{self.logs()}") from None
                time.sleep(0.1)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM the Orthanc this object started (by PID), SIGKILL after the timeout."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def logs(self, tail_chars: int = 6000) -> str:
        parts = []
        for path in [self.log_path, *sorted((self.state_dir / "logs").glob("*.log"))]:
            if path.exists():
                text = path.read_text("utf-8", errors="replace")
                parts.append(f"--- {path.name} ---\n{text[-tail_chars:]}")
        return "\n".join(parts)

    # --- helpers for the tests ---------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request to our REST API (pyorthanc's client is an httpx client)."""
        return self.client.request(method, f"{self.url}{path}", **kwargs)

    def job(self, series_uid: str) -> dict[str, Any] | None:
        answer = self.api("GET", f"/ccta-ai/jobs/{series_uid}")
        return answer.json() if answer.status_code == 200 else None

    def wait_job(self, series_uid: str, done: Callable[[dict[str, Any]], bool],
                 timeout_s: float = 45.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        job = None
        while time.monotonic() < deadline:
            job = self.job(series_uid)
            if job is not None and done(job):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job of {series_uid} did not get there: {job}\n{self.logs()}")

    def store_scu(self, files: list[Path]) -> None:
        """Send files by C-STORE, as a scanner does (one association)."""
        storescu = shutil.which("storescu")
        assert storescu, "dcmtk's storescu is missing"
        result = subprocess.run(
            [storescu, "-aec", str(self.config["DicomAet"]), "127.0.0.1",
             str(self.dicom_port), *map(str, files)], capture_output=True, text=True,
            timeout=60)
        assert result.returncode == 0, result.stderr
