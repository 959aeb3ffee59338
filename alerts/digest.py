"""When digests go out: fixed windows in the local day, pushed past quiet hours.

Digest due times are computed, not stored as state: every alert owed within one window gets
the same due time, and that due time is what groups them into one message."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["DEFAULT_TIMEZONE", "QuietHours", "after_quiet", "digest_due", "digest_key", "hour_end"]

#: Where veye's readers are.
DEFAULT_TIMEZONE = "America/Port-au-Prince"

_HHMM = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily span of local time (may cross midnight) in which no digest goes out."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """``"22:00-06:00"`` → 22:00 to 06:00 the next morning."""
        m = _HHMM.match(text)
        if not m:
            raise ValueError(f"{text!r} is not a span of hours; write e.g. 22:00-06:00")
        start = time(int(m.group(1)), int(m.group(2)))
        end = time(int(m.group(3)), int(m.group(4)))
        if start == end:
            raise ValueError("quiet hours must start and end at different times")
        return cls(start, end)

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def after_quiet(when: datetime, quiet: QuietHours | None, tz: ZoneInfo) -> datetime:
    """``when``, or the end of the quiet hours it falls in (in UTC)."""
    if quiet is None:
        return when
    local = when.astimezone(tz)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return when
    end = datetime.combine(local.date(), quiet.end, tzinfo=tz)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet.end, tzinfo=tz)
    return end.astimezone(UTC)


def digest_due(
    now: datetime, interval: float, *, quiet: QuietHours | None = None, tz: ZoneInfo
) -> datetime:
    """The end of the digest window ``now`` falls in, windows of ``interval`` seconds counted
    from local midnight (so a 24 h digest goes out at midnight, a 12 h one at noon and
    midnight), then pushed past quiet hours. Always after ``now``."""
    local = now.astimezone(tz)
    midnight = datetime.combine(local.date(), time(0), tzinfo=tz).astimezone(UTC)
    elapsed = (now - midnight).total_seconds()
    windows = math.floor(elapsed / interval) + 1
    return after_quiet(midnight + timedelta(seconds=windows * interval), quiet, tz)


def hour_end(now: datetime) -> datetime:
    """The end of the UTC hour ``now`` falls in: where a channel's hourly cap resets."""
    start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return start + timedelta(hours=1)


def digest_key(due: datetime) -> str:
    """The key that groups the alerts of one digest: its due time."""
    return "digest@" + due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
