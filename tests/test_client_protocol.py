"""Client protocol over raw sockets: INFO, CONNECT, PUB/SUB/MSG, headers,
queue groups, wildcards, UNSUB, echo, no_responders, and the error paths.

All tests share one default-configured server per module; each test uses its
own subjects and connections, and uses a PING/PONG round trip (never a sleep)
to know the server has processed what was sent before. The tests marked
against_go start their own servers instead, the server under test and each
Go version with the same assertions: CONNECT keys in any case and a null
CONNECT, a second CONNECT merged into the first, HPUB without headers,
subjects with an empty token, max_control_line counting the arguments only.
"""

import json

import pytest

from harness import SERVER_IS_RNATS, Client, hmsg, hpub, msg, pub

UNKNOWN_OP = b"-ERR 'Unknown Protocol Operation'\r\n"


@pytest.fixture(autouse=True)
def server_survives(server):
    """Whatever a test sends, the shared server must still be running after it."""
    yield
    assert server.is_running(), "server died; output:\n" + server.log_text()[-4000:]


@pytest.fixture
def connect(server, clients):
    """Open a client, send CONNECT with the given options, sync with PING."""

    def _connect(**opts):
        c = clients(server)
        c.connect(**opts)
        if opts.get("verbose"):
            c.expect(b"+OK\r\n")
        c.ping()
        return c

    return _connect


# ---------------------------------------------------------------------------
# INFO
# ---------------------------------------------------------------------------

def test_info_on_accept_has_the_expected_fields(server, clients):
    c = clients(server)
    info = c.info
    for key in ("server_id", "server_name", "version", "proto", "go", "host",
                "port", "headers", "max_payload", "client_id", "client_ip"):
        assert key in info, "INFO lacks %r: %r" % (key, info)
    assert isinstance(info["server_id"], str) and info["server_id"]
    assert isinstance(info["server_name"], str) and info["server_name"]
    assert isinstance(info["version"], str) and info["version"].count(".") >= 2
    assert isinstance(info["go"], str)
    assert info["proto"] == 1
    assert info["host"] == "127.0.0.1"
    assert info["port"] == server.port
    assert info["headers"] is True
    assert info["max_payload"] == 1048576
    assert isinstance(info["client_id"], int) and info["client_id"] >= 1
    assert info["client_ip"] == "127.0.0.1"
    # Present only when the server requires authentication.
    assert "auth_required" not in info
    assert "tls_required" not in info
    # A lone server advertises no cluster URLs.
    assert "connect_urls" not in info


def test_info_line_ends_with_space_crlf(server, clients):
    c = clients(server)
    assert c.info_line.startswith(b"INFO {")
    assert c.info_line.endswith(b"} \r\n")
    assert c.info_line.count(b"\n") == 1


def test_info_is_sent_before_the_client_says_anything(server, clients):
    c = clients(server, read_info=False)
    line = c.read_line(timeout=2.0)
    assert line.startswith(b"INFO ")
    c.assert_no_data(0.1)


def test_client_ids_are_distinct_and_increasing(server, clients):
    a = clients(server)
    b = clients(server)
    assert b.info["client_id"] > a.info["client_id"]
    assert a.info["server_id"] == b.info["server_id"]


# ---------------------------------------------------------------------------
# CONNECT
# ---------------------------------------------------------------------------

def test_connect_empty_object_defaults_to_verbose(server, clients):
    c = clients(server)
    c.send(b"CONNECT {}\r\n")
    c.expect(b"+OK\r\n")
    c.send(b"PING\r\n")
    c.expect(b"PONG\r\n")
    c.assert_no_data(0.1)


def test_connect_without_space_before_json(server, clients):
    c = clients(server)
    c.send(b'CONNECT{"verbose":false}\r\nPING\r\n')
    c.expect(b"PONG\r\n")


def test_verbose_ok_after_sub_pub_unsub_but_not_ping(server, clients):
    c = clients(server)
    c.send(b'CONNECT {"verbose":true}\r\n')
    c.expect(b"+OK\r\n")
    c.send(b"SUB vb.foo 1\r\n")
    c.expect(b"+OK\r\n")
    c.send(pub("vb.foo", "hi"))
    c.expect(b"+OK\r\n" + msg("vb.foo", 1, "hi"))
    c.send(b"UNSUB 1\r\n")
    c.expect(b"+OK\r\n")
    c.send(b"PING\r\n")
    c.expect(b"PONG\r\n")
    c.send(pub("vb.foo", "hi"))
    c.expect(b"+OK\r\n")
    c.ping()
    c.assert_no_data(0.1)


def test_verbose_ok_for_unsub_of_unknown_sid(server, clients):
    c = clients(server)
    c.send(b'CONNECT {"verbose":true}\r\nUNSUB 999\r\nPING\r\n')
    c.expect(b"+OK\r\n+OK\r\nPONG\r\n")


def test_connect_unknown_keys_are_ignored(server, clients):
    c = clients(server)
    opts = {
        "verbose": False,
        "pedantic": False,
        "lang": "python",
        "version": "0.0.0",
        "name": "unknown-keys",
        "x_unknown": "value",
        "x_nested": {"a": [1, 2, {"b": None}], "c": True},
        "x_number": 1.5e3,
        "x_list": [],
    }
    c.send(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
    c.expect(b"PONG\r\n")


def test_connect_protocol_2_is_rejected(server, clients):
    c = clients(server)
    c.send(b'CONNECT {"verbose":false,"protocol":2}\r\n')
    assert c.read_until_closed() == b"-ERR 'invalid client protocol'\r\n"


@pytest.mark.parametrize("proto", [0, 1])
def test_connect_protocol_0_and_1_are_accepted(server, clients, proto):
    c = clients(server)
    c.send(b'CONNECT {"verbose":false,"protocol":%d}\r\nPING\r\n' % proto)
    c.expect(b"PONG\r\n")


def test_connect_no_responders_requires_headers(server, clients):
    c = clients(server)
    c.send(b'CONNECT {"verbose":false,"no_responders":true}\r\n')
    assert c.read_until_closed() == b"-ERR 'no responders requires headers support'\r\n"


def test_connect_account_field_is_an_authorization_violation(server, clients):
    c = clients(server)
    c.send(b'CONNECT {"verbose":false,"account":"A"}\r\n')
    assert c.read_until_closed() == b"-ERR 'Authorization Violation'\r\n"


def test_connect_with_invalid_json_closes_without_err(server, clients):
    c = clients(server)
    c.send(b"CONNECT {bad\r\nPING\r\n")
    assert c.read_until_closed() == b""


def test_connect_is_optional_without_auth(server, clients):
    # Without CONNECT the connection runs with the CONNECT defaults, which
    # include verbose mode: +OK after SUB and after PUB.
    c = clients(server)
    c.send(b"SUB opt.foo 1\r\n" + pub("opt.foo", "x") + b"PING\r\n")
    c.expect(b"+OK\r\n+OK\r\n" + msg("opt.foo", 1, "x") + b"PONG\r\n")


def test_second_connect_is_accepted(server, clients):
    c = clients(server)
    c.send(b'CONNECT {"verbose":false}\r\nCONNECT {"verbose":true}\r\n')
    c.expect(b"+OK\r\n")
    c.send(b"PING\r\n")
    c.expect(b"PONG\r\n")


@pytest.mark.against_go
def test_connect_keys_case_insensitive_and_null(oracle, launch):
    srv = launch(oracle[1])
    c = Client(srv.port)
    c.send(b'CONNECT {"Verbose":true,"PEDANTIC":false}\r\nPING\r\n')
    c.expect(b"+OK\r\nPONG\r\n")
    c2 = Client(srv.port)
    c2.send(b"CONNECT null\r\nPING\r\n")
    c2.expect(b"+OK\r\nPONG\r\n")  # Go's defaults: verbose on


@pytest.mark.against_go
def test_second_connect_merges(oracle, launch):
    srv = launch(oracle[1], "--user", "u", "--pass", "p")
    c = Client(srv.port)
    c.send(b'CONNECT {"verbose":false,"user":"u","pass":"p"}\r\nPING\r\n')
    c.expect(b"PONG\r\n")
    c.send(b'CONNECT {"name":"again"}\r\nPING\r\n')
    c.expect(b"PONG\r\n")


# ---------------------------------------------------------------------------
# PUB / SUB / MSG framing
# ---------------------------------------------------------------------------

def test_pub_sub_without_reply(connect):
    c = connect()
    c.send(b"SUB ps.foo 1\r\n" + pub("ps.foo", "hello") + b"PING\r\n")
    c.expect(b"MSG ps.foo 1 5\r\nhello\r\nPONG\r\n")


def test_pub_sub_with_reply(connect):
    c = connect()
    c.send(b"SUB ps.bar 7\r\nPUB ps.bar ps.reply 5\r\nhello\r\nPING\r\n")
    c.expect(b"MSG ps.bar 7 ps.reply 5\r\nhello\r\nPONG\r\n")


def test_zero_length_payload(connect):
    c = connect()
    c.send(b"SUB ps.zero 1\r\nPUB ps.zero 0\r\n\r\nPUB ps.zero r 0\r\n\r\nPING\r\n")
    c.expect(b"MSG ps.zero 1 0\r\n\r\nMSG ps.zero 1 r 0\r\n\r\nPONG\r\n")


def test_sid_is_echoed_verbatim(connect):
    c = connect()
    c.send(b"SUB ps.sid abc-XYZ_9\r\n" + pub("ps.sid", "x") + b"PING\r\n")
    c.expect(b"MSG ps.sid abc-XYZ_9 1\r\nx\r\nPONG\r\n")


def test_payload_is_opaque_bytes(connect):
    c = connect()
    payload = bytes(range(256)) + b"\r\nPING\r\nMSG x 1 1\r\n"
    c.send(b"SUB ps.bin 1\r\n" + pub("ps.bin", payload) + b"PING\r\n")
    c.expect(msg("ps.bin", 1, payload) + b"PONG\r\n")


def test_payload_of_exactly_max_payload(connect):
    c = connect()
    payload = b"z" * 1048576
    c.send(b"SUB ps.max 1\r\n" + pub("ps.max", payload) + b"PING\r\n")
    c.expect(msg("ps.max", 1, payload) + b"PONG\r\n", timeout=5)


def test_lower_and_mixed_case_ops(connect):
    c = connect()
    c.send(b"sub ci.a 1\r\nSub ci.b 2\r\npub ci.a 1\r\na\r\nPuB ci.b 1\r\nb\r\n"
           b"unsub 1\r\npub ci.a 1\r\nc\r\npInG\r\n")
    c.expect(msg("ci.a", 1, "a") + msg("ci.b", 2, "b") + b"PONG\r\n")
    c.send(b"ping\r\n")
    c.expect(b"PONG\r\n")


def test_lower_case_connect(server, clients):
    c = clients(server)
    c.send(b'connect {"verbose":true}\r\n')
    c.expect(b"+OK\r\n")


def test_tabs_and_multiple_spaces_between_args(connect):
    c = connect()
    c.send(b"SUB  \t ws.foo \t\t q1   1\r\n"
           b"SUB\tws.foo\t2\r\n"
           b"PUB \t ws.foo  \t ws.r \t 2\r\nhi\r\n")
    ops = c.flush()
    # One copy per subscription; the order between the two is not specified.
    raws = sorted(op.raw for op in ops)
    assert raws == sorted([msg("ws.foo", 1, "hi", reply="ws.r"),
                           msg("ws.foo", 2, "hi", reply="ws.r")])


def test_trailing_whitespace_on_control_line(connect):
    c = connect()
    c.send(b"SUB tw.foo 1 \r\nPUB tw.foo 2  \r\nhi\r\nPING\r\n")
    c.expect(msg("tw.foo", 1, "hi") + b"PONG\r\n")


def test_lf_only_line_endings(connect):
    c = connect()
    # Control lines may end in a bare LF; the payload must still end in CRLF.
    c.send(b"SUB lf.foo 1\nPUB lf.foo 5\nhello\r\nPING\n")
    c.expect(msg("lf.foo", 1, "hello") + b"PONG\r\n")


def test_line_end_right_after_the_verb_starts_the_arguments(connect):
    # The first byte after the verb's blanks starts the arguments even when it
    # is a CR or LF, so it does not end the line. SUB and UNSUB split their
    # arguments on CR and LF too; PUB splits only on blanks, so there the CR
    # or LF becomes part of the subject.
    c = connect()
    c.send(b"SUB \nle.foo 1\r\nSUB\t\rle.foo 2\r\nPUB le.foo 2\r\nhi\r\n")
    raws = sorted(op.raw for op in c.flush())
    assert raws == sorted([msg("le.foo", 1, "hi"), msg("le.foo", 2, "hi")])
    c.send(b"UNSUB \n2\r\nPUB \nle.foo 2\r\nno\r\nPUB le.foo\rx 2\r\nno\r\n"
           b"PUB le.foo 2\r\nho\r\n")
    assert [op.raw for op in c.flush()] == [msg("le.foo", 1, "ho")]


def test_line_break_inside_pub_subject_reaches_no_subscriber(connect):
    # PUB keeps a CR or LF inside its arguments in the subject (Go splits PUB
    # arguments on blanks only), so no literal subscriber matches.
    c = connect()
    c.send(b"SUB lb.foo 1\r\nSUB lb.foo.bar 2\r\n")
    c.ping()
    c.send(b"PUB lb.foo\rbar 1\r\nx\r\nPUB \nlb.foo 1\r\nz\r\nPUB lb.foo 2\r\nok\r\n")
    assert [op.raw for op in c.flush()] == [msg("lb.foo", 1, "ok")]
    if SERVER_IS_RNATS:
        # Go hands such a subject to a full wildcard, and a reply holding a
        # CR or LF to any subscriber, where the MSG line breaks the
        # subscriber's parsing; this server drops those messages.
        w = connect()
        w.send(b"SUB > 9\r\n")
        w.ping()
        c.send(b"PUB lb.x\ry 1\r\nx\r\nPUB lb.x lb.r\rq 1\r\ny\r\nPUB lb.x 2\r\nok\r\n")
        assert [op.raw for op in w.flush()] == [msg("lb.x", 9, "ok")]


def test_line_end_after_verb_split_one_byte_per_send(connect):
    c = connect()
    data = b"SUB \nls.foo 1\r\nUNSUB\t\n7\r\nPUB ls.foo 2\r\nhi\r\nPING\r\n"
    for i in range(len(data)):
        c.send(data[i:i + 1])
    c.expect(msg("ls.foo", 1, "hi") + b"PONG\r\n")


def test_ops_split_one_byte_per_send(server, clients):
    c = clients(server)
    data = (b'CONNECT {"verbose":false}\r\nSUB split.foo 1\r\n'
            + pub("split.foo", "hello", reply="split.r") + b"PING\r\n")
    for i in range(len(data)):
        c.send(data[i:i + 1])
    c.expect(msg("split.foo", 1, "hello", reply="split.r") + b"PONG\r\n")


def test_large_payload_split_across_sends(connect):
    c = connect()
    payload = bytes(i % 251 for i in range(200000))
    data = b"SUB split.big 1\r\n" + pub("split.big", payload) + b"PING\r\n"
    step = 997
    for i in range(0, len(data), step):
        c.send(data[i:i + step])
    c.expect(msg("split.big", 1, payload) + b"PONG\r\n", timeout=5)


def test_many_ops_in_one_send(connect):
    c = connect()
    n = 500
    data = b"SUB many.foo 1\r\n" + b"".join(pub("many.foo", str(i)) for i in range(n))
    c.send(data + b"PING\r\n")
    c.expect(b"".join(msg("many.foo", 1, str(i)) for i in range(n)) + b"PONG\r\n", timeout=5)


@pytest.mark.parametrize("nsubs", [1, 3])
def test_megabytes_of_pipelined_ops_in_one_send(connect, nsubs):
    """Several MiB of PUBs of mixed sizes in one send: ops cross every read
    boundary the server uses (64 KiB, 256 KiB when the publisher fans out,
    1 MiB); each subscriber receives them all, in order, byte for byte."""
    subs = [connect() for _ in range(nsubs)]
    for sub in subs:
        sub.send(b"SUB mib.foo 1\r\n")
        sub.ping()
    pubc = connect()
    sizes = [0, 1, 7, 100, 1000, 4093, 65535, 65536, 65537, 300000]
    payloads = []
    total = 0
    i = 0
    while total < 4 * 1024 * 1024:
        n = sizes[i % len(sizes)]
        body = (b"%08d" % i + bytes((i + k) % 251 for k in range(n)))[:max(n, 8)]
        payloads.append(body)
        total += len(body) + 30
        i += 1
    pubc.send(b"".join(pub("mib.foo", b) for b in payloads) + b"PING\r\n")
    pubc.expect(b"PONG\r\n", timeout=20)
    want = b"".join(msg("mib.foo", 1, b) for b in payloads)
    for sub in subs:
        sub.expect(want, timeout=20)
        sub.ping()


def test_ping_with_trailing_text_is_a_ping(connect):
    c = connect()
    c.send(b"PINGxyz\r\n")
    c.expect(b"PONG\r\n")
    c.send(b"PING extra words\r\n")
    c.expect(b"PONG\r\n")


def test_pong_and_ok_and_info_from_client_are_ignored(connect):
    c = connect()
    c.send(b"PONG\r\n+OK\r\nINFO {}\r\nPING\r\n")
    c.expect(b"PONG\r\n")
    c.assert_no_data(0.1)


def test_pings_are_answered_in_order(connect):
    c = connect()
    c.send(b"PING\r\n" * 20)
    c.expect(b"PONG\r\n" * 20)


# ---------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------

HDR = b"NATS/1.0\r\nA: b\r\n\r\n"


def test_hpub_to_header_subscriber(connect):
    c = connect(headers=True)
    c.send(b"SUB h.foo 1\r\n" + hpub("h.foo", HDR, "hello") + b"PING\r\n")
    c.expect(b"HMSG h.foo 1 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\nPONG\r\n")


def test_hpub_with_reply(connect):
    c = connect(headers=True)
    c.send(b"SUB h.rep 3\r\n" + hpub("h.rep", HDR, "", reply="h.inbox") + b"PING\r\n")
    c.expect(hmsg("h.rep", 3, HDR, "", reply="h.inbox") + b"PONG\r\n")


def test_hpub_to_subscriber_without_headers_gets_plain_msg(connect):
    pub_conn = connect(headers=True)
    plain = connect()
    plain.send(b"SUB h.strip 5\r\n")
    plain.ping()
    pub_conn.send(hpub("h.strip", HDR, "hello", reply="h.r") + b"PING\r\n")
    pub_conn.expect(b"PONG\r\n")
    plain.expect(msg("h.strip", 5, "hello", reply="h.r"))
    plain.ping()


def test_hpub_with_zero_header_length_is_a_plain_message(connect):
    c = connect(headers=True)
    c.send(b"SUB h.zero 1\r\nHPUB h.zero 0 5\r\nhello\r\nPING\r\n")
    c.expect(msg("h.zero", 1, "hello") + b"PONG\r\n")


def test_pub_to_header_subscriber_is_plain_msg(connect):
    c = connect(headers=True)
    c.send(b"SUB h.plain 1\r\n" + pub("h.plain", "x") + b"PING\r\n")
    c.expect(msg("h.plain", 1, "x") + b"PONG\r\n")


def test_hpub_without_headers_negotiated_closes_silently(connect):
    c = connect()
    c.send(hpub("h.none", HDR, "hello"))
    assert c.read_until_closed() == b""


def test_hpub_header_larger_than_total_closes_silently(connect):
    c = connect(headers=True)
    c.send(b"HPUB h.bad 20 10\r\n")
    assert c.read_until_closed() == b""


@pytest.mark.against_go
def test_hpub_without_headers_closes_silently(oracle, launch):
    srv = launch(oracle[1])
    c = Client(srv.port)
    c.send(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
    c.expect(b"PONG\r\n")
    c.send(b"HPUB foo 12 99999999\r\n")
    assert c.read_until_closed(timeout=3.0) == b""


# ---------------------------------------------------------------------------
# Subscriptions, queue groups, wildcards
# ---------------------------------------------------------------------------

def test_queue_subscriber_receives_plain_msg(connect):
    c = connect()
    c.send(b"SUB q.one grp 4\r\n" + pub("q.one", "hi", reply="r") + b"PING\r\n")
    c.expect(msg("q.one", 4, "hi", reply="r") + b"PONG\r\n")


def test_queue_group_each_message_to_exactly_one_member(connect):
    m1 = connect()
    m2 = connect()
    plain = connect()
    other_group = connect()
    m1.send(b"SUB qg.foo g 1\r\n")
    m2.send(b"SUB qg.foo g 2\r\n")
    plain.send(b"SUB qg.foo 3\r\n")
    other_group.send(b"SUB qg.foo h 4\r\n")
    for c in (m1, m2, plain, other_group):
        c.ping()
    publisher = connect()
    n = 50
    publisher.send(b"".join(pub("qg.foo", str(i)) for i in range(n)))
    publisher.ping()

    got1 = [op.payload for op in m1.flush()]
    got2 = [op.payload for op in m2.flush()]
    got_plain = [op.payload for op in plain.flush()]
    got_other = [op.payload for op in other_group.flush()]
    expected = [str(i).encode() for i in range(n)]
    assert len(got1) + len(got2) == n
    assert sorted(got1 + got2, key=int) == expected
    assert got_plain == expected
    assert got_other == expected


def test_queue_group_members_on_one_connection(connect):
    c = connect()
    c.send(b"SUB qc.foo g 1\r\nSUB qc.foo g 2\r\n")
    c.send(b"".join(pub("qc.foo", str(i)) for i in range(20)))
    ops = c.flush()
    assert len(ops) == 20
    assert all(op.kind == "MSG" and op.args[1] in ("1", "2") for op in ops)
    assert [op.payload for op in ops] == [str(i).encode() for i in range(20)]


@pytest.mark.parametrize("pattern,subject,matches", [
    ("wc.*", "wc.foo", True),
    ("wc.*", "wc.foo.bar", False),
    ("wc.*", "wc", False),
    ("wc.*.baz", "wc.bar.baz", True),
    ("wc.*.baz", "wc.bar.qux", False),
    ("wc.>", "wc.foo", True),
    ("wc.>", "wc.foo.bar.baz", True),
    ("wc.>", "wc", False),
    ("wc.*.>", "wc.a.b", True),
    ("wc.*.>", "wc.a", False),
    ("wc.foo*", "wc.foo*", True),
    ("wc.foo*", "wc.foox", False),
    ("wc.foo*", "wc.foo", False),
    ("wc.a>b", "wc.a>b", True),
    ("wc.a>b", "wc.a.b", False),
    ("wc.exact", "wc.exact", True),
    ("wc.exact", "wc.exactly", False),
])
def test_subject_matching(connect, pattern, subject, matches):
    c = connect()
    c.send(b"SUB " + pattern.encode() + b" 1\r\n" + pub(subject, "m") + b"PING\r\n")
    expected = msg(subject, 1, "m") if matches else b""
    c.expect(expected + b"PONG\r\n")


def test_published_wildcard_characters_are_literal_tokens(connect):
    c = connect(pedantic=False)
    c.send(b"SUB lit.* 1\r\nSUB lit.x 2\r\n" + pub("lit.*", "a") + b"PING\r\n")
    # "lit.*" published matches the "*" subscription but not the literal "lit.x".
    c.expect(msg("lit.*", 1, "a") + b"PONG\r\n")


# Subjects with an empty token reach nobody.
EMPTY_TOKEN_SUBJECTS = ["w.", ".w", "w..x", "."]


@pytest.mark.against_go
def test_empty_token_subjects_are_not_delivered(oracle, launch):
    srv = launch(oracle[1])
    sub = Client(srv.port)
    sub.connect(pedantic=False)
    sub.send("SUB > 1\r\nSUB w.* 2\r\nSUB w.> 3\r\nSUB *.w 4\r\n")
    sub.ping()
    pub = Client(srv.port)
    pub.connect(pedantic=False)
    for s in EMPTY_TOKEN_SUBJECTS:
        pub.send("PUB %s 2\r\nhi\r\n" % s)
    pub.send("PUB w.ok 2\r\nok\r\n")
    pub.ping()
    got = sorted((op.args[0], op.args[1]) for op in (sub.read_op() for _ in range(3)))
    assert got == [("w.ok", "1"), ("w.ok", "2"), ("w.ok", "3")]
    sub.ping()


@pytest.mark.against_go
def test_empty_token_subjects_pedantic_error(oracle, launch):
    srv = launch(oracle[1])
    c = Client(srv.port)
    c.connect(pedantic=True)
    for s in EMPTY_TOKEN_SUBJECTS:
        c.send("PUB %s 2\r\nhi\r\n" % s)
        assert c.read_line() == b"-ERR 'Invalid Publish Subject'\r\n"
    c.ping()


def test_duplicate_sid_is_ignored(connect):
    c = connect()
    c.send(b"SUB dup.a 1\r\nSUB dup.b 1\r\n"
           + pub("dup.b", "b") + pub("dup.a", "a") + b"PING\r\n")
    c.expect(msg("dup.a", 1, "a") + b"PONG\r\n")


def test_unsub(connect):
    c = connect()
    c.send(b"SUB un.foo 1\r\n" + pub("un.foo", "1") + b"UNSUB 1\r\n"
           + pub("un.foo", "2") + b"PING\r\n")
    c.expect(msg("un.foo", 1, "1") + b"PONG\r\n")


def test_unsub_with_max(connect):
    c = connect()
    c.send(b"SUB um.foo 1\r\nUNSUB 1 2\r\n"
           + pub("um.foo", "a") + pub("um.foo", "b") + pub("um.foo", "c")
           + b"PING\r\n")
    c.expect(msg("um.foo", 1, "a") + msg("um.foo", 1, "b") + b"PONG\r\n")


def test_unsub_with_max_already_reached_removes_now(connect):
    c = connect()
    c.send(b"SUB um2.foo 1\r\n" + pub("um2.foo", "a") + pub("um2.foo", "b")
           + b"UNSUB 1 1\r\n" + pub("um2.foo", "c") + b"PING\r\n")
    c.expect(msg("um2.foo", 1, "a") + msg("um2.foo", 1, "b") + b"PONG\r\n")


def test_unsub_unknown_sid_is_fine(connect):
    c = connect()
    c.send(b"UNSUB nope\r\nUNSUB 12345 3\r\nPING\r\n")
    c.expect(b"PONG\r\n")


def test_resubscribe_after_unsub_reuses_sid(connect):
    c = connect()
    c.send(b"SUB rs.a 1\r\nUNSUB 1\r\nSUB rs.b 1\r\n"
           + pub("rs.a", "a") + pub("rs.b", "b") + b"PING\r\n")
    c.expect(msg("rs.b", 1, "b") + b"PONG\r\n")


def test_two_matching_subs_on_one_connection_get_two_copies(connect):
    c = connect()
    c.send(b"SUB two.foo 1\r\nSUB two.* 2\r\n" + pub("two.foo", "x") + b"PING\r\n")
    ops = c.flush()
    assert sorted(op.raw for op in ops) == sorted(
        [msg("two.foo", 1, "x"), msg("two.foo", 2, "x")])


def test_two_clients_exchange_messages(connect):
    a = connect()
    b = connect()
    a.send(b"SUB chat.a 1\r\n")
    b.send(b"SUB chat.b 1\r\n")
    a.ping()
    b.ping()
    a.send(pub("chat.b", "to-b", reply="chat.a") + b"PING\r\n")
    a.expect(b"PONG\r\n")
    b.expect(msg("chat.b", 1, "to-b", reply="chat.a"))
    b.send(pub("chat.a", "to-a") + b"PING\r\n")
    b.expect(b"PONG\r\n")
    a.expect(msg("chat.a", 1, "to-a"))
    a.ping()
    b.ping()


def test_subscriptions_die_with_their_connection(connect):
    sub = connect()
    sub.send(b"SUB gone.foo 1\r\n")
    sub.ping()
    watcher = connect()
    watcher.send(b"SUB gone.foo 2\r\n")
    watcher.ping()
    sub.close()
    # Once the server sees the close, publishing must not trouble anyone.
    p = connect()
    p.send(pub("gone.foo", "x"))
    p.ping()
    watcher.expect(msg("gone.foo", 2, "x"))


# ---------------------------------------------------------------------------
# echo and no_responders
# ---------------------------------------------------------------------------

def test_echo_false_suppresses_own_messages(connect):
    quiet = connect(echo=False)
    other = connect()
    quiet.send(b"SUB echo.foo 1\r\n")
    other.send(b"SUB echo.foo 1\r\n")
    quiet.ping()
    other.ping()
    quiet.send(pub("echo.foo", "me") + b"PING\r\n")
    quiet.expect(b"PONG\r\n")
    other.expect(msg("echo.foo", 1, "me"))
    # Messages from someone else still reach the echo:false connection.
    other.send(pub("echo.foo", "you"))
    other.expect(msg("echo.foo", 1, "you"))
    other.ping()
    quiet.expect(msg("echo.foo", 1, "you"))
    quiet.ping()


def test_echo_true_is_the_default(connect):
    c = connect()
    c.send(b"SUB echo2.foo 1\r\n" + pub("echo2.foo", "me") + b"PING\r\n")
    c.expect(msg("echo2.foo", 1, "me") + b"PONG\r\n")


def test_no_responders_status(connect):
    c = connect(headers=True, no_responders=True)
    c.send(b"SUB nr.inbox.1 9\r\n" + pub("nr.nobody", "req", reply="nr.inbox.1") + b"PING\r\n")
    ops = c.flush()
    assert len(ops) == 1, ops
    op = ops[0]
    legacy = b"HMSG nr.inbox.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
    # 2.12+ adds the original subject as a header.
    block = b"NATS/1.0 503\r\nNats-Subject: nr.nobody\r\n\r\n"
    current = b"HMSG nr.inbox.1 9 %d %d\r\n" % (len(block), len(block)) + block + b"\r\n"
    assert op.raw in (legacy, current), op.raw


def test_no_responders_without_own_reply_sub_sends_nothing(connect):
    c = connect(headers=True, no_responders=True)
    c.send(pub("nr2.nobody", "req", reply="nr2.inbox") + b"PING\r\n")
    c.expect(b"PONG\r\n")
    c.assert_no_data(0.1)


def test_no_responders_not_sent_when_someone_listens(connect):
    responder = connect()
    responder.send(b"SUB nr3.svc 1\r\n")
    responder.ping()
    c = connect(headers=True, no_responders=True)
    c.send(b"SUB nr3.inbox 2\r\n" + pub("nr3.svc", "req", reply="nr3.inbox") + b"PING\r\n")
    c.expect(b"PONG\r\n")
    responder.expect(msg("nr3.svc", 1, "req", reply="nr3.inbox"))


def test_no_responders_not_sent_without_the_option(connect):
    c = connect(headers=True)
    c.send(b"SUB nr4.inbox 2\r\n" + pub("nr4.nobody", "req", reply="nr4.inbox") + b"PING\r\n")
    c.expect(b"PONG\r\n")


# ---------------------------------------------------------------------------
# Protocol errors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    b"FOO bar\r\n",
    b"MSG foo 1 2\r\nhi\r\n",
    b"PUBfoo 0\r\n\r\n",
    b"UNSUB\r\n",
    b"X\r\n",
])
def test_unknown_operation(connect, data):
    c = connect()
    c.send(data)
    assert c.read_until_closed() == UNKNOWN_OP


def test_unknown_operation_before_connect(server, clients):
    c = clients(server)
    c.send(b"HELLO\r\n")
    assert c.read_until_closed() == UNKNOWN_OP


def test_wrong_bytes_after_payload(connect):
    c = connect()
    c.send(b"SUB wb.foo 1\r\nPUB wb.foo 2\r\nhello\r\n")
    assert c.read_until_closed() == UNKNOWN_OP


@pytest.mark.parametrize("data", [
    b"SUB foo\r\n",
    b"SUB a b c d\r\n",
    b"PUB foo\r\n",
    b"PUB foo bar baz 1\r\n",
    b"UNSUB 1 2 3\r\n",
    b"PUB foo abc\r\n",
    b"PUB foo -1\r\n",
    b"PUB foo 1234567890\r\n",
    b"PUB foo 1x\r\n",
])
def test_bad_arguments_close_without_err(connect, data):
    c = connect()
    c.send(data)
    assert c.read_until_closed() == b""


@pytest.mark.parametrize("subject", [b"foo..bar", b"foo.>.bar", b".foo", b"foo."])
def test_sub_invalid_subject_keeps_connection(connect, subject):
    c = connect()
    c.send(b"SUB " + subject + b" 1\r\n")
    c.expect(b"-ERR 'Invalid Subject'\r\n")
    c.send(b"SUB inv.ok 2\r\n" + pub("inv.ok", "x") + b"PING\r\n")
    c.expect(msg("inv.ok", 2, "x") + b"PONG\r\n")


def test_pub_to_wildcard_subject_without_pedantic_is_delivered(connect):
    c = connect(pedantic=False)
    c.send(b"SUB ped0.* 1\r\n" + pub("ped0.*", "x") + b"PING\r\n")
    c.expect(msg("ped0.*", 1, "x") + b"PONG\r\n")


def test_pedantic_publish_to_wildcard_subject(server, clients):
    c = clients(server)
    c.send(b'CONNECT {"verbose":true,"pedantic":true}\r\n')
    c.expect(b"+OK\r\n")
    c.send(b"SUB ped.* 1\r\n")
    c.expect(b"+OK\r\n")
    c.send(pub("ped.*", "hi") + b"PING\r\n")
    c.expect(b"-ERR 'Invalid Publish Subject'\r\n+OK\r\n" + msg("ped.*", 1, "hi") + b"PONG\r\n")


def test_pedantic_subject_error_comes_before_the_payload(server, clients):
    # The subject is checked when the PUB line is read: the -ERR arrives while
    # the payload is still unsent, and the message is delivered once it is.
    c = clients(server)
    c.send(b'CONNECT {"verbose":false,"pedantic":true}\r\nSUB pedl.> 1\r\n')
    c.ping()
    c.send(b"PUB pedl.* 2\r\n")
    c.expect(b"-ERR 'Invalid Publish Subject'\r\n")
    c.send(b"hi\r\nPUB pedl.x 2\r\n")
    c.send(b"ok\r\n")
    raws = [op.raw for op in c.flush()]
    # Go repeats the -ERR when the payload comes in a later read.
    errs = [r for r in raws if r.startswith(b"-ERR")]
    assert errs in ([], [b"-ERR 'Invalid Publish Subject'\r\n"])
    assert [r for r in raws if not r.startswith(b"-ERR")] == [msg("pedl.*", 1, "hi"), msg("pedl.x", 1, "ok")]


def test_control_line_too_long(connect):
    c = connect()
    c.send(b"SUB " + b"a" * 5000 + b" 1\r\n")
    assert c.read_until_closed() == b"-ERR 'maximum control line exceeded'\r\n"


def test_control_line_too_long_without_line_end(connect):
    c = connect()
    c.send(b"SUB " + b"a" * 5000)
    assert c.read_until_closed() == b"-ERR 'maximum control line exceeded'\r\n"


def test_control_line_just_under_limit_is_fine(connect):
    c = connect()
    subject = "cl." + "a" * 4000
    c.send(b"SUB " + subject.encode() + b" 1\r\n" + pub(subject, "x") + b"PING\r\n")
    c.expect(msg(subject, 1, "x") + b"PONG\r\n")


@pytest.mark.against_go
def test_control_line_limit_counts_arguments_only(oracle, launch):
    srv = launch(oracle[1], conf="max_control_line: 32\n")
    c = Client(srv.port)
    c.send(b'CONNECT {"verbose":false}\r\nPING\r\n')
    c.expect(b"PONG\r\n")
    exact = b"s" * 30 + b" 1"  # 32 bytes of arguments
    c.send(b"SUB " + exact + b"\r\nSUB   " + exact + b"\r\nPING" + b" " * 5000 + b"\r\n")
    c.expect(b"PONG\r\n")
    c.send(b"SUB " + b"s" * 31 + b" 1\r\n")
    assert c.read_until_closed(timeout=3.0) == b"-ERR 'maximum control line exceeded'\r\n"


def test_payload_over_max_payload(connect):
    c = connect()
    c.send(b"PUB mp.foo 1048577\r\n")
    assert c.read_until_closed() == b"-ERR 'Maximum Payload Violation'\r\n"


def test_hpub_total_over_max_payload(connect):
    c = connect(headers=True)
    c.send(b"HPUB mp.foo 12 1048577\r\n")
    assert c.read_until_closed() == b"-ERR 'Maximum Payload Violation'\r\n"


@pytest.mark.parametrize("reply", ["_R_.x", "$JS.ACK.x"])
def test_publish_with_reserved_reply(connect, reply):
    sub = connect()
    sub.send(b"SUB rr.foo 1\r\n")
    sub.ping()
    c = connect()
    c.send(pub("rr.foo", "hi", reply=reply))
    c.expect(b"-ERR 'Permissions Violation for Publish with Reply of \"%s\"'\r\n"
             % reply.encode())
    c.ping()
    sub.ping()  # the message was dropped


def test_err_from_client_closes(connect):
    c = connect()
    c.send(b"-ERR 'oops'\r\n")
    assert c.read_until_closed() == b""


def test_error_on_one_connection_leaves_others_alone(connect):
    good = connect()
    good.send(b"SUB iso.foo 1\r\n")
    good.ping()
    bad = connect()
    bad.send(b"BOGUS\r\n")
    assert bad.read_until_closed() == UNKNOWN_OP
    p = connect()
    p.send(pub("iso.foo", "still here"))
    p.ping()
    good.expect(msg("iso.foo", 1, "still here"))
    good.ping()
