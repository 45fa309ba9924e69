"""The worker supervisor: restart with backoff, status, stop."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ccta_ai.service.supervisor import Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
QUITTER = [sys.executable, "-c", "raise SystemExit(7)"]


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_worker_is_restarted_and_stop_ends_all(tmp_path: Path) -> None:
    messages: list[str] = []
    supervisor = Supervisor(lambda slot: SLEEPER, count=2, backoff_s=(0.1, 1.0),
                            check_interval_s=0.05, log=messages.append, log_dir=tmp_path)
    supervisor.start()
    try:
        first = supervisor.status()
        assert [w["alive"] for w in first] == [True, True]
        victim = first[0]["pid"]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: supervisor.status()[0]["restarts"] == 1
                 and supervisor.status()[0]["alive"])
        status = supervisor.status()
        assert status[0]["pid"] != victim and status[0]["last_exit_code"] == -9
        assert status[1]["pid"] == first[1]["pid"] and status[1]["restarts"] == 0
        assert any("exited with code -9; restarting in 0.1 s" in m for m in messages)
    finally:
        pids = [w["pid"] for w in supervisor.status()]
        supervisor.stop(grace_s=5)
    assert not any(alive(pid) for pid in pids)
    assert (tmp_path / "worker-0.log").exists()


def test_quick_failures_back_off_exponentially_up_to_the_maximum() -> None:
    messages: list[str] = []
    supervisor = Supervisor(lambda slot: QUITTER, count=1, backoff_s=(0.05, 0.2),
                            check_interval_s=0.02, log=messages.append)
    supervisor.start()
    try:
        wait_for(lambda: supervisor.status()[0]["restarts"] >= 4)
    finally:
        supervisor.stop(grace_s=2)
    delays = [m.split("restarting in ")[1] for m in messages if "restarting in" in m]
    assert delays[:4] == ["0.05 s", "0.1 s", "0.2 s", "0.2 s"]
    assert supervisor.status()[0]["last_exit_code"] == 7


def test_a_command_that_cannot_start_is_retried() -> None:
    messages: list[str] = []
    supervisor = Supervisor(lambda slot: ["/nonexistent/python"], count=1, backoff_s=(0.05, 0.1),
                            check_interval_s=0.02, log=messages.append)
    supervisor.start()
    try:
        wait_for(lambda: supervisor.status()[0]["restarts"] >= 2)
    finally:
        supervisor.stop(grace_s=1)
    assert "could not start" in messages[0] and not supervisor.status()[0]["alive"]
