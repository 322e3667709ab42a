#!/usr/bin/env python3
# Copied unchanged from the shared workspace (shared/bench/gen_flex.py), which carries no licence
# header of its own; see docs/benchmarks/flex.md. Kept byte-for-byte, hence:
# ruff: noqa: F841
"""Generate a realistic synthetic Interactive Brokers FlexQuery XML statement.

Layout mirrors real Activity Flex statements:

  FlexQueryResponse > FlexStatements(count) > FlexStatement(accountId, fromDate, ...)
      > Trades/Trade, OpenPositions/OpenPosition, CashTransactions/CashTransaction

Each data row is a flat, self-closing element carrying many attributes, with
lots of empty ("") values exactly like real statements.  Attribute names are
taken from ibflex.Types (Trade: 66 attrs, OpenPosition: 43, CashTransaction: 38),
so `ibflex.parser.parse` accepts the output without unknown-attribute warnings.

Default date format is IB's default (yyyyMMdd, datetime "yyyyMMdd;HHmmss");
--iso switches to yyyy-MM-dd / "yyyy-MM-dd;HH:mm:ss".

Usage:
    gen_flex.py N OUT.xml [--accounts K] [--seed S] [--iso]

Proportions: cash transactions = N/4, open positions = min(N/20, #symbols*accounts)
(at least 10 each), spread evenly across K FlexStatements (accounts).
"""

import argparse
import datetime as dt
import random
import sys
from xml.sax.saxutils import quoteattr

TRADE_ATTRS = [
    "accountId",
    "acctAlias",
    "model",
    "currency",
    "fxRateToBase",
    "assetCategory",
    "subCategory",
    "symbol",
    "description",
    "conid",
    "securityID",
    "securityIDType",
    "cusip",
    "isin",
    "figi",
    "listingExchange",
    "underlyingConid",
    "underlyingSymbol",
    "underlyingSecurityID",
    "underlyingListingExchange",
    "issuer",
    "issuerCountryCode",
    "multiplier",
    "strike",
    "expiry",
    "putCall",
    "principalAdjustFactor",
    "tradeID",
    "reportDate",
    "dateTime",
    "tradeDate",
    "settleDateTarget",
    "transactionType",
    "exchange",
    "quantity",
    "tradePrice",
    "tradeMoney",
    "proceeds",
    "taxes",
    "ibCommission",
    "ibCommissionCurrency",
    "netCash",
    "netCashInBase",
    "closePrice",
    "openCloseIndicator",
    "notes",
    "cost",
    "fifoPnlRealized",
    "mtmPnl",
    "origTradePrice",
    "origTradeDate",
    "origTradeID",
    "origOrderID",
    "clearingFirmID",
    "transactionID",
    "buySell",
    "ibOrderID",
    "ibExecID",
    "brokerageOrderID",
    "orderReference",
    "orderTime",
    "openDateTime",
    "holdingPeriodDateTime",
    "levelOfDetail",
    "orderType",
    "isAPIOrder",
]

EXCHANGES = ["NASDAQ", "NYSE", "ARCA", "BATS", "IEX", "DARK", "ISLAND", "EDGX", "BYX", "MEMX"]
LISTING = ["NASDAQ", "NYSE", "ARCA", "BATS"]
CCYS = ["USD"] * 8 + ["EUR", "CAD"]
FX = {"USD": "1", "EUR": "1.0874", "CAD": "0.7391"}
CASH_TYPES = [
    "Dividends",
    "Withholding Tax",
    "Broker Interest Paid",
    "Broker Interest Received",
    "Other Fees",
    "Deposits/Withdrawals",
    "Payment In Lieu Of Dividends",
    "Commission Adjustments",
]
NAME_WORDS = [
    "ALPHA",
    "BETA",
    "GLOBAL",
    "HOLDINGS",
    "TECH",
    "ENERGY",
    "BANCORP",
    "PHARMA",
    "SYSTEMS",
    "CAPITAL",
    "AT&T",
    "INDUSTRIES",
    "GROUP",
    "SEMICONDUCTOR",
    "<RETAIL>",
]


def q(s):
    return quoteattr(str(s))


def make_symbols(rng, n):
    syms = []
    seen = set()
    while len(syms) < n:
        s = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(1, 5)))
        if s in seen:
            continue
        seen.add(s)
        conid = str(rng.randint(1000000, 700000000))
        cusip = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(9))
        isin = "US" + cusip + str(rng.randint(0, 9))
        figi = "BBG00" + "".join(rng.choice("0123456789BCDFGHJKLMNPQRSTVWXYZ") for _ in range(7))
        desc = " ".join(rng.sample(NAME_WORDS, 2)) + " INC"
        ccy = rng.choice(CCYS)
        syms.append(
            dict(
                symbol=s,
                conid=conid,
                cusip=cusip,
                isin=isin,
                figi=figi,
                description=desc,
                listing=rng.choice(LISTING),
                ccy=ccy,
                price=round(rng.uniform(2, 900), 2),
            )
        )
    return syms


def fmt_date(d, iso):
    return d.isoformat() if iso else d.strftime("%Y%m%d")


def fmt_dt(d, iso):
    return d.strftime("%Y-%m-%d;%H:%M:%S") if iso else d.strftime("%Y%m%d;%H%M%S")


def instrument_attrs(acct, s):
    """Static per-(account, symbol) attribute prefix shared by Trade/OpenPosition/CashTransaction."""
    return (
        f'accountId="{acct}" acctAlias="" model="" currency="{s["ccy"]}" '
        f'fxRateToBase="{FX[s["ccy"]]}" assetCategory="STK" subCategory="COMMON" '
        f'symbol={q(s["symbol"])} description={q(s["description"])} conid="{s["conid"]}" '
        f'securityID="{s["isin"]}" securityIDType="ISIN" cusip="{s["cusip"]}" '
        f'isin="{s["isin"]}" figi="{s["figi"]}" listingExchange="{s["listing"]}" '
        f'underlyingConid="" underlyingSymbol="" underlyingSecurityID="" '
        f'underlyingListingExchange="" issuer="" issuerCountryCode="US" multiplier="1" '
        f'strike="" expiry="" putCall="" principalAdjustFactor=""'
    )


def generate(n, out, accounts=1, seed=42, iso=False, n_symbols=None):
    rng = random.Random(seed)
    n_symbols = n_symbols or max(50, min(3000, n // 50))
    syms = make_symbols(rng, n_symbols)
    accts = [f"U{1000000 + i * 7919}" for i in range(accounts)]
    n_cash = max(10, n // 4)
    n_pos = max(10, min(n // 20, n_symbols * accounts))
    start = dt.datetime(2015, 1, 2, 9, 30)
    span_s = 10 * 365 * 86400
    from_d, to_d = start.date(), (start + dt.timedelta(seconds=span_s)).date()
    gen_when = dt.datetime(2025, 1, 3, 6, 12, 1)

    w = out.write
    w('<FlexQueryResponse queryName="perf-synthetic" type="AF">\n')
    w(f'<FlexStatements count="{accounts}">\n')
    tid = 100000000
    txid = 200000000
    oid = 300000000
    for ai, acct in enumerate(accts):
        prefixes = [instrument_attrs(acct, s) for s in syms]
        per = n // accounts + (1 if ai < n % accounts else 0)
        w(
            f'<FlexStatement accountId="{acct}" fromDate="{fmt_date(from_d, iso)}" '
            f'toDate="{fmt_date(to_d, iso)}" period="Custom" '
            f'whenGenerated="{fmt_dt(gen_when, iso)}">\n'
        )
        # ---------------- Trades (sorted by time like real statements)
        w("<Trades>\n")
        offs = sorted(rng.randrange(span_s) for _ in range(per))
        rnd = rng.random
        for k in range(per):
            si = rng.randrange(n_symbols)
            s = syms[si]
            t = start + dt.timedelta(seconds=offs[k])
            d = t.date()
            buy = rnd() < 0.52
            qty = rng.randint(1, 500) * (1 if buy else -1)
            px = round(s["price"] * (0.8 + 0.4 * rnd()), 4)
            proceeds = round(-qty * px, 2)
            comm = round(-max(0.35, abs(qty) * 0.005), 6)
            net = round(proceeds + comm, 2)
            fx = FX[s["ccy"]]
            closing = not buy and rnd() < 0.8
            pnl = round((rnd() - 0.45) * abs(proceeds) * 0.1, 6) if closing else 0
            tid += 1
            txid += rng.randint(1, 9)
            oid += 1
            dts = fmt_dt(t, iso)
            ds = fmt_date(d, iso)
            settle = fmt_date(d + dt.timedelta(days=2), iso)
            open_dt = fmt_dt(t - dt.timedelta(days=rng.randint(1, 900)), iso) if closing else ""
            notes = rng.choice(["", "", "P", "O", "C", "O;P", "C;P", "IA"])
            w(
                f'<Trade {prefixes[si]} tradeID="{tid}" reportDate="{ds}" dateTime="{dts}" '
                f'tradeDate="{ds}" settleDateTarget="{settle}" transactionType="ExchTrade" '
                f'exchange="{EXCHANGES[tid % 10]}" quantity="{qty}" tradePrice="{px}" '
                f'tradeMoney="{-proceeds}" proceeds="{proceeds}" taxes="0" ibCommission="{comm}" '
                f'ibCommissionCurrency="USD" netCash="{net}" netCashInBase="{net}" '
                f'closePrice="{s["price"]}" openCloseIndicator="{"C" if closing else "O"}" '
                f'notes="{notes}" cost="{-net if not closing else round(net - pnl, 2)}" '
                f'fifoPnlRealized="{pnl}" mtmPnl="{round((s["price"] - px) * qty, 4)}" '
                f'origTradePrice="0" origTradeDate="" origTradeID="" origOrderID="0" '
                f'clearingFirmID="" transactionID="{txid}" buySell="{"BUY" if buy else "SELL"}" '
                f'ibOrderID="{oid}" ibExecID="0000e{tid:x}.{k % 100000:05d}.01.01" '
                f'brokerageOrderID="002e.{oid:x}.01.01" orderReference="" orderTime="{dts}" '
                f'openDateTime="{open_dt}" holdingPeriodDateTime="{open_dt}" '
                f'levelOfDetail="EXECUTION" orderType="{"LMT" if rnd() < 0.7 else "MKT"}" '
                f'isAPIOrder="{"Y" if rnd() < 0.5 else "N"}" />\n'
            )
        w("</Trades>\n")
        # ---------------- OpenPositions
        w("<OpenPositions>\n")
        rep = fmt_date(to_d, iso)
        per_pos = n_pos // accounts
        for si in range(min(per_pos, n_symbols)):
            s = syms[si]
            pos = rng.randint(-200, 2000) or 1
            mark = s["price"]
            cbp = round(mark * (0.7 + 0.6 * rnd()), 6)
            w(
                f'<OpenPosition {prefixes[si]} reportDate="{rep}" position="{pos}" '
                f'markPrice="{mark}" positionValue="{round(pos * mark, 2)}" openPrice="{cbp}" '
                f'costBasisPrice="{cbp}" costBasisMoney="{round(pos * cbp, 6)}" '
                f'percentOfNAV="{round(rnd(), 2)}" fifoPnlUnrealized="{round(pos * (mark - cbp), 6)}" '
                f'side="{"Long" if pos > 0 else "Short"}" levelOfDetail="SUMMARY" openDateTime="" '
                f'holdingPeriodDateTime="" code="" originatingOrderID="" '
                f'originatingTransactionID="" />\n'
            )
        w("</OpenPositions>\n")
        # ---------------- CashTransactions
        w("<CashTransactions>\n")
        per_cash = n_cash // accounts
        offs = sorted(rng.randrange(span_s) for _ in range(per_cash))
        for k in range(per_cash):
            si = rng.randrange(n_symbols)
            s = syms[si]
            t = start + dt.timedelta(seconds=offs[k])
            typ = rng.choice(CASH_TYPES)
            amt = round((rnd() - 0.3) * 500, 2)
            txid += rng.randint(1, 9)
            ds = fmt_date(t.date(), iso)
            w(
                f'<CashTransaction {prefixes[si]} dateTime="{fmt_dt(t, iso)}" '
                f'settleDate="{ds}" amount="{amt}" type="{typ}" tradeID="" code="" '
                f'transactionID="{txid}" reportDate="{ds}" clientReference="" '
                f'actionID="{rng.randint(100000000, 199999999)}" levelOfDetail="DETAIL" />\n'
            )
        w("</CashTransactions>\n")
        w("</FlexStatement>\n")
    w("</FlexStatements>\n</FlexQueryResponse>\n")
    return dict(
        trades=n,
        cash=n_cash // accounts * accounts,
        positions=min(n_pos // accounts, n_symbols) * accounts,
        symbols=n_symbols,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, help="number of Trade rows")
    ap.add_argument("out", help="output path ('-' for stdout)")
    ap.add_argument("--accounts", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--iso", action="store_true", help="yyyy-MM-dd dates instead of IB default yyyyMMdd")
    a = ap.parse_args()
    f = sys.stdout if a.out == "-" else open(a.out, "w", encoding="utf-8", buffering=1 << 20)
    stats = generate(a.n, f, a.accounts, a.seed, a.iso)
    if f is not sys.stdout:
        f.close()
    print(stats, file=sys.stderr)


if __name__ == "__main__":
    main()
