#!/usr/bin/env python3
# A webhook receiver for the notification tests: HTTPS (or HTTP) on a port of
# its own, each request kept as one JSON line (arrival time, path, body);
# /flaky answers 500 to its first N requests, /stall answers only after 30 s;
# --tls12-ciphers makes it a TLS 1.2 server offering only those suites.
import argparse
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--log", required=True)
parser.add_argument("--port-file", required=True)
parser.add_argument("--cert")
parser.add_argument("--key")
parser.add_argument("--fail-first", type=int, default=0)
parser.add_argument("--tls12-ciphers")
args = parser.parse_args()

lock = threading.Lock()
flaky_seen = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global flaky_seen
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8")
        status = 200
        if self.path == "/stall":
            time.sleep(30)
        if self.path == "/flaky":
            with lock:
                flaky_seen += 1
                if flaky_seen <= args.fail_first:
                    status = 500
        with lock, open(args.log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"at": time.time(), "path": self.path, "status": status,
                                "event_header": self.headers.get("X-Settle-Event"),
                                "content_type": self.headers.get("Content-Type"),
                                "body": json.loads(body)}, ensure_ascii=False) + "\n")
        reply = b'{"ok":true}' if status == 200 else b'{"ok":false}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        try:
            self.wfile.write(reply)
        except BrokenPipeError:
            pass  # the daemon gave up waiting (the /stall case)

    def log_message(self, fmt, *a):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if args.cert:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.tls12_ciphers:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(args.tls12_ciphers)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(args.port_file + ".tmp", args.port_file)
server.serve_forever()
