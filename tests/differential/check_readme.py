#!/usr/bin/env python3
"""Checks that the "Known differences from the Go server" section of
docs/compatibility.md lists exactly the entries of
tests/differential/allowlist.toml (one bullet per id, tagged
"(difftest allowlist: `id`)").  Exit status 1 on a mismatch."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dt_allow import check_readme  # noqa: E402


def main():
    problems = check_readme()
    for p in problems:
        print(p)
    if not problems:
        print("docs/compatibility.md known differences match the allowlist")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
