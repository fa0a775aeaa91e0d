"""Kafka over TLS with client certificates, as far as this machine can test it.

xo-kafka-dev (librdkafka's mock cluster) has plain-TCP listeners only, so no Kafka
session over TLS can be made here. What is tested is everything up to the Kafka
protocol: the `[kafka]` TLS settings (docs/operations.md "Agents at other sites") reach
librdkafka in both daemons, and they present their client certificate in a real TLS
handshake to a listener that requires one (a Python TLS server in front of nothing):

1. agent and gateway with a certificate of the site CA: the listener verifies it
   (CN seen = the daemon's certificate) and the daemon verified the listener's
   certificate (the handshake completed); with no Kafka behind it they end with exit 6
   ("Kafka unreachable"), as with any unreachable cluster;
2. a client certificate of another CA: the listener refuses it, nothing completes;
3. a daemon that does not trust the listener's CA: it refuses the listener (the log says
   certificate verify failed), nothing completes;
4. a key that does not match its certificate: the daemon refuses to start (exit 3 agent,
   exit 6 gateway) and says why; secrets (ssl.key.password) never appear in
   --check-config.
"""
import os
import socket
import ssl
import subprocess
import threading

import harness


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    key, crt = os.path.join(d, f"{name}.key"), os.path.join(d, f"{name}.crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN={name}")
    return key, crt


def make_cert(d, ca, name, san=None):
    key, csr, crt = (os.path.join(d, f"{name}.{x}") for x in ("key", "csr", "crt"))
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            key, "-out", csr, "-subj", f"/CN={name}")
    ext = os.path.join(d, f"{name}.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial", "-out",
            crt, "-days", "2", "-extfile", ext)
    return key, crt


class TlsListener:
    """Accepts TLS connections that present a certificate of @ca; records each peer CN
    and each refused handshake. Speaks no Kafka: it closes after the handshake."""

    def __init__(self, server_cert, ca_crt):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(server_cert[1], server_cert[0])
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx.load_verify_locations(ca_crt)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.peers, self.refused = [], []
        self._lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        c.settimeout(10)
        try:
            s = self.ctx.wrap_socket(c, server_side=True)
            cn = dict(x[0] for x in s.getpeercert()["subject"])["commonName"]
            with self._lock:
                self.peers.append(cn)
            s.close()
        except (OSError, ssl.SSLError) as e:
            with self._lock:
                self.refused.append(str(e))
            c.close()

    def close(self):
        self.sock.close()


def kafka_tls(listener, ca_crt, cert, password=None):
    kv = {"bootstrap.servers": f"127.0.0.1:{listener.port}", "security.protocol": "ssl",
          "ssl.ca.location": ca_crt, "ssl.certificate.location": cert[1],
          "ssl.key.location": cert[0], "reconnect.backoff.max.ms": "500"}
    if password:
        kv["ssl.key.password"] = password
    return kv


def run_agent(st, name, kafka, extra_env=None, check=False):
    cfg = st.write_config(f"{name}.conf", {
        "agent": {"id": name, "kafka_wait_s": "4"},
        "xapi": {"url": "http://127.0.0.1:9/", "user": "root"},
        "kafka": kafka})
    argv = [harness.binary("xo-agent"), "--config", cfg] + (["--check-config"] if check else [])
    env = dict(os.environ, XO_AGENT_XAPI_PASSWORD="password", **(extra_env or {}))
    return subprocess.run(argv, capture_output=True, text=True, env=env,
                          timeout=60 * harness.SCALE)


def run_gateway(st, name, kafka):
    cfg = st.write_config(f"{name}.conf", {
        "http": {"address": "127.0.0.1", "port": "0"},
        "topics": {"admin_timeout_ms": "3000"},
        "kafka": kafka})
    return subprocess.run([harness.binary("xo-gateway"), "--config", cfg], capture_output=True,
                          text=True, timeout=60 * harness.SCALE)


def main():
    with harness.Stack() as st:
        d = st.path("pki")
        os.mkdir(d)
        site_ca, other_ca = make_ca(d, "site-ca"), make_ca(d, "other-ca")
        broker = make_cert(d, site_ca, "kafka1", san="IP:127.0.0.1")
        agent = make_cert(d, site_ca, "agent-pool-a")
        gateway = make_cert(d, site_ca, "gw1")
        stranger = make_cert(d, other_ca, "agent-stranger")
        lis = TlsListener(broker, site_ca[1])
        try:
            # 1. the right certificates: handshakes complete, CNs seen by the listener
            r = run_agent(st, "agent-ok", kafka_tls(lis, site_ca[1], agent))
            assert r.returncode == 6, (r.returncode, r.stderr[-2000:])
            assert "agent-pool-a" in lis.peers, (lis.peers, lis.refused, r.stderr[-2000:])
            r = run_gateway(st, "gw-ok", kafka_tls(lis, site_ca[1], gateway))
            assert r.returncode == 6, (r.returncode, r.stderr[-2000:])
            assert "gw1" in lis.peers, (lis.peers, lis.refused)
            print(f"TLS handshakes with client certificates: {sorted(set(lis.peers))}")

            # 2. a certificate of another CA: refused by the listener
            seen, refused = len(lis.peers), len(lis.refused)
            r = run_agent(st, "agent-stranger", kafka_tls(lis, site_ca[1], stranger))
            assert r.returncode == 6, (r.returncode, r.stderr[-2000:])
            assert len(lis.peers) == seen and len(lis.refused) > refused, (lis.peers, lis.refused)
            assert "agent-stranger" not in lis.peers

            # 3. the daemon does not trust the listener's CA: it refuses the listener
            seen = len(lis.peers)
            r = run_agent(st, "agent-wrong-ca", kafka_tls(lis, other_ca[1], agent))
            assert r.returncode == 6, (r.returncode, r.stderr[-2000:])
            assert "certificate verify failed" in r.stderr, r.stderr[-2000:]
            assert len(lis.peers) == seen, lis.peers

            # 4. a key that is not the certificate's: no start, and why
            wrong = (stranger[0], agent[1])
            r = run_agent(st, "agent-bad-key", kafka_tls(lis, site_ca[1], wrong))
            assert r.returncode == 3, (r.returncode, r.stderr[-2000:])
            assert "ssl" in r.stderr.lower() and "event=startup_failed" in r.stderr, r.stderr[-2000:]
            r = run_gateway(st, "gw-bad-key", kafka_tls(lis, site_ca[1], wrong))
            assert r.returncode in (3, 6), (r.returncode, r.stderr[-2000:])
            assert "ssl" in r.stderr.lower(), r.stderr[-2000:]
            # and secrets stay out of --check-config
            r = run_agent(st, "agent-check", kafka_tls(lis, site_ca[1], agent, "s3cret-pass"),
                          check=True)
            assert r.returncode == 0, r.stderr
            assert "s3cret-pass" not in r.stdout and "ssl.key.password = <redacted>" in r.stdout, r.stdout
            assert f"ssl.certificate.location = {agent[1]}" in r.stdout
            print("refused: a foreign client CA, an untrusted listener, a key not matching its "
                  "certificate; ssl.key.password redacted")
        finally:
            lis.close()


if __name__ == "__main__":
    main()
