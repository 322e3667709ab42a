"""Date windows for Schwab's transactions endpoint.

The endpoint has no pagination: `startDate`/`endDate` are required, one call covers at most one
year and returns at most 3,000 rows (brokers.md §B.2, taxonomy.md §2.2). A long range is cut into
windows of at most 365 days that overlap by a day (so no boundary instant falls between two
calls, whatever the endpoint's inclusive/exclusive rules); a window that comes back full is cut in
half again. Rows are deduplicated on `activityId`, so the overlaps cost nothing in the ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

MAX_WINDOW = timedelta(days=365)
WINDOW_OVERLAP = timedelta(days=1)
MAX_ROWS_PER_CALL = 3000
# Below this a full window cannot be split usefully: the rest is reported as possibly incomplete.
MIN_WINDOW = timedelta(minutes=1)

Window = tuple[datetime, datetime]


def year_windows(
    start: datetime, end: datetime, *, max_span: timedelta = MAX_WINDOW, overlap: timedelta = WINDOW_OVERLAP
) -> list[Window]:
    """Consecutive windows of at most `max_span` covering [start, end], each overlapping the last."""
    if end <= start:
        return [(start, start)] if end == start else []
    if overlap >= max_span:
        raise ValueError("the overlap must be shorter than a window")
    windows: list[Window] = []
    cursor = start
    while True:
        stop = min(cursor + max_span, end)
        windows.append((cursor, stop))
        if stop >= end:
            return windows
        cursor = stop - overlap


def halves(window: Window) -> tuple[Window, Window]:
    """Two windows sharing the middle instant (that instant is fetched twice, deduped later)."""
    start, end = window
    middle = start + (end - start) / 2
    middle = middle.replace(microsecond=(middle.microsecond // 1000) * 1000)
    return (start, middle), (middle, end)


def schwab_time(value: datetime) -> str:
    """`yyyy-MM-dd'T'HH:mm:ss.SSSZ` in UTC, e.g. `2024-03-28T21:10:42.000Z` (§B.2)."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
