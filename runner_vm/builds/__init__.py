"""Skia builds on a runner: each an isolated, read-only directory holding one skia-python release
and the packages every build gets beside it (numpy, Pillow: the recipe in
infra/skia-releases.toml), which a sandbox host of that build has first on its path and alone.

    catalog.py   the builds directory: goodbuilds.txt, each build's record, release times, recipe
    usage.py     which builds a runner holds (flock), and deleting those no runner holds
    install.py   `fiddle builds add`: pip into a staging directory, checks, shared files
    smoke.py     the smoke render a build must pass, in a real sandboxed host of it
    decimate.py  which builds go when there are too many (the design's decimation)
    cli.py       `fiddle builds add | list | remove`
"""
