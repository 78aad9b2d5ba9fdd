#!/usr/bin/env python3
"""Checks that the modules of src/ import only what ARCHITECTURE.md's layers
allow: each module may name, through `crate::` and `super::` paths, only
modules of lower floors, plus those listed for it. Prints each import that
breaks the rule and exits 1 if any does.

    python3 scripts/check_layers.py [SRC_DIR]

A module is a top-level folder or file of src/, except in the role folders,
whose state modules (what the server holds for the role) stand below the
server and whose other modules (the role's handlers) stand above it.
"""

import os
import re
import sys

ROLES = ["client", "route", "leaf", "jetstream", "monitor"]
# The modules of each role folder that hold its state: they import no
# handler of their role and nothing of the server.
STATE = {
    "client": {"state"},
    "route": {"state"},
    "leaf": {"state"},
    "jetstream": {"state", "store", "clock"},
    "monitor": {"state"},
}

# Floors from the ground up; a module may import any module of a lower floor.
FLOORS = [
    ["sys", "auth"],
    ["logging", "config"],
    ["tls"],
    ["conn"],
    ["routing"],
    [r + ".state" for r in ROLES],
    ["server"],
    ROLES,
    ["main"],
]

# Imports within one floor: roles never import one another, except
# monitoring, which reads the state of the others and their statistics.
SAME_FLOOR = {"monitor": {"route", "leaf", "jetstream"}}

CRATE_PATH = re.compile(r"\bcrate::(\w+)(?:::(\w+))?")
SUPER_PATH = re.compile(r"\bsuper::(\w+)")


def unit(folder, sub):
    """The layer unit of module `folder::sub` (sub may be None)."""
    if folder in STATE:
        return folder + ".state" if sub in STATE[folder] else folder
    return folder


def module_of(src, path):
    rel = os.path.relpath(path, src).split(os.sep)
    if len(rel) == 1:
        return rel[0][: -len(".rs")], None
    sub = rel[1][: -len(".rs")] if len(rel) == 2 else rel[1]
    return rel[0], (None if sub == "mod" else sub)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
    floor = {m: i for i, ms in enumerate(FLOORS) for m in ms}
    bad = []
    for d, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(d, f)
            folder, sub = module_of(src, path)
            me = unit(folder, sub)
            if me not in floor:
                bad.append(f"{path}: module `{me}` is on no floor of scripts/check_layers.py")
                continue
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().split("\n")
            # A file's own unit tests may use anything of their own folder.
            if "#[cfg(test)]" in lines:
                lines = lines[: lines.index("#[cfg(test)]")]
            for n, line in enumerate(lines, 1):
                if line.lstrip().startswith("//"):
                    continue
                targets = [(m.group(0), unit(m.group(1), m.group(2))) for m in CRATE_PATH.finditer(line)]
                # `super::x` from a file directly under a folder names a
                # module of that folder (deeper files are not checked).
                if sub is not None and os.path.dirname(os.path.relpath(path, src)) == folder:
                    targets += [(m.group(0), unit(folder, m.group(1))) for m in SUPER_PATH.finditer(line)]
                for text, other in targets:
                    if other == me or other not in floor:
                        continue
                    if floor[other] < floor[me] or other in SAME_FLOOR.get(me, ()):
                        continue
                    bad.append(f"{path}:{n}: `{me}` imports `{other}` ({text})")
    for b in bad:
        print(b)
    if bad:
        print(f"{len(bad)} import(s) against the layers of ARCHITECTURE.md")
        return 1
    print("layers: every import of src/ runs downwards")
    return 0


if __name__ == "__main__":
    sys.exit(main())
