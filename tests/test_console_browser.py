"""The console in a real browser (Debian's chromium, driven by Playwright): a reviewer logs
in, searches, opens an event's story, exports a CSV, sees a forged record flagged on the
chain page and a new decision appear live; a wrong password is refused."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from services.console.auth import Credential
from services.console.server import ConsoleServer
from tests.audit_log import pin_router_key, route_examples
from tests.conftest import Bus
from tests.console_helpers import (
    caught_up,
    chromium,
    forge_decision,
    produce_decisions,
    running_console,
    synthetic_decisions,
)

WAIT_MS = 60_000  # for what the console does in the background (store, live, chain check)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        executable = chromium()
    except FileNotFoundError as missing:
        pytest.fail(str(missing), pytrace=False)
    with sync_playwright() as playwright:
        # --no-sandbox: chromium's sandbox refuses to run as root, as tests here do.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def console(cli_env: Bus, tmp_path: Path) -> Iterator[ConsoleServer]:
    with running_console(cli_env.settings, tmp_path / "console") as running:
        yield running


@pytest.fixture
def routed_console(cli_env: Bus, tmp_path: Path) -> Iterator[ConsoleServer]:
    route_examples(cli_env.settings)
    trusted = pin_router_key(cli_env.settings.keys_dir, tmp_path / "trusted-keys")
    with running_console(cli_env.settings, tmp_path / "console", trusted) as running:
        caught_up(running, cli_env.settings)
        yield running


def _log_in(page: Page, console: ConsoleServer, password: str | None = None) -> None:
    page.goto(console.url + "/decisions")
    expect(page).to_have_url(console.url + "/login")  # no session: sent to the login
    page.get_by_label("User").fill("reviewer")
    page.get_by_label("Password").fill(
        password or Credential(console.state.store_path.parent).password()
    )
    page.get_by_label("Password").press("Enter")  # the keyboard is enough


def test_wrong_password_is_refused(page: Page, console: ConsoleServer) -> None:
    _log_in(page, console, password="not-the-password")
    expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")
    expect(page).to_have_url(console.url + "/login")
    page.goto(console.url + "/chains")
    expect(page).to_have_url(console.url + "/login")


def test_log_in_search_open_a_story_and_export_csv(
    page: Page, routed_console: ConsoleServer
) -> None:
    _log_in(page, routed_console)
    expect(page.get_by_role("heading", name="Decisions", exact=True)).to_be_visible()
    page.get_by_label("Recipient").fill("ice")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(f"{routed_console.url}/decisions?" + _query(recipient="ice"))
    rows = page.locator("#results tbody tr")
    expect(rows.first).to_be_visible()
    recipients = rows.locator("td:nth-child(3)").all_inner_texts()
    assert recipients
    assert set(recipients) == {"ice"}
    count = len(recipients)
    assert f"{count} decision(s)" in page.locator("#result-count").inner_text()

    with page.expect_download() as download:
        page.locator("#export-csv").click()
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(exported) == count
    assert {row["recipient"] for row in exported} == {"ice"}
    event_id = exported[0]["eventId"]

    page.get_by_role("link", name=event_id).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Event {event_id}")
    story = page.locator("table.story tbody tr")
    expect(story.first).to_be_visible()
    # Every recipient's decision, not only ICE's.
    assert len(set(story.locator("td:nth-child(2)").all_inner_texts())) > 1
    expect(page.get_by_role("heading", name="Onward transfers")).to_be_visible()


def _query(**params: str) -> str:
    form = {"event": "", "recipient": "", "rule": "", "authorization": "", "policy": ""}
    form |= {"decision": "", "since": "", "until": "", "sort": "decided", "order": "desc"}
    return "&".join(f"{k}={v}" for k, v in (form | params).items())


def test_forged_record_is_flagged_on_the_chain_page(
    page: Page, routed_console: ConsoleServer, cli_env: Bus
) -> None:
    _log_in(page, routed_console)
    page.get_by_role("link", name="Chains").click()
    page.get_by_role("button", name="Check now").click()
    expect(page.locator("#chain-summary")).to_contain_text("Every link verified")
    forged = forge_decision(cli_env.settings)

    page.get_by_role("button", name="Check now").click()
    expect(page.locator("#chain-summary")).to_contain_text("problem(s) in the log")
    broken = page.locator("#chains tr.bad")
    expect(broken).to_have_count(1)
    expect(broken).to_contain_text(f"{forged}: forged or unsealed record")
    expect(page.locator("#last-checked")).to_contain_text("Last checked")


def test_a_new_decision_appears_live(page: Page, console: ConsoleServer, cli_env: Bus) -> None:
    _log_in(page, console)
    expect(page.locator("#live")).to_be_visible()
    [decision] = synthetic_decisions(1)
    produce_decisions(cli_env.settings, cli_env.topics.decisions, [decision])
    row = page.locator("#live tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(decision.event_id)
    expect(row).to_contain_text(decision.recipient)
    expect(page).to_have_url(console.url + "/decisions")  # no reload, no navigation
