import logging

from foliosync.logging_filters import RedactQuerySecrets, redact_query


def test_oauth_callback_codes_never_reach_the_access_log():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/aggregator/schwab/callback?code=AbC.123&state=s1gned", "1.1", 200),
        None,
    )
    RedactQuerySecrets().filter(record)
    line = record.getMessage()
    assert "AbC.123" not in line and "s1gned" not in line
    assert "/api/v1/aggregator/schwab/callback?code=[redacted]&state=[redacted]" in line


def test_ordinary_query_strings_are_left_alone():
    assert (
        redact_query("/api/v1/ledger/trades?symbol=AAPL&page=2") == "/api/v1/ledger/trades?symbol=AAPL&page=2"
    )
    assert redact_query("/x?refresh_token=r&y=1") == "/x?refresh_token=[redacted]&y=1"
