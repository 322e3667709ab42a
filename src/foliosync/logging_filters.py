"""Keep secrets out of the web server's access log.

uvicorn logs every request's path with its query string; OAuth callbacks carry a one-time `code`
and `state` there. This filter masks those values (and any token-like parameter) before the line
is written.
"""

from __future__ import annotations

import logging
import re

SECRET_PARAMS = re.compile(
    r"(?i)\b(code|state|token|access_token|refresh_token|client_secret|password)=[^&\s]*"
)


def redact_query(text: str) -> str:
    return SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=[redacted]", text)


class RedactQuerySecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_query(record.msg)
        return True


def install_access_log_filter() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQuerySecrets) for f in logger.filters):
        logger.addFilter(RedactQuerySecrets())
