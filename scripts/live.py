"""`make live`: the built book on 127.0.0.1 and a Jupyter server that runs its pages live.

Two servers, both on 127.0.0.1 only, on free ports (or --book-port/--server-port):

* the built HTML book (_build/html), served read-only by Python's http.server, so that its pages
  have one well-defined origin, http://127.0.0.1:<book-port>;
* a Jupyter server (the book's .venv, kernels start in book/<part>/ as when the chapters were
  executed) that requires a random token and accepts cross-origin requests from exactly that
  origin (``ServerApp.allow_origin``, no ``*``): a request without the token is refused (403),
  one from another origin too, token or not (404 for the REST API, 403 for a kernel's websocket:
  scripts/live_server_config.py makes Jupyter check the origin of token-carrying requests as
  well). Kernels left
  by a closed page are shut down after 10 idle minutes.

It prints one address to open: the book's front page with the server's address and the token in
the URL fragment (``#kexue-live=...&kexue-token=...``), which a browser never sends to a server;
the page keeps them in sessionStorage (that tab only) and removes them from the address bar.
The token is never written into the book's files or the repository. Ctrl-C stops both servers.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import labbook

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
BOOK = ROOT / "book"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)       # a browser that left early is not one


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:       # the book's requests are not worth a line each
        pass


class Live:
    """Both servers, as a context manager (the browser test uses it as `make live` does)."""

    def __init__(self, html: Path = HTML, *, book_port: int = 0, server_port: int = 0,
                 log: Path | None = None, cull_idle_s: int = 600, one_thread: bool = False):
        if not (Path(html) / "index.html").exists():
            raise SystemExit(f"the book is not built at {html}: run `make book` first")
        self.html = Path(html)
        self.book_port = book_port or labbook.free_port()
        self.server_port = server_port or labbook.free_port()
        self.token = secrets.token_urlsafe(32)
        self.origin = f"http://127.0.0.1:{self.book_port}"
        self.server = f"http://127.0.0.1:{self.server_port}"
        self.log = log
        self.cull_idle_s = cull_idle_s
        self.one_thread = one_thread          # kernels with one BLAS/torch thread (the tests)
        self.proc: subprocess.Popen | None = None
        self.httpd: http.server.ThreadingHTTPServer | None = None

    def front_page(self) -> str:
        """The book's first page (index.html only redirects to it, and a redirect drops the fragment)."""
        m = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', (self.html / "index.html").read_text())
        return m.group(1) if m else "index.html"

    def url(self, page: str | None = None, *, with_token: bool = True) -> str:
        """A page of the book (the front page by default); with the fragment that switches the
        tab's live mode on."""
        u = f"{self.origin}/{(page or self.front_page()).lstrip('/')}"
        return f"{u}#kexue-live={self.server}&kexue-token={self.token}" if with_token else u

    def __enter__(self) -> "Live":
        handler = functools.partial(_Quiet, directory=str(self.html))
        self.httpd = _Server(("127.0.0.1", self.book_port), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        env = dict(os.environ, JUPYTER_TOKEN=self.token, PYTHONUNBUFFERED="1")
        if self.one_thread:
            env["OMP_NUM_THREADS"] = "1"
        cmd = [sys.executable, "-m", "jupyter", "server", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.server_port}", "--ServerApp.port_retries=0",
               f"--ServerApp.root_dir={BOOK}", f"--ServerApp.allow_origin={self.origin}",
               f"--config={ROOT / 'scripts' / 'live_server_config.py'}",
               "--ServerApp.open_browser=False", "--ServerApp.allow_remote_access=False",
               f"--MappingKernelManager.cull_idle_timeout={self.cull_idle_s}",
               "--MappingKernelManager.cull_interval=60",
               "--MappingKernelManager.cull_connected=False", "--ServerApp.log_level=WARN"]
        if hasattr(os, "getuid") and os.getuid() == 0:
            cmd.append("--allow-root")
        out = self.log.open("w") if self.log else None
        self.proc = subprocess.Popen(cmd, cwd=BOOK, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.__exit__()
                raise RuntimeError(f"the Jupyter server exited ({self.proc.returncode})")
            try:
                req = urllib.request.Request(f"{self.server}/api/status",
                                             headers={"Authorization": f"token {self.token}"})
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        return self
            except (OSError, urllib.error.HTTPError):
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError("the Jupyter server did not answer within 60 s")

    def __exit__(self, *exc) -> None:
        labbook.stop_process_group(self.proc)
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--html", type=Path, default=HTML, help="the built book (default _build/html)")
    ap.add_argument("--book-port", type=int, default=0, help="port of the book (default: a free one)")
    ap.add_argument("--server-port", type=int, default=0, help="port of the Jupyter server (default: a free one)")
    args = ap.parse_args(argv)
    with Live(args.html, book_port=args.book_port, server_port=args.server_port) as live:
        print("\nThe book and a Jupyter server for it run on this computer (127.0.0.1 only).")
        print("Open this address (it holds this session's token: do not share it), then press")
        print("\"Run live\" on a chapter:\n")
        print(f"    {live.url()}\n")
        print("Ctrl-C stops both.", flush=True)
        try:
            live.proc.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
