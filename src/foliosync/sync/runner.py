"""Where sync jobs run: Celery workers when REDIS_URL is set, else a thread pool inside `serve`.

(Placeholder until the sync service lands: nothing runs in the background yet.)
"""

from __future__ import annotations

from typing import Any


def start_background(app: Any) -> None:
    del app


def stop_background(app: Any) -> None:
    del app
