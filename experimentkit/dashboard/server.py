"""HTTP wiring of the dashboard: a ``ThreadingHTTPServer`` in front of :func:`app.handle`.

Stores are not all safe to share between threads (the file store's SQLite index and its refresh,
SQLite connections that must stay on the thread that opened them), so one worker thread owns the
store: it opens it, runs every ``handle`` call and every artifact read, and closes it.  Request
threads only parse HTTP and write bytes to their socket, so a slow download never holds the store.

Requests whose ``Host`` header names something other than this machine are refused while the server
listens on a loopback address: a web page cannot then reach the dashboard by pointing its own domain
name at 127.0.0.1 (DNS rebinding).
"""
from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import webbrowser
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from ..errors import UsageError
from . import app

__all__ = ["DashboardServer", "serve", "is_loopback", "DEFAULT_HOST", "DEFAULT_PORT"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
_CHUNK = 256 * 1024


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


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = "experimentkit-dashboard"
    sys_version = ""

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Every method (do_GET, do_POST, do_FOO ...) goes to the application, which answers
        # anything but GET with 405.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        if self.server.local_only and not is_loopback(_host_name(self.headers.get("Host", ""))):
            status, headers, body = app.error_response(
                400, "this dashboard only answers requests addressed to localhost")
        else:
            parts = urlsplit(self.path)
            status, headers, body = self.server.call(app.handle, self.server.store, self.command,
                                                     parts.path, parts.query)
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command == "HEAD":
                pass  # refused with 405 like every other method but GET; a HEAD answer has no body
            elif isinstance(body, bytes):
                self.wfile.write(body)
            else:
                self._stream(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away
        finally:
            if not isinstance(body, bytes):
                self.server.call(body.close)

    def _stream(self, body: Any) -> None:
        while True:
            chunk = self.server.call(body.read, _CHUNK)
            if not chunk:
                return
            self.wfile.write(chunk)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        if not self.server.quiet:
            super().log_message(format, *args)


class DashboardServer(ThreadingHTTPServer):
    """The dashboard on ``(host, port)`` (port 0 picks a free one) for the store at ``target``.

    The store is opened on the worker thread at construction, so a missing store fails here with
    the store's one-line ``StoreError``.
    """

    daemon_threads = True

    def __init__(self, target: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 quiet: bool = False, open_store: Optional[Callable[[str], Any]] = None):
        if open_store is None:
            from ..query import open_store
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.quiet = quiet
        self.local_only = is_loopback(host)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-store")
        try:
            self.store = self.call(open_store, target)
            super().__init__((host, port), _Handler)
        except BaseException:
            self._close_store()
            raise

    def call(self, fn: Callable, *args: Any) -> Any:
        """Run ``fn(*args)`` on the store's thread and return (or raise) its result."""
        return self._worker.submit(fn, *args).result()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def _close_store(self) -> None:
        store = getattr(self, "store", None)
        if store is not None:
            self.call(store.close)
            self.store = None
        self._worker.shutdown(wait=True)

    def server_close(self) -> None:
        super().server_close()
        self._close_store()


def serve(target: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          open_browser: bool = False) -> int:
    """Run the dashboard until interrupted (``experimentkit serve``); returns the exit status."""
    try:
        server = DashboardServer(target, host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if not server.local_only:
        print(f"warning: listening on {host}, not on a loopback address: anyone who can reach "
              f"this machine can read every run in the store (there is no login)", file=sys.stderr)
    print(f"experimentkit dashboard for {server.store} at {server.url}  (Ctrl-C stops it)",
          flush=True)
    if open_browser:
        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
