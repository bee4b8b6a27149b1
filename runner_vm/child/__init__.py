"""The child: forked from a host's zygote for one run, confined, then running the request.

main.py      the child's entry: confine, read the request, run it, write the report
confine.py   rlimits, process group, descriptors, throwaway uid, then the seccomp filter
seccomp.py   the policy's filter, compiled once per zygote
refusals.py  Python's process-starting helpers, refused by name before the filter
"""
