"""A minimal FTP server (RFC 959 subset: USER PASS TYPE SIZE PASV REST RETR STOR QUIT) in a thread, so the
downloader's and the log upload's FTP paths run against a real control and data connection.
`drop_after` cuts the next RETR after that many bytes (resume tests)."""

from __future__ import annotations

import socket
import socketserver
import threading
from pathlib import Path


class FtpServer:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.commands: list[str] = []
        self.drop_after: int | None = None
        self._server = _Server(("127.0.0.1", 0), _Session)
        self._server.owner = self

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, name: str) -> str:
        return f"ftp://reon:secret@127.0.0.1:{self.port}/{name}"

    def start(self) -> FtpServer:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FtpServer


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def reply(self, text: str) -> None:
        self.wfile.write(f"{text}\r\n".encode())

    def handle(self) -> None:
        owner = self.server.owner
        passive: socket.socket | None = None
        offset = 0
        self.reply("220 REON test FTP")
        for raw in self.rfile:
            verb, _, arg = raw.decode().strip().partition(" ")
            verb = verb.upper()
            owner.commands.append(f"{verb} {arg}".strip())
            path = owner.root / arg.lstrip("/")
            if verb == "USER":
                self.reply("331 password please")
            elif verb == "PASS":
                self.reply("230 logged in")
            elif verb == "TYPE":
                self.reply("200 binary")
            elif verb == "SIZE":
                self.reply(f"213 {path.stat().st_size}" if path.is_file() else "550 no such file")
            elif verb == "PASV":
                passive = socket.create_server(("127.0.0.1", 0))
                port = passive.getsockname()[1]
                self.reply(f"227 Entering Passive Mode (127,0,0,1,{port >> 8},{port & 255})")
            elif verb == "REST":
                offset = int(arg)
                self.reply(f"350 restarting at {offset}")
            elif verb in ("RETR", "STOR") and passive is not None:
                if verb == "RETR" and not path.is_file():
                    self.reply("550 no such file")
                    continue
                self.reply("150 opening data connection")
                data, _ = passive.accept()
                with data:
                    if verb == "RETR":
                        body = path.read_bytes()[offset:]
                        if owner.drop_after is not None:
                            body, owner.drop_after = body[:owner.drop_after], None
                        data.sendall(body)
                    else:
                        with open(path, "wb") as f:
                            while chunk := data.recv(65536):
                                f.write(chunk)
                passive.close()
                passive, offset = None, 0
                self.reply("226 transfer complete")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")
