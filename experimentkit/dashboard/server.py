"""HTTP side of the dashboard: a Starlette application in front of :func:`app.handle`, served by
uvicorn (both from the ``dashboard`` extra, imported only here, so only ``serve`` needs them).

Stores are not all safe to share between threads (the file store's SQLite index, SQLite
connections bound to the thread that opened them), so one worker thread owns the store: it opens
it, runs every ``handle`` call and every artifact read, and closes it.

What this layer adds to the pages:

* **Host check.**  While listening on a loopback address, requests whose ``Host`` header names
  something else are refused (a web page cannot reach the dashboard by pointing its own domain at
  127.0.0.1: DNS rebinding).
* **Access token.**  With a token (``--token``, or generated when listening beyond loopback) every
  request must carry it: ``?token=...`` once (answered with a redirect that stores it in an
  HttpOnly, SameSite=Strict cookie), the cookie, or ``Authorization: Bearer ...``.
* **Static files** (``/static/``: uPlot, the page script and styles) from the package directory,
  through Starlette's ``StaticFiles``, which refuses paths outside it.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import secrets
import socket
import sys
import threading
import webbrowser
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlencode

from ..errors import UsageError
from . import app

__all__ = [
    "DashboardApp",
    "build_app",
    "serve",
    "is_loopback",
    "reachable_addresses",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "STATIC_DIR",
    "TOKEN_COOKIE",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
STATIC_DIR = Path(__file__).with_name("static")
TOKEN_COOKIE = "experimentkit_token"
_CHUNK = 256 * 1024
_MAX_FORM = 64 * 1024


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    host = host.strip("[]")
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """The host part of a ``Host`` header (``[::1]:8765`` → ``::1``)."""
    header = header.strip()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def reachable_addresses(host: str) -> list:
    """The addresses others can use to reach a server bound to ``host``: for a wildcard
    (``0.0.0.0``, ``::``) this machine's own addresses (the outgoing-route address first, then
    what its host name resolves to), else ``host`` itself."""
    if host not in ("0.0.0.0", "::", ""):
        return [host]
    found: list = []
    v6 = host == "::"
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        if family == socket.AF_INET6 and not v6:
            continue
        try:  # connecting a UDP socket sends nothing; it only picks the outgoing address
            with socket.socket(family, socket.SOCK_DGRAM) as probe_socket:
                probe_socket.connect((probe, 9))
                found.append(probe_socket.getsockname()[0])
        except OSError:
            pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            if info[0] == socket.AF_INET or (v6 and info[0] == socket.AF_INET6):
                found.append(info[4][0])
    except OSError:
        pass
    found.append("127.0.0.1")
    return list(dict.fromkeys(a for a in found if not a.startswith("fe80")))


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class DashboardApp:
    """The ASGI application for the store at ``target`` (opened now, on the store's own thread, so
    a missing store fails here with its one-line ``StoreError``).  Close it with :meth:`close`."""

    def __init__(
        self,
        target: str,
        *,
        local_only: bool = True,
        token: Optional[str] = None,
        settings: Optional[app.Settings] = None,
        open_store: Optional[Callable[[str], Any]] = None,
    ):
        from starlette.applications import Starlette
        from starlette.routing import Mount, Route
        from starlette.staticfiles import StaticFiles

        from ..query import open_store as default_open_store

        self.local_only = local_only
        self.token = token
        self.settings = settings or app.Settings()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-store")
        try:
            self.store = self.call(open_store or default_open_store, target)
        except BaseException:
            self._worker.shutdown(wait=True)
            raise
        methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
        self.asgi = Starlette(
            routes=[
                Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
                Route("/{path:path}", self._endpoint, methods=methods),
            ]
        )

    def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the store's thread and return (or raise) its result."""
        return self._worker.submit(fn, *args, **kwargs).result()

    async def _on_store(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.wrap_future(self._worker.submit(fn, *args, **kwargs))

    def close(self) -> None:
        store = getattr(self, "store", None)
        if store is not None:
            self.call(store.close)
            self.store = None
        self._worker.shutdown(wait=True)

    # ---- ASGI -----------------------------------------------------------------------------------
    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.asgi(scope, receive, send)
        from starlette.requests import Request

        request = Request(scope, receive)
        refusal = self._gate(request)
        if refusal is not None:
            return await refusal(scope, receive, send)
        await self.asgi_with_headers(scope, receive, send)

    async def asgi_with_headers(self, scope: dict, receive: Callable, send: Callable) -> None:
        """The Starlette app, with the security headers added to answers that lack them (the
        static files)."""

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.lower().encode(), v.encode())
                    for k, v in app.SECURITY_HEADERS
                    if k.lower().encode() not in present
                ]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.asgi(scope, receive, send_with_headers)

    def _gate(self, request: Any) -> Any:
        """A response refusing the request (wrong Host, missing token), or None to go on."""
        from starlette.responses import RedirectResponse

        if self.local_only and not is_loopback(_host_name(request.headers.get("host", ""))):
            return self._error(400, "this dashboard only answers requests addressed to localhost")
        if not self.token:
            return None
        given = request.query_params.get("token")
        if given is not None and hmac.compare_digest(given, self.token):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + ("?" + urlencode(rest) if rest else "")
            redirect = RedirectResponse(target, status_code=303)
            redirect.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
            return redirect
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else ""
        cookie = request.cookies.get(TOKEN_COOKIE, "")
        if any(c and hmac.compare_digest(c, self.token) for c in (bearer, cookie)):
            return None
        return self._error(
            401,
            "this dashboard needs its access token: open the address with "
            "?token=... as printed when it started",
        )

    @staticmethod
    def _error(status: int, message: str) -> Any:
        from starlette.responses import Response

        _, headers, body = app.error_response(status, message)
        return Response(
            body, status_code=status, headers=dict(headers[1:]), media_type="text/html; charset=utf-8"
        )

    async def _endpoint(self, request: Any) -> Any:
        from starlette.responses import Response, StreamingResponse

        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        form = None
        if request.method == "POST":
            body = await request.body()
            if len(body) > _MAX_FORM:
                return self._error(413, "form too large")
            form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        origin = request.headers.get("origin") or request.headers.get("referer")
        status, headers, body = await self._on_store(
            app.handle,
            self.store,
            request.method,
            raw_path.decode("latin-1"),
            request.url.query,
            form=form,
            origin=origin,
            host=request.headers.get("host"),
            settings=self.settings,
        )
        header_map = {k: v for k, v in headers if k.lower() not in ("content-length",)}
        if isinstance(body, bytes):
            return Response(body, status_code=status, headers=header_map)

        async def chunks() -> Any:
            try:
                while True:
                    chunk = await self._on_store(body.read, _CHUNK)
                    if not chunk:
                        return
                    yield chunk
            finally:
                await self._on_store(body.close)

        return StreamingResponse(chunks(), status_code=status, headers=header_map)


def build_app(
    target: str,
    host: str = DEFAULT_HOST,
    token: Optional[str] = None,
    allow_writes: bool = False,
    **kwargs: Any,
) -> DashboardApp:
    """The application as ``serve`` runs it: a token is generated when ``host`` is not loopback
    and none was given."""
    local = is_loopback(host)
    if token is None and not local:
        token = secrets.token_urlsafe(18)
    return DashboardApp(
        target,
        local_only=local,
        token=token or None,
        settings=app.Settings(allow_writes=allow_writes),
        **kwargs,
    )


def _need_server_libraries() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"the dashboard needs {exc.name}: pip install 'experimentkit[dashboard]'") from None


def serve(
    target: str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    open_browser: bool = False,
    token: Optional[str] = None,
    allow_writes: bool = False,
) -> int:
    """Run the dashboard until interrupted (``experimentkit serve``); returns the exit status."""
    _need_server_libraries()
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    except (OSError, OverflowError) as exc:  # OverflowError: a port outside 0-65535
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"cannot listen on {host}:{port}: {reason}") from None
    port = sock.getsockname()[1]
    dashboard = build_app(target, host, token, allow_writes)
    suffix = f"?token={dashboard.token}" if dashboard.token else ""
    urls = [_url(a, port) + suffix for a in reachable_addresses(host)]
    if not dashboard.local_only:
        print(
            f"warning: listening on {host}, not on a loopback address: anyone who can reach "
            "this machine and has the token can read every run"
            + (" and edit tags and notes" if allow_writes else ""),
            file=sys.stderr,
        )
    print(f"experimentkit dashboard for {dashboard.store} at {urls[0]}  (Ctrl-C stops it)", flush=True)
    for other in urls[1:]:
        print(f"  also at {other}", flush=True)
    if allow_writes:
        print("  tags and notes can be edited from the pages (--allow-writes)", flush=True)
    if open_browser:
        threading.Thread(target=webbrowser.open, args=(urls[0],), daemon=True).start()
    server = uvicorn.Server(uvicorn.Config(dashboard, log_level="warning", lifespan="off"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        dashboard.close()
    return 0
