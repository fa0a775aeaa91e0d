"""Many small simulated pools in one Python process, for the many-pools bench.

The XAPI simulator (tests/xapi_sim/xapi_sim.py) simulates one pool per process; its Server
class holds all of a pool's state, so this helper makes several of them in one process,
each pool on its own loopback port with its own seed (so its own uuids), exactly as the
simulator's main() would. Nothing of the simulator is changed.

Prints one line `pool: <uuid> <url>` per pool, then `ready`; runs until SIGTERM/SIGINT.
Usage: python3 multi_sim.py --pools N [--first-seed S] [--vms V] [--hosts H]
"""
import argparse
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "xapi_sim"))
import xapi_sim  # noqa: E402


class _Parsed(Exception):
    pass


def sim_args(argv):
    """The simulator's own argument namespace for @argv (its parser, its defaults), so
    that new simulator options need no change here."""
    parse = argparse.ArgumentParser.parse_args

    def grab(self, args=None, namespace=None):
        raise _Parsed(parse(self, args, namespace))
    argparse.ArgumentParser.parse_args = grab
    try:
        xapi_sim.main(argv)
    except _Parsed as e:
        return e.args[0]
    finally:
        argparse.ArgumentParser.parse_args = parse
    raise RuntimeError("the simulator's main() did not parse its arguments")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pools", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--vms", type=int, default=4)
    ap.add_argument("--hosts", type=int, default=1)
    ap.add_argument("--event-batch-ms", type=float, default=50.0)
    a = ap.parse_args()
    servers = []
    for i in range(a.pools):
        args = sim_args(["--port", "0", "--hosts", str(a.hosts), "--vms", str(a.vms),
                         "--seed", str(a.first_seed + i),
                         "--event-batch-ms", str(a.event_batch_ms)])
        srv = xapi_sim.Server(args)
        srv.bind()
        srv.serve()
        servers.append(srv)
        print(f"pool: {srv.info()['pool']} {srv.url(0)}", flush=True)
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set():
        stop.wait(1.0)
    os._exit(0)


if __name__ == "__main__":
    main()
