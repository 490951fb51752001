#!/usr/bin/env python3
"""A mock OpenAI-compatible LLM server for docusnap's tests.

POST /v1/chat/completions answers deterministically from the prompt: it
reads the task type from the system prompt's first line ("docusnap prompt:
TYPE") and the task's data from between <data> and </data>, and builds the
type's JSON from "Label: value" lines (and, for form filling, from the
file library). It misbehaves on request: a marker in the data,

    MOCK:<fault>[=<ms>][x<times>][#<key>]

applies <fault> (a name without "x") to the requests that carry it, the first <times> of them
only if given (counted per marker). Faults: slow (sleep <ms>), 500, 503,
429 (with Retry-After: 1), 400, 401, 404, cut (close mid-body), garbage
(200 with a body that is not JSON), badschema (JSON that breaks the
schema), prose (JSON with text around it), fenced (```json fence), think
(<think> block first), noschema (400 when a json_schema is asked for),
nested (nested kv).

GET /_mock/stats returns counters: total, concurrent, max_concurrent,
unauthorized, markers {marker: requests}. POST /_mock/reset zeroes them.

Usage: mock_llm.py [--port 0] [--ready-file PATH] [--latency-ms N]
                   [--api-key KEY]
"""

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKER = re.compile(r"MOCK:([a-wyz]+|[0-9]{3})(?:=(\d+))?(?:x(\d+))?(?:#(\w+))?")
LABEL = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 #/().-]{0,40}?)\s*:\s*(.*?)\s*$")


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.total = 0
            self.concurrent = 0
            self.max_concurrent = 0
            self.unauthorized = 0
            self.markers = {}


STATE = State()
OPTIONS = None


def normalize(label):
    return " ".join(re.findall(r"[a-z0-9]+", label.lower()))


def pairs(text):
    """Label: value lines of text, and the labels of blank ones."""
    kv, blanks = {}, []
    for line in text.splitlines():
        match = LABEL.match(line)
        if not match or match.group(2).startswith("//"):
            continue
        label, value = match.group(1), match.group(2)
        if value.strip("_. -") == "":
            blanks.append(label)
        else:
            kv[label] = value
    return kv, blanks


def answer(task_type, data, faults):
    """The reply object for a task."""
    if task_type == "form_filling":
        found = {}
        library = data.get("file_lib") or {}
        for kind, key in (("document", "documents"), ("form", "forms")):
            for resource in library.get(key) or []:
                rid = resource.get("id") or resource.get("resource_id") or ""
                values = dict(resource.get("kv") or {})
                values.update(resource.get("fields") or {})
                values.update(pairs(resource.get("text") or "")[0])
                for label, value in values.items():
                    found.setdefault(normalize(label), (value, kind, rid))
        fields = {}
        for label in data["form"]["fields"]:
            hit = found.get(normalize(label))
            fields[label] = (
                {"value": hit[0], "source": {"type": hit[1], "resource_id": hit[2]}}
                if hit else {"value": None, "source": None})
        return {"fields": fields}
    text = "\n\n".join(data.get("pages") or [])
    kv, blanks = pairs(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reply = {
        "title": lines[0] if lines else "",
        "tags": ["mock", task_type],
        "description": "A %s read by the mock LLM." % task_type,
        "kv": kv,
        "related": [{"type": "email", "value": email}
                    for email in re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", text)],
    }
    if "nested" in faults:
        reply["kv"] = {"Customer": {"name": "Acme"},
                       "Items": [{"name": "Pen", "qty": 2}]}
    if task_type == "form":
        reply["fields"] = blanks
    return reply


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass                                #  quiet: keys never reach a log

    def send_json(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_mock/stats":
            with STATE.lock:
                self.send_json(200, {
                    "total": STATE.total, "concurrent": STATE.concurrent,
                    "max_concurrent": STATE.max_concurrent,
                    "unauthorized": STATE.unauthorized,
                    "markers": STATE.markers})
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path == "/_mock/reset":
            STATE.reset()
            return self.send_json(200, {"ok": True})
        if not self.path.endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": "not found"}})
        with STATE.lock:
            STATE.total += 1
            STATE.concurrent += 1
            STATE.max_concurrent = max(STATE.max_concurrent, STATE.concurrent)
        try:
            self.complete(body)
        finally:
            with STATE.lock:
                STATE.concurrent -= 1

    def complete(self, body):
        if OPTIONS.api_key and self.headers.get("Authorization") != \
                "Bearer " + OPTIONS.api_key:
            with STATE.lock:
                STATE.unauthorized += 1
            return self.send_json(401, {"error": {"message": "bad key"}})
        request = json.loads(body)
        messages = request["messages"]
        system = messages[0]["content"]
        task_type = system.split("\n", 1)[0].split(":", 1)[1].strip()
        user = [m["content"] for m in messages if m["role"] == "user"][0]
        data = json.loads(user.split("<data>\n", 1)[1].rsplit("\n</data>", 1)[0])

        faults = {}
        for match in MARKER.finditer(user):
            fault, ms, times, _ = match.groups()
            key = match.group(0)[5:]
            with STATE.lock:
                count = STATE.markers.get(key, 0) + 1
                STATE.markers[key] = count
            if times is None or count <= int(times):
                faults[fault] = int(ms or 0)
        time.sleep((faults.get("slow", 0) or OPTIONS.latency_ms) / 1000.0)

        for status in ("500", "503", "400", "401", "404"):
            if status in faults:
                return self.send_json(int(status), {"error": {"message": "mock " + status}})
        if "429" in faults:
            return self.send_json(429, {"error": {"message": "slow down"}},
                                  [("Retry-After", "1")])
        if "noschema" in faults and \
                (request.get("response_format") or {}).get("type") == "json_schema":
            return self.send_json(400, {"error": {"message":
                "response_format json_schema is not supported"}})
        if "cut" in faults:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"choices": [{"mess')
            self.wfile.flush()
            self.close_connection = True
            return
        if "garbage" in faults:
            data = b"<html>502 Bad Gateway</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return

        content = json.dumps(answer(task_type, data, faults))
        if "badschema" in faults:
            content = json.dumps({"title": 42, "summary": "wrong shape"})
        if "prose" in faults:
            content = "Sure! Here is the JSON:\n" + content + "\nHope it helps."
        if "fenced" in faults:
            content = "```json\n" + content + "\n```"
        if "think" in faults:
            content = "<think>The user wants JSON.</think>\n" + content
        self.send_json(200, {
            "id": "mock-1", "object": "chat.completion",
            "model": request.get("model", "mock"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}]})


class Server(ThreadingHTTPServer):
    request_queue_size = 512
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass                                #  a client that went away


def main():
    global OPTIONS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--api-key", default="")
    OPTIONS = parser.parse_args()
    server = Server(("127.0.0.1", OPTIONS.port), Handler)
    url = "http://127.0.0.1:%d/v1" % server.server_address[1]
    if OPTIONS.ready_file:
        with open(OPTIONS.ready_file + ".tmp", "w") as ready:
            ready.write("url=%s\n" % url)
        import os
        os.rename(OPTIONS.ready_file + ".tmp", OPTIONS.ready_file)
    print(url, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
