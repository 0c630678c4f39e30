"""Clear keys of the Redis cache (runbook 004, *Clear Cache* and *Emergency: Incorrect Data Displayed*).

The runbook pipes `redis-cli --scan --pattern ... | xargs redis-cli DEL`, and in an emergency runs
`FLUSHDB`, which empties the whole database, other applications' keys with it. Here:

- the params become one `SCAN ... MATCH` pattern (`clear_request`), refused when they are wrong or
  when the pattern could match keys outside `cache.clearable_prefixes` (`core.key_patterns`);
- the keys are found with `SCAN` (never `KEYS`, which blocks the server), `cache.scan_count` per
  call, and removed with `UNLINK` (the memory is freed in the background, not in the command),
  `cache.unlink_batch` keys per pipeline round trip, one command per key (a multi-key `UNLINK` has to
  stay within one hash slot on a Redis Cluster; one per key does not care);
- a dry run scans and counts, and unlinks nothing.

`SCAN` may return a key twice while Redis resizes its table, which the deletions themselves cause
(the table shrinks): `unlinked` counts `UNLINK`'s own replies (1 per key it removed), so it is exact;
`already_gone` counts the keys SCAN returned that UNLINK no longer found (returned twice, or expired
or deleted by someone else in between), and `matched` is the two together. A dry run deletes nothing,
so its `matched` can be over only if other clients delete many keys while it scans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from analytics_ops.core.config import CacheSettings
from analytics_ops.core.key_patterns import outside_prefixes
from analytics_ops.core.params import ParamError, blank

SCOPES = ("analytics", "merchant", "pattern")
SAMPLE_KEYS = 20


@dataclass(frozen=True)
class ClearRequest:
    """What a run clears: the params, checked, and the one pattern they come to."""

    scope: str
    pattern: str
    dry_run: bool
    merchant_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _merchant_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParamError(f"merchant_id must be a whole number of at least 1; got {value!r}")
    return value


def clear_request(params: Mapping[str, Any], settings: CacheSettings) -> ClearRequest:
    """The keys `params` ask to clear as one pattern; ParamError (nothing touched) when a param is wrong.

    `scope` `analytics`: the analytics cache (`cache.hygiene_pattern`); `merchant`: the live counters
    of `merchant_id` (`cache.merchant_pattern`); `pattern`: the `pattern` given, which must stay within
    `cache.clearable_prefixes`. `merchant_id` and `pattern` are refused with a scope that does not use them.
    """
    scope, merchant_id, pattern, dry_run = (params.get(k) for k in ("scope", "merchant_id", "pattern", "dry_run"))
    if scope not in SCOPES:
        raise ParamError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
    if not isinstance(dry_run, bool):
        raise ParamError(f"dry_run must be true or false; got {dry_run!r}")
    if scope != "merchant" and merchant_id is not None:
        raise ParamError(f"merchant_id is for scope merchant only; scope is {scope}: leave merchant_id empty")
    if scope != "pattern" and not blank(pattern):
        raise ParamError(f"pattern is for scope pattern only; scope is {scope}: leave pattern empty")

    if scope == "analytics":
        chosen = settings.hygiene_pattern
    elif scope == "merchant":
        if merchant_id is None:
            raise ParamError("scope merchant needs merchant_id: the merchant whose live counters to clear")
        merchant_id = _merchant_id(merchant_id)
        chosen = settings.merchant_pattern.replace("{merchant_id}", str(merchant_id))
    else:
        if blank(pattern):
            raise ParamError(f"scope pattern needs a pattern, e.g. {settings.clearable_prefixes[0] + '*'!r}")
        if not isinstance(pattern, str) or pattern != pattern.strip():
            raise ParamError(f"pattern must be a Redis glob without surrounding spaces; got {pattern!r}")
        chosen = pattern
    # The configured patterns are checked when the config is parsed; checked again, as every pattern is.
    if reason := outside_prefixes(chosen, settings.clearable_prefixes):
        raise ParamError(f"pattern {reason}")
    return ClearRequest(scope=scope, pattern=chosen, dry_run=dry_run, merchant_id=merchant_id)


@dataclass
class ClearResult:
    pattern: str
    dry_run: bool
    matched: int = 0  # keys SCAN returned (see the module docstring)
    unlinked: int = 0  # keys UNLINK removed; 0 on a dry run
    already_gone: int = 0  # keys SCAN returned that UNLINK did not find
    sample: list[str] = field(default_factory=list)  # the first SAMPLE_KEYS keys matched

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.dry_run:
            head = f"dry run: {self.matched} key(s) match {self.pattern!r} and would be unlinked; nothing was deleted"
        else:
            head = f"{self.unlinked} key(s) matching {self.pattern!r} unlinked"
            if self.already_gone:
                head += f" ({self.already_gone} returned by SCAN were already gone: returned twice, or expired)"
        shown = "".join(f"\n  {key}" for key in self.sample)
        more = f"\n  ... and {self.matched - len(self.sample)} more" if self.matched > len(self.sample) else ""
        return head + (f"; the first {len(self.sample)}:" if self.sample else "") + shown + more


def _printable(key: bytes | str) -> str:
    # Keys are bytes; the sample goes to XCom and ops.run_log (jsonb refuses NUL).
    text = key.decode(errors="backslashreplace") if isinstance(key, bytes) else key
    return text.replace("\x00", "\\x00")


def _unlink(redis_client: Any, keys: list[bytes], result: ClearResult) -> None:
    pipe = redis_client.pipeline(transaction=False)
    for key in keys:
        pipe.unlink(key)
    unlinked = sum(pipe.execute())
    result.unlinked += unlinked
    result.already_gone += len(keys) - unlinked


def clear_keys(redis_client: Any, pattern: str, settings: CacheSettings, *, dry_run: bool) -> ClearResult:
    """SCAN for `pattern` and UNLINK what it finds (on a dry run: count it); refuses (ParamError) a pattern
    that could match keys outside `settings.clearable_prefixes`, before Redis is asked anything."""
    if reason := outside_prefixes(pattern, settings.clearable_prefixes):
        raise ParamError(f"pattern {reason}")
    result = ClearResult(pattern=pattern, dry_run=dry_run)
    batch: list[bytes] = []
    for key in redis_client.scan_iter(match=pattern, count=settings.scan_count):
        result.matched += 1
        if len(result.sample) < SAMPLE_KEYS and (shown := _printable(key)) not in result.sample:
            result.sample.append(shown)
        if dry_run:
            continue
        batch.append(key)
        if len(batch) >= settings.unlink_batch:
            _unlink(redis_client, batch, result)
            batch = []
    if batch:
        _unlink(redis_client, batch, result)
    return result
