#!/usr/bin/env python3
"""Drive a running pipeline through the ZMQ front door with the Python
client: all three task types complete and their ends arrive as events;
rejections come back with their codes. Run by it.python_client.

Usage: test_python_client.py FRONT PUBLISH FIXTURES_DIR
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "clients",
                                "python"))
try:
    from docusnap_client import Client, DocusnapError
except ImportError as error:
    print("SKIP: %s" % error)
    sys.exit(77)


def main():
    front, publish, fixtures = sys.argv[1:4]
    client = Client(front, publish)
    page = open(os.path.join(fixtures, "invoice.png"), "rb").read()
    form = open(os.path.join(fixtures, "form.png"), "rb").read()

    document = client.submit("document", images=[page], priority=9)
    status = client.wait(document)
    assert status["status"] == "completed", status
    assert "INV-2041" in status["result"]["pages"][0]["text"], status
    assert status["result"]["kv"]["Invoice Number"] == "INV-2041", status

    blank = client.submit("form", images=[form])
    status = client.wait(blank)
    assert status["status"] == "completed", status
    assert "Full Name" in status["result"]["fields"], status

    filling = client.submit(
        "form_filling", form={"fields": ["Full Name"]},
        file_lib={"documents": [{"id": "p", "kv": {"Full Name": "Ada"}}]})
    status = client.wait(filling)
    field = status["result"]["fields"]["Full Name"]
    assert field["value"] == "Ada" and field["source"]["resource_id"] == "p"

    # Idempotency: the same key returns the same task
    again = client.submit(
        "form_filling", form={"fields": ["Full Name"]},
        idempotency_key="python-test/1")
    assert client.submit("form_filling", form={"fields": ["Other"]},
                         idempotency_key="python-test/1") == again
    assert client.submit("form_filling", form={"fields": ["Full Name"]},
                         idempotency_key="python-test/2") != again

    # The same validation as HTTP
    for task_type, kwargs, code in (
            ("document", {}, "NO_IMAGES"),
            ("document", {"images": [b"not an image"]}, "UNSUPPORTED_IMAGE"),
            ("form_filling", {"form": {"fields": []}}, "BAD_FORM"),
            ("poem", {}, "NOT_FOUND")):
        try:
            client.submit(task_type, **kwargs)
            raise AssertionError("%s was accepted" % code)
        except DocusnapError as error:
            assert error.code == code, error
    try:
        client.status("6dd0391d-3900-4730-b329-4f392514e3fc")
        raise AssertionError("unknown task found")
    except DocusnapError as error:
        assert error.status == 404 and error.code == "TASK_NOT_FOUND"
    try:
        client.cancel(document)
        raise AssertionError("an ended task was cancelled")
    except DocusnapError as error:
        assert error.status == 409 and error.code == "TASK_ENDED"

    # Garbage on the front door is answered, and the door stays open
    import zmq
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(front)
    for garbage in (b"", b"\x00\x01\x02", b"\xdd\xff\xff\xff\xff",
                    b"\x93\x02\x05\xa1x"):
        raw.send(garbage)
        assert raw.poll(5000), "no answer to garbage"
        reply = raw.recv()
        assert b"BAD_FRAME" in reply, reply
    raw.close()
    assert client.status(filling)["status"] == "completed"

    # A STATE that never comes (published before the subscription reached
    # the sink, or during its restart): wait asks the status again. Here
    # the client listens to a publisher that publishes nothing
    silent = zmq.Context.instance().socket(zmq.PUB)
    silent.setsockopt(zmq.LINGER, 0)
    silent.bind("tcp://127.0.0.1:*")
    deaf = Client(front, silent.getsockopt_string(zmq.LAST_ENDPOINT))
    unheard = deaf.submit("form_filling", form={"fields": ["Full Name"]},
                          file_lib={"documents": []})
    assert deaf.wait(unheard, timeout_ms=20000)["status"] == "completed"
    deaf.close()
    silent.close()
    client.close()
    print("test_python_client: OK")


if __name__ == "__main__":
    main()
