"""Serving public/ over HTTP for a look on this machine: `clausewatch serve`.

Owns: a static file server that serves only regular files inside the folder (a symlink that
leads out of it, a dotfile such as a half-written ".page.html.tmp", and folder listings are
404), closes connections idle for IDLE_TIMEOUT seconds and serves at most MAX_CONNECTIONS at
once (the rest are closed at once: no thread each). Must never: write anything.
"""

from __future__ import annotations

import http.server
import os
import socket
import threading
from pathlib import Path
from typing import Any

IDLE_TIMEOUT = 10.0  # seconds a connection may stay silent
MAX_CONNECTIONS = 32


class PublicHandler(http.server.SimpleHTTPRequestHandler):
    root: str = ""  # the served folder, resolved (set by make_server)

    def translate_path(self, path: str) -> str:
        """The file asked for, or "" when it is not a plain file inside the folder."""
        translated = super().translate_path(path)
        relative = os.path.relpath(translated, self.directory)
        if any(part.startswith(".") for part in Path(relative).parts if part != "."):
            return ""
        real = os.path.realpath(translated)
        if real != self.root and not real.startswith(self.root + os.sep):
            return ""  # a symlink out of public/
        return translated

    def send_head(self) -> Any:
        if not self.translate_path(self.path):
            self.send_error(404, "File not found")
            return None
        return super().send_head()

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(404, "File not found")  # no listings: only pages are served
        return None

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the command prints where it serves; request lines would drown it


class PublicServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: Any, max_connections: int) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: refuse, never a thread per idle socket
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def make_server(
    directory: Path,
    host: str,
    port: int,
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> PublicServer:
    root = os.path.realpath(directory)
    handler = type("Handler", (PublicHandler,), {"root": root, "timeout": idle_timeout})

    def build(*args: Any, **kwargs: Any) -> PublicHandler:
        return handler(*args, directory=root, **kwargs)

    server = PublicServer((host, port), build, max_connections)
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return server
