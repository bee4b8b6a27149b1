"""`fiddle serve --cpu` (functions/serving_cpu.py): the HTTP threads go to one CPU, the threads
started before keep theirs, and a CPU this process may not use is refused in one sentence."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from functions.serving_cpu import AUTO, NONE, parse_choice, pin_this_thread

ALLOWED = sorted(os.sched_getaffinity(0))


def in_a_thread(action: Callable[[], Any]) -> tuple[Any, set[int], set[int]]:
    """What action answered in a new thread, that thread's CPUs after it, and the CPUs of a
    thread it started: the test's own threads keep theirs."""
    seen: dict[str, Any] = {}

    def child() -> None:
        seen["child"] = os.sched_getaffinity(0)

    def body() -> None:
        seen["answer"] = action()
        seen["after"] = os.sched_getaffinity(0)
        started = threading.Thread(target=child)
        started.start()
        started.join()

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return seen["answer"], seen["after"], seen["child"]


@pytest.mark.skipif(len(ALLOWED) < 2, reason="pinning needs a machine with two CPUs or more")
def test_auto_pins_the_thread_and_the_threads_it_starts_to_the_last_cpu() -> None:
    sentence, after, child = in_a_thread(lambda: pin_this_thread(AUTO))
    assert after == child == {ALLOWED[-1]}
    assert f"pinned to CPU {ALLOWED[-1]}" in sentence
    assert os.sched_getaffinity(0) == set(ALLOWED), "the calling test's thread kept every CPU"


def test_none_and_a_chosen_cpu() -> None:
    sentence, after, _ = in_a_thread(lambda: pin_this_thread(NONE))
    assert after == set(ALLOWED) and "any CPU" in sentence
    _, after, _ = in_a_thread(lambda: pin_this_thread(str(ALLOWED[0])))
    assert after == {ALLOWED[0]}


def test_a_cpu_this_process_may_not_use_is_refused() -> None:
    with pytest.raises(ValueError, match=r"may run on CPUs"):
        pin_this_thread(str(max(ALLOWED) + 1000))


@pytest.mark.parametrize("value", ["", "fast", "-1", "1.5", "٣"])
def test_the_choice_is_auto_none_or_a_number(value: str) -> None:
    with pytest.raises(ValueError, match="--cpu is auto, none or a CPU number"):
        parse_choice(value)
    assert parse_choice(" Auto ") == AUTO and parse_choice("3") == "3"


def test_serve_refuses_a_bad_cpu_before_starting_anything() -> None:
    command = [sys.executable, "-m", "functions.cli", "serve", "--cpu", "fast"]
    answer = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert answer.returncode == 2
    assert "--cpu is auto, none or a CPU number, not 'fast'" in answer.stderr
    assert "Traceback" not in answer.stderr
