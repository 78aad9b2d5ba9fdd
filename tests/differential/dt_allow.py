"""The allowlist of deliberate differences (allowlist.toml) and its mirror in
docs/compatibility.md's "Known differences from the Go server" section (or,
for an entry with ``documented``, the passage of the docs it quotes)."""

import os
import re
import tomllib

from dt_core import step_writes

HERE = os.path.dirname(os.path.abspath(__file__))
ALLOWLIST_PATH = os.path.join(HERE, "allowlist.toml")
# The page that lists the known differences, one bullet per allowlist id.
DOC_PATH = os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs", "compatibility.md")
DOC_SECTION = "## Known differences from the Go server"
DOC_ID_RE = re.compile(r"\(difftest allowlist: `([a-z0-9-]+)`\)")
DOC_NAME = "docs/compatibility.md"

RULES = ("drop-ops", "collapse-repeats", "none", "js-mask")

# Server ids are 56 characters: what a ``{{SELF_ID}}`` placeholder becomes.
SELF_ID_STAND_IN = b"N" * 56


class AllowlistError(ValueError):
    pass


class Allowlist:
    def __init__(self, entries):
        self.entries = entries
        self._drops = []
        self._collapse = []
        self._skips = []
        self._skip_alls = []
        self._route_start_skips = []
        self._leaf_start_skips = []
        self._beyond_skips = []
        # id -> profile names an entry's skip rules are limited to.
        self._profiles = {e["id"]: set(e["profiles"]) for e in entries if e.get("profiles")}
        for e in entries:
            if e.get("skip_sent"):
                self._skips.append((e["id"], re.compile(e["skip_sent"].encode("latin-1"))))
            for group in skip_sent_all_groups(e):
                self._skip_alls.append((e["id"], [re.compile(r.encode("latin-1"))
                                                  for r in group]))
            if e.get("skip_sent_beyond"):
                b = e["skip_sent_beyond"]
                self._beyond_skips.append((e["id"], re.compile(b["pattern"].encode("latin-1")),
                                           int(b["bytes"]), set(b["conns"])))
            if e.get("skip_route_start"):
                self._route_start_skips.append(
                    (e["id"], re.compile(e["skip_route_start"].encode("latin-1"))))
            if e.get("skip_leaf_start"):
                self._leaf_start_skips.append(
                    (e["id"], re.compile(e["skip_leaf_start"].encode("latin-1"))))
            kinds = set(e.get("applies_to", ["client", "route"]))
            if e["rule"] == "drop-ops":
                self._drops.append((re.compile(e["pattern"].encode("latin-1"), re.S), kinds))
            elif e["rule"] == "collapse-repeats":
                self._collapse.append((e["op"].encode("latin-1"), kinds))

    @property
    def ids(self):
        return [e["id"] for e in self.entries]

    def _applies(self, ident, scenario):
        profiles = self._profiles.get(ident)
        return profiles is None or scenario.profile["name"] in profiles

    def skip_reason(self, scenario):
        """The id of the entry whose ``skip_sent`` matches a write of the
        scenario (or another of its skip rules applies), or None."""
        kinds, started = {}, set()
        writes = [step.data() for step in scenario.steps if step.kind == "send"]
        for ident, rxs in self._skip_alls:
            if self._applies(ident, scenario) and all(
                    any(rx.search(w) for w in writes) for rx in rxs):
                return ident
        if self._beyond_skips:
            ident = self._beyond_reason(scenario)
            if ident:
                return ident
        start_skips = {"route": self._route_start_skips, "leaf": self._leaf_start_skips}
        for step in scenario.steps:
            if step.kind == "open":
                kinds[step.conn] = step.conn_kind or "client"
            if step.kind != "send":
                continue
            data = step.data()
            for ident, rx in self._skips:
                if rx.search(data) and self._applies(ident, scenario):
                    return ident
            kind = kinds.get(step.conn, "client")
            if kind in start_skips and step.conn not in started:
                started.add(step.conn)
                for ident, rx in start_skips[kind]:
                    if rx.match(data) and self._applies(ident, scenario):
                        return ident
        return None

    def _beyond_reason(self, scenario):
        """The id of the entry whose ``skip_sent_beyond`` pattern matches a
        write, on a connection of one of its kinds, with the match ending
        more than its ``bytes`` into that write."""
        kinds = {}
        for step in scenario.steps:
            if step.kind == "open":
                kinds[step.conn] = step.conn_kind or "client"
            if step.kind != "send":
                continue
            writes = step_writes(step, lambda d: d.replace(b"{{SELF_ID}}", SELF_ID_STAND_IN))
            for ident, rx, limit, conns in self._beyond_skips:
                if (kinds.get(step.conn, "client") not in conns
                        or not self._applies(ident, scenario)):
                    continue
                for w in writes:
                    if any(m.end() > limit for m in rx.finditer(w)):
                        return ident
        return None

    def apply_ops(self, ops, kind):
        out = []
        for op in ops:
            if any(kind in kinds and rx.search(op) for rx, kinds in self._drops):
                continue
            if out and op == out[-1] and any(
                    kind in kinds and op == c for c, kinds in self._collapse):
                continue
            out.append(op)
        return out


def skip_sent_all_groups(entry):
    """An entry's ``skip_sent_all``: one list of regexes, or a list of such
    lists (each a separate condition)."""
    groups = entry.get("skip_sent_all") or []
    if groups and all(isinstance(g, str) for g in groups):
        return [groups]
    return groups


def load(path=ALLOWLIST_PATH):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    entries = data.get("difference", [])
    seen = set()
    for e in entries:
        for key in ("id", "rule", "reason"):
            if not str(e.get(key, "")).strip():
                raise AllowlistError("allowlist entry %r lacks %r" % (e.get("id"), key))
        if e["rule"] not in RULES:
            raise AllowlistError("allowlist entry %r: unknown rule %r" % (e["id"], e["rule"]))
        if e["rule"] == "drop-ops" and "pattern" not in e:
            raise AllowlistError("allowlist entry %r: drop-ops needs a pattern" % e["id"])
        if e["rule"] == "collapse-repeats" and "op" not in e:
            raise AllowlistError("allowlist entry %r: collapse-repeats needs an op" % e["id"])
        for group in skip_sent_all_groups(e):
            if not group or not all(isinstance(r, str) for r in group):
                raise AllowlistError("allowlist entry %r: skip_sent_all must be a list of "
                                     "regexes or of lists of regexes" % e["id"])
        b = e.get("skip_sent_beyond")
        if b is not None and not (isinstance(b, dict) and isinstance(b.get("pattern"), str)
                                  and isinstance(b.get("bytes"), int) and b.get("conns")):
            raise AllowlistError("allowlist entry %r: skip_sent_beyond needs pattern, bytes "
                                 "and conns" % e["id"])
        d = e.get("documented")
        if d is not None and not (isinstance(d, dict) and isinstance(d.get("file"), str)
                                  and isinstance(d.get("quote"), str) and d["quote"].strip()):
            raise AllowlistError("allowlist entry %r: documented needs file and quote" % e["id"])
        if e["id"] in seen:
            raise AllowlistError("allowlist id %r appears twice" % e["id"])
        seen.add(e["id"])
    return Allowlist(entries)


def doc_section(text):
    start = text.find(DOC_SECTION)
    if start < 0:
        raise AllowlistError("%s has no %r section" % (DOC_NAME, DOC_SECTION))
    body_start = start + len(DOC_SECTION)
    m = re.search(r"^## ", text[body_start:], re.M)
    return text[body_start:body_start + m.start()] if m else text[body_start:]


def doc_bullets(section):
    """The section's top-level bullets, each joined into one string."""
    bullets, cur = [], None
    for line in section.splitlines():
        if line.startswith("- "):
            if cur is not None:
                bullets.append(cur)
            cur = line[2:]
        elif cur is not None and line.startswith("  "):
            cur += " " + line.strip()
        elif cur is not None and not line.strip():
            bullets.append(cur)
            cur = None
    if cur is not None:
        bullets.append(cur)
    return bullets


def normalise_space(text):
    return " ".join(text.split())


def check_readme(doc_path=DOC_PATH, allowlist_path=ALLOWLIST_PATH):
    """Problems (a list of strings) between the known differences of
    docs/compatibility.md and the allowlist; empty when each bullet names
    one allowlist id and each id has one bullet.  An entry with
    ``documented = { file, quote }`` follows a behaviour the docs describe
    elsewhere (say, a newer Go version's, in compatibility.md's "Where Go
    versions differ" table): it needs no bullet, but ``quote`` must appear in
    ``file`` (relative to the repository; blanks and line breaks count as
    one blank)."""
    allow = load(allowlist_path)
    repo = os.path.dirname(os.path.dirname(doc_path))
    with open(doc_path, encoding="utf-8") as f:
        section = doc_section(f.read())
    problems = []
    found = []
    for bullet in doc_bullets(section):
        ids = DOC_ID_RE.findall(bullet)
        if len(ids) != 1:
            problems.append(DOC_NAME + " known-differences bullet without exactly one "
                            "\"(difftest allowlist: `id`)\" tag: %r" % bullet[:80])
        found += ids
    for i in sorted(set(found)):
        if found.count(i) > 1:
            problems.append("%s lists allowlist id %r more than once" % (DOC_NAME, i))
    elsewhere = {}
    for e in allow.entries:
        d = e.get("documented")
        if d is None:
            continue
        elsewhere[e["id"]] = d
        try:
            with open(os.path.join(repo, d["file"]), encoding="utf-8") as f:
                text = f.read()
        except OSError as err:
            problems.append("allowlist id %r: documented file %s: %s" % (e["id"], d["file"], err))
            continue
        if normalise_space(d["quote"]) not in normalise_space(text):
            problems.append("allowlist id %r: %s does not contain %r" % (
                e["id"], d["file"], d["quote"]))
    for i in allow.ids:
        if i not in found and i not in elsewhere:
            problems.append("allowlist id %r is not listed in %s's known differences" % (
                i, DOC_NAME))
    for i in found:
        if i not in allow.ids:
            problems.append("%s lists %r, which is not in %s" % (
                DOC_NAME, i, os.path.basename(allowlist_path)))
    return problems
