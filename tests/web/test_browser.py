"""End to end in real headless Chromium against `foliosync serve` started as a subprocess.

The key flow, once on SQLite and once on PostgreSQL: register the first user; add an IBKR account
and import a Flex statement; connect TastyTrade (visible progress) against the loopback fake and
sync it (live status); link Schwab through the fake OAuth server in a new tab; see the holdings and
the charts; load the demo; filter transactions; run a scan and open a symbol's chart. The pages are
also read with JavaScript off and on a phone-sized screen. Screenshots of every page go to
test-output/screenshots/ (gitignored).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fakes.schwab_server import CLIENT_ID as SCHWAB_CLIENT_ID
from tests.fakes.schwab_server import CLIENT_SECRET as SCHWAB_CLIENT_SECRET
from tests.fakes.schwab_server import FakeSchwab
from tests.fakes.tastytrade_server import CLIENT_SECRET as TASTY_SECRET
from tests.fakes.tastytrade_server import REFRESH_TOKEN as TASTY_REFRESH
from tests.fakes.tastytrade_server import FakeTastyTrade
from tests.support.api import TEST_FERNET_KEY
from tests.web.conftest import FLEX_FIXTURE, PASSWORD

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "screenshots"
FOLIOSYNC = Path(sys.executable).with_name("foliosync")
EMAIL = "owner@example.com"


@dataclass
class Fakes:
    tastytrade: FakeTastyTrade
    schwab: FakeSchwab


@dataclass
class Server:
    url: str
    name: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with FakeTastyTrade() as tastytrade, FakeSchwab() as schwab:
        yield Fakes(tastytrade, schwab)


def _serve(database_url: str, fakes: Fakes, workdir: Path, name: str) -> Iterator[Server]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    redirect = f"{url}/api/v1/aggregator/schwab/callback"
    fakes.schwab.redirect_uris.add(redirect)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IBKR_", "TASTYTRADE_", "SCHWAB_", "REDIS"))
    }
    env.update(
        DATABASE_URL=database_url,
        DATA_DIR=str(workdir),
        SECRET_KEY="browser-test-secret-key-that-is-long-enough-0123",
        ENCRYPTION_KEY=TEST_FERNET_KEY,
        ENVIRONMENT="test",
        LOG_LEVEL="WARNING",
        TASTYTRADE_API_URL=fakes.tastytrade.url,
        SCHWAB_CLIENT_ID=SCHWAB_CLIENT_ID,
        SCHWAB_CLIENT_SECRET=SCHWAB_CLIENT_SECRET,
        SCHWAB_REDIRECT_URI=redirect,
        SCHWAB_AUTH_URL=fakes.schwab.auth_url,
        SCHWAB_API_URL=fakes.schwab.url,
    )
    log = workdir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(FOLIOSYNC), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=workdir,  # no developer .env is read
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"foliosync serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield Server(url, name, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, fakes: Fakes, tmp_path: Path) -> Iterator[Server]:
    if request.param == "postgresql":
        engine = request.getfixturevalue("pg_engine")  # migrated and emptied; emptied again afterwards
        database_url = engine.url.render_as_string(hide_password=False)
    else:
        database_url = f"sqlite:///{tmp_path}/browser.db"
    yield from _serve(database_url, fakes, tmp_path, request.param)


def _shot(page, server: Server, name: str, *, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # a sticky header would otherwise repeat mid-page
    page.screenshot(path=str(SHOTS / f"{server.name}-{name}.png"), full_page=full_page)


def _register(page, server: Server) -> None:
    page.goto(server.url + "/")
    assert page.url.endswith("/register")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_confirm]", PASSWORD)
    _shot(page, server, "01-register")
    page.click("button[type=submit]")
    page.wait_for_url("**/settings")
    assert page.locator(".flash").inner_text().startswith(f"Welcome, {EMAIL}")
    _shot(page, server, "02-settings-empty")


def _add_ibkr_and_import(page, server: Server) -> None:
    page.click("#add-ibkr > summary")
    form = page.locator("#add-ibkr form")
    form.locator("input[name=alias]").fill("IBKR statement")
    form.locator("input[name=cred_flex_token]").fill("123456789012345678901234")
    form.locator("input[name=cred_flex_query_id]").fill("654321")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "Added IBKR statement (Interactive Brokers)." in page.locator(".flash").inner_text()
    card = page.locator("article.account", has_text="IBKR statement")
    card.locator("summary", has_text="Import files").click()
    card.locator("input[name=files]").set_input_files(str(FLEX_FIXTURE))
    card.locator("button", has_text="Import").click()
    page.wait_for_url("**/import")
    assert page.locator("h1").inner_text() == "Import finished"
    trades = page.locator("tr", has=page.locator("th", has_text=re.compile(r"^trades$")))
    assert trades.locator("td").first.inner_text() == "3"
    _shot(page, server, "03-import-summary")


def _see_holdings(page, server: Server) -> None:
    page.goto(server.url + "/")
    holdings = page.locator("#holdings tbody tr")
    assert holdings.count() == 5
    ry = page.locator("#holdings tbody tr", has=page.locator("th[data-value=RY]"))
    assert "104,760.00" in ry.inner_text()
    for chart in ("alloc-asset_class", "alloc-account", "alloc-sector", "income"):
        svg = page.locator(f"svg#{chart}")
        assert svg.is_visible() and svg.get_attribute("role") == "img"
        assert svg.bounding_box()["width"] > 150
    # Sorting: a click on "Market value" orders the rows by it, largest first.
    page.click("#holdings th:has-text('Market value')")
    values = [
        float(v)
        for v in page.locator("#holdings tbody tr td:nth-child(4)").evaluate_all(
            "cells => cells.map(c => c.dataset.value)"
        )
    ]
    assert values == sorted(values, reverse=True)
    _shot(page, server, "04-portfolio-ibkr")


def _connect_tastytrade(page, server: Server) -> None:
    page.goto(server.url + "/settings")
    page.click("#add-tastytrade > summary")
    form = page.locator("#add-tastytrade form")
    form.locator("input[name=cred_client_secret]").fill(TASTY_SECRET)
    form.locator("input[name=cred_refresh_token]").fill(TASTY_REFRESH)
    form.locator("button[type=submit]").click()
    progress = form.locator(".progress-text")
    progress.filter(has_text="Connected 1 account").wait_for(timeout=20_000)
    assert form.locator("input[name=cred_client_secret]").input_value() == ""  # secrets leave the page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#add-tastytrade").screenshot(path=str(SHOTS / f"{server.name}-05-tastytrade-connected.png"))
    page.wait_for_url("**/settings?connected=tastytrade#accounts")
    card = page.locator("article.account", has_text="5WX00001")
    assert card.locator(".badge-connected").count() == 1

    card.locator("button", has_text="Sync now").click()
    live = page.locator("article.account", has_text="5WX00001").locator("[data-live]")
    live.filter(has_text=re.compile(r"^(Synced|Partly synced|Sync failed)")).wait_for(timeout=30_000)
    text = live.inner_text()
    assert text.startswith("Synced: "), text
    assert (
        page.locator("article.account", has_text="5WX00001")
        .locator("summary", has_text="Sync history (1)")
        .count()
        == 1
    )
    _shot(page, server, "06-synced")


def _link_schwab(page, server: Server) -> None:
    page.goto(server.url + "/settings")
    page.click("#add-schwab > summary")
    with page.expect_popup() as popup_info:
        page.click("#add-schwab button:has-text('Link a Charles Schwab account')")
    popup = popup_info.value
    popup.wait_for_load_state()
    popup.locator("h1", has_text="Schwab account connected").wait_for(timeout=15_000)
    page.wait_for_url(re.compile(r"/settings\?linked=\d+"), timeout=20_000)
    card = page.locator("article.account", has_text="12345678")
    assert card.locator(".badge-connected").count() == 1
    assert card.locator("button", has_text="Re-link at Charles Schwab").count() == 1
    _shot(popup, server, "07-schwab-callback", full_page=False)
    popup.close()
    _shot(page, server, "08-settings-accounts")


def _load_demo_and_browse(page, server: Server) -> None:
    page.goto(server.url + "/settings")
    page.click("#demo button:has-text('Load the demo data')")
    page.wait_for_url(server.url + "/")
    assert "Demo loaded: 3 accounts" in page.locator(".flash").inner_text()
    assert page.locator(".badge-demo").first.is_visible()
    _shot(page, server, "09-portfolio-demo")

    page.select_option("#account-filter", label="Fidelity Roth IRA (demo) · Fidelity")
    page.wait_for_url(re.compile(r"\?account=\d+"))
    assert sorted(page.locator("#holdings tbody th").evaluate_all("c => c.map(x => x.dataset.value)")) == [
        "BND",
        "FXAIX",
    ]

    page.goto(server.url + "/transactions")
    page.select_option("select[name=kind]", "WITHHOLDING_TAX")
    page.click("button:has-text('Apply')")
    page.wait_for_url(re.compile(r"kind=WITHHOLDING_TAX"))
    kinds = page.locator("tbody .kind").all_inner_texts()
    assert kinds and set(kinds) == {"Withholding tax"}
    _shot(page, server, "10-transactions")


def _scan_and_chart(page, server: Server) -> None:
    page.goto(server.url + "/scanner")
    page.select_option("select[name=preset]", "high_atr_movers")
    page.select_option("select[name=universe]", "STORED")
    page.click("button:has-text('Run scan')")
    page.wait_for_url(re.compile(r"preset=high_atr_movers"))
    rows = page.locator("#scan-results tbody tr")
    assert rows.count() >= 1
    first = rows.first.locator("th").get_attribute("data-value")
    atr_pct = rows.first.locator("td").nth(2).inner_text()
    assert atr_pct.endswith("%") and float(atr_pct.rstrip("%")) >= 2
    _shot(page, server, "11-scanner")

    rows.first.locator("a.sym").click()
    page.wait_for_url(f"**/symbol/{first}")
    chart = page.locator("svg#price")
    assert chart.locator("path.band").count() >= 1 and chart.locator("path.price-line").count() == 1
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    tip = page.locator(".chart-tip")
    tip.wait_for(state="visible")
    assert re.match(
        r"\d{4}-\d\d-\d\d · close [\d,.]+ · ATR [\d,.]+ · band [\d,.]+\u2013[\d,.]+$", tip.inner_text()
    )
    _shot(page, server, "12-symbol")


def _read_without_javascript_and_on_a_phone(chromium, page, server: Server) -> None:
    state = page.context.storage_state()
    no_js = chromium.new_context(storage_state=state, java_script_enabled=False, base_url=server.url)
    try:
        plain = no_js.new_page()
        plain.goto(server.url + "/")
        assert plain.locator("#holdings tbody tr").count() > 10
        assert plain.locator("svg#income rect.bar-net").count() >= 10
        assert plain.locator("button:has-text('Show')").is_visible()  # the filter's submit button
    finally:
        no_js.close()
    phone = chromium.new_context(
        storage_state=state, viewport={"width": 390, "height": 844}, base_url=server.url
    )
    try:
        small = phone.new_page()
        for path, name in (("/", "13-phone-portfolio"), ("/settings", "14-phone-settings")):
            small.goto(server.url + path)
            overflow = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow}px wider than the screen"
            _shot(small, server, name)
    finally:
        phone.close()


def test_key_flow_in_a_real_browser(chromium, server: Server, fakes: Fakes) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, base_url=server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        _register(page, server)
        _add_ibkr_and_import(page, server)
        _see_holdings(page, server)
        _connect_tastytrade(page, server)
        _link_schwab(page, server)
        _load_demo_and_browse(page, server)
        _scan_and_chart(page, server)
        _read_without_javascript_and_on_a_phone(chromium, page, server)
    except Exception:
        _shot(page, server, "zz-failure")
        print(server.log.read_text()[-4000:])
        raise
    finally:
        context.close()
    assert errors == []  # no script errors, no CSP violations, no failed requests logged
