"""A small but real tlog-witness (c2sp.org/tlog-witness) for tests, served via MockTransport."""

from __future__ import annotations

import base64
import binascii
import threading
import time

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit import merkle
from broker.audit.checkpoint import parse_checkpoint
from broker.audit.errors import InvalidNote, InvalidProof
from broker.audit.note import Ed25519Verifier, open_note
from broker.audit.witness import CosignatureVerifier, Cosigner, WitnessClient


class Witness:
    """Cosigns checkpoints of one log after checking signature and consistency."""

    def __init__(self, name: str, log_vkey: str) -> None:
        self.cosigner = Cosigner(name, Ed25519PrivateKey.generate())
        self.log_verifier = Ed25519Verifier.from_vkey(log_vkey)
        self.latest: dict[str, tuple[int, bytes]] = {}
        self.lock = threading.Lock()
        self.requests = 0

    @property
    def verifier(self) -> CosignatureVerifier:
        return self.cosigner.verifier

    def client(self) -> WitnessClient:
        http = httpx.Client(transport=httpx.MockTransport(self.handle),
                            base_url="https://witness.test")
        return WitnessClient("https://witness.test/", self.verifier, http=http)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if request.method != "POST" or request.url.path != "/add-checkpoint":
            return httpx.Response(404)
        head, sep, note = request.content.partition(b"\n\n")
        lines = head.decode(errors="replace").split("\n")
        if not sep or not lines[0].startswith("old ") or not lines[0][4:].isdigit():
            return httpx.Response(400, text="malformed request")
        old = int(lines[0][4:])
        try:
            proof = [base64.b64decode(x, validate=True) for x in lines[1:]]
        except binascii.Error:
            return httpx.Response(400, text="bad proof encoding")
        if len(proof) > 63:
            return httpx.Response(400, text="proof too long")
        try:
            text, _ = open_note(note, [self.log_verifier])
            cp = parse_checkpoint(text)
        except InvalidNote:
            return httpx.Response(403, text="not signed by a trusted log key")
        if cp.origin != self.log_verifier.name:
            return httpx.Response(404, text="unknown log")
        if old > cp.size:
            return httpx.Response(400, text="old size larger than checkpoint")
        with self.lock:
            size, root = self.latest.get(cp.origin, (0, merkle.EMPTY_ROOT))
            if old != size:
                return httpx.Response(409, text=f"{size}\n",
                                      headers={"Content-Type": "text/x.tlog.size"})
            if cp.size == 0 and cp.root != merkle.EMPTY_ROOT:
                return httpx.Response(422, text="bad empty root")
            if old == cp.size and (proof or root != cp.root):
                return httpx.Response(422, text="same size, different root")
            if 0 < old < cp.size:
                try:
                    merkle.verify_consistency(old, cp.size, root, cp.root, proof)
                except InvalidProof:
                    return httpx.Response(422, text="bad consistency proof")
            self.latest[cp.origin] = (cp.size, cp.root)
        return httpx.Response(200, text=self.cosigner.cosign(text, int(time.time())).line())


class WitnessHttpServer:
    """``witness`` on a real loopback HTTP server, for brokers (or worker processes) that reach
    it by URL like a production witness."""

    def __init__(self, witness: Witness) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                resp = witness.handle(httpx.Request("POST", f"http://witness{self.path}", content=body))
                self.send_response(resp.status_code)
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WitnessHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
