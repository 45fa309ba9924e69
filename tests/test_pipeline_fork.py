"""``ForkedCall``: the SEG and SR are written in a forked child while the pictures are
rendered; its value, its errors and its death must reach the parent."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from ccta_ai.errors import CctaAiError, InputError
from ccta_ai.pipeline import ForkedCall


def test_the_child_works_on_the_parents_arrays_and_returns_its_value() -> None:
    array = np.arange(1_000_000, dtype=np.int64)  # shared by the fork, not pickled
    call = ForkedCall(lambda: (os.getpid(), int(array.sum())), "sum")
    child_pid, total = call.result()
    assert child_pid != os.getpid()
    assert total == 999_999 * 1_000_000 // 2
    assert call.result() == (child_pid, total)  # asked again: the same answer


def test_the_childs_exception_is_raised_in_the_parent_with_its_type() -> None:
    def fails() -> None:
        raise InputError("the label maps are empty: nothing to segment")

    with pytest.raises(InputError, match="label maps are empty"):
        ForkedCall(fails, "SEG and SR").result()


def test_a_child_that_dies_is_reported_with_its_exit_code() -> None:
    def dies() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(CctaAiError, match=r"SEG and SR ended with code -9"):
        ForkedCall(dies, "SEG and SR").result()


def test_a_cancelled_child_is_stopped() -> None:
    pids: list[int] = []
    call = ForkedCall(lambda: signal.pause(), "pause")
    pids.append(call._process.pid)
    call.cancel()
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)
    with pytest.raises(CctaAiError, match="cancelled"):
        call.result()
