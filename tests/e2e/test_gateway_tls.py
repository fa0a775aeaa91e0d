"""xo-gateway with TLS on its listener: REST and /healthz over HTTPS verified against the
gateway's certificate, xo-lib over WSS (node trusting that certificate), pipelined calls
over WSS answered whole and in order (several answers gathered into one TLS write), and
plain HTTP refused on the TLS port."""
import json
import os
import socket
import ssl
import subprocess
import unittest
import urllib.request

import gw_harness as g
import harness


def make_cert(st):
    cert, key = st.path("gw.crt"), st.path("gw.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


class GatewayTls(unittest.TestCase):
    def test_https_and_wss(self):
        with harness.Stack() as st:
            k = st.start_kafka(brokers=1)
            sim = st.start_sim(vms=20, hosts=1)
            st.start_agent(sim, k)
            cert, key = make_cert(st)
            port = harness.free_port()
            cfg = st.write_config("gw.conf", {
                "http": {"address": "127.0.0.1", "port": str(port), "tls_cert": cert,
                         "tls_key": key},
                "kafka": {"bootstrap.servers": k.bootstrap}})
            st.spawn("gateway", [harness.binary("xo-gateway"), "--config", cfg])
            ctx = ssl.create_default_context(cafile=cert)
            url = f"https://127.0.0.1:{port}"

            def healthz():
                with urllib.request.urlopen(url + "/healthz", context=ctx, timeout=5) as r:
                    return json.loads(r.read()) if r.status == 200 else None
            h = harness.wait_until(lambda: (lambda x: x if x and x["loaded"] and x["pools"] and
                                            x["pools"][0].get("synced") else None)(healthz()),
                                   60, what="gateway loaded over HTTPS")
            self.assertEqual(h["pools"][0]["uuid"], sim.pool_uuid)
            req = urllib.request.Request(url + "/rest/v0/vms?fields=name_label&limit=3",
                                         headers=g.basic(*g.ADMIN))
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                self.assertEqual(len(json.loads(r.read())), 3)
            # An unverified client is refused by normal verification (self-signed).
            with self.assertRaises(urllib.error.URLError):
                urllib.request.urlopen(url + "/healthz", timeout=5,
                                       context=ssl.create_default_context())
            # Plain HTTP on the TLS port gets no HTTP answer.
            with self.assertRaises(Exception):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
            # Pipelined calls over wss://: answers gathered into one TLS write (several
            # small ones, one large in chunks) arrive whole and in order.
            raw = socket.create_connection(("127.0.0.1", port), timeout=30 * harness.SCALE)
            ws = g.WsClient(port, sock=ctx.wrap_socket(raw, server_hostname="127.0.0.1"))
            self.assertIn("result", ws.call("session.signIn",
                                            {"email": g.ADMIN[0], "password": g.ADMIN[1]}))
            calls = [("system.getVersion", {})] * 5 + [("xo.getAllObjects", {})] + \
                [("system.getVersion", {})] * 5
            answers = ws.call_pipelined(calls)
            ws.close()
            self.assertEqual([a["id"] for a in answers], list(range(100, 100 + len(calls))))
            self.assertTrue(all("result" in a for a in answers), answers[:1])
            # xo-lib over wss://, node trusting the gateway's certificate.
            g.ensure_node_modules()
            r = subprocess.run(["node", g.CLIENT, "snapshot", url, *g.ADMIN],
                               capture_output=True, timeout=120,
                               env={**os.environ, "NODE_EXTRA_CA_CERTS": cert})
            self.assertEqual(r.returncode, 0, r.stderr.decode()[-2000:])
            objects = json.loads(r.stdout.decode().strip().splitlines()[-1])
            vms = [o for o in objects.values() if o.get("type") == "VM"]
            self.assertEqual(len(vms), len([v for v in sim.truth()["vm"].values()
                                            if not v["is_a_template"]
                                            and not v["is_control_domain"]
                                            and not v["is_a_snapshot"]]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
