"""``python -m tests.console_screenshots``: screenshots of every console page, taken with
Debian's chromium, into docs/console/ (linked from the README).

On the local stack, in topics of its own (dropped at the end) and with a signing key of its
own: the seed examples routed, the console started on them, each page shot at 1280x800 and
the search page also in a narrow window; then a forged record appended and the chain page
shot again, and a new decision shown arriving live.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from intelbus import clients, serde
from intelbus.access.broker import apply_access, drop_prefixed
from intelbus.access.principals import load_principals
from intelbus.logs import configure_logging
from intelbus.names import topic_map
from intelbus.settings import Settings
from intelbus.topics import apply_topics
from services.console.auth import Credential
from services.console.server import ConsoleServer
from tests.audit_log import pin_router_key, route_examples
from tests.console_helpers import (
    caught_up,
    chromium,
    forge_decision,
    produce_decisions,
    running_console,
    synthetic_decisions,
)

OUT = Path(__file__).resolve().parent.parent / "docs" / "console"
WAIT_MS = 60_000


def _shoot(page: Page, name: str) -> None:
    page.screenshot(path=OUT / f"{name}.png", full_page=True)
    print(f"docs/console/{name}.png")


def _pages(page: Page, console: ConsoleServer, settings: Settings, work: Path) -> None:
    page.set_default_timeout(WAIT_MS)
    page.goto(console.url + "/login")
    _shoot(page, "login")
    page.get_by_label("Password").fill(Credential(work / "console").password())
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Recipient").fill("ice")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results tbody tr").first).to_be_visible()
    _shoot(page, "decisions")
    page.set_viewport_size({"width": 420, "height": 800})
    _shoot(page, "decisions-narrow")
    page.set_viewport_size({"width": 1280, "height": 800})
    transfer = page.locator("#results tbody tr", has_text="auth-").first
    (transfer if transfer.count() else page.locator("#results tbody tr").first).locator(
        "td:nth-child(2) a"
    ).click()
    expect(page.locator("table.story").first).to_be_visible()
    _shoot(page, "event")
    page.goto(console.url + "/chains")
    page.get_by_role("button", name="Check now").click()
    expect(page.locator("#chain-summary")).to_contain_text("Every link verified")
    _shoot(page, "chains")
    page.goto(console.url + "/reports")
    _shoot(page, "reports")
    forge_decision(settings)
    page.goto(console.url + "/chains")
    page.get_by_role("button", name="Check now").click()
    expect(page.locator("#chains tr.bad")).to_have_count(1)
    _shoot(page, "chains-forged")
    page.goto(console.url + "/decisions")
    produce_decisions(settings, topic_map(settings).decisions, list(synthetic_decisions(3)))
    expect(page.locator("#live tbody tr")).to_have_count(3)
    page.locator("#live").scroll_into_view_if_needed()
    _shoot(page, "live")


def main() -> None:
    configure_logging("WARNING")
    work = Path(tempfile.mkdtemp(prefix="intelbus-shots-"))
    prefix = f"shots-{uuid.uuid4().hex[:6]}."
    settings = Settings(topic_prefix=prefix, keys_dir_override=work / "keys")
    principals = load_principals(settings.policies_dir)
    admin = clients.admin(settings)
    topics = topic_map(settings)
    apply_topics(admin, topics.specs(principals))
    apply_access(admin, settings, topics, principals)
    serde.register_schemas(serde.registry_client(settings), settings.schemas_dir)
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        route_examples(settings)
        trusted = pin_router_key(settings.keys_dir, work / "trusted-keys")
        with (
            running_console(settings, work / "console", trusted) as console,
            sync_playwright() as playwright,
        ):
            caught_up(console, settings)
            browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            _pages(
                browser.new_page(viewport={"width": 1280, "height": 800}), console, settings, work
            )
            browser.close()
    finally:
        drop_prefixed(clients.admin(Settings()), (prefix,))


if __name__ == "__main__":
    main()
