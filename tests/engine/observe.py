#!/usr/bin/env python3
"""Runs one harness flavour through stop, restart and cross-cluster search, timing what B's
GET /_remote/info reports at each step; with --fixtures DIR it also saves the raw bodies.

usage: observe.py opensearch|elasticsearch [--fixtures DIR] [--watch SECONDS]
Needs the flavour built (build.sh). Talks only to 127.0.0.1. Standard library only.
"""

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ALIASES = ("a_sniff", "a_proxy")


class Harness:
    """The run.sh child, its protocol lines arriving on a queue so every wait can time out."""

    def __init__(self, flavour, workdir):
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [os.path.join(HERE, "run.sh"), flavour, workdir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix, limit=180):
        line = self.lines.get(timeout=limit)
        if line is None or not line.startswith(prefix):
            raise RuntimeError(f"expected {prefix!r}, harness said {line!r}")
        return line

    def send(self, command, prefix, limit=180):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.expect(prefix, limit)

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
        return None


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return response.read()


def connected(body):
    info = json.loads(body)
    return {alias: info[alias]["connected"] for alias in info}


def poll_until(port, want, limit):
    """Polls _remote/info every 50 ms; returns (body, seconds until each alias matched want).
    Raises if some alias has not matched within limit seconds: the last body would show
    another state than its fixture's name says."""
    start = time.monotonic()
    reached = {}
    while time.monotonic() - start < limit:
        body = get(port, "/_remote/info")
        for alias, state in connected(body).items():
            if state == want and alias not in reached:
                reached[alias] = round(time.monotonic() - start, 2)
        if all(alias in reached for alias in ALIASES):
            return body, reached
        time.sleep(0.05)
    raise RuntimeError(f"not every alias of {ALIASES} was connected: {want} within {limit} s;"
                       f" reached: {reached}; last body: {body.decode()}")


def expect_connected(name, body, want):
    """Raises unless every alias in body has connected == want, so that a fixture is never
    written from a state other than the one it is named after."""
    states = connected(body)
    if not states or any(state != want for state in states.values()):
        raise RuntimeError(f"{name}: expected every alias connected: {want}, got {states}")


def describe(body):
    info = json.loads(body)
    return {alias: {key: value for key, value in entry.items()
                    if key in ("connected", "num_nodes_connected", "num_proxy_sockets_connected")}
            for alias, entry in info.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("flavour", choices=["opensearch", "elasticsearch"])
    parser.add_argument("--fixtures")
    parser.add_argument("--watch", type=float, default=30)
    args = parser.parse_args()
    bodies = {}

    with tempfile.TemporaryDirectory(prefix="es-remote-exporter-observe-") as workdir:
        harness = Harness(args.flavour, workdir)
        try:
            ready = harness.expect("READY")
            print(f"READY after {time.monotonic() - harness.started:.1f} s: {ready}")
            ports = dict(field.split("=") for field in ready.split()[1:])
            b_http = int(ports["b_http"])
            print(f"RSS at READY: {harness.rss_mib()} MiB")
            bodies["root"] = get(b_http, "/")
            bodies["connected"] = get(b_http, "/_remote/info")
            expect_connected("connected", bodies["connected"], True)
            print("connected:", describe(bodies["connected"]))

            sent = time.monotonic()
            harness.send("stop a", "STOPPED a")
            answered = time.monotonic() - sent
            bodies["disconnected"], seconds = poll_until(b_http, False, 60)
            print(f"stop a answered after {answered:.2f} s; connected:false seen after"
                  f" (s, from the STOPPED answer): {seconds}")
            print("disconnected:", describe(bodies["disconnected"]))

            sent = time.monotonic()
            harness.send("start a", "STARTED a")
            print(f"start a answered after {time.monotonic() - sent:.2f} s")
            seen = []
            watch_start = time.monotonic()
            while time.monotonic() - watch_start < args.watch:
                body = get(b_http, "/_remote/info")
                if not seen or seen[-1][1] != body:
                    seen.append((round(time.monotonic() - watch_start, 1), body))
                time.sleep(0.5)
            for at, body in seen:
                print(f"after restart, +{at} s:", describe(body))
            bodies["after_restart"] = seen[-1][1]
            expect_connected("after_restart", bodies["after_restart"], False)

            sent = time.monotonic()
            print(harness.send("ccs", "CCS"), f"after {time.monotonic() - sent:.2f} s")
            immediately = get(b_http, "/_remote/info")
            print("right after CCS:", describe(immediately))
            bodies["after_ccs"], seconds = poll_until(b_http, True, 30)
            print("connected:true seen after (s, from CCS answer):", seconds)

            print(harness.send("remove a_proxy", "REMOVED"))
            bodies["one_removed"] = get(b_http, "/_remote/info")
            if sorted(connected(bodies["one_removed"])) != ["a_sniff"]:
                raise RuntimeError(f"one_removed: {bodies['one_removed'].decode()}")
            print("one removed:", describe(bodies["one_removed"]))
            print(harness.send("add a_extra", "ADDED"))
            status = harness.send("status", "STATUS")
            print("status right after ADDED:", describe(status[len("STATUS "):]))
            print(harness.send("remove a_extra", "REMOVED"))

            harness.send("stop a", "STOPPED a")
            print("with a down:", harness.send("ccs", "CCS"))
            harness.send("start a", "STARTED a")
            print(f"RSS before quit: {harness.rss_mib()} MiB")
            harness.send("quit", "BYE")
            print("exit code:", harness.proc.wait(timeout=60))
        finally:
            if harness.proc.poll() is None:
                harness.proc.kill()
                harness.proc.wait()

    if args.fixtures:
        os.makedirs(args.fixtures, exist_ok=True)
        for name, body in bodies.items():
            with open(os.path.join(args.fixtures, name + ".json"), "wb") as fixture:
                fixture.write(body)
        print("fixtures written to", args.fixtures)


if __name__ == "__main__":
    sys.exit(main())
