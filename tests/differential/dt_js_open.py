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

When a difference is fixed, delete its entry here and run that; what still
refers to a deleted id fails loudly (``masked`` raises KeyError).
"""

import os

OPEN = {
    # -- acks ----------------------------------------------------------------
    "ack-no-responders":
        "A request to a $JS.ACK. subject nobody listens on (the deliveries of an "
        "ack-none consumer, a deleted consumer) gets no 503 no-responders from rnats; "
        "an ack-none consumer's ack is answered (Go has no ack subscription for it)",
    # -- API bodies and check order ---------------------------------------------
    "checks-before-stream-lookup":
        "MSG.GET/MSG.DELETE with an empty body (10003), undecodable bodies (10025) and "
        "PURGE seq+keep (10003) answer 10059 when the stream is missing; Go checks the "
        "request first",
    "consumer-create-check-order":
        "CONSUMER.CREATE check order: Go checks stream_name (10056) before the durable "
        "name (10017, 10018), and a <filter> subject token against the config filter "
        "(10131) before the stream lookup and the config checks; rnats the other way "
        "round",
    "filtered-create-without-filter":
        "CONSUMER.CREATE.<s>.<c>.<filter> with no filter in the config: rnats takes the "
        "filter from the subject, Go answers 10131",
    "ephemeral-to-durable-update":
        "Re-creating a consumer under the same name with the other durability (a named "
        "ephemeral as a durable, a durable with a config without durable_name): the "
        "inactive_threshold of the answer differs (Go keeps its own, rnats 5s or none)",
    "consumer-update-check-order":
        "Updating an existing consumer: Go checks what may not change first ('can not "
        "update pull consumer to push based' where rnats says 'max waiting can not be "
        "updated'; 10012/10149 where rnats answers 10084, 10100, 10101)",
    "discard-case":
        "discard \"NEW\" (any case) is taken by Go; rnats answers 10025 invalid JSON",
    "consumer-action-unknown":
        "An unknown \"action\" in CONSUMER.CREATE is accepted by rnats (Go: 10025)",
    "consumer-name-vs-subject":
        "CONSUMER.CREATE.<s>.<c> with config.name != <c>: rnats answers 10132, Go takes "
        "<c> as the name",
    "pull-ack-none-max-ack-pending":
        "A pull consumer with ack_policy none and max_ack_pending is refused with 10082 "
        "(Go checks that for push consumers only)",
    "wq-ack-all":
        "ack_policy all on a workqueue stream: rnats 10084 'consumer in pull mode "
        "requires ack policy', Go 10098 'workqueue stream requires explicit ack'",
    "wq-unfiltered-second":
        "A second unfiltered consumer on a workqueue stream: rnats 10100, Go 10099",
    "stream-create-name-from-subject":
        "STREAM.CREATE.<s> with {} (no name) creates <s> in rnats (or answers 10058); "
        "Go: 10056 stream name in subject does not match request",
    "msg-delete-empty-body":
        "MSG.DELETE with an empty body or {}: Go 10003 bad request, rnats 10057 "
        "no message found",
    "memory-msg-delete-missing":
        "MSG.DELETE of a missing sequence on a memory stream: Go 10043 'sequence N not "
        "found' (400), rnats 10057 with the file store's texts",
    "direct-get-empty-request":
        "DIRECT.GET with {} or {\"seq\":0}: Go 408 Empty Request, rnats 408 Bad Request",
    "consumer-config-check-order":
        "Consumer config checks: Go checks the push/pull rules (10088, 10084) and the "
        "consumer limit (10026) before the deliver policy (10094), filter overlaps "
        "(10138, 10136) and workqueue rules (10101, 10100); rnats the other way round",
    "durable-create-extra-token":
        "CONSUMER.DURABLE.CREATE.<s>.<c>.<extra>: no Go handler takes it (no answer); "
        "rnats answers 10016",
    # -- pull requests ------------------------------------------------------------
    "max-ack-pending-no-wait":
        "A no_wait pull request while max_ack_pending is reached: Go keeps it waiting "
        "(served once acks free room, no status), rnats answers 404 No Messages at once",
    "max-expires-without-expires":
        "A pull request without expires on a consumer with max_expires gets "
        "409 Exceeded MaxRequestExpires from rnats",
    "no-wait-expires-empty":
        "no_wait with expires and nothing pending: Go 408 Request Timeout with pending "
        "headers, rnats 404 No Messages",
    "pull-json-types":
        "Pull requests with mistyped fields ({\"batch\":\"2\"}, no_wait:1) are served by "
        "rnats; Go answers 400 Bad Request",
    "pull-bad-request-text":
        "400 Bad Request status texts for undecodable pull requests: Go appends its JSON "
        "decoder's error, rnats 'invalid JSON at byte N'",
    # -- publishing -----------------------------------------------------------------
    "update-limits-discard-new":
        "STREAM.UPDATE lowering max_msgs/max_msgs_per_subject of a discard-new stream: Go "
        "keeps the messages above the new limit, rnats removes the oldest",
    "retention-empty-string":
        "\"retention\":\"\" is taken as limits by rnats; Go answers 10025 invalid JSON",
    "expected-last-msg-id-empty":
        "Nats-Expected-Last-Msg-Id with an empty value: Go does not check it, rnats "
        "answers 10070 wrong last msg ID when the last message had an id",
    "discard-new-limit-order":
        "discard new with several limits exceeded: Go reports max_msgs_per_subject "
        "first, rnats maximum bytes",
    # -- consumer state -------------------------------------------------------------
    "floor-stream-seq":
        "delivered.stream_seq and ack_floor.stream_seq while nothing was delivered "
        "(acked): Go sets them from the stream's first sequence for by_start_sequence "
        "below it and for deliver last (last_per_subject) with no matching message, and "
        "moves them past messages a pull scanned without delivering; rnats keeps "
        "opt_start_seq - 1, last_seq, or 0",
    "ack-floor-stream-seq-pending":
        "ack_floor.stream_seq of a filtered consumer with acks pending: Go keeps the "
        "stream sequence of the last message acked in order, rnats moves it up to just "
        "below the first pending one (past messages the filter skips)",
    "deleted-at-tail":
        "Messages removed at the end of a stream (acked on an interest or workqueue "
        "stream) are listed by Go in num_deleted/deleted; rnats leaves them out",
    "interest-retention-removal":
        "Interest retention: messages no consumer needs any more (delivered to an "
        "ack-none consumer, acked by every interested consumer) are removed by Go and "
        "kept by rnats (purge counts, state, pending tokens differ)",
    "nak-sets-last-active":
        "A -NAK for a delivery the consumer does not have pending (an earlier consumer "
        "of the same name) sets delivered.last_active in rnats; Go leaves it unset",
    "consumer-update-filter-pending":
        "An update that changes a consumer's filter is not fully applied by rnats: "
        "num_pending is not recomputed, and pulls may still deliver what only the old "
        "filter matched",
    "headers-only-max-bytes":
        "A headers_only delivery is counted against a pull request's max_bytes without "
        "its Nats-Msg-Size header (Nats-Pending-Bytes differ)",
    "retention-update-interest":
        "STREAM.UPDATE to interest retention without consumers: Go drops the stored "
        "messages nobody is interested in, rnats keeps them",
    "ack-pending-token":
        "Pending counts (a delivery's ack subject token; num_pending of by_start_sequence "
        "consumers): Go's running estimate can be larger than the matching messages "
        "left (e.g. opt_start_seq past the last sequence at creation), rnats counts them",
    "last-per-subject-position":
        "A last_per_subject consumer after its stream changed (updated, re-created with "
        "the same config, messages deleted): Go and rnats deliver from different "
        "positions (Go's skip list of the creation time)",
    "rollup-account-storage":
        "Account info storage/memory after a Nats-Rollup purge: rnats keeps counting the "
        "rolled-up messages",
    "push-bound-internal-interest":
        "A push consumer whose deliver subject only a stream listens on (s1.a): Go "
        "reports push_bound true, rnats does not",
    # -- response fields ----------------------------------------------------------
    "ack-floor-last-active":
        "ConsumerInfo ack_floor.last_active is never sent by rnats",
    "list-offset-clamp":
        "NAMES/LIST offset beyond the total is echoed by rnats; Go clamps it to total",
    "list-error-fields":
        "Error answers of CONSUMER.NAMES/LIST lack \"consumers\":[] and of STREAM.NAMES "
        "\"streams\":null",
    "purge-error-success":
        "Purge error answers carry \"success\":false in rnats (Go omits it)",
    "reserved-storage":
        "Account info reserved_memory/reserved_storage are always 0 in rnats (Go sums "
        "the max_bytes of the streams)",
    "api-counters":
        "api.total/api.errors: rnats does not count requests without a reply and counts "
        "MSG.DELETE store errors as errors",
    "legacy-ephemeral-config-name":
        "A legacy ephemeral consumer's config echoes its generated name in config.name "
        "(Go leaves config.name out)",
    "subjects-filter-no-match":
        "STREAM.INFO with a subjects_filter matching nothing: rnats limit 100000, Go 0",
    "empty-stream-details":
        "Empty file streams: Go lists deleted [0] (num_deleted 1) with deleted_details "
        "and keeps first_seq 0 after PURGE {seq}; rnats does neither",
}


def strict():
    return os.environ.get("DIFFTEST_JS_STRICT", "") not in ("", "0")


def masked(ident):
    """Whether the open difference ``ident`` is to be stepped around."""
    OPEN[ident]  # an unknown (fixed and deleted) id is an error
    return not strict()
