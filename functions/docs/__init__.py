"""The project's reference in docs/, written from the code that it describes.

`python -m functions.docs` writes every page of docs/ (`--check` only says which are stale; the
meta-tests in tests/fast/test_docs.py fail on a stale page too). Each page is written by one
module here from the declarations it documents: the routes and their policies (routes.py), the
storage layout and the hash (storage.py), the options and their rules (options.py), the
environment variables and flags (configuration.py). What no declaration holds is prose in
partials/, beside the code, edited by hand.
"""
