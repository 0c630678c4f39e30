"""Redis glob patterns (`SCAN ... MATCH`): which keys a pattern can reach.

A pattern can only match keys that start with its literal start (everything before its first glob
character), so a pattern is kept inside a namespace when its literal start begins with that
namespace's prefix. `*a*`, `[al]*`, `?nalytics:*` or `analytics*` have a literal start that is not
a whole prefix: whatever they were meant for, they could match keys of other applications, and are
refused. The check is by construction (no key is looked at), so it holds for keys written tomorrow.
"""

from __future__ import annotations

from collections.abc import Sequence

# What Redis's glob (stringmatchlen) treats as special outside a bracket; `]`, `^` and `-` only
# mean something inside one, which starts with `[`.
GLOB_CHARACTERS = "*?[\\"


def literal_start(pattern: str) -> str:
    """The part of `pattern` before its first glob character: every key it matches starts with this."""
    for position, character in enumerate(pattern):
        if character in GLOB_CHARACTERS:
            return pattern[:position]
    return pattern


def outside_prefixes(pattern: str, prefixes: Sequence[str]) -> str | None:
    """Why `pattern` could match a key that starts with none of `prefixes`, or None if it cannot."""
    if not prefixes:
        return "no key prefix may be cleared (cache.clearable_prefixes is empty)"
    start = literal_start(pattern)
    if any(start.startswith(prefix) for prefix in prefixes):
        return None
    allowed = ", ".join(repr(p) for p in prefixes)
    if start == pattern:
        shown = f"it starts with none of them ({pattern!r})"
    elif start:
        shown = f"only {start!r} is literal, the glob character after it can reach other keys"
    else:
        shown = "it starts with a glob character, which can reach any key"
    return (
        f"{pattern!r} could match keys outside the suite's prefixes ({allowed}): {shown}. A pattern must begin with"
        f" one of the prefixes written out in full, glob characters ({' '.join(GLOB_CHARACTERS)}) only after it,"
        f" e.g. {prefixes[0] + '*'!r}"
    )
