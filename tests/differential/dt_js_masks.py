"""JetStream differences the harness steps around: the allowlist entries
with rule ``js-mask`` (deliberate differences, each with its bullet in
docs/compatibility.md).

The JetStream family (``js:N``) steps around each where the harness calls
``masked(id)``: the generator (dt_gen_js) leaves out what triggers it, or
the normaliser (dt_js) drops the fields it concerns, on both sides.

``DIFFTEST_JS_STRICT=1`` turns every mask off (the generator then makes the
scenarios it would make without them, so a seed gives other scenarios):

    DIFFTEST_JS_STRICT=1 python tests/differential/difftest.py --js 100 --no-clusters 0 SEED

``DIFFTEST_JS_UNMASK=id1,id2`` turns off the masks of the named ids only.
An id that is not such an entry is an error (``masked`` raises KeyError).
"""

import os

import dt_allow

MASKS = {e["id"]: e["reason"] for e in dt_allow.load().entries if e["rule"] == "js-mask"}


def strict():
    return os.environ.get("DIFFTEST_JS_STRICT", "") not in ("", "0")


def unmasked():
    """The ids named in ``DIFFTEST_JS_UNMASK`` (comma separated)."""
    return {i for i in os.environ.get("DIFFTEST_JS_UNMASK", "").split(",") if i}


def masked(ident):
    """Whether the difference ``ident`` is to be stepped around."""
    MASKS[ident]  # an id without its allowlist entry is an error
    return not strict() and ident not in unmasked()
