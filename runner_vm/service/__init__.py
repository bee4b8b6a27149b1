"""The runner service: the process that serves POST /run and keeps a pool of warm sandbox hosts.

runner.py   RunnerService: one Skia build, a sandbox backend, the pool, lifecycle events
pool.py     the warm hosts and the bounded queue in front of them
server.py   the HTTP face (run, version, health, metrics)
events.py   lifecycle events of a run and the hooks that observe them
"""
