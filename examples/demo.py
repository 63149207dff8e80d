"""The coatcheck demo (``nox -s demo``): one page that shows what a server-side session is.

    python examples/demo.py [--port 8000] [--db ./coatcheck-demo.sqlite3] [--store memory]

Open http://127.0.0.1:8000/ in two browsers (or a normal and a private window), log in with
the same name in both, and watch: what the browser holds (a signed id in a cookie), what the
server holds (the stored record, its expiry counting down), express-session's powers
(regenerate, destroy, reload, touch, rolling) and coatcheck's (this user's sessions across both
browsers; "log out my other devices"; "log out everywhere"). Sessions live in SQLite, so a
restart keeps everyone logged in. Signed with ``$COATCHECK_SECRET`` (a development default
otherwise; the same secret must be used across restarts).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from http.cookies import SimpleCookie
from typing import Any

import uvicorn
from _shared import announce, count_view, form_value, open_store, parse_args
from _shared import counter_line as views_line
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from starlette_app import log_in, log_out, session_middleware

from coatcheck import AsyncSession, SessionInfo
from coatcheck_asgi import get_session, logout_everywhere

#: Short, so the countdown, ``touch`` and ``rolling`` are visible without waiting an hour.
MAX_AGE = 600
COOKIE = "connect.sid"
#: A demo-only cookie choosing which of two middlewares (rolling off / on) serves the request.
ROLLING_COOKIE = "demo.rolling"

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f4f1ea;color:#222}
header{background:#2d3a4a;color:#fff;padding:1.2em 2em}header h1{margin:0;font-size:1.5em}
header p{margin:.3em 0 0;opacity:.85;max-width:60em}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(26em,1fr));gap:1em;padding:1em 2em}
section{background:#fff;border-radius:8px;padding:1em 1.2em;box-shadow:0 1px 3px #0002}
h2{font-size:1.1em;margin:.1em 0 .6em}code,pre{font:13px ui-monospace,monospace}
pre{background:#1e2430;color:#d8e0ea;padding:.8em;border-radius:6px;overflow:auto}
.note{background:#fff7d6;border-left:4px solid #e0b400;padding:.6em 1em;margin:1em 2em 0}
.did{background:#e3f4e8;border-left:4px solid #2e9b55;padding:.6em 1em;margin:1em 2em 0}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25em .5em}
tr+tr td{border-top:1px solid #eee}.badge{background:#2e9b55;color:#fff;border-radius:4px;
padding:0 .4em;font-size:.85em}form.inline{display:inline}button{margin:.15em;padding:.35em .8em;
border-radius:5px;border:1px solid #888;background:#fafafa;cursor:pointer}
button.danger{border-color:#b33;color:#b33}dt{font-weight:600}dd{margin:0 0 .4em 1em}
.muted{color:#777}
"""

COUNTDOWN = """
function tick(){document.querySelectorAll('[data-expires]').forEach(function(el){
var left=Math.round((Date.parse(el.dataset.expires)-Date.now())/1000);
el.textContent=left>0?Math.floor(left/60)+'m '+('0'+left%60).slice(-2)+'s':'expired';});}
tick();setInterval(tick,1000);
"""

#: What each button did, said on the page after the redirect (the session may be gone).
DID = {
    "regenerate": "regenerate(keep_data=True): a new id, the old record destroyed, the data "
    "moved over. Use it at login against session fixation.",
    "destroy": "destroy(): the record is deleted from the store and the response expired the "
    "cookie. This page then started a new, empty session.",
    "reload": "reload(): the handler set a key 'scratch' without saving, then reload() replaced "
    "the data with the stored copy, so 'scratch' is gone.",
    "touch": "touch(): cookie.max_age reset to its original value, so the stored expiry moved "
    "forward (the store was touched at the end of the request).",
    "rolling-on": "rolling=True: every response now re-sends the cookie with a fresh Expires.",
    "rolling-off": "rolling=False (express's default): the cookie is sent when the session is "
    "new or its id changed.",
    "others": "revoke_others(): every other session of this user was destroyed.",
    "everywhere": "logout_everywhere(): every session of this user, this one included, was "
    "destroyed. Other browsers are logged out on their next request.",
}


def esc(value: object) -> str:
    return html.escape(str(value))


def abbreviated(sid: str) -> str:
    """Enough of an id to tell sessions apart on screen, too little to hijack one."""
    return sid[:6] + "…"


def cookie_rows(request: Request, session: AsyncSession) -> str:
    """What the browser holds: the cookie it sent, and the attributes it was set with."""
    sent = request.cookies.get(COOKIE)
    if sent:
        shape = "<span class='muted'>(s:&lt;id&gt;.&lt;signature&gt;, abbreviated)</span>"
        value = f"<code>{esc(sent[:9])}…</code> {shape}"
    else:
        value = "<span class='muted'>nothing yet: this response sets it</span>"
    cookie = session.cookie
    expires = (
        cookie.expires.isoformat(timespec="seconds") if cookie.expires else "(browser session)"
    )
    attributes = [
        ("Path", cookie.path),
        ("HttpOnly", cookie.http_only),
        ("SameSite", cookie.same_site),
        ("Secure", cookie.secure),
        ("Expires", expires),
    ]
    listed = "".join(
        f"<dt>{esc(k)}</dt><dd><code>{esc('not set' if v is None else v)}</code></dd>"
        for k, v in attributes
    )
    return (
        f"<dl><dt>{COOKIE}</dt><dd id='cookie-value'>{value}</dd>{listed}</dl>"
        "<p class='muted'>The browser sends back only name=value; HttpOnly keeps it away from "
        "JavaScript. The data never leaves the server.</p>"
    )


def record_block(session: AsyncSession, record: dict[str, Any] | None) -> str:
    """What the server holds: the stored record, as express (and Node) would read it."""
    if record is None:
        return "<p class='muted'>No stored record: this session is not saved.</p>"
    expires = (record.get("cookie") or {}).get("expires")
    countdown = (
        f"<p>expires in <strong id='expires-in' data-expires='{esc(expires)}'>…</strong></p>"
        if expires
        else "<p>no expiry (a browser-session cookie)</p>"
    )
    pretty = json.dumps(record, indent=2, ensure_ascii=False)
    return (
        f"<p>key <code>sess:{esc(abbreviated(session.id))}</code> "
        "<span class='muted'>(id abbreviated)</span></p>"
        f"{countdown}<pre id='record'>{esc(pretty)}</pre>"
    )


def button(action: str, label: str, explain: str, *, danger: bool = False) -> str:
    kind = " class='danger'" if danger else ""
    return (
        f"<form class='inline' method='post' action='/act/{action}'>"
        f"<button id='{action}'{kind} title='{esc(explain)}'>{esc(label)}</button></form>"
    )


def sessions_table(infos: list[SessionInfo]) -> str:
    rows = []
    for info in infos:
        badge = " <span class='badge'>this browser</span>" if info.current else ""
        written = info.last_written.strftime("%H:%M:%S UTC") if info.last_written else "-"
        left = f"<span data-expires='{info.expires.isoformat()}'>…</span>" if info.expires else "-"
        rows.append(
            f"<tr class='session'><td><code>{esc(info.id_prefix)}</code>{badge}</td>"
            f"<td>{esc(written)}</td><td>{left}</td></tr>"
        )
    return (
        "<table id='sessions'><tr><th>session</th><th>last written</th><th>expires in</th></tr>"
        + "".join(rows)
        + "</table>"
    )


async def page(request: Request, session: AsyncSession, views: int) -> str:
    user = session.get("user")
    rolling = request.cookies.get(ROLLING_COOKIE) == "1"
    # Touched and saved now (not only at the end), so the record below is the one this
    # request leaves in the store.
    await session.touch()
    await session.save()
    record = await session.cycle.config.async_store.get(session.id)
    did = request.query_params.get("did", "")
    banner = ""
    if did in DID:
        count = request.query_params.get("n")
        suffix = f" ({esc(count)} session(s) ended)" if count is not None else ""
        banner = f"<div class='did' id='did'>{esc(DID[did])}{suffix}</div>"
    if user:
        you = f'<p>hello, {esc(user)}! <a href="/logout">Logout</a></p>'
        infos = await session.sessions()
        mine = (
            f"<p>{len(infos)} live session(s) of <strong>{esc(user)}</strong>, found through "
            "the store's user index (<code>user_key='user'</code>):</p>"
            + sessions_table(infos)
            + "<p>"
            + button("others", "Log out my other devices", "session.revoke_others()")
            + button("everywhere", "Log out everywhere", "logout_everywhere()", danger=True)
            + "</p><p class='muted'>Log in with the same name in a second browser (or a "
            "private window) and reload: both sessions are listed.</p>"
        )
    else:
        you = (
            '<form action="/login" method="post">Username: <input name="user" id="user"> '
            'Password: <input name="pass" type="password"> '
            '<input type="submit" value="Login" id="login"></form>'
            "<p class='muted'>Any name and password work, as in express's example.</p>"
        )
        mine = "<p class='muted'>Log in to see every session of your user.</p>"
    powers = (
        button("regenerate", "regenerate", "a new id, the data kept")
        + button("reload", "reload", "throw away unsaved changes")
        + button("touch", "touch", "reset the expiry")
        + button(
            "rolling-off" if rolling else "rolling-on",
            f"rolling: {'on' if rolling else 'off'}",
            "re-send the cookie on every response",
        )
        + button("destroy", "destroy", "delete the session", danger=True)
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>coatcheck demo</title><style>{STYLE}</style></head><body>
<header><h1>coatcheck: the coat-check ticket demo</h1>
<p>Your browser holds only a ticket (a signed session id in a cookie); the coat (your session
data) stays on the server, in a store. This page shows both sides, and what you can do with
them: express-session's API in Python, plus coatcheck's sessions of a user.</p></header>
<div class="note">{views_line(views)}</div>{banner}
<main>
<section id="you"><h2>You</h2>{you}</section>
<section id="browser"><h2>What your browser holds</h2>{cookie_rows(request, session)}</section>
<section id="server"><h2>What the server holds</h2>{record_block(session, record)}</section>
<section id="express"><h2>express-session's powers</h2><p>{powers}</p>
<p class='muted'>Each button runs one method on this session, then comes back here.</p></section>
<section id="users"><h2>coatcheck: sessions of a user</h2>{mine}</section>
</main><script>{COUNTDOWN}</script></body></html>"""


async def home(request: Request) -> HTMLResponse:
    session = get_session(request)
    views = count_view(session, "/")
    return HTMLResponse(await page(request, session, views))


async def login(request: Request) -> RedirectResponse:
    user = form_value(await request.body(), "user")
    if not user:
        return RedirectResponse("/", status_code=303)
    # The example's login (a new id against fixation, the view counter kept), plus the time.
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    await log_in(get_session(request), user, logged_in_at=now)
    return RedirectResponse("/", status_code=303)


async def logout(request: Request) -> RedirectResponse:
    await log_out(get_session(request), "logged_in_at")
    return RedirectResponse("/", status_code=303)


async def act(request: Request) -> Response:
    """One button: run the session method, then say what it did on the page."""
    action = request.path_params["action"]
    session = get_session(request)
    count: int | None = None
    if action == "regenerate":
        await session.regenerate(keep_data=True)
    elif action == "destroy":
        await session.destroy()
    elif action == "reload":
        session["scratch"] = "set by this request, never saved"
        await session.reload()
    elif action == "touch":
        await session.touch()
    elif action == "others":
        count = await session.revoke_others()
    elif action == "everywhere":
        count = await logout_everywhere(request)
    elif action not in ("rolling-on", "rolling-off"):
        return Response("unknown action", status_code=404)
    target = f"/?did={action}" + ("" if count is None else f"&n={count}")
    response = RedirectResponse(target, status_code=303)
    if action.startswith("rolling"):
        response.set_cookie(ROLLING_COOKIE, "1" if action == "rolling-on" else "0", samesite="lax")
    return response


ROUTES = [
    Route("/", home),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout),
    Route("/act/{action}", act, methods=["POST"]),
]


def session_app(store: Any, *, rolling: bool) -> Starlette:
    return Starlette(
        routes=ROUTES,
        middleware=[
            session_middleware(
                store,
                rolling=rolling,
                user_key="user",
                cookie={"max_age": MAX_AGE, "same_site": "lax"},
            )
        ],
    )


def rolling_requested(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed header: rolling stays off
                return False
            morsel = jar.get(ROLLING_COOKIE)
            return morsel is not None and morsel.value == "1"
    return False


def create_app(store: Any) -> Any:
    """The demo: the same routes behind two session middlewares on one store, rolling off and
    on; the demo's own ``demo.rolling`` cookie picks one (``rolling`` is a middleware option)."""
    plain = session_app(store, rolling=False)
    rolling = session_app(store, rolling=True)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        chosen = rolling if scope["type"] == "http" and rolling_requested(scope) else plain
        await chosen(scope, receive, send)

    return app


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(
        "coatcheck demo: what a server-side session is, in one page (Starlette, SQLite)",
        port=8000,
        db="coatcheck-demo.sqlite3",
        argv=argv,
    )
    with open_store(args) as store:
        announce("coatcheck demo", args)
        uvicorn.run(create_app(store), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
