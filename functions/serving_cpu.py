"""The CPU the HTTP threads of `fiddle serve` run on.

Waitress answers every request in one interpreter, so its threads can never use more than one core
for Python between them; left free to run on any core, each hand-over of the interpreter lock from
one thread to the next wakes a thread on the other core, and that costs more than the work it
hands over. Measured on the 2-core VM with a bare Flask handler: 4,100 to 4,200 req/s unpinned,
falling from 1 to 2 connections; 5,800 to 7,200 pinned, rising with connections. So the threads
that serve HTTP are pinned to one CPU (the last one this process may use); the runner, its sandboxes
and the job worker are other processes or threads started before, and keep every core.
"""

from __future__ import annotations

import os

AUTO, NONE = "auto", "none"


def parse_choice(value: str) -> str:
    """`--cpu`: auto, none, or a CPU number (argparse's type)."""
    value = value.strip().lower()
    if value in (AUTO, NONE) or (value.isascii() and value.isdigit()):
        return value
    raise ValueError(f"--cpu is auto, none or a CPU number, not {value!r}")


def pin_this_thread(choice: str) -> str:
    """Pin the calling thread, and so every thread it starts after, as `choice` says; a sentence
    saying what was done, for the start-up log."""
    allowed = sorted(os.sched_getaffinity(0))
    if choice == NONE:
        return "HTTP threads may run on any CPU (--cpu none)"
    if choice == AUTO and len(allowed) < 2:
        return "HTTP threads not pinned (one CPU)"
    cpu = allowed[-1] if choice == AUTO else int(choice)
    if cpu not in allowed:
        raise ValueError(f"--cpu {cpu}: this process may run on CPUs {allowed} only")
    # pid 0: the calling thread alone (Linux), not the threads started before it.
    os.sched_setaffinity(0, {cpu})
    return f"HTTP threads pinned to CPU {cpu} of {len(allowed)} (--cpu none lets them move)"
