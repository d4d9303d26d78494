"""The console's routes (Starlette). Every route but the login page and the stylesheet
needs a session: pages redirect to the login, everything else answers 401. Every form
posts its session's CSRF token; the login form a token of its own (double submit)."""

from __future__ import annotations

import asyncio
import functools
import hmac
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from consumers.audit.query import export
from consumers.console_store import search as queries
from consumers.console_store.store import StoredDecision, open_reader
from intelbus.jsonout import dumps
from services.console.auth import SESSION_COOKIE, LoginLimiter, Session, Sessions, Verifier
from services.console.chains import ChainChecker
from services.console.charts import bars, lines
from services.console.forms import FIELDS, parse_search
from services.console.story import Story

__all__ = ["ConsoleState", "create_app"]

_HERE = Path(__file__).parent
_PUBLIC = {"/login", "/static/console.css"}
_LOGIN_CSRF = "intelbus_console_login"
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_PAGE_SIZE = 50
_MAX_FORM_BYTES = 4096


@dataclass
class ConsoleState:
    store_path: Path
    principal: str  # who may log in: the reviewer
    verifier: Verifier
    checker: ChainChecker
    sessions: Sessions = field(default_factory=Sessions)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    live_interval_s: float = 1.0
    store_problem: str | None = None  # why the store stopped following the log, if it did


def _session(request: Request) -> Session:
    session: Session = request.state.session
    return session


def _small_body(request: Request) -> bool:
    """Forms are a few fields: a body without a declared length, or a longer one, is refused
    before it is read."""
    length = request.headers.get("content-length", "")
    return length.isdigit() and int(length) <= _MAX_FORM_BYTES


def _csrf_ok(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


class _RequireSession(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        state: ConsoleState = request.app.state.console
        if request.method == "POST" and not _small_body(request):
            response = Response(
                f"a form of at most {_MAX_FORM_BYTES} bytes, with its length\n", 413
            )
        elif request.url.path in _PUBLIC:
            response = await call_next(request)
        else:
            session = state.sessions.get(request.cookies.get(SESSION_COOKIE))
            if session is None:
                wants_page = request.method == "GET" and "text/html" in request.headers.get(
                    "accept", ""
                )
                response = (
                    RedirectResponse("/login", 303)
                    if wants_page
                    else Response("log in first\n", 401, media_type="text/plain")
                )
            else:
                request.state.session = session
                response = await call_next(request)
        response.headers.update(_HEADERS)
        return response


class _Pages:
    """The route handlers, over one console's state."""

    def __init__(self, state: ConsoleState) -> None:
        self.state = state
        self.templates = Jinja2Templates(directory=_HERE / "templates")

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        session = getattr(request.state, "session", None)
        context |= {
            "session": session,
            "principal": self.state.principal,
            "store_problem": self.state.store_problem,
        }
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def query(self, work: Callable[[sqlite3.Connection], Any]) -> Awaitable[Any]:
        """``work`` on a read-only connection, off the event loop; None before the store's
        first write."""

        def run() -> Any:
            if not self.state.store_path.exists():
                return None
            with open_reader(self.state.store_path) as db:
                return work(db)

        return run_in_threadpool(run)

    def login_form(self, request: Request, error: str | None, status: int = 200) -> Response:
        token = secrets.token_urlsafe(24)
        response = self.render(request, "login.html", status, csrf=token, error=error)
        response.set_cookie(_LOGIN_CSRF, token, httponly=True, samesite="strict", path="/login")
        return response

    async def login_page(self, request: Request) -> Response:
        return self.login_form(request, None)

    async def login(self, request: Request) -> Response:
        client = request.client.host if request.client else "?"
        form = await request.form()
        if not _csrf_ok(request.cookies.get(_LOGIN_CSRF, "-"), form.get("csrf")):
            return self.login_form(request, "The form expired: try again.", 400)
        wait = self.state.limiter.wait_s(client)
        if wait:
            return self.login_form(request, f"Too many failed logins: try again in {wait} s.", 429)
        user, password = form.get("user"), form.get("password")
        good = isinstance(password, str) and await run_in_threadpool(
            self.state.verifier.check, password
        )
        if user != self.state.principal or not good:
            self.state.limiter.failed(client)
            return self.login_form(request, "Wrong user name or password.", 401)
        self.state.limiter.succeeded(client)
        token, _ = self.state.sessions.open(self.state.principal)
        response = RedirectResponse("/decisions", 303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            path="/",
            max_age=int(self.state.sessions.lifetime_s),
        )
        response.delete_cookie(_LOGIN_CSRF, path="/login")
        return response

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if not _csrf_ok(_session(request).csrf, form.get("csrf")):
            return Response("bad form token\n", 400, media_type="text/plain")
        self.state.sessions.close(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/decisions", 303)

    async def decisions(self, request: Request) -> Response:
        params = dict(request.query_params)
        found = parse_search(params)
        if found.errors:
            return self.render(
                request,
                "decisions.html",
                400,
                search=found,
                params=params,
                fields=FIELDS,
                page=None,
                last_id=0,
                links={},
            )
        page, last_id = await self.query(
            lambda db: (
                queries.search(
                    db,
                    found.criteria,
                    sort=found.sort,
                    descending=found.descending,
                    page=found.page,
                    size=_PAGE_SIZE,
                ),
                queries.last_id(db),
            )
        ) or (queries.Page([], 0, False), 0)

        def link(**changes: Any) -> str:
            return "?" + urlencode({k: v for k, v in (params | changes).items() if v != ""})

        links = {
            "previous": link(page=found.page - 1) if found.page > 0 else None,
            "next": link(page=found.page + 1) if page.has_next else None,
            "csv": "/export/decisions.csv" + link(page=""),
            "json": "/export/decisions.json" + link(page=""),
            "sort": {
                name: link(
                    sort=name,
                    page=0,
                    order="asc" if found.sort == name and found.descending else "desc",
                )
                for name in queries.SORTS
            },
        }
        return self.render(
            request,
            "decisions.html",
            search=found,
            params=params,
            fields=FIELDS,
            page=page,
            last_id=last_id,
            links=links,
            limit=queries.COUNT_LIMIT,
        )

    async def export_decisions(self, request: Request) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in ("csv", "json"):
            return Response("export as decisions.csv or decisions.json\n", 404)
        found = parse_search(dict(request.query_params))
        if found.errors:
            why = "; ".join(f"{name}: {what}" for name, what in found.errors.items())
            return Response(f"bad search: {why}\n", 400, media_type="text/plain")

        def lines_of() -> Iterator[str]:
            with open_reader(self.state.store_path) as db:
                rows = queries.select_all(db, found.criteria, found.sort, found.descending)
                for line in export((r.decision for r in rows), fmt):
                    yield line + "\n"

        return StreamingResponse(
            iterate_in_threadpool(lines_of()),
            media_type="text/csv" if fmt == "csv" else "application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="decisions.{fmt}"'},
        )

    async def event(self, request: Request) -> Response:
        event_id = request.path_params["event_id"][:200]
        rows: list[StoredDecision] = await self.query(lambda db: queries.story(db, event_id)) or []
        return self.render(
            request, "event.html", 200 if rows else 404, event_id=event_id, story=Story(rows)
        )

    async def chains(self, request: Request) -> Response:
        return self.render(
            request, "chains.html", checker=self.state.checker, checked=self.state.checker.last
        )

    async def check_chains(self, request: Request) -> Response:
        form = await request.form()
        if not _csrf_ok(_session(request).csrf, form.get("csrf")):
            return Response("bad form token\n", 400, media_type="text/plain")
        await run_in_threadpool(self.state.checker.check)
        return RedirectResponse("/chains", 303)

    async def reports(self, request: Request) -> Response:
        def charts(db: sqlite3.Connection) -> dict[str, Any]:
            def series(rows: list[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
                found: dict[str, dict[str, int]] = {}
                for name, period, count in rows:
                    found.setdefault(name, {})[period] = count
                return found

            return {
                "rules": lines(
                    "Decisions per rule per day", series(queries.decisions_over_time(db, "rule"))
                ),
                "recipients": lines(
                    "Decisions per recipient per day",
                    series(queries.decisions_over_time(db, "recipient")),
                ),
                "transfers": bars(
                    "EU PNR onward transfers per month", queries.eu_pnr_transfers_by_month(db)
                ),
                "dead": bars("Dead letters by reason", queries.dead_letters_by_reason(db)),
                "counts": queries.counts(db),
            }

        return self.render(request, "reports.html", charts=await self.query(charts))

    async def live(self, request: Request) -> Response:
        after_text = request.query_params.get("after", "0")
        after = int(after_text) if after_text.isdigit() and len(after_text) < 19 else 0

        async def stream() -> AsyncIterator[str]:
            last = after
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                rows = await self.query(functools.partial(queries.newer_than, row_id=last)) or []
                for row in rows:
                    last = row.id
                    yield f"id: {row.id}\nevent: decision\ndata: {dumps(_live_row(row))}\n\n"
                if not rows:
                    yield ": idle\n\n"  # also tells a closed connection apart
                    await asyncio.sleep(self.state.live_interval_s)

        return StreamingResponse(stream(), media_type="text/event-stream")


def create_app(state: ConsoleState) -> Starlette:
    pages = _Pages(state)
    app = Starlette(
        routes=[
            Route("/login", pages.login_page, methods=["GET"]),
            Route("/login", pages.login, methods=["POST"]),
            Route("/logout", pages.logout, methods=["POST"]),
            Route("/", pages.home),
            Route("/decisions", pages.decisions),
            Route("/export/decisions.{fmt:str}", pages.export_decisions),
            Route("/events/{event_id:path}", pages.event),
            Route("/chains", pages.chains),
            Route("/chains/check", pages.check_chains, methods=["POST"]),
            Route("/reports", pages.reports),
            Route("/live", pages.live),
            Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
        ],
        middleware=[Middleware(_RequireSession)],
    )
    app.state.console = state
    return app


def _live_row(row: StoredDecision) -> dict[str, Any]:
    d = row.decision
    return {
        "id": row.id,
        "decidedAt": d.decided_at.strftime("%Y-%m-%d %H:%M:%S"),
        "eventId": d.event_id,
        "recipient": d.recipient,
        "decision": d.decision.label,
        "rules": ", ".join(d.rules) or "-",
    }
