"""Comparing a fiddle's raster output at two Skia builds: the pixel-difference image and the count
of changed pixels the fiddle page's compare view shows.

The runner computes it, in the sandbox (the `diff_images` task, runner_vm/drawing/compare.py):
both PNGs came from user programs, and decoding them is what an attacker would aim at, so they
are decoded where uploads are, in a confined child with no network and no way out. The functions
hold no Skia and no image decoder, and a decoder written here (every PNG filter, in Python) would
be both slow (seconds for a 2048x2048 image) and new attack surface outside any sandbox.

A difference is computed once per pair of runs and stored like any output, under the older run
(functions/storage/layout.py), with its count; it goes when either run's source image does.
"""

from __future__ import annotations

import uuid

from fiddle_protocol import outputs
from fiddle_protocol.checks import BadOutput, changed_and_total
from fiddle_protocol.messages import RunRequest
from fiddle_protocol.options import FiddleOptions
from functions import errors
from functions.fiddles import FiddleRepository, StoredDiff, StoredFiddle
from functions.quotas import ClientKeys, ClientLimits
from functions.runner_client import RunnerClient, RunnerUnavailable

NO_RUNNER = "The difference could not be computed now: no runner is available. Reload to retry."


class NotCompared(errors.FiddleError):
    """The two runs could not be compared; the message says why."""


class Comparisons:
    def __init__(self, fiddles: FiddleRepository, runner: RunnerClient, limits: ClientLimits):
        self.fiddles = fiddles
        self.runner = runner
        self.limits = limits

    def diff(self, fiddle: StoredFiddle, runid: str, other: str, client: ClientKeys) -> StoredDiff:
        """The stored difference of the fiddle's rasters at the two runs, computed (and stored)
        first if it is not there yet. Raises NotCompared."""
        older, newer = sorted((runid, other))
        stored = self.fiddles.diff(fiddle.hash, older, newer)
        if stored is not None:
            return stored
        images = [self._raster(fiddle.hash, run) for run in (older, newer)]
        computed = self._compute(fiddle.options, images[0], images[1], client)
        self.limits.quota.charge(client, len(computed.data))
        self.fiddles.save_diff(fiddle.hash, older, newer, computed)
        return computed

    def _raster(self, digest: str, runid: str) -> bytes:
        data = self.fiddles.output(digest, runid, outputs.RASTER.stored)
        if data is None:
            raise NotCompared(f"The fiddle has no image at build {runid} to compare.")
        return data

    def _compute(
        self, options: FiddleOptions, first: bytes, second: bytes, client: ClientKeys
    ) -> StoredDiff:
        size = FiddleOptions(width=options.width, height=options.height)
        request = RunRequest(
            str(uuid.uuid4()), "", size, first, task=outputs.DIFF_IMAGES, compare_png=second
        )
        try:
            with self.limits.fair_share.slot(client):
                result = self.runner.run(request)
        except RunnerUnavailable as down:
            raise NotCompared(NO_RUNNER, retry_after=down.retry_after) from down
        if result.runtime_error:
            raise NotCompared(f"The images could not be compared: {result.runtime_error}")
        try:
            changed, total = changed_and_total(result.outputs[outputs.DIFF_COUNT.stored], size.size)
        except (KeyError, BadOutput) as error:  # verified by the client already; never here
            raise NotCompared("The runner's comparison could not be read.") from error
        return StoredDiff(result.outputs[outputs.DIFF_IMAGE.stored], changed, total)
