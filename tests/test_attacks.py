"""The attack suite (issue 3, item 7): hostile fiddles against every sandbox backend here.

Each case sends one hostile program through a real RunnerService (warm hosts inside the
container) and asserts two things: the attack was contained, and the user got the clear error of
issue 3 where one applies. After every case a normal drawing must still render on every host of
the pool, and no host may have died (`assert_still_healthy`, run by an autouse fixture).

A guard runs first for each backend: it proves the child is in its own pid and network namespace,
runs under a throwaway uid and cannot create sockets. Without that proof no hostile case runs: a
fork bomb or `kill(-1)` outside a pid namespace could take down this machine, our own processes
included.

The `layer` of each case names what contained it (documentation, also shown in the test id):
container (namespaces, the minimal read-only root), uid (the throwaway identity), rlimit,
seccomp, host (the host's wall clock, output cap and result checks), cgroup, python (the
interpreter or Skia refuse before the kernel is asked).

gVisor (`runsc`) runs the same cases. Where its kernel contains an attack differently (it names the
spawn helpers' clone, it has no 32-bit or x32 ABI) the case says so in `by_backend`; its two known
gaps (another uid reading the host's fixed environ; no kill on a trapped call while SIGSYS is
blocked, though the call never runs) are expected failures that turn red once gVisor closes them.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("skia")
pyseccomp = pytest.importorskip("pyseccomp")

from fiddle_protocol.messages import RunRequest, RunResult  # noqa: E402
from fiddle_protocol.options import FiddleOptions  # noqa: E402
from runner_vm.policy import load_policy  # noqa: E402
from runner_vm.sandbox.cgroups import placement  # noqa: E402
from runner_vm.service.runner import RunnerService  # noqa: E402
from tests.conftest import started_runner  # noqa: E402

pytestmark = pytest.mark.attack

BACKENDS = ("nspawn", "namespaces", "runsc")
POLICY = load_policy()
LIMITS = POLICY.limits
CPU_ERROR = f"CPU time limit of {LIMITS.cpu_seconds} s exceeded"
WALL_ERROR = f"wall-clock limit of {LIMITS.wall_clock_seconds:g} s exceeded"
MEMORY_ERROR = "memory limit of 1 GiB exceeded"
OUTPUT_ERROR = f"output larger than {LIMITS.output_mib} MiB"
PROCESSES_ERROR = f"too many processes (the limit is {LIMITS.processes})"
# Killed by the filter without naming the call: SIGSYS was blocked (posix_spawn and vfork block
# every signal around their clone), or the call came through another ABI.
UNNAMED_SYSCALL_ERROR = "forbidden system call"
NO_DRAW = "\ndef draw(canvas):\n    pass\n"
HEALTHY = """
def draw(canvas):
    canvas.drawCircle(32, 32, 20, skia.Paint(AntiAlias=True, Color=skia.ColorRED))
"""


def forbidden(name: str) -> str:
    return f"forbidden system call: {name}"


def refused_start(helper: str) -> str:
    """Python's process-starting helpers are refused by name before the filter sees their call."""
    return f"forbidden system call: starting a process ({helper})"


def syscall_number(name: str) -> int:
    return int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name))


def syscall_label(number: int) -> str:
    """How a refused call is named: libseccomp's name, or its number where it has none."""
    try:
        return str(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, number).decode())
    except ValueError:
        return f"number {number}"


def killed_by(signo: int, name: str = "") -> str:
    return f"the program was killed by signal {signo}" + (f" ({name})" if name else "")


def tampered(why: str) -> str:
    return f"the program tampered with its result: {why}"


# --------------------------------------------------------------------------------------------
# Running programs


def run(runner: RunnerService, code: str, **options: Any) -> RunResult:
    code = textwrap.dedent(code)
    if "def draw" not in code:
        code += NO_DRAW
    sized = FiddleOptions(**{"width": 64, "height": 64, **options})
    return runner.run(RunRequest(uuid.uuid4().hex, code, sized))


def describe(result: RunResult) -> str:
    return f"runtime_error={result.runtime_error[:600]!r} text={result.text[:600]!r}"


def assert_still_healthy(runner: RunnerService, replaced_before: int) -> None:
    """A normal drawing renders on every host of the pool, and no host died or was replaced."""
    for _ in range(runner.pool.size):
        result = run(runner, HEALTHY)
        assert result.succeeded, describe(result)
        assert result.outputs["cpu.png"].startswith(b"\x89PNG"), sorted(result.outputs)
    assert runner.pool.replaced == replaced_before, "a sandbox host died during the attack"


# --------------------------------------------------------------------------------------------
# The guard: proof that isolation is in place before anything hostile runs

GUARD_PROBE = """
import os
pids = [p for p in os.listdir('/proc') if p.isdigit()]
with open('/proc/net/dev') as dev:
    interfaces = sorted(line.split(':')[0].strip() for line in dev.readlines()[2:])
with open('/proc/self/status') as status:
    fields = dict(line.split(':\\t', 1) for line in status.read().splitlines() if ':\\t' in line)
print(len(pids), os.getuid(), os.geteuid(), ','.join(interfaces), fields['Seccomp'].strip(),
      fields.get('NoNewPrivs', '-').strip(), fields['CapEff'].strip())
"""


def guard(runner: RunnerService) -> None:
    probe = run(runner, GUARD_PROBE)
    if not probe.succeeded:
        pytest.fail(f"isolation probe failed to run: {describe(probe)}")
    count, uid, euid, interfaces, seccomp, no_new_privs, caps = probe.text.split()
    problems = []
    if int(count) > 5:
        problems.append(f"the child sees {count} processes: no pid namespace")
    if int(uid) == 0 or int(euid) == 0:
        problems.append("the child runs as root")
    if interfaces != "lo":
        problems.append(f"the child sees network interfaces {interfaces}: no network namespace")
    # gVisor's /proc does not report NoNewPrivs; without capabilities a filter implies it.
    if seccomp != "2" or no_new_privs not in ("1", "-"):
        problems.append("no seccomp filter in the child")
    if int(caps, 16) != 0:
        problems.append(f"the child has capabilities {caps}")
    sock = run(runner, "import socket\nsocket.socket()\n")
    if sock.runtime_error != forbidden("socket"):
        problems.append(f"socket creation is not forbidden: {describe(sock)}")
    if problems:
        pytest.fail("refusing to run hostile programs: " + "; ".join(problems), pytrace=False)


@pytest.fixture(scope="module", params=BACKENDS)
def runner(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunnerService]:
    state_dir = tmp_path_factory.mktemp(request.param)
    with started_runner(request.param, POLICY, state_dir, pool_size=2) as sandboxed:
        guard(sandboxed)
        yield sandboxed


@pytest.fixture(autouse=True)
def stays_healthy(runner: RunnerService) -> Iterator[None]:
    replaced = runner.pool.replaced
    yield
    assert_still_healthy(runner, replaced)


# --------------------------------------------------------------------------------------------
# The cases

Check = Callable[[RunResult], None]


def error(expected: str) -> Check:
    def check(result: RunResult) -> None:
        assert result.runtime_error == expected, describe(result)

    return check


def error_in(*expected: str) -> Check:
    def check(result: RunResult) -> None:
        assert result.runtime_error in expected, describe(result)

    return check


def traceback_ending(last_line: str) -> Check:
    """The user's own traceback, ending with this exception line."""

    def check(result: RunResult) -> None:
        assert result.runtime_error.splitlines()[-1:] == [last_line], describe(result)
        assert "runner_vm" not in result.runtime_error, describe(result)

    return check


def prints(*lines: str) -> Check:
    """The program ran to the end and printed exactly these lines."""

    def check(result: RunResult) -> None:
        assert result.succeeded, describe(result)
        assert result.text.splitlines() == list(lines), describe(result)

    return check


@dataclass(frozen=True)
class Attack:
    name: str
    layer: str
    code: str
    check: Check
    options: dict[str, Any] = field(default_factory=dict)
    slow: bool = False
    # Where a backend contains the attack differently: another check, or (a string) a known gap
    # that must still fail, so that the day it is closed the override is removed.
    by_backend: dict[str, Check | str] = field(default_factory=dict)

    def param(self) -> Any:
        marks = [pytest.mark.slow] if self.slow else []
        return pytest.param(self, id=f"{self.name}[{self.layer}]", marks=marks)


# Under gVisor the spawn helpers' clone and vfork are reported by name: its kernel delivers the
# SIGSYS even though the helpers block every signal around the call.
SPAWN_UNDER_GVISOR = error_in(UNNAMED_SYSCALL_ERROR, forbidden("clone"), forbidden("vfork"))
GVISOR_PROC_GAP = (
    "gVisor's /proc lets the run's uid read the host's environ (a fixed list: HOME, PYTHONPATH,"
    " PATH, two switches) and list its descriptor numbers; memory, stack, cwd and root stay refused"
)
GVISOR_BLOCKED_SIGSYS_GAP = (
    "with SIGSYS blocked, gVisor does not kill on a trapped call: the call still never runs (it"
    " returns its own number, so no socket exists), but the program goes on"
)

RAW_DEVICES = ("/dev/mem", "/dev/sda", "/dev/vda", "/dev/kmsg", "/dev/port", "/dev/nvme0n1")

# A helper the "try and report" programs share: one line per attempt, naming the exception.
TRY = """
def attempt(label, action):
    try:
        action()
    except BaseException as error:
        print(label, type(error).__name__)
    else:
        print(label, 'SUCCEEDED')
"""


def tried(code: str) -> str:
    return TRY + textwrap.dedent(code)


def _compile_error(result: RunResult, text: str) -> None:
    assert result.compile_errors, describe(result)
    assert text in result.compile_errors[0].text, result.compile_errors


def _all_refused(result: RunResult, kinds: tuple[str, ...] | None = None) -> None:
    assert result.succeeded, describe(result)
    assert result.text, describe(result)
    for line in result.text.splitlines():
        outcome = line.split()[-1]
        assert outcome != "SUCCEEDED", describe(result)
        assert kinds is None or outcome in kinds, describe(result)


def _capped_text(result: RunResult) -> None:
    """200,000 lines of 100 bytes: cut at 1 MiB, and the cut says so with the size printed."""
    assert result.succeeded, describe(result)
    note = "\n[output cut at 1 MiB: the program printed 19.1 MiB]"
    assert result.text.endswith(note), result.text[-200:]
    assert len(result.text.encode()) == (1 << 20) + len(note), len(result.text)


# fmt: off
ATTACKS: list[Attack] = [
    # ---- time
    # On a loaded machine the child may get less than half a core: the wall clock can come first.
    Attack(
        "infinite_loop", "rlimit", "while True:\n    pass\n", error_in(CPU_ERROR, WALL_ERROR),
        slow=True,
    ),
    Attack(
        "limits_in_place", "rlimit",
        """
        import resource
        for name in ('CPU', 'AS', 'NPROC', 'NOFILE', 'FSIZE', 'CORE'):
            print(name, *resource.getrlimit(getattr(resource, 'RLIMIT_' + name)))
        """,
        prints(
            f"CPU {LIMITS.cpu_seconds} {LIMITS.cpu_seconds + 1}",
            f"AS {LIMITS.address_space_mib << 20} {LIMITS.address_space_mib << 20}",
            f"NPROC {LIMITS.processes} {LIMITS.processes}",
            f"NOFILE {LIMITS.open_files} {LIMITS.open_files}",
            f"FSIZE {LIMITS.file_size_bytes} {LIMITS.file_size_bytes}",
            "CORE 0 0",
        ),
    ),
    Attack(
        "sleep_forever", "host wall clock", "import time\ntime.sleep(10**6)\n",
        error(WALL_ERROR), slow=True,
    ),
    Attack(
        "close_result_pipe_then_sleep", "host wall clock",
        """
        import os, time
        for fd in os.listdir('/proc/self/fd'):
            if int(fd) > 2:
                try:
                    os.close(int(fd))
                except OSError:
                    pass
        time.sleep(10**6)
        """,
        error(WALL_ERROR), slow=True,
    ),
    # ---- processes and threads
    Attack(
        "fork_flood", "seccomp", "import os\nwhile True:\n    os.fork()\n",
        error(forbidden("clone")),
    ),
    Attack(
        "thread_flood", "rlimit",
        """
        import threading, time
        while True:
            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        """,
        error(PROCESSES_ERROR),
    ),
    Attack(
        "multiprocessing_process", "seccomp",
        "import multiprocessing\nmultiprocessing.Process(target=print).start()\n",
        error(forbidden("clone")),
    ),
    Attack(
        "multiprocessing_pool", "seccomp",  # its semaphore would be a file in /dev/shm
        "import multiprocessing\nmultiprocessing.Pool(4)\n", error(forbidden("openat")),
    ),
    Attack(
        "shared_memory", "seccomp",
        "from multiprocessing import shared_memory as shm\nshm.SharedMemory(create=True, size=8)\n",
        error(forbidden("openat")),
    ),
    # ---- memory
    Attack("huge_allocation", "rlimit", "x = bytearray(4 << 30)\n", error(MEMORY_ERROR)),
    Attack(
        "slow_growth", "rlimit",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))\n",
        error(MEMORY_ERROR),
    ),
    Attack(
        "numpy_allocation", "rlimit", "import numpy\nx = numpy.ones((1 << 30,), dtype='int64')\n",
        error(MEMORY_ERROR),
    ),
    Attack(
        "skia_huge_bitmap", "rlimit",
        """
        bitmap = skia.Bitmap()
        print(bitmap.tryAllocPixels(skia.ImageInfo.MakeN32Premul(30000, 30000)))
        surface = skia.Surface.MakeRaster(skia.ImageInfo.MakeN32Premul(30000, 30000))
        print(surface is None)
        """,
        prints("False", "True"),
    ),
    Attack(
        "python_recursion", "python",
        "import sys\nsys.setrecursionlimit(10**5)\ndef f(n):\n    return f(n + 1)\nf(0)\n",
        traceback_ending("RecursionError: maximum recursion depth exceeded"),
    ),
    Attack(
        "c_stack_overflow", "host",
        """
        import sys
        sys.setrecursionlimit(10**8)
        nested = []
        for _ in range(10**6):
            nested = [nested]
        repr(nested)
        """,
        error("the program crashed (SIGSEGV)"),
    ),
    # ---- compile-time bombs
    # `2 ** (10 ** 10)` is not folded either, but squaring its way there burns the whole CPU limit
    # before the memory runs out: these two hit the memory limit at once.
    Attack("constant_folding_shift", "rlimit", "x = 1 << (10 ** 12)\n", error(MEMORY_ERROR)),
    Attack(
        "constant_folding_repeat", "rlimit", "x = 'a' * (10 ** 12)\n", error(MEMORY_ERROR),
    ),
    Attack(
        "nested_parentheses", "python", "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n",
        lambda r: _compile_error(r, "too many nested parentheses"),
    ),
    Attack(
        "deep_expression", "python", "x = " + "-" * 100_000 + "1\n",
        lambda r: _compile_error(r, "the program could not be compiled"),
    ),
    Attack(
        "compile_inside_program", "python",
        "compile('x = ' + '[' * 10**6 + ']' * 10**6, 'x', 'exec')\n",
        traceback_ending("SyntaxError: too many nested parentheses"),
    ),
    # ---- reading secrets
    Attack(
        "read_host_secrets", "container",
        tried("""
        import os
        for path in ('/etc/shadow', '/etc/hostname', '/root/.ssh/id_rsa', '/root/.bash_history'):
            attempt(path, lambda: open(path).read())
        for path in ('/home', '/var/lib', '/etc/ssh'):
            attempt(path, lambda: os.listdir(path))
        print(sorted(os.listdir('/etc')))
        """),
        prints(
            "/etc/shadow FileNotFoundError", "/etc/hostname FileNotFoundError",
            "/root/.ssh/id_rsa FileNotFoundError", "/root/.bash_history FileNotFoundError",
            "/home FileNotFoundError", "/var/lib FileNotFoundError", "/etc/ssh FileNotFoundError",
            "['fonts', 'group', 'ld.so.cache', 'os-release', 'passwd']",
        ),
    ),
    Attack(
        "other_processes_environ", "uid",
        tried("""
        import os
        me = str(os.getpid())
        for pid in sorted(p for p in os.listdir('/proc') if p.isdigit() and p != me):
            for what in ('environ', 'mem', 'stack', 'syscall'):
                attempt(f'{pid}/{what}', lambda: open(f'/proc/{pid}/{what}', 'rb').read(1))
            for what in ('root/etc', 'cwd', 'fd'):
                attempt(f'{pid}/{what}', lambda: os.listdir(f'/proc/{pid}/{what}'))
        """),
        lambda r: _all_refused(r, ("PermissionError",)),
        by_backend={"runsc": GVISOR_PROC_GAP},
    ),
    Attack(
        "host_hostname", "container",
        f"import os\nprint(os.uname().nodename != {socket.gethostname()!r})\n",
        prints("True"),
    ),
    Attack(
        "kernel_memory_and_logs", "container",
        tried("""
        for path in ('/proc/kcore', '/proc/kmsg', '/dev/kmsg', '/proc/sysrq-trigger'):
            attempt(path, lambda: open(path, 'rb').read(1))
        """),
        _all_refused,
    ),
    Attack(
        "runner_sources_readable_not_writable", "seccomp",
        """
        import runner_vm.host
        print(len(open(runner_vm.host.__file__).read()) > 0)
        open(runner_vm.host.__file__, 'a').write('# owned')
        """,
        error(forbidden("openat")),
    ),
    # ---- writing outside the output
    Attack("write_tmp", "seccomp", "open('/tmp/x', 'w').write('x')\n", error(forbidden("openat"))),
    Attack(
        "write_usr_lib", "seccomp", "open('/usr/lib/evil.so', 'wb')\n", error(forbidden("openat")),
    ),
    Attack(
        "overwrite_skia_build", "seccomp", "open(skia.__file__, 'r+b').write(b'x')\n",
        error(forbidden("openat")),
    ),
    Attack(
        "overwrite_skia_through_mmap", "seccomp",  # read-only opens only
        """
        import mmap
        with open(skia.__file__, 'rb') as so:
            mmap.mmap(so.fileno(), 4096, access=mmap.ACCESS_WRITE)[0:1] = b'x'
        """,
        traceback_ending("PermissionError: [Errno 13] Permission denied"),
    ),
    Attack(
        "replace_skia_build", "seccomp",
        "import os\nos.rename(skia.__file__, '/tmp/skia.so')\n", error(forbidden("rename")),
    ),
    Attack(
        "unlink_runner_source", "seccomp",
        "import os, runner_vm.drawing.execute\nos.unlink(runner_vm.drawing.execute.__file__)\n",
        error(forbidden("unlink")),
    ),
    Attack("mkdir", "seccomp", "import os\nos.mkdir('/tmp/d')\n", error(forbidden("mkdir"))),
    Attack(
        "proc_self_mem_write", "seccomp", "open('/proc/self/mem', 'r+b')\n",
        error(forbidden("openat")),
    ),
    Attack(
        "proc_sys_write", "seccomp", "open('/proc/sys/kernel/core_pattern', 'w')\n",
        error(forbidden("openat")),
    ),
    Attack(
        "file_size_rlimit", "rlimit",
        """
        import resource
        print(resource.getrlimit(resource.RLIMIT_FSIZE))
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 30, 1 << 30))
        """,
        traceback_ending("ValueError: not allowed to raise maximum limit"),
    ),
    # ---- symlink tricks
    Attack(
        "symlink_output_to_etc", "seccomp", "import os\nos.symlink('/etc', '/tmp/cpu.png')\n",
        error(forbidden("symlink")),
    ),
    Attack(
        "hardlink_skia", "seccomp", "import os\nos.link(skia.__file__, '/tmp/skia.so')\n",
        error(forbidden("link")),
    ),
    # ---- network
    Attack(
        "tcp_connect_runner_port", "seccomp",
        "import socket\nsocket.create_connection(('127.0.0.1', 8080), timeout=1)\n",
        error(forbidden("socket")),
    ),
    Attack(
        "udp_sendto", "seccomp",
        "import socket\nudp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "udp.sendto(b'x', ('8.8.8.8', 53))\n",
        error(forbidden("socket")),
    ),
    Attack(
        "unix_socket", "seccomp",
        "import socket\nsocket.socket(socket.AF_UNIX).connect('/run/systemd/private')\n",
        error(forbidden("socket")),
    ),
    Attack(
        "abstract_socket", "seccomp",
        "import socket\nsocket.socket(socket.AF_UNIX).bind('\\0fiddle')\n",
        error(forbidden("socket")),
    ),
    Attack(
        "socketpair", "seccomp", "import socket\nsocket.socketpair()\n",
        error(forbidden("socketpair")),
    ),
    Attack(
        "connect_on_a_pipe", "seccomp",
        """
        import ctypes, os
        r, w = os.pipe()
        ctypes.CDLL(None).connect(r, ctypes.c_char_p(b'\\x01\\x00/run/x'), 10)
        """,
        error(forbidden("connect")),
    ),
    # ---- exec
    Attack(
        "os_system", "seccomp", "import os\nos.system('id')\n", error(refused_start("os.system")),
    ),
    Attack(
        "subprocess_run", "seccomp", "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'id'])\n",
        error(refused_start("subprocess.Popen")),
    ),
    Attack(
        "posix_spawn", "seccomp", "import os\nos.posix_spawn('/bin/sh', ['sh'], {})\n",
        error(refused_start("os.posix_spawn")),
    ),
    Attack(
        "os_execv", "seccomp", "import os\nos.execv('/bin/sh', ['sh'])\n",
        error(forbidden("execve")),
    ),
    Attack(
        # Past the audit hook (no Python helper runs), the filter still kills, without a name.
        "ctypes_libc_system", "seccomp", "import ctypes\nctypes.CDLL(None).system(b'id')\n",
        error(UNNAMED_SYSCALL_ERROR), by_backend={"runsc": SPAWN_UNDER_GVISOR},
    ),
    Attack(
        # A refusal the program catches has started nothing, and the program goes on.
        "process_start_refusal_caught", "seccomp",
        """
import os
try:
    os.system('id')
except PermissionError as refused:
    print(refused)
""",
        prints(refused_start("os.system")),
    ),
    Attack(
        "ctypes_raw_execve", "seccomp",
        f"import ctypes\nctypes.CDLL(None).syscall({syscall_number('execve')}, b'/bin/sh', 0, 0)\n",
        error(forbidden("execve")),
    ),
    # ---- other processes: ptrace, signals
    Attack(
        "ptrace_parent", "seccomp",
        "import ctypes, os\nctypes.CDLL(None).ptrace(16, os.getppid(), 0, 0)\n",
        error(forbidden("ptrace")),
    ),
    Attack(
        "kill_parent", "seccomp", "import os\nos.kill(os.getppid(), 9)\n", error(forbidden("kill")),
    ),
    Attack("kill_everything", "seccomp", "import os\nos.kill(-1, 9)\n", error(forbidden("kill"))),
    Attack("kill_init", "seccomp", "import os\nos.kill(1, 9)\n", error(forbidden("kill"))),
    Attack("killpg", "seccomp", "import os\nos.killpg(1, 9)\n", error(forbidden("kill"))),
    Attack(
        "tgkill_parent", "seccomp",
        "import ctypes, os\nparent = os.getppid()\n"
        f"ctypes.CDLL(None).syscall({syscall_number('tgkill')}, parent, parent, 9)\n",
        error(forbidden("tgkill")),
    ),
    Attack(
        "sigio_to_parent", "uid",
        """
        import fcntl, os
        for fd in os.listdir('/proc/self/fd'):
            try:
                fcntl.fcntl(int(fd), fcntl.F_SETOWN, os.getppid())
                fcntl.fcntl(int(fd), 10, 9)  # F_SETSIG: SIGKILL instead of SIGIO
                flags = fcntl.fcntl(int(fd), fcntl.F_GETFL)
                fcntl.fcntl(int(fd), fcntl.F_SETFL, flags | os.O_ASYNC)
            except OSError:
                pass
        print('armed')
        """,
        prints("armed"),
    ),
    Attack(
        "prlimit_parent", "uid",
        """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        limit = (ctypes.c_ulong * 2)(0, 0)
        print(libc.prlimit(os.getppid(), 7, limit, None), ctypes.get_errno())
        """,
        prints("-1 1"),
    ),
    Attack(
        "segfault", "host", "import ctypes\nctypes.string_at(0)\n",
        error("the program crashed (SIGSEGV)"),
    ),
    Attack("abort", "host", "import os\nos.abort()\n", error("the program crashed (SIGABRT)")),
    Attack(
        "sigkill_self", "host", "import os\nos.kill(os.getpid(), 9)\n",
        error(killed_by(9, "SIGKILL")),
    ),
    Attack(
        "replace_sigsys_handler", "seccomp",
        "import signal, socket\nsignal.signal(signal.SIGSYS, signal.SIG_IGN)\nsocket.socket()\n",
        error(forbidden("rt_sigaction")),
    ),
    Attack(
        "block_sigsys", "seccomp",
        """
        import signal, socket
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGSYS])
        socket.socket()
        """,
        error(UNNAMED_SYSCALL_ERROR), by_backend={"runsc": GVISOR_BLOCKED_SIGSYS_GAP},
    ),
    # ---- identity, namespaces, kernel interfaces
    Attack("setuid_root", "seccomp", "import os\nos.setuid(0)\n", error(forbidden("setuid"))),
    Attack(
        "raise_rlimits", "rlimit",
        "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n",
        traceback_ending("ValueError: not allowed to raise maximum limit"),
    ),
    Attack(
        "chroot_escape", "seccomp", "import os\nos.chroot('/tmp')\n", error(forbidden("chroot")),
    ),
    Attack("chdir", "seccomp", "import os\nos.chdir('/')\n", error(forbidden("chdir"))),
    Attack(
        "clone_thread_into_namespace", "uid",
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        # CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_NEWNET: a thread in a new namespace
        flags = 0x100 | 0x800 | 0x10000 | 0x40000000
        print(libc.syscall(56, flags, 0, 0, 0, 0), ctypes.get_errno())
        """,
        prints("-1 1") if platform.machine() == "x86_64" else (lambda r: None),
    ),
    Attack(
        "x32_abi", "seccomp",
        f"import ctypes\nctypes.CDLL(None).syscall(0x40000000 | {syscall_number('getpid')})\n",
        error(UNNAMED_SYSCALL_ERROR),
    ),
    Attack(
        "x32_abi_in_a_thread", "seccomp",
        f"""
        import ctypes, threading, time
        x32_getpid = 0x40000000 | {syscall_number('getpid')}
        threading.Thread(target=ctypes.CDLL(None).syscall, args=(x32_getpid,)).start()
        time.sleep(1)
        print('the rest of the program lives on')
        """,
        error(UNNAMED_SYSCALL_ERROR),
        # gVisor has no x32 ABI: the call fails (ENOSYS) without reaching any kernel.
        by_backend={"runsc": prints("the rest of the program lives on")},
    ),
    Attack(
        "int80_32bit_abi", "seccomp",
        """
        import ctypes, mmap
        code = bytes.fromhex('b814000000cd80c3')  # mov eax, 20 (getpid); int 0x80; ret
        page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        page.write(code)
        address = ctypes.addressof(ctypes.c_char.from_buffer(page))
        print(ctypes.CFUNCTYPE(ctypes.c_int)(address)())
        """,
        error_in(UNNAMED_SYSCALL_ERROR, "the program crashed (SIGSEGV)"),
        # gVisor has no 32-bit ABI: its ptrace platform takes int 0x80 as the 64-bit call of that
        # number (20, writev, on no descriptor), which fails inside gVisor's own kernel.
        by_backend={"runsc": prints("-9")},
    ),
    # ---- raw devices
    Attack(
        "raw_devices", "container",
        tried("""
        for path in ('/dev/mem', '/dev/sda', '/dev/vda', '/dev/kmsg', '/dev/port', '/dev/nvme0n1'):
            attempt(path, lambda: open(path, 'rb').read(1))
        """),
        prints(*(f"{device} FileNotFoundError" for device in RAW_DEVICES)),
    ),
    Attack(
        "tty_inject", "container",
        "import fcntl\nfcntl.ioctl(open('/dev/tty', 'rb'), 0x5412, b'x')\n",
        traceback_ending("OSError: [Errno 6] No such device or address: '/dev/tty'"),
        by_backend={"runsc": traceback_ending("OSError: [Errno 5] Input/output error: '/dev/tty'")},
    ),
    # ---- output floods
    Attack(
        "huge_stdout", "python",
        "for i in range(200_000):\n    print('x' * 99)\n",
        _capped_text,
    ),
    Attack(
        "write_to_real_stdout", "host",
        """
        import os, sys
        for fd in (1, 2):
            os.write(fd, b'\\x00\\x00\\x00\\x10{"ready": true}' * 100000)
        sys.__stdout__.write('garbage' * 100000)
        sys.__stderr__.write('garbage' * 100000)
        print('done')
        """,
        prints("done"),
    ),
    Attack(
        "flood_result_pipe", "host",
        """
        import os
        chunk = b'x' * (1 << 20)
        for fd in os.listdir('/proc/self/fd'):
            if int(fd) > 2:
                try:
                    for _ in range(64):
                        os.write(int(fd), chunk)
                except OSError:
                    pass
        """,
        error(OUTPUT_ERROR),
    ),
    Attack(
        # The zygote's channel (a socket it forks on) and the host's streams must not be here.
        "inherited_descriptors", "host",
        """
        import os
        kinds = []
        for fd in sorted(os.listdir('/proc/self/fd'), key=int):
            try:
                kinds.append(os.readlink('/proc/self/fd/' + fd).split(':')[0])
            except OSError:
                pass  # the listing's own descriptor, closed by now
        print(*kinds)
        """,
        prints("/dev/null /dev/null /dev/null pipe pipe"),
    ),
    Attack(
        "forge_result_frame", "host",
        """
        import json, os, struct
        frame = json.dumps({'runtime_error': '', 'text': 'forged', 'limit': 'wall',
                            'outputs': {'evil.html': 'PGh0bWw+'}, 'compile_errors': []}).encode()
        for fd in os.listdir('/proc/self/fd'):
            if int(fd) > 2:
                try:
                    os.write(int(fd), struct.pack('>I', len(frame)) + frame)
                except OSError:
                    pass
        os._exit(0)
        """,
        error(tampered("unknown output 'evil.html'")),
    ),
    Attack(
        "exception_that_cannot_be_shown", "python",
        "class Evil(Exception):\n    def __str__(self):\n        raise ValueError()\n"
        "raise Evil()\n",
        traceback_ending("__fiddle__.Evil: <exception str() failed>"),
    ),
    Attack(
        "system_exit", "python", "raise SystemExit(3)\n", traceback_ending("SystemExit: 3"),
    ),
    Attack(
        "exit_without_result", "host", "import os\nos._exit(0)\n",
        error("the program exited before finishing (status 0)"),
    ),
    Attack(
        "huge_outputs", "host",
        """
        import numpy
        noise = numpy.random.default_rng(1).integers(0, 256, (2048, 2048, 4), dtype=numpy.uint8)
        noise[..., 3] = 255
        picture = skia.Image.fromarray(noise)
        def draw(canvas):
            canvas.drawImage(picture, 0, 0)
        """,
        error(OUTPUT_ERROR), options={"width": 2048, "height": 2048}, slow=True,
    ),
    # ---- descriptors
    Attack(
        "open_files_exhaustion", "rlimit",
        "files = []\nwhile True:\n    files.append(open('/usr/lib/os-release'))\n",
        traceback_ending("OSError: [Errno 24] Too many open files: '/usr/lib/os-release'"),
    ),
    Attack(
        "pipe_exhaustion", "rlimit",
        "import os\npipes = []\nwhile True:\n    pipes.append(os.pipe())\n",
        traceback_ending("OSError: [Errno 24] Too many open files"),
    ),
    # ---- Skia's own file APIs
    Attack(
        "skia_data_read_secret", "container",
        """
        print(skia.Data.MakeFromFileName('/etc/shadow') is None)
        print(skia.Data.MakeFromFileName('/proc/1/environ') is None)
        """,
        prints("True", "True"),
    ),
    Attack(
        "skia_image_open", "container", "skia.Image.open('/etc/shadow')\n",
        traceback_ending("ValueError: File not found: /etc/shadow"),
    ),
    Attack(
        "skia_filewstream", "seccomp", "s = skia.FILEWStream('/tmp/x.png')\ns.write(b'x', 1)\n",
        error(forbidden("openat")),
    ),
    Attack(
        "skia_image_save", "seccomp",
        """
        surface = skia.Surface(16, 16)
        surface.makeImageSnapshot().save('/tmp/cpu.png')
        """,
        error(forbidden("openat")),
    ),
]
# fmt: on


# --------------------------------------------------------------------------------------------
# Issue 19: the host survives whatever the child does (unnamed calls, any signal, any bytes on
# its result pipe); every argument rule judges the 32 bits the kernel reads; a forged result is
# refused; runs cannot watch each other.

# Raw calls with 64-bit arguments (ctypes would pass a plain int as a 32-bit C int).
LIBC = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def syscall(*args):
    return libc.syscall(*(ctypes.c_long(a) if isinstance(a, int) else a for a in args))
"""
# Bytes written straight to the result pipe (every descriptor past stdio; the request pipe
# refuses them), the way a program that ignores the protocol would.
TO_RESULT_PIPE = """
import json, os, struct
def framed(payload):
    return struct.pack('>I', len(payload)) + payload
def to_result_pipe(data):
    for fd in os.listdir('/proc/self/fd'):
        if int(fd) > 2:
            try:
                os.write(int(fd), data)
            except OSError:
                pass
"""
# The child's own result writer, replaced from user code: the genuine frame with one change.
FORGE = """
import base64, sys
child = sys.modules['runner_vm.child.main']
genuine = child.report
def forge(change):
    def forged(outcome):
        fields = genuine(outcome)
        change(fields)
        return fields
    child.report = forged
def put(name, data):
    forge(lambda fields: fields['outputs'].__setitem__(name, base64.b64encode(data).decode()))
def png(width, height):
    return bytes(skia.Surface(width, height).makeImageSnapshot().encodeToData())
"""
SCRIPT_PDF = """
def pdf(catalog=b'/OpenAction 4 0 R', action=b'/S /JavaScript /JS (app.alert(1))'):
    objects = [b'<< /Type /Catalog /Pages 2 0 R ' + catalog + b' >>',
               b'<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
               b'<< /Type /Page /Parent 2 0 R /MediaBox [0 0 64 64] >>',
               b'<< /Type /Action ' + action + b' >>']
    out = b'%PDF-1.4\\n'
    for number, body in enumerate(objects, 1):
        out += b'%d 0 obj\\n' % number + body + b'\\nendobj\\n'
    return out + b'trailer\\n<< /Root 1 0 R >>\\n%%EOF\\n'
"""
PRIVATE_FUTEXES = """
import concurrent.futures, queue, threading
lock, barrier, done = threading.Lock(), threading.Barrier(3), []
def worker(n):
    barrier.wait(timeout=5)
    with lock:
        done.append(n)
threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    total = sum(pool.map(lambda x: x * x, range(100)))
answers = queue.Queue()
threading.Thread(target=lambda: answers.put(threading.Event().wait(0.05))).start()
print(sorted(done), total, answers.get(timeout=5))
"""
# A shared futex on a mapping of a file every sandbox binds: what two runs could meet on.
SHARED_FILE_FUTEX = LIBC + (
    """
import os
fd = os.open('/usr/lib/os-release', os.O_RDONLY)
libc.mmap.restype = ctypes.c_void_p
word = libc.mmap(None, 4096, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
value = ctypes.c_uint32.from_address(word).value
"""
)
FUTEX = syscall_number("futex")
FUTEX_WAIT, FUTEX_WAKE, FUTEX_PRIVATE_FLAG = 0, 1, 128
HIGH = 1 << 32
AT_FDCWD = -100
# What each backend shows instead of the machine's counters.
MACHINE_COUNTERS = (
    "/proc/stat", "/proc/uptime", "/proc/loadavg", "/proc/pressure/cpu", "/proc/meminfo",
    "/proc/vmstat", "/proc/zoneinfo", "/proc/interrupts", "/proc/softirqs", "/proc/diskstats",
    "/proc/locks", "/proc/cgroups", "/proc/sys/fs/file-nr", "/proc/sys/fs/inode-nr",
)  # fmt: skip
SYS_FILES = (
    "/sys/fs/cgroup/cpuacct/cpuacct.usage", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
    "/sys/fs/cgroup/pids/pids.current", "/sys/devices/system/cpu/online",
    "/sys/kernel/uevent_seqnum", "/sys/class/net/lo/statistics/rx_bytes",
)  # fmt: skip


def _counters_refused(result: RunResult) -> None:
    _all_refused(result, ("PermissionError", "FileNotFoundError"))


def _gvisor_counts_its_own(result: RunResult) -> None:
    """gVisor's /proc is its own kernel's: what it shows counts this sandbox, not the machine."""
    assert result.succeeded, describe(result)
    shown = dict(line.split(" ", 1) for line in result.text.splitlines())
    assert shown["/proc/stat"].startswith("'cpu  0 0 0 0 0 0 0 0 0 0"), shown["/proc/stat"]
    assert shown["/proc/loadavg"] == "'0.00 0.00 0.00 0/0 0\\n'", shown["/proc/loadavg"]
    # /proc/cgroups lists gVisor's own cgroups, /proc/meminfo and /proc/uptime its own memory
    # and time; every other counter is missing.
    its_own = ("/proc/stat", "/proc/loadavg", "/proc/meminfo", "/proc/uptime", "/proc/cgroups")
    for path, seen in shown.items():
        if path not in its_own:
            assert seen in ("FileNotFoundError", "PermissionError"), (path, seen)


def _cut_error(total: str) -> Check:
    """An error of `total` ('e' repeated): cut to its first and last 32 KiB, saying so."""

    def check(result: RunResult) -> None:
        note = f"\n[error cut at 64 KiB: it was {total}; its middle is left out]\n"
        assert note in result.runtime_error, result.runtime_error[-200:]
        assert len(result.runtime_error.encode()) == (64 << 10) + len(note)
        assert result.runtime_error.endswith("e" * 1000), result.runtime_error[-200:]

    return check


def _cut_output_error(name: str, total: str) -> Check:
    """The run succeeded without the output, whose error is cut as a runtime error is."""

    def check(result: RunResult) -> None:
        assert result.succeeded, describe(result)
        assert set(result.output_errors) == {name}, describe(result)
        drawn = sorted(set(result.outputs) - {"gpu.png", "glinfo.txt"})  # the GPU's, if any
        assert drawn == ["cpu.png", "skp.skp"], sorted(result.outputs)
        note = f"\n[error cut at 64 KiB: it was {total}; its middle is left out]\n"
        error = result.output_errors[name]
        assert note in error and len(error.encode()) == (64 << 10) + len(note)

    return check


def _tampered_text_cut(result: RunResult) -> None:
    assert result.runtime_error == tampered("output cpu.png is missing"), describe(result)
    assert result.text.endswith("\n[output cut at 1 MiB: the program printed 30.0 MiB]")
    assert not result.outputs


def _unnamed_syscall(number: int) -> Attack:
    return Attack(
        f"unnamed_syscall_{number}", "host",
        f"import ctypes\nctypes.CDLL(None).syscall({number}, 0, 0, 0)\n",
        error(forbidden(syscall_label(number))),
    )  # fmt: skip


def _signal(signo: int, name: str) -> Attack:
    return Attack(
        f"signal_{signo}", "host", f"import os\nos.kill(os.getpid(), {signo})\n",
        error(killed_by(signo, name)),
    )  # fmt: skip


def _frame(name: str, data: str, check: Check) -> Attack:
    """`data` (an expression of TO_RESULT_PIPE's helpers) down the result pipe, then exit 0."""
    code = TO_RESULT_PIPE + f"to_result_pipe({data})\nos._exit(0)\n"
    return Attack(name, "host", code, check)


def _forged(name: str, code: str, why: str | Check, **options: Any) -> Attack:
    check = error(tampered(why)) if isinstance(why, str) else why
    return Attack(name, "host", FORGE + SCRIPT_PDF + code, check, options=options)


def _stuffed_png(result: RunResult) -> None:
    """A PNG with a 1 MiB text chunk: larger than any 64x64 PNG."""
    start, end = tampered("output cpu.png is "), "bytes, more than a 64x64 PNG can be"
    assert result.runtime_error.startswith(start), describe(result)
    assert result.runtime_error.endswith(end), describe(result)


# fmt: off
HOST_SURVIVES: list[Attack] = [
    *(_unnamed_syscall(n) for n in (999, 462, 458, 1000, 4095, 1 << 20, -1)),
    *(_signal(n, name) for n, name in (
        (40, "SIGRTMIN+6"), (34, "SIGRTMIN"), (50, "SIGRTMIN+16"), (64, "SIGRTMAX"), (32, ""),
        (15, "SIGTERM"), (10, "SIGUSR1"), (1, "SIGHUP"), (3, "SIGQUIT"), (14, "SIGALRM"),
    )),
    Attack(
        "realtime_signal_from_a_thread", "host",
        "import os, threading, time\nthreading.Thread(target=os.kill, args=(os.getpid(), 45))"
        ".start()\ntime.sleep(30)\n",
        error(killed_by(45, "SIGRTMIN+11")),
    ),
    Attack(
        "stop_self", "host wall clock", "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\n",
        error(WALL_ERROR), slow=True,
    ),
    _frame("frame_nested_deep", "framed(b'[' * 100000)", error(tampered("JSON nested too deeply"))),
    _frame(
        "frame_nested_objects", "framed(b'{\"text\":' * 50000)",
        error(tampered("JSON nested too deeply")),
    ),
    _frame(
        "frame_non_ascii_base64",
        "framed(json.dumps({'outputs': {'cpu.png': 'iVBORw0KGgo\\u00e9=='}}).encode())",
        error(tampered("output cpu.png is not base64")),
    ),
    _frame(
        "frame_bad_base64", "framed(json.dumps({'outputs': {'pdf.pdf': 'J*VBERi0'}}).encode())",
        error(tampered("output pdf.pdf is not base64")),
    ),
    _frame(
        "frame_cut_short", "struct.pack('>I', 1000) + b'{\"text\": \"'",
        error(tampered("a frame cut short or with bytes after it")),
    ),
    _frame(
        "frame_claims_4_gib", "struct.pack('>I', 0xFFFFFFFF) + b'{}'",
        error(tampered("a frame cut short or with bytes after it")),
    ),
    _frame("frame_three_bytes", "b'\\x00\\x00\\x01'", error(tampered("not a frame"))),
    _frame(
        "frame_random_bytes", "__import__('random').Random(19).randbytes(100000)",
        error(tampered("a frame cut short or with bytes after it")),
    ),
    _frame("frame_not_utf8", "framed(b'{\"text\": \"\\xff\\xfe\"}')", error(tampered("not JSON"))),
    _frame("frame_not_an_object", "framed(b'[1, 2, 3]')", error(tampered("not a JSON object"))),
    _frame(
        "frame_wrong_type", "framed(b'{\"runtime_error\": 5}')",
        error(tampered("its runtime_error is not a JSON string")),
    ),
    _frame(
        "frame_outputs_not_an_object", "framed(b'{\"outputs\": [\"cpu.png\"]}')",
        error(tampered("its outputs is not a JSON object")),
    ),
    _frame(
        "frame_compile_error_position",
        "framed(json.dumps({'compile_errors': [{'text': 'x', 'line': -1, 'col': 10**30}]})"
        ".encode())",
        error(tampered("a compile error's position is not a line and column")),
    ),
    _frame(
        "frame_many_compile_errors",
        "framed(json.dumps({'compile_errors': [{'text': 'x', 'line': 1, 'col': 1}] * 10**5})"
        ".encode())",
        error(tampered("100000 compile errors")),
    ),
    _frame(
        "forged_sigsys_unknown_number", "b'\\x00SIGSYS 999999\\n'",
        error(forbidden("number 999999")),
    ),
    _frame("forged_sigsys_garbage", "b'\\x00SIGSYS \\xff\\xfe'", error(UNNAMED_SYSCALL_ERROR)),
    _frame(
        "forged_sigsys_huge_number", "b'\\x00SIGSYS ' + b'9' * 100000",
        error(UNNAMED_SYSCALL_ERROR),
    ),
    _frame(
        "frame_huge_text", "framed(json.dumps({'text': 'x' * (30 << 20)}).encode())",
        _tampered_text_cut,
    ),
    _frame(
        "frame_huge_runtime_error",
        "framed(json.dumps({'runtime_error': 'e' * (30 << 20)}).encode())",
        _cut_error("30.0 MiB"),
    ),
    Attack(
        "frame_then_signal", "host",
        TO_RESULT_PIPE + "to_result_pipe(framed(b'{}'))\nos.kill(os.getpid(), 40)\n",
        error(killed_by(40, "SIGRTMIN+6")),
    ),
    Attack(
        "huge_runtime_error", "host", "raise ValueError('e' * (20 << 20))\n",
        _cut_error("20.0 MiB"),
    ),
    # A crash says in which pass it happened (the child marks each pass before it begins).
    Attack(
        "segfault_in_the_skp_pass", "host",
        "import ctypes\ndef draw(canvas):\n"
        "    if fiddle_pass == 'skp':\n        ctypes.string_at(0)\n",
        error("the program crashed (SIGSEGV) in the skp pass"),
    ),
    Attack(
        "exit_in_the_pdf_pass", "host",
        "import os\ndef draw(canvas):\n    if fiddle_pass == 'pdf':\n        os._exit(0)\n",
        error("the program exited before finishing (status 0) in the pdf pass"),
    ),
    _frame(
        "frame_pass_mark_only", "framed(b'{\"pass\":\"pdf\"}')",
        error("the program exited before finishing (status 0) in the pdf pass"),
    ),
    _frame(
        "frame_many_pass_marks", "framed(b'{\"pass\":\"pdf\"}') * 100000",
        error(tampered("a frame cut short or with bytes after it")),
    ),
    Attack(
        "frame_pass_mark_with_markup_then_crash", "host",
        TO_RESULT_PIPE + "to_result_pipe(framed(b'{\"pass\":\"<b>raster</b>\"}'))\n"
        "os.kill(os.getpid(), 11)\n",
        error("the program crashed (SIGSEGV)"),
    ),
]

FORGED_RESULTS: list[Attack] = [
    _forged(
        "forged_gpu_png", "put('gpu.png', png(32, 32))", "output gpu.png is 32x32, not 64x64",
    ),
    _forged(
        "forged_gl_info", "put('glinfo.txt', b'GL Renderer: a GPU of its own\\n')",
        "output glinfo.txt is not the GL info of the runner's GPU",
    ),
    _forged(
        "forged_cpu_webm", "put('cpu.webm', b'\\x1aE\\xdf\\xa3' + bytes(100))",
        "output cpu.webm is not one this run produces",
    ),
    _forged(
        "forged_source_png_in_a_draw", "put('source.png', png(64, 64))",
        "output source.png is not one this run produces",
    ),
    _forged(
        "forged_html_as_png", "put('cpu.png', b'<html><script>alert(1)</script></html>')",
        "output cpu.png is not a PNG",
    ),
    _forged(
        "forged_png_of_another_size", "put('cpu.png', png(32, 32))",
        "output cpu.png is 32x32, not 64x64",
    ),
    _forged(
        "forged_png_with_html_after_its_end", "put('cpu.png', png(64, 64) + b'<script>')",
        "output cpu.png has bytes after its PNG end",
    ),
    _forged(
        "forged_png_header", "data = bytearray(png(64, 64))\ndata[20] ^= 1\nput('cpu.png', data)",
        "output cpu.png has no valid PNG header",
    ),
    _forged(
        "forged_png_without_end", "put('cpu.png', png(64, 64)[:-12])",
        "output cpu.png is a PNG without an end",
    ),
    _forged(
        "forged_png_stuffed",
        "import struct, zlib\ndata = png(64, 64)\nbody = b'tEXt' + b'x' * (1 << 20)\n"
        "chunk = struct.pack('>I', len(body) - 4) + body + struct.pack('>I', zlib.crc32(body))\n"
        "put('cpu.png', data[:33] + chunk + data[33:])",
        _stuffed_png,
    ),
    _forged(
        "forged_pdf_with_javascript", "put('pdf.pdf', pdf())",
        "output pdf.pdf carries /JavaScript, a PDF action Skia never writes",
    ),
    _forged(
        "forged_pdf_with_escaped_names",
        "put('pdf.pdf', pdf(b'/Open#41ction 4 0 R', b'/S /J#61va#53cript /JS (app.alert(1))'))",
        "output pdf.pdf carries /JavaScript, a PDF action Skia never writes",
    ),
    _forged(
        "forged_pdf_launch", "put('pdf.pdf', pdf(b'', b'/S /Launch /F (/bin/sh)'))",
        "output pdf.pdf carries /Launch, a PDF action Skia never writes",
    ),
    _forged(
        "forged_pdf_object_stream", "put('pdf.pdf', pdf(b'', b'/Type /ObjStm /N 1 /First 4'))",
        "output pdf.pdf carries /ObjStm, a PDF action Skia never writes",
    ),
    _forged(
        "forged_html_as_pdf", "put('pdf.pdf', b'<html><script>alert(1)</script>')",
        "output pdf.pdf is not a PDF",
    ),
    _forged("forged_skp", "put('skp.skp', b'<html>')", "output skp.skp is not an SKP"),
    _forged(
        "forged_text", "print('hello')\nput('txt.txt', b'<script>alert(1)</script>')",
        "output txt.txt is not the text the run printed",
    ),
    _forged(
        "forged_text_output_without_text", "put('txt.txt', b'<script>')",
        "output txt.txt is not one this run produces",
    ),
    _forged(
        "forged_outputs_of_a_failed_run",
        "forge(lambda fields: fields.update(runtime_error='it failed'))",
        "output cpu.png is not one this run produces",
    ),
    _forged(
        "forged_missing_output", "forge(lambda fields: fields['outputs'].pop('cpu.png'))",
        "output cpu.png is missing",
    ),
    _forged(
        "forged_png_in_a_text_only_run", "print('x')\nput('cpu.png', png(64, 64))",
        "output cpu.png is not one this run produces", text_only=True,
    ),
    # The limits a program reports by kind: only those it can reach inside itself, each with the
    # policy's number, never the program's.
    _forged(
        "forged_limit_of_the_host", "forge(lambda fields: fields.update(limit={'kind': 'wall'}))",
        "its limit is not one a program reports",
    ),
    _forged(
        "forged_limit_not_an_object", "forge(lambda fields: fields.update(limit='memory'))",
        "its limit is not one a program reports",
    ),
    _forged(
        "forged_limit_with_a_long_detail",
        "forge(lambda fields: fields.update(limit={'kind': 'syscall', 'detail': 'x' * 100000}))",
        "its limit's detail is not a short string",
    ),
    _forged(
        "forged_limit_with_outputs",
        "forge(lambda fields: fields.update(limit={'kind': 'memory'}))",
        "output cpu.png is not one this run produces",
    ),
    _forged(
        "forged_limit_value",
        "forge(lambda fields: fields.update(limit={'kind': 'memory', 'value': 1}, outputs={}))",
        error(MEMORY_ERROR),
    ),
    # Output errors: only an output that stands alone (not the raster), only one this run
    # renders and does not also send, only in a run that succeeded.
    _forged(
        "forged_error_of_the_raster",
        "forge(lambda f: (f['outputs'].pop('cpu.png'), f.update(output_errors={'raster': 'x'})))",
        "its output_errors name raster, whose failure fails the run",
    ),
    _forged(
        "forged_error_of_an_output_not_rendered",
        "forge(lambda f: f.update(output_errors={'animation': 'x'}))",
        "its output_errors name 'animation', which is no output this run renders",
    ),
    _forged(
        "forged_error_of_an_unknown_output",
        "forge(lambda f: f.update(output_errors={'evil.html': 'x'}))",
        "its output_errors name an unknown output 'evil.html'",
    ),
    _forged(
        "forged_output_error_not_a_string", "forge(lambda f: f.update(output_errors={'pdf': 5}))",
        "its output error of pdf is not a JSON string",
    ),
    _forged(
        "forged_output_errors_not_an_object",
        "forge(lambda f: f.update(output_errors=['pdf']))",
        "its output_errors is not a JSON object",
    ),
    _forged(
        "forged_error_beside_its_output", "forge(lambda f: f.update(output_errors={'pdf': 'x'}))",
        "output pdf.pdf is not one this run produces",
    ),
    _forged(
        "forged_output_error_of_a_failed_run",
        "forge(lambda f: f.update(runtime_error='it failed', outputs={}, "
        "output_errors={'pdf': 'x'}))",
        "its output_errors name 'pdf', which is no output this run renders",
    ),
    Attack(
        # What a program could have done genuinely (raise in its PDF pass), within the error cap.
        "forged_huge_output_error", "host",
        FORGE + "forge(lambda f: (f['outputs'].pop('pdf.pdf'), "
        "f.update(output_errors={'pdf': 'e' * (20 << 20)})))\n",
        _cut_output_error("pdf", "20.0 MiB"),
    ),
    Attack(
        "forged_huge_runtime_error", "host",
        FORGE + "forge(lambda fields: fields.update(runtime_error='e' * (20 << 20), outputs={}))\n",
        _cut_error("20.0 MiB"),
    ),
]

ARGUMENT_WIDTHS: list[Attack] = [
    Attack(
        "other_signal_handler_high_bits", "seccomp",
        LIBC + f"print(syscall({syscall_number('rt_sigaction')}, 10 | {HIGH}, 0, 0, 8))\n",
        prints("0"),
    ),
    Attack(
        "kill_parent_high_bits", "seccomp",
        LIBC + f"import os\nsyscall({syscall_number('kill')}, os.getppid() | {HIGH}, 9)\n",
        error(forbidden("kill")),
    ),
    Attack(
        "kill_all_high_bits", "seccomp",
        LIBC + f"syscall({syscall_number('kill')}, 0xFFFFFFFF | {HIGH}, 9)\n",
        error(forbidden("kill")),
    ),
    Attack(
        # The kernel reads the low 32 bits: its own pid, which it may signal (signal 0: a check).
        "kill_self_high_bits", "seccomp",
        LIBC + f"import os\nprint(syscall({syscall_number('kill')}, os.getpid() | {HIGH}, 0))\n",
        prints("0"),
    ),
    Attack(
        "tgkill_parent_high_bits", "seccomp",
        LIBC + "import os\nparent = os.getppid()\n"
        f"syscall({syscall_number('tgkill')}, parent | {HIGH}, parent, 9)\n",
        error(forbidden("tgkill")),
    ),
    Attack(
        # CLONE_THREAD only in the high half: the kernel sees a fork.
        "clone_thread_flag_in_high_half", "seccomp",
        LIBC + f"print(syscall({syscall_number('clone')}, (0x10000 << 32) | 17, 0, 0, 0, 0))\n",
        error(forbidden("clone")),
    ),
    Attack(
        "openat_write_high_bits", "seccomp",
        LIBC + f"print(syscall({syscall_number('openat')}, {AT_FDCWD}, b'/tmp/x', 0x41 | {HIGH},"
        " 0o644))\n",
        error(forbidden("openat")),
    ),
    Attack(
        # High bits alone: the kernel opens read-only, which is allowed.
        "openat_read_high_bits", "seccomp",
        LIBC + f"print(syscall({syscall_number('openat')}, {AT_FDCWD}, b'/usr/lib/os-release', "
        f"{HIGH}, 0) > 2)\n",
        prints("True"),
    ),
    Attack(
        "futex_private_flag_in_high_half", "seccomp",
        SHARED_FILE_FUTEX + f"syscall({FUTEX}, word, {FUTEX_WAKE} | ({FUTEX_PRIVATE_FLAG} << 32),"
        " 1, 0, 0, 0)\n",
        error(forbidden("futex")),
    ),
]
# A SIGSYS handler of the program's own (x86-64: a restorer that calls rt_sigreturn), installed
# with the signal number's high bits set; with it, forbidden calls would no longer end the run.
OWN_SIGSYS_HANDLER = LIBC + """
import mmap, socket
page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(bytes.fromhex('b80f0000000f05'))  # mov eax, 15 (rt_sigreturn); syscall
restorer = ctypes.addressof(ctypes.c_char.from_buffer(page))
handler = ctypes.CFUNCTYPE(None, ctypes.c_int)(lambda signo: None)
action = (ctypes.c_ulong * 4)(ctypes.cast(handler, ctypes.c_void_p).value, 0x04000000, restorer)
print(syscall(13, 31 | HIGH_BITS, action, 0, 8))
socket.socket()
print('a forbidden call went unnoticed')
"""
if platform.machine() == "x86_64":  # `open`, and the restorer's machine code, are x86-64's
    ARGUMENT_WIDTHS.append(Attack(
        "open_write_high_bits", "seccomp",
        LIBC + f"print(syscall(2, b'/tmp/x', 0x41 | {HIGH}, 0o644))\n", error(forbidden("open")),
    ))
    ARGUMENT_WIDTHS += [
        Attack(
            f"own_sigsys_handler_high_bits_{high:x}", "seccomp",
            OWN_SIGSYS_HANDLER.replace("HIGH_BITS", str(high)), error(forbidden("rt_sigaction")),
        )
        for high in (HIGH, 0xFFFFFFFF << 32, 1 << 63)
    ]

WATCHING_OTHERS: list[Attack] = [
    Attack(
        "read_sys", "container",
        tried(f"""
        import os
        for path in {SYS_FILES!r}:
            attempt(path, lambda: open(path, 'rb').read(1))
        for path in ('/sys', '/sys/fs/cgroup', '/sys/fs/cgroup/cpuacct'):
            attempt(path, lambda: os.listdir(path))
        """),
        _counters_refused,
    ),
    Attack(
        "machine_counters_in_proc", "container",
        f"""
        for path in {MACHINE_COUNTERS!r}:
            try:
                print(path, repr(open(path).read(40)))
            except OSError as error:
                print(path, type(error).__name__)
        """,
        lambda r: _all_refused(r, ("PermissionError", "FileNotFoundError")),
        by_backend={"runsc": _gvisor_counts_its_own},
    ),
    Attack(
        "sysinfo", "seccomp",
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print(libc.sysinfo(ctypes.create_string_buffer(512)), ctypes.get_errno())\n",
        prints("-1 38"),
    ),
    Attack(
        "shared_futex_wake_on_a_file", "seccomp",
        SHARED_FILE_FUTEX + f"print(syscall({FUTEX}, word, {FUTEX_WAKE}, 1, 0, 0, 0))\n",
        error(forbidden("futex")),
    ),
    Attack(
        "shared_futex_wait_on_a_file", "seccomp",
        SHARED_FILE_FUTEX + "timeout = (ctypes.c_long * 2)(0, 1000)\n"
        f"print(syscall({FUTEX}, word, {FUTEX_WAIT}, value, timeout, 0, 0))\n",
        error(forbidden("futex")),
    ),
    Attack(
        "futex_waitv", "seccomp",
        SHARED_FILE_FUTEX + "waiter = (ctypes.c_uint64 * 3)(value, word, 2)  # FUTEX_32, shared\n"
        f"print(syscall({syscall_number('futex_waitv')}, waiter, 1, 0, 0, 1))\n",
        error(forbidden("futex_waitv")),
    ),
    Attack(
        "private_futexes_still_work", "seccomp", PRIVATE_FUTEXES,
        prints("[0, 1, 2] 328350 False"),
    ),
]
# fmt: on
ATTACKS += HOST_SURVIVES + FORGED_RESULTS + ARGUMENT_WIDTHS + WATCHING_OTHERS

# Kernel interfaces that no fiddle needs: each must be refused by the filter and named.
FORBIDDEN_SYSCALLS = (
    "mount", "umount2", "unshare", "setns", "bpf", "keyctl", "add_key", "io_uring_setup",
    "process_vm_readv", "process_vm_writev", "perf_event_open", "userfaultfd", "pidfd_open",
    "memfd_create", "seccomp", "pivot_root", "init_module", "kexec_load", "reboot",
    "personality", "capset", "prctl", "open_by_handle_at", "execveat", "fsopen", "move_mount",
    "iopl", "mknod", "swapon", "acct", "sethostname", "vmsplice", "setpriority",
)  # fmt: skip


@pytest.mark.parametrize("attack", [a.param() for a in ATTACKS])
def test_attack(runner: RunnerService, attack: Attack) -> None:
    result = run(runner, attack.code, **attack.options)
    expected = attack.by_backend.get(runner.backend.name, attack.check)
    if not isinstance(expected, str):
        expected(result)
        return
    try:
        attack.check(result)
    except AssertionError:
        pytest.xfail(f"known gap under {runner.backend.name}: {expected}")
    pytest.fail(f"contained now under {runner.backend.name}: remove its by_backend entry")


@pytest.mark.parametrize("name", FORBIDDEN_SYSCALLS)
def test_forbidden_syscall(runner: RunnerService, name: str) -> None:
    number = syscall_number(name)
    if number < 0:
        pytest.skip(f"{name} does not exist on {platform.machine()}")
    result = run(runner, f"import ctypes\nctypes.CDLL(None).syscall({number}, 0, 0, 0, 0, 0)\n")
    assert result.runtime_error == forbidden(name), describe(result)


# --------------------------------------------------------------------------------------------
# Runs seeing each other


def test_concurrent_runs_cannot_see_each_other(runner: RunnerService) -> None:
    """Two runs at once (on the two hosts): the second looks everywhere for the first."""
    marker = uuid.uuid4().hex
    sleeper = f"import os, time\nsecret = {marker!r}\nprint(os.getuid())\ntime.sleep(2)\n"
    seeker = f"""
    import os
    wanted = {marker[::-1]!r}[::-1]
    me = str(os.getpid())
    uids, found = set(), []
    for pid in (p for p in os.listdir('/proc') if p.isdigit() and p != me):
        for what in ('cmdline', 'environ', 'status'):
            try:
                with open(f'/proc/{{pid}}/{{what}}', 'rb') as handle:
                    data = handle.read()
            except OSError:
                continue
            if what == 'status':
                uids.add(int(data.split(b'Uid:')[1].split()[0]))
            if wanted.encode() in data:
                found.append(pid)
    for directory in ('/tmp', '/dev/shm', '/var/tmp', '/run'):
        try:
            found += [n for n in os.listdir(directory) if wanted in n]
        except OSError:
            pass
    print(os.getuid(), sorted(uids), found)
    """
    results: dict[str, RunResult] = {}
    first = threading.Thread(target=lambda: results.__setitem__("sleeper", run(runner, sleeper)))
    first.start()
    time.sleep(0.5)
    results["seeker"] = run(runner, seeker)
    first.join()
    assert results["sleeper"].succeeded, describe(results["sleeper"])
    sleeper_uid = int(results["sleeper"].text.split()[0])
    assert results["seeker"].succeeded, describe(results["seeker"])
    own_uid, rest = results["seeker"].text.split(" ", 1)
    assert rest.strip() == "[0] []", describe(results["seeker"])
    assert int(own_uid) != sleeper_uid


def test_runs_cannot_wake_each_other_through_a_shared_file_futex(runner: RunnerService) -> None:
    """Two runs at once (on the two hosts, in two containers) meet on a futex word in a file both
    map: one waits, the other wakes. Shared futexes are refused, so neither gets that far."""
    waiter = SHARED_FILE_FUTEX + (
        "timeout = (ctypes.c_long * 2)(5, 0)\n"
        f"print(syscall({FUTEX}, word, {FUTEX_WAIT}, value, timeout, 0, 0), ctypes.get_errno())\n"
    )
    waker = SHARED_FILE_FUTEX + (
        "import time\nwoken = 0\nfor _ in range(40):\n"
        f"    woken += max(syscall({FUTEX}, word, {FUTEX_WAKE}, 1, 0, 0, 0), 0)\n"
        "    time.sleep(0.1)\nprint(woken)\n"
    )
    results: dict[str, RunResult] = {}
    first = threading.Thread(target=lambda: results.__setitem__("waiter", run(runner, waiter)))
    first.start()
    time.sleep(0.5)
    results["waker"] = run(runner, waker)
    first.join()
    for name, result in results.items():
        assert result.runtime_error == forbidden("futex"), (name, describe(result))


def test_later_runs_cannot_read_earlier_runs(runner: RunnerService) -> None:
    """What one run sent or printed must not be left anywhere a later child can read it: not in
    live objects and not in freed memory of the process it was forked from."""
    secret = uuid.uuid4().hex
    writer = f"# Q7XK{secret}\nprint(('Q7XK' + {secret!r} + ' ') * 20000)\n"
    assert run(runner, writer).succeeded
    # The seeker knows only a hash of the secret, so it cannot find its own copy of it.
    digest = hashlib.sha256(secret.encode()).hexdigest()
    seeker = f"""
    import ctypes, gc, hashlib
    digest, prefix = {digest!r}, b'Q7X' + b'K'
    hits = 0
    for thing in gc.get_objects():
        values = thing.values() if isinstance(thing, dict) else thing
        if not isinstance(thing, (dict, list, tuple)):
            continue
        for value in values:
            if isinstance(value, str) and 'Q7XK' in value:
                start = value.index('Q7XK') + 4
                hits += hashlib.sha256(value[start:start + 32].encode()).hexdigest() == digest
    with open('/proc/self/maps') as maps:
        regions = [line.split() for line in maps]
    for region in regions:
        if not region[1].startswith('rw') or region[-1].startswith(('[vvar', '[vsys')):
            continue
        start, end = (int(x, 16) for x in region[0].split('-'))
        memory = ctypes.string_at(start, end - start)
        at = memory.find(prefix)
        while at >= 0:
            hits += hashlib.sha256(memory[at + 4:at + 36]).hexdigest() == digest
            at = memory.find(prefix, at + 1)
    print(hits)
    """
    for _ in range(runner.pool.size * 2):  # every host, twice
        result = run(runner, seeker)
        assert result.succeeded and result.text == "0\n", describe(result)


# --------------------------------------------------------------------------------------------
# The GPU: every child renders on the GL context its host made before the zygote was forked

# The program's own ctypes view of GL: libGL's exported functions, which dispatch to the context
# current on the thread, the one the child inherited. (Entry points looked up through
# eglGetProcAddress in a forked child do nothing: glvnd forgets its EGL state on fork.)
GL_HELPER = """
import ctypes
egl = ctypes.CDLL('libEGL.so.1')
libgl = ctypes.CDLL('libGL.so.1')
U, I, P = ctypes.c_uint, ctypes.c_int, ctypes.c_void_p
def gl(name, result, *arguments):
    function = getattr(libgl, name)
    function.restype, function.argtypes = result, list(arguments)
    return function
GenTextures = gl('glGenTextures', None, I, P)
BindTexture = gl('glBindTexture', None, U, U)
TexImage2D = gl('glTexImage2D', None, U, I, I, I, I, I, U, U, P)
GenFramebuffers = gl('glGenFramebuffers', None, I, P)
BindFramebuffer = gl('glBindFramebuffer', None, U, U)
FramebufferTexture2D = gl('glFramebufferTexture2D', None, U, U, U, U, I)
CheckFramebufferStatus = gl('glCheckFramebufferStatus', U, U)
ReadPixels = gl('glReadPixels', None, I, I, I, I, U, U, P)
IsTexture = gl('glIsTexture', ctypes.c_ubyte, U)
TEXTURE_2D, RGBA, UNSIGNED_BYTE, FRAMEBUFFER, COLOR0 = 0xDE1, 0x1908, 0x1401, 0x8D40, 0x8CE0
def read_texture(name, size):
    framebuffer = U()
    GenFramebuffers(1, ctypes.byref(framebuffer))
    BindFramebuffer(FRAMEBUFFER, framebuffer.value)
    FramebufferTexture2D(FRAMEBUFFER, COLOR0, TEXTURE_2D, name, 0)
    pixels = (ctypes.c_ubyte * (size * size * 4))()
    if CheckFramebufferStatus(FRAMEBUFFER) == 0x8CD5:
        ReadPixels(0, 0, size, size, RGBA, UNSIGNED_BYTE, pixels)
    BindFramebuffer(FRAMEBUFFER, 0)
    return bytes(pixels)
def new_texture(size, data=None):
    name = U()
    GenTextures(1, ctypes.byref(name))
    BindTexture(TEXTURE_2D, name.value)
    TexImage2D(TEXTURE_2D, 0, RGBA, size, size, 0, RGBA, UNSIGNED_BYTE, data)
    return name.value
"""
# A colour no warm-up draws: where another run's pixels would show.
GPU_MARKER = (0x13, 0x57, 0x9B, 0xFF)
# The runner's own GrDirectContext, taken by the program from the runner's module in its process.
FIND_CONTEXT = """
import sys
context = sys.modules['runner_vm.drawing.gl'].direct_context()
"""
GPU_MARKER_PAINTER = FIND_CONTEXT + """
def draw(canvas):
    canvas.clear(skia.Color(0x13, 0x57, 0x9B))
    for budgeted in (skia.Budgeted.kYes, skia.Budgeted.kNo):
        surface = skia.Surface.MakeRenderTarget(
            context, budgeted, skia.ImageInfo.MakeN32Premul(256, 256))
        surface.getCanvas().clear(skia.Color(0x13, 0x57, 0x9B))
        surface.flushAndSubmit()
"""
PAINT_HERE = FIND_CONTEXT + """
painted = skia.Surface.MakeRenderTarget(
    context, skia.Budgeted.kYes, skia.ImageInfo.MakeN32Premul(256, 256))
painted.getCanvas().clear(skia.Color(0x13, 0x57, 0x9B))
painted.flushAndSubmit()
"""
GPU_SNOOPER = GL_HELPER + FIND_CONTEXT + f"""
marker = bytes({GPU_MARKER!r})
# The program's own GL works: a texture it fills reads back as filled.
mine = new_texture(8, (ctypes.c_ubyte * 256)(*([7, 8, 9, 255] * 64)))
print('gl works', read_texture(mine, 8) == bytes([7, 8, 9, 255] * 64))
found = []
# Every texture name GL has handed out in this process (Skia's, the warm-up's, freed ones).
for name in range(1, 200):
    if IsTexture(name) and marker in read_texture(name, 256):
        found.append('texture %d' % name)
# New storage, never written: textures, and GPU surfaces of Skia on a context of its own.
for size in (64, 256, 512):
    if marker in read_texture(new_texture(size), size):
        found.append('new texture %d' % size)
for budgeted in (skia.Budgeted.kNo, skia.Budgeted.kYes):
    info = skia.ImageInfo.MakeN32Premul(256, 256)
    surface = skia.Surface.MakeRenderTarget(context, budgeted, info)
    pixels = surface.makeImageSnapshot().makeRasterImage().tobytes()
    if marker in bytes(pixels):
        found.append('new surface')
# The default framebuffer (a surfaceless context has none).
pixels = (ctypes.c_ubyte * (256 * 256 * 4))()
BindFramebuffer(FRAMEBUFFER, 0)
ReadPixels(0, 0, 256, 256, RGBA, UNSIGNED_BYTE, pixels)
if marker in bytes(pixels):
    found.append('default framebuffer')
print('found', found)
"""


def test_no_run_reads_another_runs_gpu_pixels(runner: RunnerService) -> None:
    """Run A fills its GPU canvas and a GPU surface of its own with a marker colour; then runs
    on every host read every texture name GL has handed out, new textures, new Skia surfaces and
    the default framebuffer through the program's own ctypes GL: the marker is never there.
    (Each child is a copy of a zygote that drew only the fixed warm-up; llvmpipe zero-fills.)"""
    assert run(runner, GPU_MARKER_PAINTER).outputs["gpu.png"]
    # The snooper finds the marker where it is: in a texture its own process painted.
    control = run(runner, PAINT_HERE + GPU_SNOOPER)
    assert "found ['texture" in control.text, describe(control)
    for _ in range(runner.pool.size * 2):  # every host, twice
        assert run(runner, GPU_MARKER_PAINTER, width=256, height=256).succeeded
        result = run(runner, GPU_SNOOPER)
        assert result.succeeded, describe(result)
        assert result.text == "gl works True\nfound []\n", describe(result)


GPU_LOST = (
    "the GPU's pixels could not be read back: a program that calls EGL itself loses the GL "
    "context it was given"
)


def gpu_failed_alone(result: RunResult) -> None:
    """The GPU pass failed with the runner's sentence; the run and its other outputs stand."""
    assert result.succeeded, describe(result)
    assert result.output_errors == {"gpu": GPU_LOST}, describe(result)
    assert "gpu.png" not in result.outputs and "cpu.png" in result.outputs, sorted(result.outputs)


def prints_before_failing(*lines: str) -> Check:
    def check(result: RunResult) -> None:
        assert result.text.splitlines() == list(lines), describe(result)

    return check


GPU_ATTACKS = [
    Attack(
        # glvnd forgets its EGL state in a forked child at its first EGL call: the program sees
        # no current context or display, and has lost the inherited one, so its GPU output
        # fails alone with a sentence that says why (its other outputs stand).
        "gl_context_handles", "container",
        GL_HELPER + textwrap.dedent("""
        egl.eglGetCurrentContext.restype = ctypes.c_void_p
        egl.eglGetCurrentDisplay.restype = ctypes.c_void_p
        current = egl.eglGetCurrentContext(), egl.eglGetCurrentDisplay()
        print('context', bool(current[0]), 'display', bool(current[1]))
        """),
        lambda result: (
            gpu_failed_alone(result),
            prints_before_failing("context False display False")(result),
        ),
    ),
    Attack(
        # A second EGL context and a Skia context, made by the program: EGL refuses the context
        # and Skia finds no GL to make one on (glvnd forgot its EGL state in the fork, and
        # functions looked up after it do nothing); the run's own GPU output still renders.
        "gl_new_context", "seccomp",
        """
        import ctypes
        egl = ctypes.CDLL('libEGL.so.1')
        for name in ('eglGetCurrentDisplay', 'eglCreateContext', 'eglGetCurrentContext'):
            getattr(egl, name).restype = ctypes.c_void_p
        egl.eglCreateContext.argtypes = [ctypes.c_void_p] * 4
        egl.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
        display = egl.eglGetCurrentDisplay()
        made = egl.eglCreateContext(display, None, None, None)
        print('made', bool(made), 'current', bool(egl.eglMakeCurrent(display, None, None, made)))
        print('skia', skia.GrDirectContext.MakeGL(skia.GrGLInterface.MakeEGL()))
        """,
        lambda result: (
            gpu_failed_alone(result),
            prints_before_failing("made False current False", "skia None")(result),
        ),
    ),
    Attack(
        # Mesa with its threads: a new display would name its threads with prctl, refused.
        "gl_threads_through_the_environment", "seccomp",
        """
        import ctypes, os
        os.environ['LP_NUM_THREADS'] = '4'
        os.environ['MESA_SHADER_CACHE_DISABLE'] = 'false'
        egl = ctypes.CDLL('libEGL.so.1')
        egl.eglGetPlatformDisplay.restype = ctypes.c_void_p
        egl.eglGetPlatformDisplay.argtypes = [ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        display = egl.eglGetPlatformDisplay(0x31DD, None, None)
        egl.eglInitialize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        print('initialised', egl.eglInitialize(display, None, None))
        """,
        # A display of its own, initialised with threads asked for: Mesa starts its rasteriser
        # threads only with a context, and opens no cache; the inherited context is lost.
        lambda result: (gpu_failed_alone(result), prints_before_failing("initialised 1")(result)),
    ),
    Attack(
        "no_dri_devices", "container",
        """
        import os
        gpu = [n for n in os.listdir('/dev') if n.startswith(('dri', 'card', 'render', 'nvidia'))]
        print(os.path.exists('/dev/dri'), gpu)
        """,
        prints("False []"),
    ),
    Attack(
        "gpu_surface_too_large", "python",
        FIND_CONTEXT + textwrap.dedent("""
        info = skia.ImageInfo.Make(30000, 30000, skia.kRGBA_F16_ColorType, skia.kPremul_AlphaType)
        print(skia.Surface.MakeRenderTarget(context, skia.Budgeted.kNo, info, 4) is None)
        """),
        prints("True"),
    ),
    Attack(
        # A big offscreen target on the GPU (the largest the options allow, 4x MSAA, F16) is
        # within the memory limit, or refused by it: never a crash.
        "gpu_offscreen_largest", "rlimit",
        """
        def draw(canvas):
            offscreen.getCanvas().drawCircle(1000, 1000, 900, skia.Paint(AntiAlias=True))
            canvas.drawImage(offscreen.makeImageSnapshot(), 0, 0)
        """,
        lambda result: (result.succeeded or result.runtime_error == MEMORY_ERROR)
        or pytest.fail(describe(result)),
        options={
            "offscreen": True, "offscreen_width": 2048, "offscreen_height": 2048,
            "offscreen_sample_count": 4, "offscreen_texturable": True, "srgb": True,
            "f16": True,
        },
    ),
    Attack(
        # The whole animation, on the CPU and the GPU, is under the one CPU limit of the run.
        "animation_past_the_cpu_limit", "rlimit",
        """
        def draw(canvas):
            for i in range(4000):
                canvas.drawCircle(i % 64, i % 61, 30, skia.Paint(AntiAlias=True))
        """,
        error_in(
            f"{CPU_ERROR} (the limit covers the whole animation: 601 frames on the CPU and 601 "
            "on the GPU, their encoding, and the other outputs)",
            WALL_ERROR,
        ),
        options={"animated": True, "duration": 10},
        slow=True,
    ),
]


@pytest.mark.parametrize("attack", [a.param() for a in GPU_ATTACKS])
def test_gpu_attack(runner: RunnerService, attack: Attack) -> None:
    """The runner has a GPU here (the attacks would prove nothing without one)."""
    assert runner.describe().gpu.available, runner.describe().gpu.reason
    test_attack(runner, attack)


# --------------------------------------------------------------------------------------------
# Hosts: crashes, outside kills, cgroups


def test_crashing_children_never_take_the_host_down(runner: RunnerService) -> None:
    hosts = {id(h.process) for h in list(runner.pool._idle.queue)}
    for code in ("import ctypes\nctypes.string_at(0)\n", "import os\nos.abort()\n"):
        for _ in range(runner.pool.size):
            assert run(runner, code).runtime_error.startswith("the program crashed")
    assert {id(h.process) for h in list(runner.pool._idle.queue)} == hosts


def test_host_killed_from_outside_is_replaced(runner: RunnerService) -> None:
    before = runner.pool.replaced
    victims = list(runner.pool._idle.queue)
    for host in victims:
        os.kill(host.process.pid, 9)
        host.process.wait(timeout=10)
    # Every run still succeeds: a dead host is noticed and replaced before it is given a run.
    for _ in range(runner.pool.size * 2):
        result = run(runner, HEALTHY)
        assert result.succeeded, describe(result)
    assert runner.pool.replaced == before + len(victims)
    survivors = {id(h) for h in list(runner.pool._idle.queue)}
    assert not survivors & {id(h) for h in victims}
    # The health check after this test must not count these replacements as deaths.
    runner.pool.replaced = before


def assert_runsc_cgroups(runner: RunnerService, mounted: set[str]) -> None:
    """runsc makes cgroups of its own per container, with the limits of its OCI spec."""
    from runner_vm.sandbox.runsc import SANDBOX_PIDS

    backend: Any = runner.backend
    live = [cid for cid in backend.started if cid in backend._watchers]
    assert len(live) >= runner.pool.size, live
    for container_id in live:
        for controller in mounted:
            directory = Path(f"/sys/fs/cgroup/{controller}/{container_id}")
            if controller == "pids":
                assert (directory / "pids.max").read_text().strip() == str(SANDBOX_PIDS)
            else:
                limit = int((directory / "memory.limit_in_bytes").read_text())
                assert limit == backend._memory_limit()


def test_hosts_run_in_their_own_cgroups(runner: RunnerService) -> None:
    mounted = {c for c in ("pids", "memory") if Path(f"/sys/fs/cgroup/{c}/cgroup.procs").exists()}
    if not mounted:
        pytest.skip("no cgroup v1 pids or memory controller here")
    if runner.backend.name == "runsc":
        assert_runsc_cgroups(runner, mounted)
        return
    for host in list(runner.pool._idle.queue):
        for controller in mounted:
            path = placement(host.process.pid)[controller]
            assert "/fiddle/" in path, (controller, path)
            directory = Path(f"/sys/fs/cgroup/{controller}{path}")
            if controller == "pids":
                assert (directory / "pids.max").read_text().strip() == str(LIMITS.cgroup_pids)
                # the container's processes (host, zygote, spare child) are in it too
                assert int((directory / "pids.current").read_text()) >= 3
            else:
                limit = int((directory / "memory.limit_in_bytes").read_text())
                assert limit == LIMITS.cgroup_memory_mib << 20


def test_signals_act_as_in_a_fresh_python_however_the_runner_was_started(
    runner: RunnerService, tmp_path: Path
) -> None:
    """Under `nohup` SIGHUP is ignored, and a signal blocked by the starting thread stays blocked
    in every process started from it: a runner started so must still give its programs the
    default action of each signal (a CI run under nohup let `os.kill(os.getpid(), 1)` pass)."""
    import signal

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        with started_runner(runner.backend.name, POLICY, tmp_path, pool_size=1) as started:
            guard(started)
            for signo, name in ((signal.SIGHUP, "SIGHUP"), (signal.SIGUSR1, "SIGUSR1")):
                result = run(started, f"import os\nos.kill(os.getpid(), {int(signo)})\n")
                assert result.runtime_error == killed_by(int(signo), name), describe(result)
            pipe = "import signal\nprint(signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN)\n"
            assert run(started, pipe).text == "True\n", "SIGPIPE ignored, as Python leaves it"
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
        signal.signal(signal.SIGHUP, previous)
