"""JetStream scenarios (``js:N``, see dt_gen): one client with headers and
no_responders on drives a random sequence of JetStream operations against a
server started with ``-js -sd <fresh dir>``.

Every op is one step: a request (PUB or HPUB with a reply subject of its own,
``_INBOX.<n>.<tag>``) and what ends it (``JsOp.expect``), so the runner
(dt_js.JsPlayer) waits for the answer before the next op: Go answers API
requests, PubAcks, pull requests and acks asynchronously, after the PONG of
the step's barrier.  ``expect`` is one of

* ``("one", reply)``: one message on ``reply`` (API responses, PubAcks, the
  empty answer to an ack that has a reply, DIRECT.GET, no-responders);
* ``("pull", reply, batch, status_only)``: a pull request (or ``+NXT``): done
  once ``batch`` deliveries came or a status (other than 100) arrived on
  ``reply``; with ``status_only`` (a request with ``max_bytes``, which Go
  ends with a status even when the batch is filled) only a status ends it;
* ``("none",)``: nothing is owed (a request Go drops silently): a short
  quiet wait after the barrier.

The reply tag tells the normaliser (dt_js) what a reply answers: ``eph`` a
legacy ephemeral consumer create (random name), ``nw`` a no_wait pull
request without ``expires``.

What is generated stays clear of what Go does by the clock (max_age expiry,
ack_wait redelivery, inactive thresholds, heartbeats, push deliveries to a
subscribed deliver subject) and of what Go 2.11+ does differently from 2.10
(unknown JSON fields, per-message TTL, batch direct get): the oracle is a Go
2.10+ binary (2.15.1 here) and rnats follows 2.10.

The generator keeps a loose model (streams and consumers it asked for);
requests it expects to fail are part of the mix, and a wrong guess only
means another error answer to compare.  Ack subjects and the names of
legacy ephemeral consumers are only known at run time: ops name them with
placeholders (``{{ACK:k}}``: the reply subject of the k-th latest delivery;
``{{EPH:k}}``: the k-th latest legacy ephemeral name) that the runner fills
in, in subjects only (sizes stay right).  ``{{ACK:k:S.C,...}}`` picks among
the deliveries of those consumers only (``*``: of the pull consumers with
an ack policy that the server's answers so far show), and the runner leaves
the op out when there is none.
"""

import json

from dt_gen import Op, Step, weighted
from dt_js_masks import masked

SEC = 1_000_000_000
MS = 1_000_000

STREAM_NAMES = ["S1", "S2", "S3"]
# Subject sets per stream; some collide with another stream's on purpose.
SUBJECT_SETS = {
    "S1": [["s1.>"], ["s1.a", "s1.b"], ["s1.*"], ["s1.a", "s1.b.>"], ["s1.>"]],
    "S2": [["s2.*"], ["s2.>"], ["s2.x", "s2.y.z"], ["s2.*", "s1.a"]],
    "S3": [None, ["S3"], ["s3"], ["s3", "s3.>"], ["s1.b"]],
}
PUB_SUBJECTS = ["s1.a", "s1.a", "s1.b", "s1.c", "s1.b.x", "s2.x", "s2.y", "s2.y.z",
                "S3", "s3", "s3.q", "nowhere"]
FILTERS = ["s1.a", "s1.b", "s1.*", "s1.>", "s2.x", "s2.*", "s2.>", "S3", "s3", "s3.>", ">",
           "nowhere", "s1.b.>"]
CONSUMER_NAMES = ["C1", "C2", "C3"]
MSG_IDS = ["m1", "m2", "m3", "m4"]
PAYLOADS = [b"", b"x", b"hello", b"0123456789", b"payload-%d", b"a b c", b"z" * 40]


def subject_matches(pattern, subject):
    """NATS subject matching: ``*`` one token, ``>`` the rest."""
    p, t = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(t) > i
        if i >= len(t) or (tok != "*" and tok != t[i]):
            return False
    return len(p) == len(t)


class JsOp(Op):
    __slots__ = ("expect", "wait")

    def __init__(self, data, expect, wait=1.0, note=""):
        super().__init__(data, pongs=0, end="ok", note=note)
        self.expect = expect
        self.wait = wait


def jdump(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def pub_bytes(subject, payload, reply=None, headers=None):
    """PUB or HPUB; ``headers`` a list of (name, value) pairs, or raw bytes."""
    subject = subject.encode() if isinstance(subject, str) else subject
    r = b" " + reply.encode() if reply else b""
    if headers is None:
        return b"PUB %s%s %d\r\n%s\r\n" % (subject, r, len(payload), payload)
    if isinstance(headers, bytes):
        h = headers
    else:
        h = b"NATS/1.0\r\n" + b"".join(b"%s: %s\r\n" % (k.encode(), v.encode())
                                       for k, v in headers) + b"\r\n"
    return b"HPUB %s%s %d %d\r\n%s%s\r\n" % (subject, r, len(h), len(h) + len(payload), h,
                                            payload)


class JsModel:
    def __init__(self):
        self.streams = {}       # name -> config dict asked for
        self.consumers = {}     # (stream, name) -> config dict asked for
        self.ephemerals = 0     # legacy ephemeral creates sent
        self.pulls = 0          # pull requests sent (deliveries may exist)
        self.published = 0


class JsScenarioBuilder:
    def __init__(self, rng, scn):
        self.rng = rng
        self.scn = scn
        self.m = JsModel()
        self.n = 0

    # -- plumbing ------------------------------------------------------------

    def reply(self, tag="r"):
        self.n += 1
        return "_INBOX.%d.%s" % (self.n, tag)

    def add(self, op):
        self.scn.steps.append(Step("send", 0, ops=[op]))

    def api(self, suffix, body=b"", tag="api", expect=None, reply=True):
        r = self.reply(tag) if reply else None
        data = pub_bytes("$JS.API." + suffix, body, r)
        if expect is None:
            expect = ("one", r) if r else ("none",)
        return JsOp(data, expect, note=suffix.split(".")[0].lower())

    # -- names ---------------------------------------------------------------

    def stream_name(self, existing=0.85):
        rng = self.rng
        if self.m.streams and rng.random() < existing:
            return rng.choice(sorted(self.m.streams))
        if rng.random() < 0.06:
            return rng.choice(["NOPE", "s-1", "S_1"])
        return rng.choice(STREAM_NAMES)

    def consumer_ref(self, existing=0.85, pull=False):
        """(stream, consumer name) to address, usually an existing one (a
        pull consumer if ``pull``)."""
        rng = self.rng
        known = sorted(k for k, c in self.m.consumers.items()
                       if not (pull and c.get("deliver_subject")))
        if known and rng.random() < existing:
            return rng.choice(known)
        if self.m.ephemerals and rng.random() < 0.3:
            return self.stream_name(), "{{EPH:%d}}" % rng.choice([0, 0, 1])
        return self.stream_name(), rng.choice(CONSUMER_NAMES + ["NOPE"])

    def covered(self):
        """Publish subjects some stream of the model takes."""
        out = []
        for subj in PUB_SUBJECTS:
            for cfg in self.m.streams.values():
                if any(subject_matches(f, subj) for f in cfg.get("subjects") or [cfg["name"]]):
                    out.append(subj)
                    break
        return out

    def size_limited(self, subject):
        """Whether a model stream with a max_msg_size takes ``subject``."""
        for cfg in self.m.streams.values():
            if cfg.get("max_msg_size", -1) >= 0 and any(
                    subject_matches(f, subject) for f in cfg.get("subjects") or [cfg["name"]]):
                return True
        return False

    def pub_subject(self):
        rng = self.rng
        subs = self.covered()
        if subs and rng.random() < 0.8:
            return rng.choice(subs)
        return rng.choice(PUB_SUBJECTS)

    # -- streams -------------------------------------------------------------

    def stream_config(self, name):
        rng = self.rng
        cfg = {"name": name}
        subjects = rng.choice(SUBJECT_SETS.get(name, [None]))
        if subjects is not None:
            cfg["subjects"] = list(subjects)
        r = rng.random()
        if r < 0.2:
            cfg["retention"] = "workqueue"
        elif r < 0.38:
            cfg["retention"] = "interest"
        elif r < 0.6:
            cfg["retention"] = "limits"
        if rng.random() < 0.35:
            cfg["max_msgs"] = rng.choice([-1, 1, 2, 3, 5])
        if rng.random() < 0.2:
            cfg["max_bytes"] = rng.choice([-1, 100, 200, 400, 1000])
        if rng.random() < 0.3:
            cfg["max_msgs_per_subject"] = rng.choice([-1, 1, 2, 3])
        if rng.random() < 0.35:
            cfg["discard"] = rng.choice(["old", "new"])
            if (cfg["discard"] == "new" and cfg.get("max_msgs_per_subject", 0) > 0
                    and rng.random() < 0.4):
                cfg["discard_new_per_subject"] = True
        if rng.random() < 0.45:
            cfg["storage"] = rng.choice(["file", "memory"])
        if rng.random() < 0.25:
            cfg["duplicate_window"] = rng.choice([30 * SEC, 60 * SEC, 120 * SEC, 300 * SEC])
        if rng.random() < 0.08:
            # Long enough never to expire anything during a scenario.
            cfg["max_age"] = rng.choice([3600 * SEC, 86400 * SEC])
        if rng.random() < 0.25:
            cfg["allow_rollup_hdrs"] = rng.random() < 0.8
        if rng.random() < 0.15:
            cfg["deny_delete"] = True
        if rng.random() < 0.08 and not cfg.get("allow_rollup_hdrs"):
            cfg["deny_purge"] = True
        if rng.random() < 0.35:
            cfg["allow_direct"] = rng.random() < 0.85
        if rng.random() < 0.1:
            cfg["max_msg_size"] = rng.choice([-1, 8, 64])
        if rng.random() < 0.08:
            cfg["max_consumers"] = rng.choice([-1, 1, 2])
        if rng.random() < 0.1:
            cfg["num_replicas"] = 1
        if rng.random() < 0.06:
            cfg["description"] = "a stream"
        if rng.random() < 0.05:
            cfg["no_ack"] = False
            if "max_msgs_per_subject" not in cfg:
                cfg.pop("discard_new_per_subject", None)
        return cfg

    def bad_stream_config(self, name):
        """A config (or body) that Go refuses."""
        rng = self.rng
        cfg = self.stream_config(name)
        kind = rng.choice(["replicas", "sealed", "retention", "discard", "subject", "all",
                           "dpns", "rollup_purge", "max_age", "dup_window", "storage",
                           "name", "type"])
        if kind == "replicas":
            cfg["num_replicas"] = rng.choice([3, 7, -1])
        elif kind == "sealed":
            cfg["sealed"] = True
        elif kind == "retention":
            cfg["retention"] = rng.choice(["bogus", "Limits", ""])
        elif kind == "discard":
            cfg["discard"] = rng.choice(["bogus", "NEW"])
        elif kind == "subject":
            cfg["subjects"] = rng.choice([["a..b"], ["s1.a", "s1.a"], ["s1.*", "s1.a"],
                                          [""], ["$JS.API.>"], ["foo bar"]])
        elif kind == "all":
            cfg["subjects"] = [">"]
        elif kind == "dpns":
            cfg["discard_new_per_subject"] = True
            cfg["discard"] = rng.choice(["old", "new"])
        elif kind == "rollup_purge":
            cfg["allow_rollup_hdrs"] = True
            cfg["deny_purge"] = True
        elif kind == "max_age":
            # (Not negative: Go 2.10 takes it, 2.11+ refuses it.)
            cfg["max_age"] = rng.choice([50 * MS, 99 * MS])
        elif kind == "dup_window":
            cfg["max_age"] = 3600 * SEC
            cfg["duplicate_window"] = 7200 * SEC
        elif kind == "storage":
            cfg["storage"] = rng.choice(["disk", "mem"])
        elif kind == "name":
            cfg["name"] = rng.choice(["", "x*", "a b"])
        else:
            return rng.choice([b'{"name":"%s","max_msgs":"5"}' % name.encode(),
                               b'{"name":"%s","subjects":"s1.a"}' % name.encode(),
                               b'{"name":%s}' % name.encode()])
        return jdump(cfg)

    def stream_create(self, valid=False):
        rng = self.rng
        name = self.stream_name(existing=0.25)
        r = 1.0 if valid else rng.random()
        if r < 0.1:
            body = self.bad_stream_config(name)
        elif r < 0.14:
            # (No empty body: Go 2.10 answers invalid JSON, 2.11+ a name
            # mismatch.)
            # (Nor JSON that is not an object: what Go 2.15 makes of those
            # varies by endpoint and differs from 2.10.)
            body = rng.choice([b"{", b'{"name":', b"{bad}", b"{}"])
        else:
            cfg = self.stream_config(name)
            if not valid and rng.random() < 0.05:
                cfg["name"] = rng.choice([n for n in STREAM_NAMES if n != name])
            elif name in self.m.streams and rng.random() < 0.5:
                cfg = dict(self.m.streams[name])     # the same again: success
            body = jdump(cfg)
            if (cfg.get("name") == name and name not in self.m.streams
                    and not self.overlaps(cfg)):
                self.m.streams[name] = cfg
        return self.api("STREAM.CREATE." + name, body)

    def overlaps(self, cfg):
        """Whether a config's subjects collide with another model stream's
        (tried on a sample of subjects)."""
        mine = cfg.get("subjects") or [cfg["name"]]
        sample = PUB_SUBJECTS + [f for f in FILTERS if "*" not in f and ">" not in f] + [
            "s1.b.x.y", "s2.y.q", "s3.q.r"]
        for other in self.m.streams.values():
            if other["name"] == cfg["name"]:
                continue
            theirs = other.get("subjects") or [other["name"]]
            for subj in sample:
                if (any(subject_matches(f, subj) for f in mine)
                        and any(subject_matches(f, subj) for f in theirs)):
                    return True
        return False

    def lps_consumer(self, name):
        """Whether the model has a last_per_subject consumer on stream ``name``."""
        return any(k[0] == name and c.get("deliver_policy") == "last_per_subject"
                   for k, c in self.m.consumers.items())

    def stream_update(self):
        rng = self.rng
        name = self.stream_name()
        cfg = dict(self.m.streams.get(name) or self.stream_config(name))
        change = rng.choice(["max_msgs", "subjects", "storage", "retention", "deny_delete",
                             "allow_direct", "max_bytes", "discard", "rollup", "same"])
        if change == "max_msgs":
            cfg["max_msgs"] = rng.choice([-1, 1, 2, 4])
        elif change == "subjects":
            cfg["subjects"] = rng.choice(SUBJECT_SETS.get(name) or [["x.y"]]) or [name]
        elif change == "storage":
            cfg["storage"] = rng.choice(["file", "memory"])
        elif change == "retention":
            cfg["retention"] = rng.choice(["limits", "interest", "workqueue"])
            if (cfg["retention"] == "interest" and masked("retention-update-interest")
                    and any(k[0] == name for k in self.m.consumers)):
                cfg["retention"] = "limits"
        elif change == "deny_delete":
            cfg["deny_delete"] = rng.random() < 0.5
        elif change == "allow_direct":
            cfg["allow_direct"] = rng.random() < 0.5
        elif change == "max_bytes":
            cfg["max_bytes"] = rng.choice([-1, 150, 500])
        elif change == "discard":
            cfg["discard"] = rng.choice(["old", "new"])
        elif change == "rollup":
            cfg["allow_rollup_hdrs"] = rng.random() < 0.7
        if name in self.m.streams and rng.random() < 0.7:
            self.m.streams[name] = cfg
        return self.api("STREAM.UPDATE." + name, jdump(cfg))

    def stream_info(self):
        rng = self.rng
        body = rng.choice([b"", b"", b"", b"{}", b'{"deleted_details":true}',
                           b'{"subjects_filter":">"}', b'{"subjects_filter":"s1.*"}',
                           b'{"subjects_filter":"s2.>","deleted_details":true}',
                           b'{"subjects_filter":"nothing.here"}', b"{bad"])
        return self.api("STREAM.INFO." + self.stream_name(), body)

    def stream_names(self):
        rng = self.rng
        kind = rng.choice(["STREAM.NAMES", "STREAM.LIST", "STREAM.NAMES"])
        body = rng.choice([b"", b"", b"{}", b'{"offset":1}', b'{"subject":"s1.a"}',
                           b'{"subject":"s2.>"}', b'{"offset":5}'])
        return self.api(kind, body)

    def stream_delete(self):
        rng = self.rng
        name = self.stream_name()
        body = rng.choice([b"", b"", b"", b"{}", b'{"x":1}'])
        if body in (b"", b"{}"):
            self.m.streams.pop(name, None)
            for k in [k for k in self.m.consumers if k[0] == name]:
                del self.m.consumers[k]
        return self.api("STREAM.DELETE." + name, body)

    def purge(self):
        rng = self.rng
        subj = rng.choice(FILTERS)
        body = rng.choice([
            b"", b"", b"{}", jdump({"filter": subj}), jdump({"keep": rng.randint(0, 3)}),
            jdump({"seq": rng.randint(1, 8)}), jdump({"filter": subj, "keep": rng.randint(0, 2)}),
            jdump({"filter": subj, "seq": rng.randint(1, 8)}),
            jdump({"seq": 3, "keep": 1}), b"{bad"])
        return self.api("STREAM.PURGE." + self.stream_name(), body)

    def get_body(self, direct=False):
        rng = self.rng
        subj = rng.choice(PUB_SUBJECTS if rng.random() < 0.7 else FILTERS)
        r = rng.random()
        if r < 0.45:
            return jdump({"seq": rng.randint(0, 9)})
        if r < 0.65:
            return jdump({"last_by_subj": subj})
        if r < 0.82:
            return jdump({"next_by_subj": subj, "seq": rng.randint(0, 6)})
        if r < 0.86:
            return jdump({"next_by_subj": subj})
        return rng.choice([b"", b"{}", b"{bad", jdump({"seq": 1, "last_by_subj": subj}),
                           jdump({"last_by_subj": subj, "next_by_subj": subj})])

    def msg_get(self):
        return self.api("STREAM.MSG.GET." + self.stream_name(), self.get_body())

    def direct_get(self):
        rng = self.rng
        name = self.stream_name()
        if rng.random() < 0.3:
            subj = rng.choice(PUB_SUBJECTS)
            body = b"" if rng.random() < 0.85 else b'{"seq":1}'
            return self.api("DIRECT.GET.%s.%s" % (name, subj), body)
        body = self.get_body(direct=True)
        return self.api("DIRECT.GET." + name, body)

    def msg_delete(self):
        rng = self.rng
        seq = rng.randint(0, 8)
        body = rng.choice([jdump({"seq": seq}), jdump({"seq": seq}),
                           jdump({"seq": seq, "no_erase": True}), b"", b"{}", b"{bad"])
        return self.api("STREAM.MSG.DELETE." + self.stream_name(), body)

    # -- publishing ----------------------------------------------------------

    def publish(self):
        rng = self.rng
        subject = self.pub_subject()
        p = rng.choice(PAYLOADS)
        if b"%d" in p:
            p = p % self.m.published
        self.m.published += 1
        headers = None
        if rng.random() < 0.45:
            headers = []
            names = [weighted(rng, [("id", 40), ("custom", 25), ("stream", 8), ("last_seq", 7),
                                    ("last_subj_seq", 7), ("last_id", 5), ("rollup", 8)])]
            if rng.random() < 0.25:
                names.append(rng.choice(["id", "custom", "last_subj_seq", "rollup"]))
            for h in names:
                if h == "id":
                    headers.append(("Nats-Msg-Id", rng.choice(MSG_IDS)))
                elif h == "stream":
                    headers.append(("Nats-Expected-Stream", self.stream_name(existing=0.7)))
                elif h == "last_seq":
                    headers.append(("Nats-Expected-Last-Sequence", str(rng.randint(0, 6))))
                elif h == "last_subj_seq":
                    headers.append(("Nats-Expected-Last-Subject-Sequence",
                                    str(rng.randint(0, 6))))
                elif h == "last_id":
                    v = rng.choice(MSG_IDS + [""])
                    headers.append(("Nats-Expected-Last-Msg-Id", v))
                elif h == "rollup":
                    headers.append(("Nats-Rollup", rng.choice(["sub", "sub", "all"])))
                else:
                    headers.append(("X-Custom", rng.choice(["1", "two", "a b"])))
            if any(k.startswith("Nats-Expected-Last") or k == "Nats-Rollup"
                   for k, _ in headers):
                # Go 2.10 looks for a duplicate before these checks, 2.15
                # after them: no Nats-Msg-Id beside them.
                headers = [h for h in headers if h[0] != "Nats-Msg-Id"]
            if rng.random() < 0.1:
                headers = b"NATS/1.0\r\n\r\n"
            elif self.size_limited(subject):
                # Go 2.10 checks the headers before max_msg_size, 2.15
                # after: only a custom header to such a stream.
                headers = [("X-Custom", "1")]
        if rng.random() < 0.06:
            # Without a reply: stored, nothing answered.  The same subject
            # with a reply right after it, so the step still ends on an
            # answer from the same stream (Go stores in order).
            first = pub_bytes(subject, p, None, headers)
            r = self.reply("pub")
            data = first + pub_bytes(subject, b"after", r)
            self.m.published += 1
            return JsOp(data, ("one", r), note="pub")
        r = self.reply("pub")
        return JsOp(pub_bytes(subject, p, r, headers), ("one", r), note="pub")

    # -- consumers -----------------------------------------------------------

    def consumer_config(self, stream, durable=None, name=None):
        rng = self.rng
        cfg = {}
        if durable:
            cfg["durable_name"] = durable
        if name:
            cfg["name"] = name
        scfg = self.m.streams.get(stream, {})
        wq = scfg.get("retention") == "workqueue"
        r = rng.random()
        if r < 0.55:
            cfg["ack_policy"] = "explicit"
        elif r < 0.75:
            cfg["ack_policy"] = "none" if not wq or rng.random() < 0.2 else "explicit"
        elif r < 0.92:
            cfg["ack_policy"] = "all"
            if scfg.get("retention") == "interest" and masked("interest-retention-removal"):
                cfg["ack_policy"] = "explicit"
        r = rng.random()
        if wq and rng.random() < 0.8:
            pass
        elif r < 0.1:
            cfg["deliver_policy"] = "last"
        elif r < 0.2:
            cfg["deliver_policy"] = "new"
        elif r < 0.3:
            cfg["deliver_policy"] = "by_start_sequence"
            if rng.random() < 0.9:
                cfg["opt_start_seq"] = rng.randint(1, 6)
        elif r < 0.38:
            cfg["deliver_policy"] = "last_per_subject"
            if rng.random() < 0.85:
                cfg["filter_subject"] = rng.choice(FILTERS)
            if masked("last-per-subject-position"):
                cfg["deliver_policy"] = "last"
        elif r < 0.5:
            cfg["deliver_policy"] = "all"
        elif r < 0.53:
            cfg["opt_start_seq"] = 2
        if "filter_subject" not in cfg:
            r = rng.random()
            if r < 0.4:
                cfg["filter_subject"] = rng.choice(FILTERS)
            elif r < 0.48:
                cfg["filter_subjects"] = rng.sample(FILTERS[:10], 2)
        if rng.random() < 0.2:
            cfg["max_ack_pending"] = rng.choice([1, 2, 3, 100])
            if masked("max-ack-pending-no-wait"):
                cfg["max_ack_pending"] = 100
        if rng.random() < 0.15:
            cfg["max_deliver"] = rng.choice([1, 2, 3, -1])
        if rng.random() < 0.1:
            cfg["max_batch"] = rng.choice([1, 2])
        if rng.random() < 0.08:
            cfg["max_bytes"] = rng.choice([30, 100])
        if rng.random() < 0.06:
            cfg["max_expires"] = rng.choice([10 * SEC, 50 * MS])
        if rng.random() < 0.1:
            cfg["headers_only"] = True
        if rng.random() < 0.1 and cfg.get("ack_policy", "none") != "none":
            cfg["ack_wait"] = rng.choice([20 * SEC, 60 * SEC])
        if rng.random() < 0.06:
            cfg["max_waiting"] = rng.choice([1, 16])
        if rng.random() < 0.05:
            cfg["description"] = "c"
        if rng.random() < 0.05:
            cfg["replay_policy"] = rng.choice(["instant", "original"])
        if not durable:
            # Ephemerals live 5 s unless told otherwise: keep them for the
            # whole scenario.
            cfg["inactive_threshold"] = 600 * SEC
        if rng.random() < 0.06:
            # Push consumer; nobody subscribes to its deliver subject, so it
            # delivers nothing.
            cfg["deliver_subject"] = rng.choice(["push.a", "push.b", "s1.a"])
            if cfg["deliver_subject"] == "s1.a" and masked("push-bound-internal-interest"):
                cfg["deliver_subject"] = "push.a"
            cfg.pop("max_batch", None)
            cfg.pop("max_expires", None)
            cfg.pop("max_bytes", None)
            if rng.random() < 0.3:
                cfg["flow_control"] = True
        if rng.random() < 0.04:
            cfg["<bad>"] = True
            # (Negative max_waiting, max_batch and the like are refused by
            # Go 2.10 and replaced by defaults from 2.12: not generated.)
            bad = rng.choice(["replicas", "ack", "deliver", "backoff", "idle", "map_none",
                              "filters_both", "policy"])
            if bad == "replicas":
                cfg["num_replicas"] = 3
            elif bad == "ack":
                cfg["ack_policy"] = "bogus"
            elif bad == "deliver":
                cfg["deliver_policy"] = "by_start_time"
            elif bad == "backoff":
                cfg["backoff"] = [SEC, 2 * SEC, 3 * SEC]
                cfg["max_deliver"] = 2
            elif bad == "idle":
                cfg["idle_heartbeat"] = SEC
            elif bad == "map_none":
                cfg["ack_policy"] = "none"
                cfg["max_ack_pending"] = 5
            elif bad == "filters_both":
                cfg["filter_subject"] = "s1.a"
                cfg["filter_subjects"] = ["s1.b"]
            else:
                cfg["replay_policy"] = "fast"
        return cfg

    def consumer_create(self, valid=False):
        rng = self.rng
        stream = self.stream_name(existing=0.93)
        name = rng.choice(CONSUMER_NAMES)
        form = weighted(rng, [("named", 50), ("durable_legacy", 15), ("ephemeral", 12),
                              ("named_ephemeral", 8), ("filtered", 8), ("bad", 4),
                              ("json", 2)])
        if valid:
            form = "named"
        body_stream = stream
        if not valid and rng.random() < 0.04:
            body_stream = rng.choice(STREAM_NAMES + ["X"])
        action = None
        if not valid and rng.random() < 0.15:
            action = rng.choice(["create", "update", "", "bogus"])
        tag = "api"
        if form == "named":
            cfg = self.consumer_config(stream, durable=name)
            subj = "CONSUMER.CREATE.%s.%s" % (stream, name)
            track = (stream, name)
        elif form == "durable_legacy":
            cfg = self.consumer_config(stream, durable=name)
            subj = "CONSUMER.DURABLE.CREATE.%s.%s" % (stream, name)
            track = (stream, name)
        elif form == "ephemeral":
            cfg = self.consumer_config(stream)
            subj = "CONSUMER.CREATE.%s" % stream
            tag = "eph"
            track = None
            self.m.ephemerals += 1
        elif form == "named_ephemeral":
            cfg = self.consumer_config(stream, name=name)
            subj = "CONSUMER.CREATE.%s.%s" % (stream, name)
            track = (stream, name)
        elif form == "filtered":
            filt = rng.choice(["s1.a", "s2.x", "s1.*", "S3"])
            cfg = self.consumer_config(stream, durable=name)
            cfg.pop("filter_subjects", None)
            r = rng.random()
            if r < 0.6:
                cfg["filter_subject"] = filt
            elif r < 0.8:
                cfg.pop("filter_subject", None)
            else:
                cfg["filter_subject"] = "s2.y"
                cfg["<bad>"] = True
            subj = "CONSUMER.CREATE.%s.%s.%s" % (stream, name, filt)
            track = (stream, name)
            known = self.m.consumers.get(track)
            if (known is not None and known.get("filter_subject") != filt
                    and masked("consumer-update-filter-pending")):
                # An update keeps the filter: the plain subject form.
                subj = "CONSUMER.CREATE.%s.%s" % (stream, name)
        elif form == "bad":
            kind = rng.choice(["durable_mismatch", "ephemeral_with_durable", "dur_missing",
                               "name_mismatch", "bad_name", "too_many"])
            cfg = self.consumer_config(stream, durable=name)
            track = None
            if kind == "durable_mismatch":
                subj = "CONSUMER.CREATE.%s.%s" % (stream, "CX")
            elif kind == "ephemeral_with_durable":
                subj = "CONSUMER.CREATE.%s" % stream
            elif kind == "dur_missing":
                cfg.pop("durable_name", None)
                subj = "CONSUMER.DURABLE.CREATE.%s.%s" % (stream, name)
            elif kind == "name_mismatch":
                # Go takes the subject's name.
                cfg["name"] = "OTHER"
                subj = "CONSUMER.CREATE.%s.%s" % (stream, name)
                track = (stream, name)
            elif kind == "bad_name":
                cfg["durable_name"] = rng.choice(["a b", "x*", "a>"])
                subj = "CONSUMER.CREATE.%s" % stream
            else:
                # One token too many: no handler takes it, Go does not answer.
                subj = "CONSUMER.DURABLE.CREATE.%s.%s.extra" % (stream, name)
                return self.api(subj, jdump({"stream_name": stream, "config": cfg}),
                                expect=("none",))
        else:
            subj = "CONSUMER.CREATE.%s.%s" % (stream, name)
            body = rng.choice([b"", b"{", b'{"stream_name":"%s"}' % stream.encode(),
                               b'{"stream_name":"%s","config":"x"}' % stream.encode(),
                               b'{"stream_name":"%s","config":{"ack_policy":5}}' %
                               stream.encode()])
            return self.api(subj, body)
        if cfg.pop("<bad>", False):
            track = None
        if track in self.m.consumers and masked("consumer-update-filter-pending"):
            # An update keeps the filter.
            old = self.m.consumers[track]
            cfg.pop("filter_subjects", None)
            cfg.pop("filter_subject", None)
            for k in ("filter_subject", "filter_subjects"):
                if k in old:
                    cfg[k] = old[k]
        if valid:
            cfg.pop("deliver_subject", None)
            cfg.pop("flow_control", None)
        req = {"stream_name": body_stream, "config": cfg}
        if not valid and rng.random() < 0.05:
            req.pop("stream_name")
        if action is not None:
            req["action"] = action
        if (track and body_stream == stream and track not in self.m.consumers
                and stream in self.m.streams and action in (None, "", "create")):
            self.m.consumers[track] = cfg
        return self.api(subj, jdump(req), tag=tag)

    def consumer_info(self):
        rng = self.rng
        stream, name = self.consumer_ref()
        body = rng.choice([b"", b"", b"", b"{}", b'{"x":1}'])
        return self.api("CONSUMER.INFO.%s.%s" % (stream, name), body)

    def consumer_names(self):
        rng = self.rng
        kind = rng.choice(["CONSUMER.NAMES", "CONSUMER.LIST"])
        body = rng.choice([b"", b"", b'{"offset":1}', b"{}"])
        if self.m.ephemerals:
            # Pages follow name order, and legacy ephemeral names are random.
            body = b""
        return self.api("%s.%s" % (kind, self.stream_name()), body)

    def consumer_delete(self):
        rng = self.rng
        stream, name = self.consumer_ref()
        body = rng.choice([b"", b"", b"", b'{"x":1}'])
        if body == b"":
            self.m.consumers.pop((stream, name), None)
        return self.api("CONSUMER.DELETE.%s.%s" % (stream, name), body)

    # -- pulling and acking --------------------------------------------------

    def pull_request(self):
        """(body, reply tag, batch, status_only, extra wait seconds)."""
        rng = self.rng
        batch = rng.choice([1, 1, 2, 3, 5])
        r = rng.random()
        if r < 0.58:
            return jdump({"batch": batch, "no_wait": True}), "nw", batch, False, 0.0
        if r < 0.7:
            exp = rng.choice([30, 60, 100])
            return jdump({"batch": batch, "expires": exp * MS}), "pull", batch, False, exp / 1e3
        if r < 0.77:
            return (jdump({"batch": batch, "no_wait": True, "expires": 100 * MS}), "pull",
                    batch, False, 0.1)
        if r < 0.87:
            mb = rng.choice([10, 40, 100, 400])
            return (jdump({"batch": batch, "max_bytes": mb, "no_wait": True}), "nw", batch,
                    True, 0.0)
        if r < 0.91:
            return (jdump({"batch": batch, "expires": 100 * MS, "idle_heartbeat": 80 * MS}),
                    "pull", batch, True, 0.1)
        if r < 0.94:
            return (jdump({"batch": rng.choice([0, -1]), "no_wait": True}), "pull", batch,
                    True, 0.0)
        # (Not a body that is neither JSON nor a number: Go reads it as a
        # batch of 1 without expiry, which may wait for the rest of the
        # scenario.)
        body = rng.choice([b"{bad", b'{"batch":"2"}', b'{"batch":1,"no_wait":1}'])
        return body, "pull", batch, True, 0.0

    def pull(self):
        stream, name = self.consumer_ref(existing=0.92, pull=True)
        body, tag, batch, status_only, extra = self.pull_request()
        r = self.reply(tag)
        data = pub_bytes("$JS.API.CONSUMER.MSG.NEXT.%s.%s" % (stream, name), body, r)
        self.m.pulls += 1
        return JsOp(data, ("pull", r, batch, status_only), wait=1.0 + extra, note="pull")

    def ack(self):
        rng = self.rng
        k = weighted(rng, [(0, 50), (1, 25), (2, 15), (3, 10)])
        target = "{{ACK:%d}}" % k
        kind = weighted(rng, [("+ACK", 35), ("", 6), ("-NAK", 18), ("-NAK delay", 5),
                              ("+WPI", 8), ("+TERM", 10), ("+TERM reason", 3), ("+NXT", 12),
                              ("+OK", 2), ("bogus", 1)])
        if kind == "+NXT":
            body, tag, batch, status_only, extra = self.pull_request()
            if tag == "pull" and extra == 0.0 and status_only:
                body = jdump({"batch": 1, "no_wait": True})
                tag, batch, status_only = "nw", 1, False
            r = self.reply(tag)
            data = pub_bytes(target, b"+NXT " + body, r)
            return JsOp(data, ("pull", r, batch, status_only), wait=1.0 + extra, note="ack")
        payload = {"-NAK delay": b'-NAK {"delay":30000000000}', "+TERM reason": b"+TERM why",
                   "bogus": b"+XYZ"}.get(kind, kind.encode())
        r = self.reply("ack")
        return JsOp(pub_bytes(target, payload, r), ("one", r), wait=1.0, note="ack")

    # -- odd requests ----------------------------------------------------------

    def account_info(self):
        return self.api("INFO", self.rng.choice([b"", b"", b"{}"]))

    def invalid(self):
        rng = self.rng
        kind = rng.choice(["unknown", "extra_token", "no_reply", "missing_stream",
                           "bad_json", "empty_get"])
        if kind == "unknown":
            return self.api(rng.choice(["STREAM.FOO", "CONSUMER.BAR.S1", "NOPE"]), b"",
                            expect=("none",))
        if kind == "extra_token":
            return self.api("STREAM.INFO.S1.extra", b"", expect=("none",))
        if kind == "no_reply":
            # Executed, never answered; an INFO of the same stream follows.
            name = self.stream_name()
            first = pub_bytes("$JS.API.STREAM.INFO." + name, b"")
            r = self.reply("api")
            data = first + pub_bytes("$JS.API.STREAM.INFO." + name, b"", r)
            return JsOp(data, ("one", r), note="stream")
        if kind == "missing_stream":
            # Bodies with known fields only: Go 2.11+ refuses unknown ones.
            return self.api(*rng.choice([("STREAM.INFO.NOPE", b""), ("STREAM.PURGE.NOPE", b""),
                                         ("STREAM.PURGE.NOPE", b'{"seq":1}'),
                                         ("STREAM.MSG.GET.NOPE", b'{"seq":1}'),
                                         ("CONSUMER.NAMES.NOPE", b""),
                                         ("STREAM.DELETE.NOPE", b""),
                                         ("CONSUMER.INFO.NOPE.C1", b"")]))
        if kind == "bad_json":
            return self.api(rng.choice(["STREAM.CREATE.S1", "STREAM.UPDATE.S1",
                                        "STREAM.MSG.GET.S1", "STREAM.PURGE.S1",
                                        "STREAM.INFO.S1", "STREAM.NAMES",
                                        "CONSUMER.CREATE.S1.C1", "STREAM.MSG.DELETE.S1"]),
                            rng.choice([b"{", b"{\"name\":}", b"{nope", b"{1}", b"{\"x\"}"]))
        return self.api("STREAM.MSG.GET." + self.stream_name(), b"")

    # -- the scenario --------------------------------------------------------

    def random_op(self):
        rng = self.rng
        m = self.m
        weights = [("stream_create", 12 if len(m.streams) < 2 else 5), ("stream_update", 2),
                   ("publish", 30), ("stream_info", 6), ("msg_get", 5), ("direct_get", 4),
                   ("msg_delete", 3), ("purge", 3), ("consumer_create", 10 if m.streams else 3),
                   ("pull", 14 if m.consumers else 1), ("ack", 12 if m.pulls else 1),
                   ("consumer_info", 5), ("consumer_names", 2), ("consumer_delete", 2),
                   ("stream_names", 2), ("stream_delete", 1), ("account_info", 2),
                   ("invalid", 4)]
        return getattr(self, weighted(rng, weights))()

    def build(self):
        rng = self.rng
        self.scn.steps.append(Step("open", 0, "client"))
        # The connection: headers and no_responders on, one inbox wildcard.
        self.scn.steps.append(Step("send", 0, ops=[Op(
            b'CONNECT {"verbose":false,"pedantic":false,"headers":true,'
            b'"no_responders":true,"protocol":1,"lang":"difftest","version":"0.0.1"}\r\n'
            b"SUB _INBOX.> 1\r\n")]))
        self.add(self.stream_create(valid=True))
        # Most scenarios start with something to consume.
        if rng.random() < 0.75:
            for _ in range(rng.randint(1, 5)):
                self.add(self.publish())
            self.add(self.consumer_create(valid=True))
        for _ in range(rng.randint(12, 40)):
            self.add(self.random_op())
        return self.scn
