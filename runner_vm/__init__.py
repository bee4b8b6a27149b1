"""The runner: runs fiddles in sandboxes and answers with what they rendered. It holds no storage
credentials; the functions send it a request and store what comes back (the messages are
fiddle_protocol/messages.py's).

    cli.py       `python -m runner_vm.cli`: the runner service's command line
    policy.py    the sandbox policy (limits, identities, seccomp allowlist, container binds)
    builds.py    the Skia build this runner renders with, and the runid that names its outputs
    cuts.py      the caps on text a run sends back, and the notes that say where a text was cut
    service/     the runner service: HTTP server, the pool of warm sandbox hosts, run events
    sandbox/     the backends that start a host inside a container (nspawn, bubblewrap, runsc)
    host/        the sandbox host, inside the container: forks a child per run from its zygote,
                 reads what the child sends back and judges it (`python -m runner_vm.host`)
    child/       confining a freshly forked child (rlimits, uid, seccomp), then running the request
    drawing/     what the child runs: the user's program, its outputs, decoding uploads (Skia)
"""
