"""The sandbox host: a long-lived process inside the container that runs one request at a time in
a fresh child, reads what the child sends back, and judges it (`python -m runner_vm.host`).

    main.py     the serve loop: a run's header and request in, its summary and result out
    zygote.py   the clean process every child is forked from
    collect.py  reading a child's pipe within the wall clock and the output cap
    verdict.py  the child's report -> the RunResult (total: never raises), outputs checked
    framing.py  length-prefixed frames over the pipes
    exchange.py what the runner service and a host say to each other per run
"""
