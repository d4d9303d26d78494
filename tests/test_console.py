"""The console over HTTP on a real broker: no route answers without a session; a wrong
password, a login form without its token and too many failures are refused; a search and
its CSV and JSON export are exactly what `intelbus audit export` gives for the same log."""

from __future__ import annotations

import http.client
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli import main
from services.console.auth import Credential
from services.console.server import ConsoleServer
from tests.audit_log import route_examples
from tests.conftest import Bus
from tests.console_helpers import caught_up, running_console

# Every route of the app (by its template) with a path to ask it by, and the method; the
# login page and the stylesheet are the only public ones.
ROUTES = {
    "/login",
    "/logout",
    "/",
    "/decisions",
    "/export/decisions.{fmt:str}",
    "/events/{event_id:path}",
    "/chains",
    "/chains/check",
    "/reports",
    "/live",
    "/static",
}
GUARDED = [
    ("GET", "/"),
    ("GET", "/decisions"),
    ("GET", "/decisions?recipient=ice"),
    ("GET", "/export/decisions.csv"),
    ("GET", "/export/decisions.json"),
    ("GET", "/events/lk-1"),
    ("GET", "/chains"),
    ("POST", "/chains/check"),
    ("GET", "/reports"),
    ("GET", "/live"),
    ("POST", "/logout"),
    ("GET", "/static/live.js"),
]


class Client:
    """An HTTP client that keeps cookies and never follows redirects."""

    def __init__(self, url: str) -> None:
        self.address = urllib.parse.urlsplit(url).netloc
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, accept: str = "text/html"
    ) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection(self.address, timeout=30)
        headers = {"Accept": accept}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body, headers)
        response = connection.getresponse()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                token = rest.split(";")[0].strip('"')
                if token and "max-age=0" not in value.lower():
                    self.cookies[name] = token
                else:
                    self.cookies.pop(name, None)
        text = response.read().decode() if path != "/live" or response.status != 200 else ""
        connection.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text

    def login(self, user: str, password: str) -> tuple[int, str]:
        _, _, page = self.request("GET", "/login")
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        assert match, page
        status, headers, text = self.request(
            "POST", "/login", {"csrf": match.group(1), "user": user, "password": password}
        )
        return status, headers.get("location", "") or text


@pytest.fixture
def console(cli_env: Bus, tmp_path: Path) -> Iterator[ConsoleServer]:
    with running_console(cli_env.settings, tmp_path) as running:
        yield running


def _password(console: ConsoleServer) -> str:
    return Credential(console.state.store_path.parent).password()


def test_no_route_answers_without_a_session(console: ConsoleServer) -> None:
    assert {getattr(route, "path", "") for route in console.app.routes} == ROUTES, (
        "a route this test does not ask"
    )
    client = Client(console.url)
    for method, path in GUARDED:
        for accept in ("text/html", "*/*"):
            status, headers, _ = client.request(method, path, accept=accept)
            assert status in (303, 401), (method, path, status)
            if status == 303:
                assert headers["location"] == "/login", (method, path)
    # A forged or stale session cookie is no session either.
    client.cookies["intelbus_console"] = "not-a-session"
    assert client.request("GET", "/decisions", accept="*/*")[0] == 401
    # Only the login page and its stylesheet are public.
    assert client.request("GET", "/login")[0] == 200
    assert client.request("GET", "/static/console.css")[0] == 200


def test_wrong_password_is_refused_and_logins_are_rate_limited(console: ConsoleServer) -> None:
    client = Client(console.url)
    status, page = client.login("reviewer", "wrong")
    assert status == 401
    assert "Wrong user name or password." in page
    assert "intelbus_console" not in client.cookies
    status, _ = client.login("operator", _password(console))  # only the reviewer may
    assert status == 401
    # A form posted without the token its page set (cross-site) is refused.
    forged = Client(console.url)
    form = {"csrf": "guess", "user": "reviewer", "password": _password(console)}
    assert forged.request("POST", "/login", form)[0] == 400
    # An oversized form is refused before it is read.
    huge = {"csrf": "x", "user": "reviewer", "password": "x" * 10_000}
    assert forged.request("POST", "/login", huge)[0] == 413
    for _ in range(3):
        client.login("reviewer", "wrong")
    status, page = client.login("reviewer", _password(console))  # sixth try in the window
    assert status == 429
    assert "Too many failed logins" in page


def test_login_opens_a_session_that_logout_closes(console: ConsoleServer) -> None:
    client = Client(console.url)
    status, location = client.login("reviewer", _password(console))
    assert (status, location) == (303, "/decisions")
    assert client.request("GET", "/decisions")[0] == 200
    status, _, page = client.request("GET", "/decisions")
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token
    assert client.request("POST", "/logout", {"csrf": "wrong"})[0] == 400
    assert client.request("POST", "/logout", {"csrf": token.group(1)})[0] == 303
    assert client.request("GET", "/decisions", accept="*/*")[0] == 401


def test_search_export_is_the_audit_export(
    cli_env: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    route_examples(cli_env.settings)
    with running_console(cli_env.settings, tmp_path) as console:
        caught_up(console, cli_env.settings)
        capsys.readouterr()  # the router's log
        client = Client(console.url)
        client.login("reviewer", _password(console))
        for fmt in ("csv", "json"):
            for query in ("", "recipient=ice"):
                status, headers, body = client.request(
                    "GET", f"/export/decisions.{fmt}?{query}", accept="*/*"
                )
                assert status == 200
                assert "attachment" in headers["content-disposition"]
                options = ["--recipient", "ice"] if query else []
                assert main(["audit", "export", "--format", fmt, *options]) == 0
                expected = capsys.readouterr().out.splitlines()
                lines = body.splitlines()
                assert len(lines) > (1 if fmt == "csv" else 0)
                if fmt == "csv":  # the same header first, then the same rows
                    assert lines[0] == expected[0]
                    lines, expected = lines[1:], expected[1:]
                assert sorted(lines) == sorted(expected)
        status, _, page = client.request("GET", "/decisions?since=yesterday")
        assert status == 400
        assert "since" in page
        assert "is not a date or time" in page
