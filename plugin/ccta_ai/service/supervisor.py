"""Starts and supervises the local worker processes (from inside Orthanc).

Each slot runs one worker process. A worker that exits is started again after a delay
that doubles with each quick failure (``backoff_s = (first, max)``) and resets once a
worker has stayed up ``stable_after_s``. :meth:`Supervisor.stop` (Orthanc stopping)
sends SIGTERM, waits, then SIGKILLs what is left. Workers also exit by themselves when
Orthanc dies without stopping them (they watch their parent PID).

Standard library only: this runs inside Orthanc's embedded interpreter.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    next_start: float = 0.0
    restarts: int = 0
    quick_failures: int = 0
    last_exit_code: int | None = None


class Supervisor:
    """Keeps ``count`` worker processes running until :meth:`stop`."""

    def __init__(
        self,
        command: Callable[[int], list[str]],
        *,
        count: int,
        env: Mapping[str, str] | None = None,
        backoff_s: tuple[float, float] = (1.0, 60.0),
        stable_after_s: float = 30.0,
        check_interval_s: float = 0.5,
        log: Callable[[str], None] = print,
        log_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command = command
        self.env = dict(env) if env is not None else None
        self.backoff_s = backoff_s
        self.stable_after_s = stable_after_s
        self.check_interval_s = check_interval_s
        self.log = log
        self.log_dir = log_dir
        self.clock = clock
        self.slots = [_Slot(index) for index in range(count)]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._logs: dict[int, IO[bytes]] = {}

    def start(self) -> None:
        """Start the workers and the thread that watches them."""
        if self._thread is not None:
            return
        with self._lock:
            for slot in self.slots:
                self._spawn(slot)
        self._thread = threading.Thread(target=self._watch, name="ccta-ai-supervisor",
                                        daemon=True)
        self._thread.start()

    def _spawn(self, slot: _Slot) -> None:
        output: IO[bytes] | int = subprocess.DEVNULL
        if self.log_dir is not None:
            if slot.index not in self._logs:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                path = self.log_dir / f"worker-{slot.index}.log"
                self._logs[slot.index] = open(path, "ab")  # noqa: SIM115
            output = self._logs[slot.index]
        try:
            slot.process = subprocess.Popen(
                self.command(slot.index), env=self.env, stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT, close_fds=True)
        except OSError as error:
            slot.process = None
            self._schedule_restart(slot, f"could not start: {error}")
            return
        slot.started_at = self.clock()
        self.log(f"ccta-ai: worker {slot.index} started (pid {slot.process.pid})")

    def _schedule_restart(self, slot: _Slot, why: str) -> None:
        first, longest = self.backoff_s
        delay = min(first * 2 ** slot.quick_failures, longest)
        slot.quick_failures += 1
        slot.next_start = self.clock() + delay
        self.log(f"ccta-ai: worker {slot.index} {why}; restarting in {delay:g} s")

    def _watch(self) -> None:
        while not self._stopping.wait(self.check_interval_s):
            with self._lock:
                if self._stopping.is_set():
                    return
                for slot in self.slots:
                    self._check(slot)

    def _check(self, slot: _Slot) -> None:
        now = self.clock()
        if slot.process is None:
            if now >= slot.next_start:
                slot.restarts += 1
                self._spawn(slot)
            return
        code = slot.process.poll()
        if code is None:
            return
        slot.last_exit_code = code
        pid = slot.process.pid
        slot.process = None
        if now - slot.started_at >= self.stable_after_s:
            slot.quick_failures = 0
        self._schedule_restart(slot, f"(pid {pid}) exited with code {code}")

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop watching, SIGTERM every worker, SIGKILL those still alive after
        ``grace_s``."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=grace_s)
        with self._lock:
            running = [s.process for s in self.slots if s.process is not None]
            for process in running:
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + grace_s
            for process in running:
                try:
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            for handle in self._logs.values():
                handle.close()
            self._logs.clear()
        self.log(f"ccta-ai: {len(running)} worker(s) stopped")

    def status(self) -> list[dict[str, Any]]:
        """One entry per slot: pid, alive, restarts, last exit code, uptime."""
        with self._lock:
            now = self.clock()
            return [
                {
                    "slot": slot.index,
                    "pid": slot.process.pid if slot.process else None,
                    "alive": slot.process is not None and slot.process.poll() is None,
                    "restarts": slot.restarts,
                    "last_exit_code": slot.last_exit_code,
                    "uptime_s": round(now - slot.started_at, 1) if slot.process else 0.0,
                }
                for slot in self.slots
            ]
