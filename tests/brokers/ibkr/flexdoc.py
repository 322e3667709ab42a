"""Build small Flex XML documents for tests: `flex(statement("U1", section("Trades", row(...))))`."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr


def row(tag: str, **attrs: object) -> str:
    text = " ".join(f"{name}={quoteattr(str(value))}" for name, value in attrs.items())
    return f"<{tag} {text} />"


def section(name: str, *rows: str) -> str:
    return f"<{name}>{''.join(rows)}</{name}>" if rows else f"<{name} />"


def statement(account: str, *sections: str, from_date: str = "20250101", to_date: str = "20250131") -> str:
    return (
        f'<FlexStatement accountId="{account}" fromDate="{from_date}" toDate="{to_date}" period="Custom" '
        f'whenGenerated="20250201;083000">{"".join(sections)}</FlexStatement>'
    )


def flex(*statements: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<FlexQueryResponse queryName="test" type="AF">'
        f'<FlexStatements count="{len(statements)}">{"".join(statements)}</FlexStatements></FlexQueryResponse>'
    ).encode()


STOCK = {
    "assetCategory": "STK",
    "symbol": "AAPL",
    "conid": "265598",
    "currency": "USD",
    "isin": "US0378331005",
    "multiplier": "1",
}


def trade(txid: str, quantity: str, price: str, **extra: object) -> str:
    q = float(quantity)
    attrs: dict[str, object] = {
        "accountId": "U1",
        **STOCK,
        "description": "APPLE INC",
        "transactionID": txid,
        "tradeID": f"T{txid}",
        "tradeDate": "20250115",
        "dateTime": "20250115;100000",
        "settleDateTarget": "20250117",
        "transactionType": "ExchTrade",
        "quantity": quantity,
        "tradePrice": price,
        "proceeds": f"{-q * float(price):.2f}",
        "ibCommission": "-1",
        "ibCommissionCurrency": "USD",
        "buySell": "BUY" if q > 0 else "SELL",
        "openCloseIndicator": "O" if q > 0 else "C",
        "levelOfDetail": "EXECUTION",
        "fxRateToBase": "1",
    }
    attrs.update(extra)
    return row("Trade", **attrs)


def cash(txid: str | None, type_: str, amount: str, **extra: object) -> str:
    attrs: dict[str, object] = {
        "accountId": "U1",
        "currency": "USD",
        "fxRateToBase": "1",
        "type": type_,
        "amount": amount,
        "dateTime": "20250115;202000",
        "reportDate": "20250115",
        "levelOfDetail": "DETAIL",
        "description": type_,
    }
    if txid is not None:
        attrs["transactionID"] = txid
    attrs.update(extra)
    return row("CashTransaction", **attrs)
