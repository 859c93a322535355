"""How :class:`~tiered.live.redis.RedisLiveBus` keeps topics in Redis, and reads cursors.

Keys: one stream per topic, ``{prefix}:t:{topic}``, whose entries hold ``e`` (the epoch), ``k``
(the kind), ``d`` (the data as JSON) and ``o`` (the origin, when there is one); and
``{prefix}:epoch``, drawn by whichever script finds it missing and never expiring.

Publishing is one Lua script: ``XADD``, then ``XTRIM`` (``MINID`` to ``retention_seconds`` ago,
``MAXLEN`` to ``max_events_per_topic``), and a TTL on the key so quiet topics leave Redis. The
trimming is exact rather than approximate (``~``): the script records the largest id it removed
as the stream's ``max-deleted-entry-id`` (Redis itself records only what ``XDEL`` removes), which
is what tells a good cursor from a stale one; it removes about one entry a publish. Reading is one
script too (``XINFO STREAM``, then ``XRANGE``), so one round trip gives both what a subscriber
missed and the position "now" that reaches.

Cursors are ``{epoch}.{ms}-{seq}``: a stream entry id, or for "now" the later of the topic's last
id and the server's clock, so that a quiet topic's cursor stays recent. A cursor is good when its
epoch is the current one (Redis lost no data since) and no entry after it was removed. A stream
that expired and was made again counts everything older than ``key_ttl_seconds`` as removed, and
so does a topic with no stream at all. The scripts touch two keys: one Redis, not a cluster.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tiered.live.events import REFRESH, LiveEvent

Position = tuple[int, int]
"""An entry id as numbers: milliseconds, sequence."""

MAX_SEQ = 2**64 - 1
_CURSOR = re.compile(r"^([0-9a-f]{8})\.(\d{1,20})-(\d{1,20})$")
_ENTRY_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")

# KEYS: stream, epoch. ARGV: candidate epoch, kind, data, origin ('' for none), max length,
# retention ms, key TTL ms. Returns {epoch, entry id}.
PUBLISH = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
end
local fresh = redis.call('EXISTS', KEYS[1]) == 0
local fields = {'e', epoch, 'k', ARGV[2], 'd', ARGV[3]}
if ARGV[4] ~= '' then
  fields[#fields + 1] = 'o'
  fields[#fields + 1] = ARGV[4]
end
local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
local ms = tonumber(string.match(id, '^(%d+)'))
local removed = false
local floor = ms - tonumber(ARGV[7])
if fresh and floor > 0 then
  -- This stream may follow one that expired, whose entries were all older than the TTL.
  removed = string.format('%d', floor) .. '-18446744073709551615'
end
local oldest = ms - tonumber(ARGV[6])
if oldest > 0 then
  local bound = string.format('%d', oldest) .. '-0'
  local leaving = redis.call('XREVRANGE', KEYS[1], '(' .. bound, '-', 'COUNT', 1)
  if #leaving > 0 then
    removed = leaving[1][1]
    redis.call('XTRIM', KEYS[1], 'MINID', bound)
  end
end
local over = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[5])
if over > 0 then
  local leaving = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', over)
  removed = leaving[#leaving][1]
  redis.call('XTRIM', KEYS[1], 'MAXLEN', ARGV[5])
end
if removed then
  redis.call('XSETID', KEYS[1], id, 'MAXDELETEDID', removed)
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return {epoch, id}
"""

# KEYS: stream, epoch. ARGV: candidate epoch, XRANGE start ('(ms-seq', or '' for none), count.
# Returns {epoch, server ms, last id, max deleted id, entries}; '' ids: no such stream.
READ = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
end
local t = redis.call('TIME')
local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {epoch, now, '', '', {}}
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last, deleted = '', ''
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
  if info[i] == 'max-deleted-entry-id' then deleted = info[i + 1] end
end
local entries = {}
if ARGV[2] ~= '' then
  entries = redis.call('XRANGE', KEYS[1], ARGV[2], '+', 'COUNT', ARGV[3])
end
return {epoch, now, last, deleted, entries}
"""


def parse_id(text: str) -> Position | None:
    found = _ENTRY_ID.match(text)
    if found is None:
        return None
    ms, seq = int(found.group(1)), int(found.group(2))
    return (ms, seq) if ms <= MAX_SEQ and seq <= MAX_SEQ else None


def parse_cursor(cursor: str | None) -> tuple[str, Position] | None:
    """The epoch and position of one of these cursors, or ``None`` for anything else."""
    found = _CURSOR.match(cursor) if cursor is not None else None
    if found is None:
        return None
    position = parse_id(f"{found.group(2)}-{found.group(3)}")
    return (found.group(1), position) if position is not None else None


def order_of(cursor: str) -> tuple[int, ...]:
    parsed = parse_cursor(cursor)
    return parsed[1] if parsed is not None else (-1, -1)


def read_start(cursor: str | None) -> str:
    """The ``XRANGE`` start for the entries after ``cursor`` ('' when it is not one of ours)."""
    parsed = parse_cursor(cursor)
    return f"({parsed[1][0]}-{parsed[1][1]}" if parsed is not None else ""


def judge(
    topic: str, cursor: str | None, reply: Any, key_ttl_ms: int, count: int
) -> tuple[list[LiveEvent] | None, str]:
    """What a :data:`READ` reply says: the events after ``cursor`` (``None`` when they cannot be
    vouched for; ``[]`` for no cursor at all), and the cursor "now"."""
    epoch, server_ms, last, deleted, entries = reply
    clock: Position = (int(server_ms) - 1, MAX_SEQ)  # before any id Redis gives out later
    last_id = parse_id(last)
    now = max(last_id, clock) if last_id is not None else clock
    now_cursor = f"{epoch}.{now[0]}-{now[1]}"
    if cursor is None:
        return [], now_cursor
    given = parse_cursor(cursor)
    if given is None or given[0] != epoch or given[1] > now:
        return None, now_cursor
    if last_id is None:  # no stream: any that expired held only entries older than its TTL
        floor: Position = (int(server_ms) - key_ttl_ms, MAX_SEQ)
    else:
        floor = parse_id(deleted) or (0, 0)
    if given[1] < floor or len(entries) >= count:
        return None, now_cursor
    return [decode_entry(topic, entry_id, fields) for entry_id, fields in entries], now_cursor


def decode_entry(topic: str, entry_id: str, fields: Any) -> LiveEvent:
    """A stream entry as an event; ``fields`` is a mapping (XREAD) or a flat list (a script)."""
    values: dict[str, str] = (
        fields if isinstance(fields, dict) else dict(zip(fields[::2], fields[1::2], strict=True))
    )
    try:
        data = json.loads(values.get("d", "{}"))
    except ValueError:
        data = {}
    return LiveEvent(
        f"{values.get('e', '')}.{entry_id}",
        topic,
        values.get("k", REFRESH),
        data if isinstance(data, dict) else {},
        values.get("o"),
    )
