"""The monitoring port's index page draws the cluster mesh as inline SVG:
this server in the centre, every route around it with the peer's name,
direction (solicited or accepted, as /routez did_solicit), RTT, pending
bytes and message rates. Also checked rendered in a real headless browser
(Debian's ``chromium``); its screenshot is written under the test's tmp dir
and its path listed in the run's "measurements" summary.

rnats only: the Go server's index page is a plain list of links."""

import os
import re
import shutil
import struct
import subprocess
import time
import xml.etree.ElementTree as ET
import zlib

import pytest

from harness import HOST, SERVER_IS_RNATS, http_get, http_get_json, open_client, pub, sync_interest, wait_full_mesh

pytestmark = pytest.mark.skipif(not SERVER_IS_RNATS, reason="the mesh drawing is rnats' own index page")

SVG_NS = "{http://www.w3.org/2000/svg}"
SOLICITED_RGB = (0x1F, 0x6F, 0xEB)
ACCEPTED_RGB = (0x1A, 0x7F, 0x37)
CHROMIUM_TIMEOUT = 90


def svg_of(page):
    """The inline <svg> element of the index page, parsed as XML (which also
    proves it well-formed: every peer-controlled string was escaped)."""
    start, end = page.index("<svg"), page.index("</svg>") + len("</svg>")
    return ET.fromstring(page[start:end])


def peers_of(svg):
    """remote name -> (direction, all text of its box)."""
    out = {}
    for g in svg.iter(SVG_NS + "g"):
        if g.get("class") != "peer":
            continue
        title = g.find(SVG_NS + "title").text
        name = title.split(" (", 1)[0]
        texts = [t.text or "" for t in g.iter(SVG_NS + "text")]
        out[name] = (g.get("data-direction"), "\n".join(texts))
    return out


def wait_rtts(node, timeout=10.0):
    """/routez of ``node`` once every route has a measured RTT."""
    deadline = time.monotonic() + timeout
    while True:
        rz = http_get_json(node.http_port, "/routez")
        if rz["routes"] and all(r["rtt"] != "0s" for r in rz["routes"]):
            return rz
        assert time.monotonic() < deadline, "RTT never measured: %s" % rz
        time.sleep(0.1)


@pytest.fixture
def mesh3(cluster):
    # One name with markup characters: names come from peers and must be
    # escaped (the command line allows them, as Go's does).
    a = cluster.node(name="mesh-a")
    b = cluster.node(routes=[a], name="mesh-b")
    c = cluster.node(routes=[a], name="mesh-c<&>")
    nodes = [a, b, c]
    wait_full_mesh(nodes)
    return nodes


def test_index_page_draws_routes(mesh3):
    a, b, c = mesh3
    for node in mesh3:
        rz = wait_rtts(node)
        status, ctype, body = http_get(node.http_port, "/")
        assert status == 200 and ctype.startswith("text/html")
        page = body.decode()
        # The endpoint links are still there.
        for link in ("varz", "connz", "routez", "subsz", "healthz"):
            assert "<a href=./%s>" % link in page, link
        assert re.search(r'<meta http-equiv="refresh" content="\d+">', page)
        assert "mesh-c<&>" not in page and "mesh-c&lt;&amp;&gt;" in page
        svg = svg_of(page)
        peers = peers_of(svg)
        want = {r["remote_name"]: ("solicited" if r["did_solicit"] else "accepted") for r in rz["routes"]}
        assert len(want) == 2 and node.name not in want
        assert {n: d for n, (d, _) in peers.items()} == want, (peers, want)
        for name, (direction, text) in peers.items():
            assert ("solicited (we dialed)" if direction == "solicited" else "accepted (peer dialed)") in text
            assert re.search(r"rtt \d+(\.\d+)?(ns|µs|ms|s) · pending \d", text), text
            assert re.search(r"in [\d.]+ msg/s · out [\d.]+ msg/s", text), text
        # Our own box in the centre.
        centre = [g for g in svg.iter(SVG_NS + "g") if g.get("class") == "self"]
        assert len(centre) == 1 and node.name.replace("<&>", "") in ET.tostring(centre[0], encoding="unicode")
        lines = [ln for ln in svg.iter(SVG_NS + "line") if ln.get("data-rid")]
        assert len(lines) == 2
        assert {ln.get("class") for ln in lines} == set(want.values())
    # b dialed a (its configured route); a accepted both.
    assert peers_of(svg_of(http_get(b.http_port, "/")[2].decode()))["mesh-a"][0] == "solicited"
    assert {d for d, _ in peers_of(svg_of(http_get(a.http_port, "/")[2].decode())).values()} == {"accepted"}


def test_rates_since_previous_load_and_svg_endpoint(mesh3):
    a, b, c = mesh3
    http_get(b.http_port, "/")
    first = time.monotonic()
    sub = open_client(c)
    sender = open_client(b)
    try:
        sub.send("SUB rate.test 1\r\n")
        sync_interest(sub, [sender])
        n = 400
        sender.send(b"".join(pub("rate.test", "x%d" % i) for i in range(n)))
        sender.ping(timeout=5.0)
        got = 0
        deadline = time.monotonic() + 10
        while got < n and time.monotonic() < deadline:
            op = sub.poll_op(deadline - time.monotonic())
            if op is not None and op.kind == "MSG" and op.args[0] == "rate.test":
                got += 1
        assert got == n
    finally:
        sub.close()
        sender.close()
    time.sleep(max(0.0, 1.2 - (time.monotonic() - first)))
    status, ctype, body = http_get(b.http_port, "/meshz.svg")
    assert status == 200 and ctype.startswith("image/svg+xml")
    svg = ET.fromstring(body.decode())
    legend = " ".join(t.text or "" for t in svg.iter(SVG_NS + "text"))
    assert "since the previous load of this page" in legend
    _, text = peers_of(svg)["mesh-c<&>"]
    out_rate = float(re.search(r"out ([\d.]+) msg/s", text).group(1))
    assert out_rate > 0, text
    total_out = int(re.search(r"total in [\d,]+ · out ([\d,]+)", text).group(1).replace(",", ""))
    assert total_out >= n


def test_no_routes(start_server):
    from harness import free_port
    http = free_port()
    start_server("-m", str(http))
    page = http_get(http, "/")[2].decode()
    svg = svg_of(page)
    assert peers_of(svg) == {}
    assert "not clustered" in page


# ---------------------------------------------------------------------------
# Rendering in a real browser
# ---------------------------------------------------------------------------

def png_pixels(data):
    """(width, height, rows of RGB tuples) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    width, height, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, ihdr
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            ul = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + left) & 0xFF
            elif f == 2:
                line[i] = (line[i] + up) & 0xFF
            elif f == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif f == 4:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else ul)
                line[i] = (line[i] + pred) & 0xFF
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def near(px, rgb, tol=8):
    return all(abs(p - q) <= tol for p, q in zip(px, rgb))


def chromium_cmd(tmp_path, *extra):
    profile = tmp_path / ("chromium-profile-%s" % os.urandom(4).hex())
    profile.mkdir()
    return ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--user-data-dir=%s" % profile, "--window-size=1000,800", *extra]


def run_chromium(cmd):
    """Runs chromium in its own process group, killed (that group only) if
    it outlives the timeout."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        p.communicate()
        raise AssertionError("chromium did not finish within %d s" % CHROMIUM_TIMEOUT)
    return p.returncode, out, err


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Debian's chromium is not installed (apt-get install -y chromium; scripts/test.sh does it)")
def test_rendered_in_headless_chromium(mesh3, tmp_path, record_property):
    a, b, c = mesh3
    # b and c: one dialed the other, so one of them has a route of each
    # direction; draw that one.
    routez = {n.name: wait_rtts(n) for n in (b, c)}
    node = next(n for n in (b, c) if {r["did_solicit"] for r in routez[n.name]["routes"]} == {True, False})
    url = "http://%s:%d/" % (HOST, node.http_port)

    shot = tmp_path / "meshpage.png"
    rc, out, err = run_chromium(chromium_cmd(tmp_path, "--screenshot=%s" % shot, url))
    assert rc == 0 and shot.is_file(), err.decode(errors="replace")[-2000:]
    print("mesh page screenshot: %s" % shot)
    record_property("measured", "mesh page screenshot of %s: %s" % (node.name, shot))
    data = shot.read_bytes()
    assert len(data) > 10_000, len(data)
    width, height, rows = png_pixels(data)
    assert (width, height) == (1000, 800)
    colours = {px for row in rows[::4] for px in row[::4]}
    assert len(colours) > 50, "screenshot nearly one colour: %d colours" % len(colours)
    # Both kinds of edge were painted: the solicited blue and accepted green.
    flat = [px for row in rows for px in row]
    assert sum(near(px, SOLICITED_RGB) for px in flat) > 100
    assert sum(near(px, ACCEPTED_RGB) for px in flat) > 100

    rc, out, err = run_chromium(chromium_cmd(tmp_path, "--dump-dom", url))
    assert rc == 0, err.decode(errors="replace")[-2000:]
    dom = out.decode()
    assert re.search(r'<svg[^>]* id="mesh"', dom)
    assert dom.count('<g class="peer"') == 2
    assert 'data-direction="solicited"' in dom and 'data-direction="accepted"' in dom
    others = [n for n in mesh3 if n is not node]
    for other in others:
        assert other.name.replace("<&>", "&lt;&amp;&gt;") in dom, other.name
    assert dom.count("<line") >= 2 and "marker-end" in dom
