"""``crons.py``: recurring jobs (intervals and 5-field cron expressions, in UTC).

::

    crons = Crons()
    crons.interval("flush", "events:flush", {}, minutes=5)
    crons.cron("report", "0 9 * * 1-5", "reports:send", {})
    crons.daily("cleanup", "admin/cleanup:old", {"days": 30}, hour_utc=3, minute_utc=15)

Each definition becomes a row of the ``_cron_jobs`` system table when the app loads; the worker
turns due rows into scheduled jobs (see ``worker``).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

_NAME = re.compile(r"^[^\x00-\x1f]{1,64}$")
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {d.lower(): (i + 1) % 7 for i, d in enumerate(calendar.day_abbr)}  # sun=0


class CronSyntaxError(ValueError):
    pass


def _parse_field(
    text: str, lo: int, hi: int, names: Mapping[str, int], what: str
) -> frozenset[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        step = 1
        if "/" in part:
            part, _, step_text = part.partition("/")
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronSyntaxError(f"{what}: bad step {step_text!r}")
            step = int(step_text)
        if part == "*":
            start, end = lo, hi
        elif "-" in part:
            a, _, b = part.partition("-")
            start, end = _number(a, names, what), _number(b, names, what)
        else:
            start = _number(part, names, what)
            end = hi if step > 1 else start
        if not lo <= start <= hi or not lo <= end <= hi or start > end:
            raise CronSyntaxError(f"{what}: {part!r} is outside {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _number(text: str, names: Mapping[str, int], what: str) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        raise CronSyntaxError(f"{what}: {text!r} is not a number")
    return int(text)


@dataclass(frozen=True)
class CronExpression:
    """A parsed ``minute hour day-of-month month day-of-week`` expression (UTC)."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        parts = text.split()
        if len(parts) != 5:
            raise CronSyntaxError(
                f"cron expression {text!r} needs 5 fields: minute hour day-of-month month "
                "day-of-week (UTC), e.g. '*/5 * * * *'"
            )
        try:
            weekdays = _parse_field(parts[4], 0, 7, _DAYS, "day-of-week")
            return cls(
                text,
                _parse_field(parts[0], 0, 59, {}, "minute"),
                _parse_field(parts[1], 0, 23, {}, "hour"),
                _parse_field(parts[2], 1, 31, {}, "day-of-month"),
                _parse_field(parts[3], 1, 12, _MONTHS, "month"),
                frozenset(d % 7 for d in weekdays),
                parts[2] == "*",
                parts[4] == "*",
            )
        except CronSyntaxError as exc:
            raise CronSyntaxError(f"cron expression {text!r}: {exc}") from None

    def _day_matches(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:  # classic cron: both restricted means either
            return dom and dow
        return dom or dow

    def next_after(self, after: datetime) -> datetime:
        """The first matching minute strictly after ``after``."""
        t = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * 5)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise CronSyntaxError(f"cron expression {self.text!r} never matches")


@dataclass(frozen=True)
class CronSpec:
    """One recurring job: ``schedule`` is ``{"interval": seconds}`` or ``{"cron": "..."}``."""

    name: str
    schedule: dict[str, Any]
    target: Any  # "module:function" or a decorated function (its path is known after loading)
    args: dict[str, Any]

    @property
    def path(self) -> str:
        if isinstance(self.target, str):
            return self.target
        path = getattr(self.target, "path", "")
        if not path:
            raise ValueError(
                f"cron {self.name!r}: its function is not an app function (decorate it with "
                "@mutation/@action or their internal_ forms in a module of the app)"
            )
        return str(path)

    def next_run_ms(self, after_ms: float, previous_ms: float | None) -> float:
        """When to run next, after ``after_ms``: intervals keep their phase from the previous
        run (one catch-up at most after downtime), cron expressions take the next match."""
        if "interval" in self.schedule:
            step = float(self.schedule["interval"]) * 1000.0
            if previous_ms is None:
                return after_ms
            missed = max(0, int((after_ms - previous_ms) // step))
            return previous_ms + (missed + 1) * step
        expr = CronExpression.parse(self.schedule["cron"])
        start = datetime.fromtimestamp(after_ms / 1000.0, UTC)
        return expr.next_after(start).timestamp() * 1000.0


@dataclass
class Crons:
    """The recurring jobs of an app: ``crons = Crons()`` in ``crons.py``."""

    specs: dict[str, CronSpec] = field(default_factory=dict)

    def _add(self, name: str, schedule: dict[str, Any], target: Any, args: Any) -> CronSpec:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"cron name {name!r}: 1-64 printable characters")
        if name in self.specs:
            raise ValueError(f"cron {name!r} is defined twice")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise TypeError(f"cron {name!r}: args must be a dict, got {type(args).__name__}")
        if not isinstance(target, str) and not hasattr(target, "kind"):
            raise TypeError(f"cron {name!r}: give a 'module:function' path or an app function")
        spec = CronSpec(name, schedule, target, dict(args))
        self.specs[name] = spec
        return spec

    def interval(
        self,
        name: str,
        target: Any,
        args: dict[str, Any] | None = None,
        *,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
    ) -> CronSpec:
        """Every so often; the first run is when the app is deployed."""
        total = seconds + 60 * minutes + 3600 * hours
        if total < 1:
            raise ValueError(f"cron {name!r}: the interval must be at least 1 second")
        return self._add(name, {"interval": float(total)}, target, args)

    def cron(
        self, name: str, expression: str, target: Any, args: dict[str, Any] | None = None
    ) -> CronSpec:
        """A 5-field cron expression in UTC: ``"*/5 * * * *"``."""
        CronExpression.parse(expression)
        return self._add(name, {"cron": expression}, target, args)

    def hourly(
        self, name: str, target: Any, args: dict[str, Any] | None = None, *, minute_utc: int = 0
    ) -> CronSpec:
        return self.cron(name, f"{minute_utc} * * * *", target, args)

    def daily(
        self,
        name: str,
        target: Any,
        args: dict[str, Any] | None = None,
        *,
        hour_utc: int = 0,
        minute_utc: int = 0,
    ) -> CronSpec:
        return self.cron(name, f"{minute_utc} {hour_utc} * * *", target, args)

    def weekly(
        self,
        name: str,
        target: Any,
        args: dict[str, Any] | None = None,
        *,
        day_of_week: str | int = "monday",
        hour_utc: int = 0,
        minute_utc: int = 0,
    ) -> CronSpec:
        day = day_of_week if isinstance(day_of_week, int) else _weekday(day_of_week)
        return self.cron(name, f"{minute_utc} {hour_utc} * * {day}", target, args)

    def monthly(
        self,
        name: str,
        target: Any,
        args: dict[str, Any] | None = None,
        *,
        day: int = 1,
        hour_utc: int = 0,
        minute_utc: int = 0,
    ) -> CronSpec:
        return self.cron(name, f"{minute_utc} {hour_utc} {day} * *", target, args)


def _weekday(name: str) -> int:
    key = name.lower()[:3]
    if key not in _DAYS:
        raise ValueError(f"day_of_week {name!r}: use monday..sunday or 0..6 (0 = Sunday)")
    return _DAYS[key]
