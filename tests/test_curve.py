#!/usr/bin/env python3
"""CURVE from the Python client, run by it.curve: a client with an admitted
key is served and hears its task's events; a client whose key the services
do not admit, and one with no key at all, get no reply and no event.

Usage: test_curve.py FRONT PUBLISH KEYS_DIR STRANGERS_DIR FIXTURES_DIR
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "clients",
                                "python"))
from docusnap_client import Client  # noqa: E402

REFUSED_MS = 1500


def refused(client, what):
    try:
        client.status("00000000-0000-4000-8000-000000000000")
    except TimeoutError:
        return
    raise AssertionError("%s was answered" % what)


def main():
    front, publish, keys, strangers, fixtures = sys.argv[1:6]
    server = os.path.join(keys, "server.cert")
    page = open(os.path.join(fixtures, "invoice.png"), "rb").read()

    # A stranger subscribes to every event from the start
    stranger = Client(front, publish, timeout_ms=REFUSED_MS,
                      server_cert=server,
                      client_cert=os.path.join(strangers,
                                               "mallory.cert_secret"))
    stranger.states.subscribe(b"")
    # The stranger's own key, and a plain client, get no answer
    refused(stranger, "a client with a key nobody admitted")
    plain = Client(front, publish, timeout_ms=REFUSED_MS)
    refused(plain, "a client without CURVE")
    # The stranger holding the real server certificate's public key still
    # has the wrong client key; with the stranger set's server key the
    # handshake fails on the server key instead
    wrong_server = Client(front, timeout_ms=REFUSED_MS,
                          server_cert=os.path.join(strangers, "server.cert"),
                          client_cert=os.path.join(keys, "alice.cert_secret"))
    refused(wrong_server, "a client with the wrong server key")

    alice = Client(front, publish, server_cert=server,
                   client_cert=os.path.join(keys, "alice.cert_secret"))
    task_id = alice.submit("document", images=[page])
    status = alice.wait(task_id)
    assert status["status"] == "completed", status
    assert status["result"]["kv"]["Invoice Number"] == "INV-2041", status

    # Idempotency keys are scoped by the client's CURVE key: the same key
    # from alice is the same task, from another admitted client another
    form = {"fields": ["Code"]}
    first = alice.submit("form_filling", form=form, idempotency_key="k/1")
    assert alice.submit("form_filling", form=form,
                        idempotency_key="k/1") == first
    other = Client(front, server_cert=server,
                   client_cert=os.path.join(keys, "worker1.cert_secret"))
    second = other.submit("form_filling", form=form, idempotency_key="k/1")
    assert second != first, "another client's key made a task of its own"
    assert other.submit("form_filling", form=form,
                        idempotency_key="k/1") == second
    other.close()

    # Every state of alice's task was published; the stranger heard none
    assert not stranger.states.poll(200), "a stranger received an event"
    for client in (stranger, plain, wrong_server, alice):
        client.close()
    print("test_curve.py: OK")


if __name__ == "__main__":
    main()
