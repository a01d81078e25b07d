"""The gateway with the official OpenAI and Anthropic Python SDKs as callers.

The real `argus-usage serve` (ARGUS_BIN) over a real SQLite store (or, with
ARGUS_TEST_PG, a database of its own on that PostgreSQL server), the real
SDKs, unchanged but for their base URL and key; only the providers are
stood in for, by the loopback fakes of fake_upstream.py.
"""

import concurrent.futures
import json
import urllib.request
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from decimal import Decimal

import anthropic
import openai
import pytest

from fake_upstream import FakeUpstream

BIN = os.environ.get("ARGUS_BIN", "target/debug/argus-usage")
KEYS = {"ALPHA_KEY": "sk-alpha-secret-0001", "BETA_KEY": "sk-beta-secret-0002", "ANTHROPIC_TEST_KEY": "sk-ant-secret-0003"}
# Per million tokens: input, output, cached input, cache write.
PRICES = "provider,model,effective_from,currency,input_per_mtok,output_per_mtok,cached_input_per_mtok,cache_write_per_mtok\n" + "".join(
    f"{p},fake-model,2020-01-01T00:00:00Z,USD,1.00,2.00,0.10,1.25\n" for p in ["alpha", "beta", "anthropic"]
) + "alpha,fake-embed,2020-01-01T00:00:00Z,USD,0.02,0,,\n"
# OpenAI's usage (prompt 11 of which 3 cached, completion 7): 8*1 + 3*0.10 + 7*2 per Mtok.
OPENAI_CALL_COST = Decimal("0.0000223")
# Anthropic's (input 9, cache read 4, cache write 2, output 5): 9*1 + 4*0.10 + 2*1.25 + 5*2 per Mtok.
ANTHROPIC_CALL_COST = Decimal("0.0000219")


def store(directory):
    """The gateway's store: a file, or a new PostgreSQL database (ARGUS_TEST_PG)."""
    base = os.environ.get("ARGUS_TEST_PG", "")
    if not base:
        return os.path.join(directory, "usage.db")
    import glob
    from urllib.parse import urlparse
    u = urlparse(base)
    name = f"gw_{os.getpid()}_{time.time_ns()}"
    createdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/createdb"))[-1]
    subprocess.run([createdb, "-h", u.hostname, "-p", str(u.port), "-U", u.username, name], check=True)
    return f"{u.scheme}://{u.username}@{u.hostname}:{u.port}/{name}"


def cli(db, *args, check=True, stdin=None):
    p = subprocess.run([BIN, "--db", db, *args], capture_output=True, text=True, input=stdin)
    if check and p.returncode != 0:
        raise AssertionError(f"argus-usage {' '.join(args)} failed: {p.stderr}")
    return p


class Gateway:
    """A store with organisation acme, three fake providers, and `serve`."""

    def __init__(self, upstream_timeout=30):
        self.dir = tempfile.mkdtemp()
        self.db = store(self.dir)
        self.fakes = {"alpha": FakeUpstream("openai", "alpha"), "beta": FakeUpstream("openai", "beta"), "anthropic": FakeUpstream("anthropic", "anthropic")}
        cli(self.db, "org", "create", "acme")
        prices = os.path.join(self.dir, "prices.csv")
        with open(prices, "w") as f:
            f.write(PRICES)
        cli(self.db, "prices", "import", prices, "--org", "acme")
        for i, (name, key) in enumerate([("alpha", "ALPHA_KEY"), ("beta", "BETA_KEY"), ("anthropic", "ANTHROPIC_TEST_KEY")]):
            cli(self.db, "provider", "set", "--org", "acme", "--provider", name, "--priority", str(i + 1),
                "--base-url", self.fakes[name].base_url, "--api-key-env", key)
        self.tokens = {role: self.token(role) for role in ["ingest", "analyst", "admin"]}
        self.upstream_timeout = upstream_timeout
        self.start()

    def token(self, role):
        out = cli(self.db, "token", "create", "--org", "acme", "--role", role).stdout
        return re.search(r"(argus_\S+)", out).group(1)

    def start(self):
        env = dict(os.environ, **KEYS, ARGUS_USAGE_SERVER_KEY="gateway-test-server-key-0123", ARGUS_USAGE_LOG="info")
        self.proc = subprocess.Popen([BIN, "--db", self.db, "serve", "--listen", "127.0.0.1:0", "--allow-private-targets",
                                      "--upstream-timeout-s", str(self.upstream_timeout)],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
        self.log = []
        addr = None
        deadline = time.time() + 30
        while addr is None and time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"on http://([0-9.:]+)/api/v1", line)
            if m:
                addr = m.group(1)
        assert addr, "serve did not say where it listens: " + "".join(self.log)
        threading.Thread(target=self._drain, daemon=True).start()
        self.base = f"http://{addr}"

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def close(self):
        if self.proc.poll() is None:
            self.stop()
        for f in self.fakes.values():
            f.stop()

    def openai(self, role="ingest", **kw):
        return openai.OpenAI(base_url=self.base + "/v1", api_key=self.tokens[role], max_retries=0, **kw)

    def anthropic(self, role="ingest"):
        return anthropic.Anthropic(base_url=self.base, api_key=self.tokens[role], max_retries=0)

    def records(self):
        out = cli(self.db, "usage", "records", "--org", "acme", "--limit", "10000", "--json").stdout
        return json.loads(out)["records"]


@pytest.fixture
def gw():
    g = Gateway()
    yield g
    g.close()


def ask(client, model="alpha/fake-model", **kw):
    return client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "Say hello"}], **kw)


def test_a_plain_openai_call_is_recorded_and_priced_from_the_providers_usage(gw):
    raw = ask(gw.openai(), extra_headers={"X-Argus-Investigation": "INV-7", "X-Argus-User": "ann"})
    r = raw.parse()
    assert r.choices[0].message.content == "hello from alpha"
    assert r.usage.prompt_tokens == 11, "the caller sees the provider's answer unchanged"
    assert raw.headers["x-argus-provider"] == "alpha" and raw.headers["x-argus-attempts"] == "1"
    [rec] = gw.records()
    assert rec["id"] == raw.headers["x-argus-record-id"]
    assert (rec["provider"], rec["model"], rec["operation"], rec["investigation"], rec["user"], rec["status"]) == ("alpha", "fake-model", "chat", "INV-7", "ann", "ok")
    assert (rec["input_tokens"], rec["cached_input_tokens"], rec["output_tokens"]) == (8, 3, 7), "prompt tokens less the cached ones are the input"
    assert Decimal(rec["cost"]) == OPENAI_CALL_COST
    # What the gateway knows of the call besides its usage.
    assert rec["upstream_model"] == "fake-model-2026", "the model the provider's answer names"
    assert (rec["attempt"], rec["estimated"]) == (1, False)
    assert 0 <= rec["first_byte_ms"] <= rec["latency_ms"]
    # The provider got its own key, never the caller's Argus token, and the model it knows.
    req = gw.fakes["alpha"].requests[0]
    assert req["headers"]["authorization"] == "Bearer " + KEYS["ALPHA_KEY"]
    assert gw.tokens["ingest"] not in json.dumps(req)
    assert req["body"]["model"] == "fake-model"


def test_a_streamed_openai_call_passes_through_and_is_recorded_once(gw):
    chunks = list(gw.openai().chat.completions.create(model="alpha/fake-model", messages=[{"role": "user", "content": "hi"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "hello from alpha"
    assert all(c.choices for c in chunks), "the usage chunk the gateway asked for is not passed to a caller who did not ask"
    assert gw.fakes["alpha"].requests[0]["body"]["stream_options"]["include_usage"] is True
    # A caller who asks for the usage gets it.
    chunks = list(gw.openai().chat.completions.create(model="alpha/fake-model", messages=[{"role": "user", "content": "hi"}], stream=True,
                                                      stream_options={"include_usage": True}))
    assert chunks[-1].usage.prompt_tokens == 11
    time.sleep(0.5)
    recs = gw.records()
    assert len(recs) == 2 and all(r["status"] == "ok" and Decimal(r["cost"]) == OPENAI_CALL_COST for r in recs)


def test_embeddings_and_models(gw):
    e = gw.openai().embeddings.create(model="alpha/fake-embed", input="some text")
    assert e.data[0].embedding == [0.25, -0.5]
    [rec] = gw.records()
    assert (rec["operation"], rec["input_tokens"], rec["output_tokens"], rec["cost"]) == ("embedding", 5, 0, "0.0000001")
    ids = [m.id for m in gw.openai().models.list()]
    assert "alpha/fake-model" in ids and "anthropic/fake-model" in ids


def test_anthropic_messages_plain_and_streamed(gw):
    client = gw.anthropic()
    m = client.messages.create(model="anthropic/fake-model", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert m.content[0].text == "hello from anthropic"
    with client.messages.stream(model="anthropic/fake-model", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(s.text_stream)
    assert text == "hello from anthropic"
    time.sleep(0.5)
    recs = gw.records()
    assert len(recs) == 2
    for r in recs:
        assert (r["input_tokens"], r["cached_input_tokens"], r["cache_write_tokens"], r["output_tokens"]) == (9, 4, 2, 5)
        assert Decimal(r["cost"]) == ANTHROPIC_CALL_COST and r["operation"] == "messages"
    h = gw.fakes["anthropic"].requests[0]["headers"]
    assert h["x-api-key"] == KEYS["ANTHROPIC_TEST_KEY"] and "anthropic-version" in h
    assert gw.tokens["ingest"] not in json.dumps(gw.fakes["anthropic"].requests)


def test_anthropic_1h_cache_writes_and_service_tier_are_recorded_and_priced(gw):
    # A priority-tier price with a 1-hour cache-write rate, as `prices import` takes it (JSON).
    prices = os.path.join(gw.dir, "prices-1h.json")
    with open(prices, "w") as f:
        json.dump([{"provider": "anthropic", "model": "fake-1h", "effective_from": "2020-01-01", "currency": "USD", "input_per_mtok": "1",
                    "output_per_mtok": "2", "cached_input_per_mtok": "0.1", "cache_write_per_mtok": "1.25", "cache_write_1h_per_mtok": "2",
                    "service_tier": "priority"}], f)
    cli(gw.db, "prices", "import", prices, "--org", "acme")
    client = gw.anthropic()
    client.messages.create(model="anthropic/fake-1h", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    with client.messages.stream(model="anthropic/fake-1h", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as s:
        "".join(s.text_stream)
    time.sleep(0.5)
    recs = [r for r in gw.records() if r["model"] == "fake-1h"]
    assert len(recs) == 2
    for r in recs:
        assert (r["cache_write_tokens"], r["cache_write_1h_tokens"], r["service_tier"]) == (10, 20, "priority"), r
        # (9 x 1 + 5 x 2 + 4 x 0.1 + 10 x 1.25 + 20 x 2) per million, by the priority version
        assert Decimal(r["cost"]) == Decimal("0.0000719"), r


def test_failover_by_priority_and_cool_down_after_retry_after(gw):
    cli(gw.db, "alias", "set", "--org", "acme", "--name", "smart", "--targets", "beta/fake-model,alpha/fake-model")
    gw.fakes["alpha"].behavior = "500"
    raw = ask(gw.openai(), model="smart")
    assert raw.headers["x-argus-provider"] == "beta" and raw.headers["x-argus-attempts"] == "2", "alpha (priority 1) failed, beta served"
    recs = sorted(gw.records(), key=lambda r: r["seq"])
    assert [(r["provider"], r["status"], r["attempt"]) for r in recs] == [("alpha", "error", 1), ("beta", "ok", 2)], "each attempt that reached a provider is recorded once"
    # The Overview's "through the gateway today", over HTTP with a read-only token.
    req = urllib.request.Request(gw.base + "/api/v1/orgs/acme/gateway/today", headers={"authorization": "Bearer " + gw.token("analyst")})
    with urllib.request.urlopen(req) as r:
        today = json.load(r)
    assert (today["served"], today["failed_over"]) == (1, 1)
    assert [(p["provider"], p["served"], p["failed"]) for p in today["providers"]] == [("alpha", 0, 1), ("beta", 1, 0)]
    # A 429 with Retry-After: alpha is not tried again until then.
    gw.fakes["alpha"].behavior = "429"
    assert ask(gw.openai(), model="smart").headers["x-argus-provider"] == "beta"
    n = gw.fakes["alpha"].count()
    gw.fakes["alpha"].behavior = "ok"
    for _ in range(3):
        assert ask(gw.openai(), model="smart").headers["x-argus-attempts"] == "1"
    assert gw.fakes["alpha"].count() == n, "alpha cools down for its Retry-After"
    route = json.loads(cli(gw.db, "route", "--org", "acme", "--dry-run", "--json", check=False).stdout)
    alpha = next(c for c in route["candidates"] if c["provider"] == "alpha")
    assert alpha["state"] == "cooling_down", "the one routing rule: route sees the same cool-down"


def test_a_callers_own_error_is_returned_as_it_came_without_failover(gw):
    gw.fakes["alpha"].behavior = "400"
    with pytest.raises(openai.BadRequestError) as e:
        ask(gw.openai(), model="fake-model")
    assert "does not like this request" in str(e.value)
    assert gw.fakes["beta"].count() == 0
    [rec] = gw.records()
    assert rec["status"] == "client_error"


def test_refused_connections_and_slow_providers_fail_over():
    g = Gateway(upstream_timeout=1)
    try:
        # alpha points at a port nobody listens on.
        cli(g.db, "provider", "set", "--org", "acme", "--provider", "alpha", "--base-url", "http://127.0.0.1:9/v1")
        assert ask(g.openai(), model="fake-model").headers["x-argus-provider"] == "beta"
        assert [r["provider"] for r in g.records()] == ["beta"], "an attempt that never reached a provider is not recorded"
        g.fakes["beta"].behavior = "slow"
        with pytest.raises(openai.APIStatusError) as e:
            ask(g.openai(), model="fake-model")
        assert e.value.status_code == 503 and "no_provider_available" in str(e.value.body)
    finally:
        g.close()


def test_a_disabled_provider_is_never_called(gw):
    cli(gw.db, "provider", "set", "--org", "acme", "--provider", "alpha", "--enabled", "false")
    for _ in range(3):
        assert ask(gw.openai(), model="fake-model").headers["x-argus-provider"] == "beta"
    assert gw.fakes["alpha"].count() == 0
    with pytest.raises(openai.APIStatusError) as e:
        ask(gw.openai(), model="alpha/fake-model")
    assert e.value.status_code == 503 and "disabled" in str(e.value.body)


def test_a_hard_limit_refuses_without_calling_the_provider(gw):
    cli(gw.db, "budget", "set", "--org", "acme", "--amount", "0", "--hard-limit")
    with pytest.raises(openai.APIStatusError) as e:
        ask(gw.openai())
    assert e.value.status_code == 402 and e.value.code == "budget_exceeded"
    with pytest.raises(anthropic.APIStatusError) as e:
        gw.anthropic().messages.create(model="anthropic/fake-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 402
    assert sum(f.count() for f in gw.fakes.values()) == 0 and gw.records() == []


def test_a_token_budget_counts_and_refuses_only_that_tokens_calls(gw):
    # Each call records the name of the token that sent it; `token:NAME` budgets count those.
    ask(gw.openai(), max_tokens=5)
    [rec] = gw.records()
    assert rec["token"] == "ingest", "the record names the token that sent the call"
    status = json.loads(cli(gw.db, "budget", "status", "--org", "acme", "--scope", "token:ingest", "--json").stdout)
    assert Decimal(status["spent"]) == OPENAI_CALL_COST and status["scope"] == "token:ingest"
    # Spent 0.0000223 of 0.00003: the next call's estimate (13 prompt tokens, 5 out) does not fit.
    cli(gw.db, "budget", "set", "--org", "acme", "--scope", "token:ingest", "--amount", "0.00003", "--hard-limit")
    with pytest.raises(openai.APIStatusError) as e:
        ask(gw.openai(), max_tokens=5)
    assert e.value.status_code == 402 and e.value.code == "budget_exceeded"
    assert "token:ingest" in str(e.value.message), "the refusal names the scope that refused"
    # Another token's calls are not this budget's.
    ask(gw.openai("admin"), max_tokens=5)
    assert sorted(r["token"] for r in gw.records()) == ["admin", "ingest"]
    assert gw.fakes["alpha"].count() == 2


def test_quotas_refuse_with_429_and_retry_after(gw):
    cli(gw.db, "provider", "set", "--org", "acme", "--provider", "alpha", "--hourly-limit", "2")
    ask(gw.openai())
    ask(gw.openai())
    with pytest.raises(openai.RateLimitError) as e:
        ask(gw.openai())
    assert e.value.code == "rate_limited" and int(e.value.response.headers["retry-after"]) > 0
    assert gw.fakes["alpha"].count() == 2


def test_roles_and_bad_tokens(gw):
    with pytest.raises(openai.PermissionDeniedError):
        ask(gw.openai("analyst"))
    with pytest.raises(openai.AuthenticationError):
        ask(openai.OpenAI(base_url=gw.base + "/v1", api_key="argus_not-a-token", max_retries=0))
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=gw.base, api_key="nope", max_retries=0).messages.create(
            model="anthropic/fake-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert sum(f.count() for f in gw.fakes.values()) == 0


def test_many_concurrent_calls_are_each_recorded_once_with_exact_cost(gw):
    client = gw.openai()
    n = 60

    def one(i):
        if i % 2:
            return "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model="alpha/fake-model", messages=[{"role": "user", "content": f"call {i}"}], stream=True) if c.choices)
        return client.chat.completions.create(model="alpha/fake-model", messages=[{"role": "user", "content": f"call {i}"}]).choices[0].message.content

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        assert all(t == "hello from alpha" for t in ex.map(one, range(n)))
    time.sleep(1)
    recs = gw.records()
    assert len(recs) == n and len({r["id"] for r in recs}) == n
    total = json.loads(cli(gw.db, "usage", "summary", "--org", "acme", "--json").stdout)
    assert Decimal(total["cost"]) == OPENAI_CALL_COST * n, "the total is the exact sum of the calls"
    st = json.loads(cli(gw.db, "budget", "status", "--org", "acme", "--json").stdout)
    assert Decimal(st["reserved"]) == 0, "every reservation was settled by its record"


def test_a_stream_cut_in_the_middle_is_recorded_once_as_incomplete(gw):
    gw.fakes["alpha"].behavior = "cut"
    with pytest.raises(Exception):
        list(gw.openai().chat.completions.create(model="alpha/fake-model", messages=[{"role": "user", "content": "hi"}], stream=True, max_tokens=50))
    time.sleep(1)
    [rec] = gw.records()
    assert rec["status"] == "incomplete" and rec["output_tokens"] == 50, "recorded with the estimate, flagged by its status"
    assert rec["estimated"] is True, "and flagged as an estimate"


def test_kill_9_mid_stream_then_restart_records_nothing_twice(gw):
    gw.fakes["alpha"].behavior = "slow"
    gw.fakes["alpha"].slow_s = 5
    t = threading.Thread(target=lambda: pytest.raises(Exception, lambda: ask(gw.openai(), stream=True)), daemon=True)
    t.start()
    time.sleep(1.5)
    gw.stop(signal.SIGKILL)
    gw.fakes["alpha"].behavior = "ok"
    gw.start()
    ask(gw.openai())
    time.sleep(0.5)
    recs = gw.records()
    assert len(recs) == 1 and len({r["id"] for r in recs}) == 1
    st = json.loads(cli(gw.db, "budget", "status", "--org", "acme", "--json").stdout)
    assert Decimal(st["reserved"]) >= 0


def test_no_key_leaks_into_answers_logs_or_the_store(gw):
    raw = ask(gw.openai())
    ask(gw.openai(), model="beta/fake-model")
    gw.anthropic().messages.create(model="anthropic/fake-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    gw.fakes["alpha"].behavior = "500"
    ask(gw.openai(), model="fake-model")
    providers = cli(gw.db, "provider", "list", "--org", "acme", "--json").stdout
    audit = cli(gw.db, "export", "--help", check=False).stdout
    gw.stop()
    blobs = [raw.http_response.text, json.dumps(dict(raw.headers)), "".join(gw.log), providers, audit]
    for name in os.listdir(gw.dir):
        if name.startswith("usage.db"):
            with open(os.path.join(gw.dir, name), "rb") as f:
                blobs.append(f.read().decode("latin-1"))
    for key in KEYS.values():
        for b in blobs:
            assert key not in b, "a provider key leaked"
    assert json.loads(providers)["providers"][0]["upstream"]["key_available"] is False, "the CLI's shell has no key; it says so"
