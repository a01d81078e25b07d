import { describe, expect, it } from "vitest";
import { Pager, splitMetaLines, budgetForm, dailySeries, drillDown, monthOf, moveTo, nextMonthStart, quotaValue, recordQuery, reorder, syncIsStale } from "../src/state";
import type { ProviderView } from "../src/types";

const f = { from: "2026-11-01", to: "", provider: "", model: "", operation: "", investigation: "", user: "" };

function p(provider: string, priority: number): ProviderView {
  return {
    provider, priority, configured: true, enabled: true, hourly_limit: null, daily_limit: null, hourly_used: 0, daily_used: 0, note: null, version: 1,
    health: { state: "ok", consecutive_failures: 0, cooldown_until: null, last_outcome_at: null },
  };
}

describe("months", () => {
  it("takes the month in the organisation's zone", () => {
    // 23:30 UTC on 31 October is already November in Paris.
    expect(monthOf(new Date("2026-10-31T23:30:00Z"), "Europe/Paris")).toBe("2026-11");
    expect(monthOf(new Date("2026-10-31T23:30:00Z"), "America/New_York")).toBe("2026-10");
    expect(nextMonthStart("2026-12")).toBe("2027-01-01");
    expect(nextMonthStart("2026-02")).toBe("2026-03-01");
  });
});

describe("the explorer", () => {
  it("builds a query of the filled filters", () => {
    expect(recordQuery({ ...f, provider: " openai " }, null, 100)).toEqual({ from: "2026-11-01", provider: "openai", limit: 100 });
    expect(recordQuery(f, 42, 10)).toEqual({ from: "2026-11-01", after_seq: 42, limit: 10 });
  });
  it("drills down into a group", () => {
    expect(drillDown(f, "provider", "openai").provider).toBe("openai");
    expect(drillDown(f, "model", "openai/gpt-4o")).toMatchObject({ provider: "openai", model: "gpt-4o" });
    expect(drillDown(f, "day", "2026-11-05")).toMatchObject({ from: "2026-11-05", to: "2026-11-06" });
    expect(drillDown(f, "month", "2026-12")).toMatchObject({ from: "2026-12-01", to: "2027-01-01" });
    expect(drillDown(f, "investigation", null)).toBe(f);
  });
  it("pages forward and back by cursor", () => {
    const pg = new Pager();
    expect([pg.page, pg.cursor]).toEqual([1, null]);
    pg.next(100);
    pg.next(200);
    expect([pg.page, pg.cursor]).toEqual([3, 200]);
    pg.prev();
    expect(pg.cursor).toBe(100);
    pg.prev();
    pg.prev();
    expect([pg.page, pg.cursor]).toEqual([1, null]);
    pg.next(null);
    expect(pg.page).toBe(1);
  });
});

describe("providers", () => {
  const list = [p("openai", 1), p("anthropic", 2), p("google", 3)];
  it("moves one up or down and renumbers only what changed", () => {
    expect(reorder(list, "google", -1)).toEqual([{ provider: "google", priority: 2 }, { provider: "anthropic", priority: 3 }]);
    expect(reorder(list, "openai", -1)).toEqual([]);
    expect(reorder(list, "google", 1)).toEqual([]);
  });
  it("drags one onto another's place", () => {
    expect(moveTo(list, "google", "openai")).toEqual([
      { provider: "google", priority: 1 },
      { provider: "openai", priority: 2 },
      { provider: "anthropic", priority: 3 },
    ]);
    expect(moveTo(list, "openai", "openai")).toEqual([]);
  });
  it("reads quotas: empty is none", () => {
    expect(quotaValue("")).toEqual({ value: null });
    expect(quotaValue(" 50 ")).toEqual({ value: 50 });
    expect(quotaValue("-1").error).toMatch(/not a number of requests/);
    expect(quotaValue("1.5").error).toBeTruthy();
  });
});

describe("the budget form", () => {
  it("accepts decimals and sorts thresholds", () => {
    expect(budgetForm(" 1500.50 ", "100, 80%, 90, 80", true)).toEqual({ body: { amount: "1500.50", thresholds: [80, 90, 100], hard_limit: true } });
  });
  it("names what is wrong", () => {
    expect(budgetForm("abc", "80", false).error).toMatch(/Amount "abc" is not a number/);
    expect(budgetForm("-5", "80", false).error).toMatch(/negative/);
    expect(budgetForm("0", "80", false).error).toMatch(/more than 0/);
    expect(budgetForm("10", "80, x", false).error).toMatch(/Threshold "x"/);
  });
});

describe("sync staleness", () => {
  const now = new Date("2026-11-27T12:00:00Z");
  it("warns after an hour or when never synced", () => {
    expect(syncIsStale(null, now)).toBe(true);
    expect(syncIsStale("2026-11-27T11:30:00Z", now)).toBe(false);
    expect(syncIsStale("2026-11-27T10:30:00Z", now)).toBe(true);
  });
});

describe("the daily chart", () => {
  const g = (key: string, cost: string) => ({ key, keys: [key], cost, requests: 1, input_tokens: 0, output_tokens: 0, cached_input_tokens: 0, cache_write_tokens: 0, cache_write_1h_tokens: 0, unpriced_requests: 0 });
  it("puts days in date order from the first of the month, with gaps at zero", () => {
    const s = dailySeries([g("2026-11-04", "9.5"), g("2026-11-02", "1.25")], "2026-11-01");
    expect(s.map((d) => [d.day, d.cost])).toEqual([["2026-11-01", "0"], ["2026-11-02", "1.25"], ["2026-11-03", "0"], ["2026-11-04", "9.5"]]);
    expect(dailySeries([], "2026-11-01")).toEqual([]);
  });
});

import { defaultView, drillView, fieldDiff, hashOfView, overThresholds, presetRange, signInMessage, unusualDays, viewFromHash } from "../src/state";
import { subtractDecimal, toNanos, fromNanos } from "../src/format";

describe("the Usage screen's view", () => {
  it("gives each preset its local dates", () => {
    expect(presetRange("this_month", "2026-12-02")).toEqual({ from: "2026-12-01", to: "2027-01-01" });
    expect(presetRange("last_month", "2026-01-15")).toEqual({ from: "2025-12-01", to: "2026-01-01" });
    expect(presetRange("last_7", "2026-03-02")).toEqual({ from: "2026-02-24", to: "2026-03-03" });
    expect(presetRange("last_30", "2026-12-02")).toEqual({ from: "2026-11-03", to: "2026-12-03" });
    expect(presetRange("this_year", "2026-12-02")).toEqual({ from: "2026-01-01", to: "2027-01-01" });
    expect(presetRange("custom", "2026-12-02")).toBeNull();
  });
  it("keeps the whole view in the URL, and only what differs from the default", () => {
    const today = "2026-11-15";
    expect(hashOfView(defaultView(today))).toBe("#/explorer");
    const v = { ...defaultView(today), preset: "custom" as const, from: "2026-10-03", to: "2026-10-09", provider: "openai", investigation_contains: "inv-", by: "investigation", then: "day", order: "time" as const };
    const h = hashOfView(v);
    expect(h).toContain("provider=openai");
    expect(viewFromHash(h, today)).toEqual(v);
    // A preset in the URL is resolved on the day the link is opened.
    expect(viewFromHash("#/explorer?preset=last_7", "2026-11-15").from).toBe("2026-11-09");
    // Nonsense falls back to the defaults.
    const odd = viewFromHash("#/explorer?by=colour&then=colour&order=sideways&preset=never", today);
    expect([odd.by, odd.then, odd.order, odd.preset]).toEqual(["provider", "", "time_desc", "this_month"]);
  });
  it("drills into a group: its keys become filters, the next grouping down is shown", () => {
    const v = defaultView("2026-11-15");
    const d = drillView(v, ["openai"]);
    expect([d.provider, d.by, d.then]).toEqual(["openai", "model", ""]);
    const two = drillView({ ...v, by: "investigation", then: "day" }, ["INV-7", "2026-11-03"]);
    expect([two.investigation, two.from, two.to, two.preset]).toEqual(["INV-7", "2026-11-03", "2026-11-04", "custom"]);
    const model = drillView({ ...v, by: "model" }, ["anthropic/claude-sonnet-4-5"]);
    expect([model.provider, model.model]).toEqual(["anthropic", "claude-sonnet-4-5"]);
  });
});

describe("forms and messages", () => {
  it("questions thresholds above 100 %", () => {
    expect(overThresholds("80, 90, 100")).toEqual([]);
    expect(overThresholds("80, 120%, 150")).toEqual([120, 150]);
  });
  it("says what a failed sign-in means", () => {
    expect(signInMessage({ code: "unauthorized", message: "" }, "http://x", "acme")).toContain('not accept this token for "acme"');
    expect(signInMessage({ code: "unreachable", message: "" }, "http://x:1", "acme")).toContain("Cannot reach a server at http://x:1");
    expect(signInMessage({ code: "not_found", message: "" }, "", "Acme")).toContain("short name");
  });
  it("shows the audit log's changes field by field", () => {
    expect(fieldDiff({ amount: "100", thresholds: [80], hard_limit: false }, { amount: "150", thresholds: [80], hard_limit: true })).toEqual([
      { field: "amount", before: "100", after: "150" },
      { field: "hard_limit", before: "false", after: "true" },
    ]);
    expect(fieldDiff(null, { url: "https://h" })).toEqual([{ field: "url", before: "", after: "https://h" }]);
    expect(fieldDiff("a", "b")).toEqual([{ field: "", before: "a", after: "b" }]);
  });
  it("marks days of unusual spend against the median of the days before", () => {
    expect(unusualDays(["1", "1.2", "0.9", "1", "5", "1.1", "0"])).toEqual([false, false, false, false, true, false, false]);
    expect(unusualDays(["9", "1"])).toEqual([false, false]);
  });
});

describe("exact decimal arithmetic for the overview", () => {
  it("subtracts to the last digit", () => {
    expect(subtractDecimal("1500", "1234.567890123")).toBe("265.432109877");
    expect(subtractDecimal("0.1", "0.3")).toBe("-0.2");
    expect(fromNanos(toNanos("1500") / BigInt(31))).toBe("48.387096774");
  });
});

import { todayIn } from "../src/state";
describe("today", () => {
  it("is the organisation's local date as YYYY-MM-DD, whatever the engine's locale data", () => {
    expect(todayIn("Europe/Berlin", new Date("2026-11-30T23:30:00Z"))).toBe("2026-12-01");
    expect(todayIn("America/New_York", new Date("2026-11-30T23:30:00Z"))).toBe("2026-11-30");
  });
});

describe("splitMetaLines", () => {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  it("splits a CSV's # lines into the metadata file and keeps the rest byte for byte", () => {
    const text = '# {\n#   "org": "demo",\n#   "sha256": "ab"\n# }\nid,org\nr1,"a\n# not meta"\n';
    const { csv, meta } = splitMetaLines(enc.encode(text));
    expect(JSON.parse(meta!)).toEqual({ org: "demo", sha256: "ab" });
    expect(dec.decode(csv)).toBe('id,org\nr1,"a\n# not meta"\n');
  });
  it("leaves a CSV without # lines alone", () => {
    const { csv, meta } = splitMetaLines(enc.encode("id,org\n"));
    expect(meta).toBeNull();
    expect(dec.decode(csv)).toBe("id,org\n");
  });
  it("reads metadata in any script", () => {
    const { meta } = splitMetaLines(enc.encode('# {"org_name": "Müller & Søn 東京"}\nid\n'));
    expect(JSON.parse(meta!).org_name).toBe("Müller & Søn 東京");
  });
});
