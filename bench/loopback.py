"""What the pass benchmarks share: pages served from 8 loopback addresses, the command that
runs this checkout's Clausewatch, and the process tree of a command under test, for its memory.

Owns: the loopback hosts (127.0.0.1-8, so that tools fetch hosts in parallel), a threaded
server per host answering from a `respond` function, `clausewatch` (this checkout's code, even
when the venv's editable install points at another), and walking a process's descendants
through /proc. Used by bench/pass.py (plain HTTP) and bench/browser.py (rendered pages).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

HOSTS = [f"127.0.0.{n}" for n in range(1, 9)]
ROOT = Path(__file__).resolve().parent.parent


def clausewatch(env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """The command that runs `clausewatch` from this checkout, and `env` to run it with."""
    path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return [sys.executable, "-m", "monitor"], {**env, "PYTHONPATH": path}


# (path, request headers) -> (status, response headers, body)
Respond = Callable[[str, Mapping[str, str]], tuple[int, Mapping[str, str], bytes]]


def serve(
    respond: Respond, port: int, *, keep_alive: bool = False
) -> list[http.server.ThreadingHTTPServer]:
    """A server on `port` of each of HOSTS, answering GETs with `respond`; `keep_alive`
    speaks HTTP/1.1 (connections kept open) instead of HTTP/1.0. Shut them down when done."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def do_GET(self) -> None:
            status, headers, body = respond(self.path, self.headers)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    servers = []
    for host in HOSTS:
        server = http.server.ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers


def tree(pid: int) -> list[int]:
    """The process and all its descendants (worker processes, a browser's processes)."""
    found, todo = [], [pid]
    for _ in range(5000):  # bounded walk
        if not todo:
            break
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                todo += [int(child) for child in task.read_text().split()]
    return found
