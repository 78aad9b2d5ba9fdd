#!/usr/bin/env python3
"""Checks that the folders of src/ import only what ARCHITECTURE.md's layers
allow: each top-level module (a folder or a file of src/) may name, through
`crate::<module>` paths, only the modules of lower floors, plus those listed
for it. Prints each import that breaks the rule and exits 1 if any does.

    python3 scripts/check_layers.py [SRC_DIR]
"""

import os
import re
import sys

# Floors from the ground up; a module may import any module of a lower floor.
FLOORS = [
    ["sys", "auth"],
    ["logging", "config"],
    ["tls"],
    ["conn"],
    ["routing"],
    ["server", "client", "route", "leaf", "jetstream", "monitor"],
    ["main"],
]

# Imports within the reactor's floor. The roles add their handlers to
# `Server` and the server names their states and hooks, so server and roles
# import each other; roles never import one another, except monitoring,
# which reads the other roles' states.
ROLES = ["client", "route", "leaf", "jetstream", "monitor"]
SAME_FLOOR = {"server": set(ROLES), "monitor": {"server", "route", "leaf", "jetstream"}}
for role in ROLES:
    SAME_FLOOR.setdefault(role, set()).add("server")

PATH = re.compile(r"\bcrate::(\w+)")


def module_of(src, path):
    rel = os.path.relpath(path, src).split(os.sep)
    return rel[0] if len(rel) > 1 else rel[0][: -len(".rs")]


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
    floor = {m: i for i, ms in enumerate(FLOORS) for m in ms}
    bad = []
    for d, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(d, f)
            me = module_of(src, path)
            if me not in floor:
                bad.append(f"{path}: module `{me}` is on no floor of scripts/check_layers.py")
                continue
            with open(path, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    if line.lstrip().startswith("//"):
                        continue
                    for m in PATH.finditer(line):
                        other = m.group(1)
                        if other == me or other not in floor:
                            continue
                        if floor[other] < floor[me] or other in SAME_FLOOR.get(me, ()):
                            continue
                        bad.append(f"{path}:{n}: `{me}` imports `{other}` ({m.group(0)})")
    for b in bad:
        print(b)
    if bad:
        print(f"{len(bad)} import(s) against the layers of ARCHITECTURE.md")
        return 1
    print("layers: every import of src/ runs downwards")
    return 0


if __name__ == "__main__":
    sys.exit(main())
