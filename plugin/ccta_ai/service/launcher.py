"""Start a private Orthanc (the Debian package) on free loopback ports.

Shared by the integration tests, ``ccta-ai bench e2e`` and ``ccta-ai demo``: a
configuration made from the embedded default (:func:`render_config`) with free ports,
a data folder under ``root``, a user of our choosing, and overrides; the process is
started, waited for (``/system``), and stopped by its PID only. Data are sent the way a
CT scanner does, with dcmtk's ``storescu``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pyorthanc

from ccta_ai.errors import CctaAiError
from ccta_ai.service.orthanc_config import render_config, write_config
from ccta_ai.service.orthanc_port import NO_HTTP_COMPRESSION, client_limits
from ccta_ai.service.settings import SOURCE_ROOT

ORTHANC = Path("/usr/sbin/Orthanc")
PLUGIN_DIR = Path("/usr/share/orthanc/plugins")
PYTHON_PLUGIN = PLUGIN_DIR / "libOrthancPython.so"
DICOMWEB_PLUGIN = PLUGIN_DIR / "libOrthancDicomWeb.so"


class LauncherError(CctaAiError):
    """Orthanc could not be started, or did not answer."""


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port free on every interface now (Orthanc binds them all), and never one
    this process handed out before (several servers are set up before any starts)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class OrthancServer:
    """One Orthanc process (restartable) over one data folder under ``root``."""

    def __init__(self, root: Path, overrides: dict[str, Any] | None = None, *,
                 user: str = "ccta-ai", password: str = "ccta-ai-local",
                 pythonpath: Sequence[Path] = ()) -> None:
        self.root = Path(root)
        self.user, self.password = user, password
        self.pythonpath = [str(p) for p in pythonpath]
        self.http_port, self.dicom_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        changes = {"RegisteredUsers": {user: password}, **(overrides or {})}
        self.config = render_config(http_port=self.http_port, dicom_port=self.dicom_port,
                                    data_dir=self.root / "data", overrides=changes)
        self.config_path = write_config(self.root / "orthanc.json", self.config)
        self.log_path = self.root / "orthanc.log"
        self.state_dir = self.root / "data" / "orthanc" / "ccta-ai"
        self.process: subprocess.Popen[bytes] | None = None
        self.client = pyorthanc.Orthanc(self.url, username=user, password=password,
                                        timeout=60, headers=NO_HTTP_COMPRESSION,
                                        limits=client_limits())

    @property
    def aet(self) -> str:
        return str(self.config.get("DicomAet", "ORTHANC"))

    def start(self, timeout_s: float = 60.0) -> None:
        """Start Orthanc and wait until its REST API answers."""
        if not ORTHANC.exists():
            raise LauncherError(f"{ORTHANC} not found: apt-get install orthanc "
                                "orthanc-python orthanc-dicomweb")
        env = dict(os.environ)
        # Orthanc (and so its workers) runs in root: make inherited entries absolute.
        inherited = [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep)
                     if p]
        env["PYTHONPATH"] = os.pathsep.join([*self.pythonpath, str(SOURCE_ROOT), *inherited])
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(ORTHANC), str(self.config_path)], cwd=self.root, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise LauncherError(f"Orthanc exited with {self.process.returncode}\n"
                                    f"{self.logs()}")
            try:
                self.client.get_system()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise LauncherError(f"Orthanc did not answer\n{self.logs()}") from None
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

    def __enter__(self) -> OrthancServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def logs(self, tail_chars: int = 6000) -> str:
        """The tails of Orthanc's log and the workers' logs."""
        parts = []
        for path in [self.log_path, *sorted((self.state_dir / "logs").glob("*.log"))]:
            if path.exists():
                text = path.read_text("utf-8", errors="replace")
                parts.append(f"--- {path.name} ---\n{text[-tail_chars:]}")
        return "\n".join(parts)

    # --- our REST API ------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request to Orthanc's REST API (pyorthanc's client is an httpx client)."""
        return self.client.request(method, f"{self.url}{path}", **kwargs)

    def job(self, series_uid: str) -> dict[str, Any] | None:
        answer = self.api("GET", f"/ccta-ai/jobs/{series_uid}")
        return answer.json() if answer.status_code == 200 else None

    def wait_job(self, series_uid: str, done: Callable[[dict[str, Any]], bool],
                 timeout_s: float = 45.0, poll_s: float = 0.2) -> dict[str, Any]:
        """Poll the job of a series until ``done(job)``; raises with the logs if not."""
        deadline = time.monotonic() + timeout_s
        job = None
        while time.monotonic() < deadline:
            job = self.job(series_uid)
            if job is not None and done(job):
                return job
            time.sleep(poll_s)
        raise LauncherError(f"job of {series_uid} did not get there within {timeout_s:g} s: "
                            f"{job}\n{self.logs()}")

    def store_scu(self, paths: Sequence[Path], timeout_s: float = 600.0) -> None:
        """Send files (or folders, recursively) by C-STORE in one association, as a
        scanner does (dcmtk's ``storescu``)."""
        send_with_storescu(paths, aet=self.aet, port=self.dicom_port, timeout_s=timeout_s)


def send_with_storescu(paths: Sequence[Path], *, aet: str, port: int, host: str = "127.0.0.1",
                       timeout_s: float = 600.0) -> None:
    storescu = shutil.which("storescu")
    if storescu is None:
        raise LauncherError("dcmtk's storescu is missing: apt-get install dcmtk")
    files = dicom_files(paths)
    if not files:
        raise LauncherError(f"no DICOM files in {[str(p) for p in paths]}")
    command = [storescu, "-aec", aet, host, str(port), *map(str, files)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                            check=False)
    if result.returncode != 0:
        raise LauncherError(f"storescu failed ({result.returncode}): {result.stderr[-2000:]}")


def dicom_files(paths: Sequence[Path]) -> list[Path]:
    """``paths`` with folders replaced by the DICOM Part 10 files under them (sorted)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += [p for p in sorted(path.rglob("*")) if p.is_file() and _is_part10(p)]
        else:
            found.append(path)
    return found


def _is_part10(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(132)[128:] == b"DICM"
