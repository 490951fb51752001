#!/usr/bin/env python3
"""An example docusnap worker in Python, speaking the worker side of
docs/PROTOCOL.md: it joins a running pipeline, takes TASKs, reports
STARTED, beats while it works, sends one RESULT or FAILED, resends it until
the sink's STATE stream shows the task ended, and reads a new task only
when it has room. It handles form filling by exact label match, and
fails other task types with UNSUPPORTED_TYPE (it has no OCR). Needs
Debian's python3-zmq and python3-msgpack.

Usage: worker_example.py DISPATCH EVENTS PUBLISH [--id NAME] [--work-ms MS]
                         [--server-cert FILE --client-cert FILE_secret]
"""

import argparse
import json
import os
import signal
import socket
import time

import msgpack
import zmq

from docusnap_client import apply_curve

VERSION = 1
TASK, EVENT, STATE = 2, 3, 4
STARTED, HEARTBEAT, RESULT, FAILED = 1, 2, 3, 4
TERMINAL = ("completed", "error", "cancelled")
HEARTBEAT_S = 1.0
RESEND_S = 2.0


def now_ms():
    return int(time.time() * 1000)


def fill(form, file_lib):
    """Form filling by exact, case-blind label match."""
    found = {}
    for kind, key in (("document", "documents"), ("form", "forms")):
        for resource in (file_lib or {}).get(key) or []:
            rid = resource.get("id") or resource.get("resource_id") or ""
            for label, value in (resource.get("kv") or {}).items():
                found.setdefault(label.lower(), (value, kind, rid))
    fields = {}
    for label in form.get("fields", []):
        label = label if isinstance(label, str) else label.get("name", "")
        hit = found.get(label.lower())
        fields[label] = ({"value": hit[0],
                          "source": {"type": hit[1], "resource_id": hit[2]}}
                         if hit else {"value": None, "source": None})
    return {"fields": fields, "extractor": "python-example"}


class Worker:
    def __init__(self, dispatch, events, publish, name, work_ms,
                 server_cert=None, client_cert=None):
        context = zmq.Context.instance()
        self.tasks = context.socket(zmq.PULL)
        self.tasks.setsockopt(zmq.RCVHWM, 1)
        self.events = context.socket(zmq.PUSH)
        self.states = context.socket(zmq.SUB)
        for sock, endpoint in ((self.tasks, dispatch), (self.events, events),
                               (self.states, publish)):
            if server_cert:
                apply_curve(sock, server_cert, client_cert)
            sock.connect(endpoint)
        self.name = name
        self.work_s = work_ms / 1000.0
        self.unacked = {}           # task id -> (frame, last sent)
        self.running = True

    def event(self, task, kind, result="", code="", text=""):
        frame = msgpack.packb([VERSION, EVENT, task[2], kind, self.name,
                               task[5], now_ms(), result, code, text],
                              use_bin_type=True)
        if kind in (RESULT, FAILED):
            self.unacked[task[2]] = (frame, time.monotonic())
        self.events.send(frame)

    def work(self, task):
        """Run one task, beating while it runs."""
        self.states.setsockopt_string(zmq.SUBSCRIBE, task[2])
        self.event(task, STARTED)
        deadline = time.monotonic() + self.work_s
        while time.monotonic() < deadline:
            self.event(task, HEARTBEAT)
            time.sleep(min(HEARTBEAT_S, max(0, deadline - time.monotonic())))
        if task[3] != "form_filling":
            self.event(task, FAILED, code="UNSUPPORTED_TYPE",
                       text="this example worker has no OCR")
            return
        try:
            result = fill(json.loads(task[7] or "{}"),
                          json.loads(task[8] or "{}"))
            self.event(task, RESULT, result=json.dumps(result))
        except (ValueError, AttributeError) as error:
            self.event(task, FAILED, code="EXTRACT_FAILED", text=str(error))

    def acks(self):
        """Terminal STATEs acknowledge results; resend the others."""
        while self.states.poll(0):
            topic, frame = self.states.recv_multipart()
            state = msgpack.unpackb(frame, raw=False)
            if state[1] == STATE and state[3] in TERMINAL:
                if self.unacked.pop(state[2], None):
                    self.states.setsockopt_string(zmq.UNSUBSCRIBE, state[2])
        for task_id, (frame, sent) in list(self.unacked.items()):
            if time.monotonic() - sent > RESEND_S:
                self.events.send(frame)
                self.unacked[task_id] = (frame, time.monotonic())

    def run(self):
        while self.running or self.unacked:
            self.acks()
            if self.running and self.tasks.poll(100):
                frame = self.tasks.recv()
                try:
                    task = msgpack.unpackb(frame, raw=False)
                    valid = (isinstance(task, list) and len(task) >= 9
                             and task[0] == VERSION and task[1] == TASK)
                except (ValueError, msgpack.ExtraData):
                    valid = False
                if valid:
                    self.work(task)
            elif not self.running:
                time.sleep(0.1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dispatch")
    parser.add_argument("events")
    parser.add_argument("publish")
    parser.add_argument("--id", default="python-%s-%d" % (socket.gethostname(),
                                                          os.getpid()))
    parser.add_argument("--work-ms", type=int, default=0)
    parser.add_argument("--server-cert", help="CURVE: the services' "
                        "certificate (public part is enough)")
    parser.add_argument("--client-cert", help="CURVE: this worker's "
                        "certificate, with its secret key")
    options = parser.parse_args()
    worker = Worker(options.dispatch, options.events, options.publish,
                    options.id, options.work_ms, options.server_cert,
                    options.client_cert)

    def stop(*_):
        worker.running = False
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("worker_example: %s ready" % options.id, flush=True)
    worker.run()


if __name__ == "__main__":
    main()
