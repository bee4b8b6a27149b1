"""`python -m runner_vm.host <policy JSON> <index> [--hide]`: a sandbox host, started by the pool
(runner_vm/service/pool.py) inside its container."""

from runner_vm.host.main import main

main()
