#!/usr/bin/env python3
"""A local patch catalogue: serves a directory (updates.xml and patch zips) over HTTPS on
loopback with a self-signed certificate it makes itself, as updates.ops.xenserver.com
serves XenServer's. For the e2e tests and the demo; never for production.

    catalog_server.py --dir DIR [--port 0] [--cert-dir DIR] [--demo VERSION]

--demo VERSION first writes into DIR a catalogue for that XenServer version: two patches
(the second requires the first) whose zips hold update ISOs in the XAPI simulator's
format, so that a simulated XenServer pool has missing patches it can install.

Prints, one line each: `listening: https://127.0.0.1:<port>`, `ca: <PEM file>` (the
certificate to trust: set it as the agent's patches.ca_file), then `ready`. GET
/_stats answers {"requests": {path: count}} (for tests that check what was fetched).
"""
import argparse
import functools
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import zipfile

COUNTS = {}
COUNTS_LOCK = threading.Lock()


def make_cert(cert_dir):
    """A self-signed certificate for 127.0.0.1 and localhost (openssl CLI)."""
    os.makedirs(cert_dir, exist_ok=True)
    cert, key = os.path.join(cert_dir, "catalog.pem"), os.path.join(cert_dir, "catalog.key")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "7", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
    return cert, key


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/_stats":
            with COUNTS_LOCK:
                body = json.dumps({"requests": COUNTS}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with COUNTS_LOCK:
            COUNTS[self.path] = COUNTS.get(self.path, 0) + 1
        super().do_GET()

    def log_message(self, fmt, *args):
        sys.stderr.write("catalog: " + (fmt % args) + "\n")


def write_demo(directory, base, version):
    """updates.xml for `version` and the zips of its two patches."""
    tag = "".join(version.split(".")[:2])
    patches = []
    for n in (1, 2):
        uuid = f"00000000-0000-4000-8000-{int(tag):06d}{n:06d}"
        name = f"XS{tag}E{n:03d}"
        head = json.dumps({"uuid": uuid, "name_label": name,
                           "after_apply_guidance": ["restartHost"]}).encode()
        with zipfile.ZipFile(os.path.join(directory, f"{name}.zip"), "w",
                             zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"{name}.iso", b"XOSIMUPDATE\n" + head + b"\n" + os.urandom(256 << 10))
        req = (f'<requiredpatches><requiredpatch uuid="{patches[0][0]}"/></requiredpatches>'
               if patches else "")
        patches.append((uuid, f'<patch uuid="{uuid}" name-label="{name}" '
                              f'name-description="Demo hotfix {n} for XenServer {version}" '
                              f'url="{base}/doc/{name}" patch-url="{base}/{name}.zip" '
                              f'timestamp="2026-11-0{n}T00:00:00Z" '
                              f'after-apply-guidance="restartHost">{req}</patch>'))
    with open(os.path.join(directory, "updates.xml"), "w") as f:
        f.write("<patchdata><patches>" + "".join(x for _, x in patches) + "</patches>"
                f'<serverversions><version value="{version}" name="XenServer {version}" '
                'latest="true">' + "".join(f'<patch uuid="{u}"/>' for u, _ in patches) +
                "</version></serverversions></patchdata>\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="directory served at /")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert-dir", help="where the certificate goes (default: --dir/../tls)")
    ap.add_argument("--demo", metavar="VERSION", help="write a demo catalogue first")
    a = ap.parse_args()
    cert_dir = a.cert_dir or os.path.join(os.path.dirname(os.path.abspath(a.dir)), "tls")
    cert, key = make_cert(cert_dir)
    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", a.port), functools.partial(Handler, directory=a.dir))
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if a.demo:
        os.makedirs(a.dir, exist_ok=True)
        write_demo(a.dir, f"https://127.0.0.1:{srv.server_address[1]}", a.demo)
    print(f"listening: https://127.0.0.1:{srv.server_address[1]}", flush=True)
    print(f"ca: {cert}", flush=True)
    print("ready", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
