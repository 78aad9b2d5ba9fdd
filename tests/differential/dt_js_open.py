"""Open JetStream differences: real differences between rnats and Go that the
differential harness found and that are reported for fixing, not deliberate
ones (those belong in allowlist.toml and docs/compatibility.md).

Until each is fixed, the JetStream family (``js:N``) steps around it, so the
CI run stays green and still checks everything else: the generator
(dt_gen_js) leaves out what triggers it, or the normaliser (dt_js) drops the
field it concerns, on both sides.  Each place that does so names the id.

``DIFFTEST_JS_STRICT=1`` turns every mask off (the generator then makes the
scenarios it would make without them, so a seed gives other scenarios), to
check fixes:

    DIFFTEST_JS_STRICT=1 python tests/differential/difftest.py --js 100 --no-clusters 0 SEED

``DIFFTEST_JS_UNMASK=id1,id2`` turns off the masks of the named ids only.

When a difference is fixed, delete its entry here and run that; what still
refers to a deleted id fails loudly (``masked`` raises KeyError).
"""

import os

OPEN = {
    # -- pull requests ------------------------------------------------------------
    "max-ack-pending-no-wait":
        "No-wait pull requests while max_ack_pending holds deliveries back: both end "
        "them when the hold lifts with nothing to deliver, Go only when that consumer's "
        "own loop wakes (its acks, requests and request timers, a message its filter "
        "takes), rnats also on stream events (a purge, a message delete, a consumer "
        "created on the stream)",
    # -- consumer state -------------------------------------------------------------
    "floor-stream-seq":
        "delivered.stream_seq and ack_floor.stream_seq of a filtered consumer that has "
        "delivered nothing: Go starts it past messages its filter does not take",
    "ack-floor-stream-seq-pending":
        "ack_floor.stream_seq after a purge by subject removes deliveries still pending: "
        "Go's floor depends on whether its consumer purge or its asynchronous acks of "
        "the removed deliveries run first",
    "interest-retention-removal":
        "Interest retention with an ack-all consumer whose pending deliveries limits "
        "remove: both move its ack floor past a delivery still pending; Go then drops "
        "that message from the stream, rnats keeps it until it is acked",
    "consumer-update-filter-pending":
        "An update that changes a consumer's filter is not fully applied by rnats: "
        "num_pending is not recomputed, and pulls may still deliver what only the old "
        "filter matched",
    "retention-update-interest":
        "STREAM.UPDATE to interest retention of a stream with consumers: Go removes "
        "what lies below an ack floor it works out from its consumers (some messages "
        "no consumer takes go, others stay), rnats keeps everything; without consumers "
        "both drop what the stream holds",
    "ack-pending-token":
        "Pending counts (a delivery's ack subject token; num_pending of by_start_sequence "
        "consumers): Go's running estimate can be larger than the matching messages "
        "left (e.g. opt_start_seq past the last sequence at creation), rnats counts them",
    "last-per-subject-position":
        "A last_per_subject consumer after its stream changed (updated, re-created with "
        "the same config, messages deleted): Go and rnats deliver from different "
        "positions (Go's skip list of the creation time)",
    "push-bound-internal-interest":
        "A push consumer whose deliver subject only a stream listens on: Go reports "
        "push_bound in some answers and not in others (a named ephemeral delivering "
        "last from an empty stream); rnats always reports it",
}


def strict():
    return os.environ.get("DIFFTEST_JS_STRICT", "") not in ("", "0")


def unmasked():
    """The ids named in ``DIFFTEST_JS_UNMASK`` (comma separated)."""
    return {i for i in os.environ.get("DIFFTEST_JS_UNMASK", "").split(",") if i}


def masked(ident):
    """Whether the open difference ``ident`` is to be stepped around."""
    OPEN[ident]  # an unknown (fixed and deleted) id is an error
    return not strict() and ident not in unmasked()
