"""The contract between the functions (the web side) and the runner service: what they send each
other and what both must agree on byte for byte.

    options.py   FiddleOptions, the options of a fiddle
    outputs.py   the output registry: every output a run may store, its names, type and check
    checks.py    what each output must be (PNG header and size, PDF without actions, SKP, text)
    messages.py  RunRequest, RunResult (with its structured Limit), RunnerInfo, PROTOCOL_VERSION
    versions.py  Skia builds (BuildInfo) and how a version (HEAD, m87, 87.9, a runid) names one
    signing.py   how the functions sign a request and a runner verifies it

Pure Python with no dependencies: the sandbox host imports it inside its container, and the
functions import it without Skia.
"""
