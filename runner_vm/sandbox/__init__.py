"""Sandbox backends: how a sandbox host is started inside a container, and what the container
shows it (a minimal read-only root, hidden machine counters, cgroup limits).

    base.py        SandboxBackend, NoSandbox (development), the root of read-only binds
    containers.py  systemd-nspawn and bubblewrap
    runsc.py       gVisor
    cgroups.py     cgroup v1 pids and memory limits around each host
    hiding.py      /sys and the /proc files that count the whole machine, covered
"""
