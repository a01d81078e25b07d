"""Loopback servers that answer as the AI providers do, for the gateway's tests.

One `FakeUpstream` speaks OpenAI's chat completions and embeddings or
Anthropic's Messages, plain or streamed (usage at the end), and can be told
to misbehave: answer 429 with Retry-After, answer 500, be slow, or cut a
stream in the middle. It counts the requests it got and keeps their headers
and bodies, so a test can check what reached the provider (and what never
did). These stand in for the providers only: everything else in the tests
is the real thing.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# What each fake call uses, as the provider reports it.
OPENAI_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18, "prompt_tokens_details": {"cached_tokens": 3}}
ANTHROPIC_USAGE = {"input_tokens": 9, "output_tokens": 5, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 2}
# What Anthropic answers for a call that wrote to both caches, on the Priority Tier: the
# writes of each lifetime in `cache_creation` (their sum in cache_creation_input_tokens).
ANTHROPIC_USAGE_1H = {"input_tokens": 9, "output_tokens": 5, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 30,
                      "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}, "service_tier": "priority"}


class FakeUpstream:
    def __init__(self, dialect="openai", name="fake"):
        self.dialect = dialect
        self.name = name
        self.behavior = "ok"  # ok | 429 | 500 | 400 | slow | cut
        self.retry_after = "30"
        self.slow_s = 3.0
        self.requests = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(n) or b"{}")
                with fake.lock:
                    fake.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                fake.answer(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}" + ("/v1" if self.dialect == "openai" else "")

    def count(self):
        with self.lock:
            return len(self.requests)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # --- answers -----------------------------------------------------------

    def send_json(self, h, status, obj, extra=None):
        data = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        h.send_header("x-request-id", f"req-{self.name}")
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def error(self, h, status, message, extra=None):
        if self.dialect == "openai":
            self.send_json(h, status, {"error": {"message": message, "type": "fake_error", "param": None, "code": None}}, extra)
        else:
            self.send_json(h, status, {"type": "error", "error": {"type": "fake_error", "message": message}}, extra)

    def answer(self, h, body):
        b = self.behavior
        if b == "429":
            return self.error(h, 429, f"{self.name} is rate limited", {"retry-after": self.retry_after})
        if b == "500":
            return self.error(h, 500, f"{self.name} is down")
        if b == "400":
            return self.error(h, 400, f"{self.name} does not like this request")
        if b == "slow":
            time.sleep(self.slow_s)
        model = body.get("model", "unknown")
        stream = bool(body.get("stream"))
        if self.dialect == "openai" and h.path.endswith("/embeddings"):
            return self.send_json(h, 200, {"object": "list", "model": model, "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}],
                                           "usage": {"prompt_tokens": 5, "total_tokens": 5}})
        if self.dialect == "openai":
            if not stream:
                return self.send_json(h, 200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model + "-2026",
                                               "choices": [{"index": 0, "message": {"role": "assistant", "content": f"hello from {self.name}"}, "finish_reason": "stop"}],
                                               "usage": OPENAI_USAGE})
            events = [{"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [{"index": 0, "delta": {"role": "assistant", "content": w}, "finish_reason": None}]}
                      for w in ["hello ", "from ", self.name]]
            events.append({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            if body.get("stream_options", {}).get("include_usage"):
                events.append({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [], "usage": OPENAI_USAGE})
            return self.stream(h, [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"])
        usage = ANTHROPIC_USAGE_1H if model == "fake-1h" else ANTHROPIC_USAGE
        if not stream:
            return self.send_json(h, 200, {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                                           "content": [{"type": "text", "text": f"hello from {self.name}"}], "stop_reason": "end_turn", "stop_sequence": None,
                                           "usage": usage})
        start = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
                                                     "usage": dict(usage, output_tokens=1)}}
        events = [("message_start", start),
                  ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})]
        for w in ["hello ", "from ", self.name]:
            events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}))
        events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
                   ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 5}}),
                   ("message_stop", {"type": "message_stop"})]
        return self.stream(h, [f"event: {k}\ndata: {json.dumps(v)}\n\n" for k, v in events])

    def stream(self, h, parts):
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("transfer-encoding", "chunked")
        h.end_headers()
        cut = self.behavior == "cut"
        for i, p in enumerate(parts):
            if cut and i == 2:
                # The connection drops in the middle of the stream.
                h.wfile.flush()
                h.close_connection = True
                h.connection.shutdown(2)
                return
            data = p.encode()
            h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            h.wfile.flush()
            time.sleep(0.01)
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()
