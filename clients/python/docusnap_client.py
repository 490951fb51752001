#!/usr/bin/env python3
"""docusnap's ZMQ client: submit tasks, read their status, cancel them, and
wait for their end on the event stream, over the wire protocol of
docs/PROTOCOL.md (msgpack over ZeroMQ). Needs Debian's python3-zmq and
python3-msgpack.

    client = Client("tcp://127.0.0.1:5564", "tcp://127.0.0.1:5563")
    # with CURVE (docusnap keygen): the services' public certificate and
    # this client's own certificate (the _secret file)
    client = Client(front, publish, server_cert="keys/server.cert",
                    client_cert="keys/alice.cert_secret")
    task_id = client.submit("document", images=[open("page.png", "rb").read()])
    status = client.wait(task_id)          # the final status, result included
"""

import json
import time
import uuid

import msgpack
import zmq
import zmq.auth

VERSION = 1
SUBMIT, REPLY, STATUS, CANCEL, STATE = 5, 6, 7, 8, 4
TERMINAL = ("completed", "error", "cancelled")


def apply_curve(sock, server_cert, client_cert):
    """Make sock a CURVE client of the services (czmq certificate files, as
    `docusnap keygen` writes them). Without an admitted key the services
    never complete the handshake: requests go unanswered."""
    server_public, _ = zmq.auth.load_certificate(server_cert)
    public, secret = zmq.auth.load_certificate(client_cert)
    if not secret:
        raise ValueError("%s holds no secret key" % client_cert)
    sock.curve_serverkey = server_public
    sock.curve_publickey = public
    sock.curve_secretkey = secret


class DocusnapError(Exception):
    """A request the gateway refused: HTTP-style status, code, message."""

    def __init__(self, status, code, message):
        super().__init__("%d %s: %s" % (status, code, message))
        self.status, self.code, self.message = status, code, message


class Client:
    """One DEALER to the gateway's front door, and a SUB to the sink's
    state stream (optional; needed for wait)."""

    def __init__(self, front, publish=None, timeout_ms=30000,
                 server_cert=None, client_cert=None):
        self.context = zmq.Context.instance()
        self.timeout_ms = timeout_ms
        self.dealer = self.context.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        if server_cert:
            apply_curve(self.dealer, server_cert, client_cert)
        self.dealer.connect(front)
        self.states = None
        if publish:
            self.states = self.context.socket(zmq.SUB)
            self.states.setsockopt(zmq.LINGER, 0)
            if server_cert:
                apply_curve(self.states, server_cert, client_cert)
            self.states.connect(publish)

    def close(self):
        self.dealer.close()
        if self.states:
            self.states.close()

    def _request(self, message):
        request_id = str(uuid.uuid4())
        frame = msgpack.packb([VERSION, message[0], request_id] + message[1:],
                              use_bin_type=True)
        self.dealer.send(frame)
        while True:
            if not self.dealer.poll(self.timeout_ms):
                raise TimeoutError("no reply from the gateway")
            reply = msgpack.unpackb(self.dealer.recv(), raw=False)
            if reply[0] != VERSION or reply[1] != REPLY:
                raise ValueError("not a REPLY: %r" % reply[:2])
            if reply[2] == request_id:
                break               # an earlier request's late reply is dropped
        status, body = reply[3], json.loads(reply[4])
        if status >= 400:
            error = body.get("error", {})
            raise DocusnapError(status, error.get("code", ""),
                                error.get("message", ""))
        return body

    def submit(self, task_type, images=(), form=None, file_lib=None,
               priority=5, idempotency_key=""):
        """Submit a task; returns its id once it is stored. The same
        idempotency key again returns the same task."""
        body = self._request([SUBMIT, task_type, priority,
                              [bytes(image) for image in images],
                              json.dumps(form) if form is not None else "",
                              json.dumps(file_lib) if file_lib is not None else "",
                              idempotency_key])
        return body["task_id"]

    def status(self, task_id):
        """The task's status, as GET /api/task_status answers it."""
        return self._request([STATUS, task_id])

    def cancel(self, task_id):
        """Cancel a pending or running task."""
        return self._request([CANCEL, task_id])

    def wait(self, task_id, timeout_ms=120000, recheck_ms=1000):
        """Wait for the task's terminal state on the event stream, then
        return its full status. A subscription reaches the sink a moment
        after it is made, and a STATE published before that never comes
        (nor one published while the sink restarts): the status is asked
        again whenever no STATE came for recheck_ms."""
        assert self.states, "wait needs the publish endpoint"
        self.states.setsockopt_string(zmq.SUBSCRIBE, task_id)
        deadline = time.monotonic() + timeout_ms / 1000.0
        try:
            # It may have ended before we subscribed: ask once
            status = self.status(task_id)
            while status["status"] not in TERMINAL:
                left_ms = (deadline - time.monotonic()) * 1000.0
                if left_ms <= 0:
                    raise TimeoutError("task %s did not end" % task_id)
                if not self.states.poll(min(recheck_ms, left_ms)):
                    status = self.status(task_id)
                    continue
                topic, frame = self.states.recv_multipart()
                state = msgpack.unpackb(frame, raw=False)
                if state[1] == STATE and state[3] in TERMINAL:
                    status = self.status(task_id)
            return status
        finally:
            self.states.setsockopt_string(zmq.UNSUBSCRIBE, task_id)
