"""A real HTTP server on 127.0.0.1 for the download tests: Range requests, a dropped
connection mid-body, server errors, redirects, and absolute-URI (proxy) requests."""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ServerState:
    body: bytes = b""
    # Per-request behaviour, consumed in order; when empty every request is served normally.
    # "drop": send the headers and half the (remaining) body, then close the connection.
    # "500" / "404": answer with that status. "no-range": ignore Range and send everything.
    # "stall": send half the (remaining) body, then go silent for stall_s seconds and close.
    # "trickle": send the body one byte every trickle_s seconds.
    # "endless": no Content-Length, random bytes until the client leaves (endless_cap at most).
    plan: list[str] = field(default_factory=list)
    stall_s: float = 3.0
    trickle_s: float = 0.02
    endless_cap: int = 256 << 20
    requests: list[dict] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: ServerState  # set per server class

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        st = self.state
        st.requests.append({"path": self.path, "range": self.headers.get("Range"),
                            "user_agent": self.headers.get("User-Agent")})
        action = st.plan.pop(0) if st.plan else "ok"
        path = self.path
        if path.startswith("http://"):  # a proxy request carries the absolute URI
            path = "/" + path.split("/", 3)[3]
        if path == "/redirect":
            self._reply(302, b"", {"Location": "/file.bin"})
            return
        if action in ("500", "404") or path != "/file.bin":
            code = 404 if (action == "404" or path != "/file.bin") else 500
            self._reply(code, b"error page", {"Content-Type": "text/plain"})
            return
        if action == "endless":
            self._endless()
            return
        body, start = st.body, 0
        rng = self.headers.get("Range")
        if rng and action != "no-range":
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self._reply(416, b"", {"Content-Range": f"bytes */{len(body)}"})
                return
            headers = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
            status = 206
        else:
            headers, status = {}, 200
        rest = body[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(rest)))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if action == "drop":
            self.wfile.write(rest[: len(rest) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if action in ("stall", "trickle"):
            self._slow(rest, action)
            return
        self.wfile.write(rest)

    def _slow(self, rest: bytes, action: str) -> None:
        import time

        try:
            if action == "stall":
                self.wfile.write(rest[: len(rest) // 2])
                self.wfile.flush()
                time.sleep(self.state.stall_s)
            else:
                end = time.monotonic() + 30  # bounded: the server stops by itself
                for i in range(len(rest)):
                    if time.monotonic() > end:
                        break
                    self.wfile.write(rest[i:i + 1])
                    self.wfile.flush()
                    time.sleep(self.state.trickle_s)
        except OSError:  # the client gave up
            pass
        self.close_connection = True

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        block = bytes(range(256)) * 256
        sent = 0
        try:
            while sent < self.state.endless_cap:
                self.wfile.write(block)
                sent += len(block)
        except OSError:
            pass
        self.close_connection = True

    def do_CONNECT(self) -> None:  # an HTTPS tunnel request sent to us as a proxy
        self.state.requests.append({"path": "CONNECT " + self.path, "range": None,
                                    "user_agent": self.headers.get("User-Agent")})
        self._reply(403, b"", {})

    def _reply(self, code: int, body: bytes, headers: dict) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


class LocalServer:
    def __init__(self, body: bytes):
        self.state = ServerState(body=body)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + "/file.bin"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    """A local port nothing listens on (bound then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
