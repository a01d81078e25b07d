// State logic of the screens, kept apart from rendering so it is unit-tested.
import type { Group, ProviderView, RecordQuery } from "./types";
import { compareDecimal, parseDecimal } from "./format";

/** Local month `YYYY-MM` of a date in a time zone. */
export function monthOf(d: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit" }).formatToParts(d);
  const y = parts.find((p) => p.type === "year")?.value;
  const m = parts.find((p) => p.type === "month")?.value;
  return `${y}-${m}`;
}

/** First day of the month after `YYYY-MM`, as `YYYY-MM-DD`. */
export function nextMonthStart(month: string): string {
  const [y, m] = month.split("-").map(Number);
  return m === 12 ? `${y + 1}-01-01` : `${y}-${String(m + 1).padStart(2, "0")}-01`;
}

/** Filters of the usage explorer. */
export interface Filters {
  from: string;
  to: string;
  provider: string;
  model: string;
  operation: string;
  investigation: string;
  user: string;
  /** A part of the investigation (a search box); `investigation` is the exact one a drill-down sets. */
  investigation_contains?: string;
  /** A part of the user (a search box). */
  user_contains?: string;
  /** The records' status: ok, error, rate_limited... */
  status?: string;
}

/** Filters that select every record of the month starting `from`. */
export function noFilters(from: string): Filters {
  return { from, to: "", provider: "", model: "", operation: "", investigation: "", user: "", investigation_contains: "", user_contains: "", status: "" };
}

/** The filter fields of a view, in the order the screen shows them. */
export const FILTER_FIELDS = ["provider", "model", "operation", "status", "investigation", "investigation_contains", "user", "user_contains"] as const;

export const DIMENSIONS = ["provider", "model", "operation", "investigation", "user", "day", "week", "month"] as const;

/** The records query of the explorer's filters (empty fields left out). */
export function recordQuery(f: Filters, after_seq: number | null, limit: number): RecordQuery {
  const q: RecordQuery = { limit };
  for (const k of ["from", "to", ...FILTER_FIELDS] as const) {
    const v = (f[k] ?? "").trim();
    if (v) q[k] = v;
  }
  if (after_seq !== null) q.after_seq = after_seq;
  return q;
}

/** The dimensions a view filters on, for its summary (the period goes apart). */
export function filterQuery(f: Filters): RecordQuery {
  const q: RecordQuery = {};
  for (const k of FILTER_FIELDS) {
    const v = (f[k] ?? "").trim();
    if (v) q[k] = v;
  }
  return q;
}

/** Drilling into a group: the filters narrowed to that key. */
export function drillDown(f: Filters, by: string, key: string | null): Filters {
  if (key === null) return f;
  if (by === "model") {
    const [provider, model] = key.includes("/") ? key.split("/", 2) : [f.provider, key];
    return { ...f, provider, model };
  }
  if (by === "day") return { ...f, from: key, to: addDays(key, 1) };
  if (by === "month") return { ...f, from: `${key}-01`, to: nextMonthStart(key) };
  if (by === "provider" || by === "operation" || by === "investigation" || by === "user") return { ...f, [by]: key };
  return f;
}

export function addDays(date: string, n: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/**
 * Paging through records by cursor (a sequence number, or a place in time
 * order): a stack of the cursors of the pages seen, so "previous" works
 * without offsets over millions of rows.
 */
export class Pager<C = number> {
  private stack: (C | null)[] = [null];
  get page(): number {
    return this.stack.length;
  }
  get cursor(): C | null {
    return this.stack[this.stack.length - 1];
  }
  next(after: C | null): void {
    if (after !== null) this.stack.push(after);
  }
  prev(): void {
    if (this.stack.length > 1) this.stack.pop();
  }
  reset(): void {
    this.stack = [null];
  }
}

/** Moves a provider up (-1) or down (+1) and gives every provider its new priority (1, 2, 3...). */
export function reorder(list: ProviderView[], provider: string, delta: -1 | 1): { provider: string; priority: number }[] {
  const order = [...list].sort((a, b) => a.priority - b.priority || a.provider.localeCompare(b.provider)).map((p) => p.provider);
  const i = order.indexOf(provider);
  const j = i + delta;
  if (i < 0 || j < 0 || j >= order.length) return [];
  [order[i], order[j]] = [order[j], order[i]];
  return changedPriorities(list, order);
}

/** Moves `provider` to the place of `target` (drag and drop). */
export function moveTo(list: ProviderView[], provider: string, target: string): { provider: string; priority: number }[] {
  const order = [...list].sort((a, b) => a.priority - b.priority || a.provider.localeCompare(b.provider)).map((p) => p.provider);
  const i = order.indexOf(provider);
  const j = order.indexOf(target);
  if (i < 0 || j < 0 || i === j) return [];
  order.splice(i, 1);
  order.splice(j, 0, provider);
  return changedPriorities(list, order);
}

function changedPriorities(list: ProviderView[], order: string[]): { provider: string; priority: number }[] {
  const now = new Map(list.map((p) => [p.provider, p.priority]));
  return order.map((p, k) => ({ provider: p, priority: k + 1 })).filter((x) => now.get(x.provider) !== x.priority);
}

/** Checks the budget form; returns the body to send or the error to show, naming the field. */
export function budgetForm(amount: string, thresholds: string, hardLimit: boolean): { body?: { amount: string; thresholds: number[]; hard_limit: boolean }; error?: string } {
  const a = amount.trim();
  try {
    const d = parseDecimal(a);
    if (d.neg) return { error: `Amount ${a} is negative; give the monthly amount, such as 1500` };
  } catch {
    return { error: `Amount "${a}" is not a number; give it like 1500 or 1500.50` };
  }
  if (compareDecimal(a, "0") <= 0) return { error: "Amount must be more than 0" };
  const parts = thresholds.split(",").map((t) => t.trim().replace(/%$/, "")).filter(Boolean);
  const ts: number[] = [];
  for (const t of parts) {
    if (!/^\d+$/.test(t) || Number(t) < 1 || Number(t) > 1000) return { error: `Threshold "${t}" is not a whole percent from 1 to 1000` };
    ts.push(Number(t));
  }
  const uniq = [...new Set(ts)].sort((x, y) => x - y);
  return { body: { amount: a, thresholds: uniq, hard_limit: hardLimit } };
}

/** Whether the last sync is old enough to warn (the data may be stale). */
export function syncIsStale(lastSyncedAt: string | null, now: Date, hours = 1): boolean {
  if (!lastSyncedAt) return true;
  return now.getTime() - new Date(lastSyncedAt).getTime() > hours * 3600_000;
}

/** Parses a quota field: empty means none. */
export function quotaValue(s: string): { value?: number | null; error?: string } {
  const t = s.trim();
  if (!t) return { value: null };
  if (!/^\d+$/.test(t) || Number(t) < 1) return { error: `"${t}" is not a number of requests; leave it empty for no limit` };
  return { value: Number(t) };
}

/** Days from `first` to the last day with usage, in date order, days without usage at zero. */
export function dailySeries(groups: Group[], first: string): { day: string; cost: string; requests: number }[] {
  const by = new Map(groups.filter((g) => g.key !== null).map((g) => [g.key as string, g]));
  const days = [...by.keys()].sort();
  if (days.length === 0) return [];
  const last = days[days.length - 1];
  const out = [];
  for (let d = first < days[0] ? first : days[0]; d <= last; d = addDays(d, 1)) {
    const g = by.get(d);
    out.push({ day: d, cost: g ? g.cost : "0", requests: g ? g.requests : 0 });
  }
  return out;
}

/** What a failed sign-in means, for the person signing in. */
export function signInMessage(e: { code: string; message: string }, server: string, org: string): string {
  switch (e.code) {
    case "unauthorized":
      return `The server did not accept this token for "${org}". Check that it is a token of this organisation and not revoked (an administrator lists them with argus-usage token list --org ${org || "SLUG"}).`;
    case "not_found":
      return `The server has no organisation "${org}" for this token. Use the organisation's short name (its slug, such as acme), as in the token's organisation.`;
    case "forbidden":
      return e.message;
    case "rate_limited":
      return "Too many failed sign-ins from this computer. Wait a minute, then try again with a valid token.";
    case "unreachable":
      return `Cannot reach a server at ${server}. Check the address, and that argus-usage serve is running there.`;
    default:
      return `Signing in failed: ${e.message}`;
  }
}

/** The thresholds of a budget form above 100 % (they fire only once the budget is overspent). */
export function overThresholds(text: string): number[] {
  return text.split(",").map((t) => Number(t.trim().replace(/%$/, ""))).filter((n) => Number.isFinite(n) && n > 100);
}

/** Date-range presets of the Usage screen. */
export const PRESETS = [
  ["this_month", "This month"],
  ["last_month", "Last month"],
  ["last_7", "Last 7 days"],
  ["last_30", "Last 30 days"],
  ["this_year", "This year"],
  ["custom", "Custom"],
] as const;
export type Preset = (typeof PRESETS)[number][0];

/** Today's date `YYYY-MM-DD` in a time zone. */
export function todayIn(timeZone: string, now: Date = new Date()): string {
  // From the parts: engines format "en-CA" differently (WebKitGTK as MM/DD/YYYY).
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(now);
  const part = (t: string) => parts.find((p) => p.type === t)?.value ?? "";
  return `${part("year")}-${part("month")}-${part("day")}`;
}

/** The period `[from, to)` of a preset, as local dates, on local date `today`. */
export function presetRange(p: Preset, today: string): { from: string; to: string } | null {
  const month = today.slice(0, 7);
  const [y, m] = month.split("-").map(Number);
  switch (p) {
    case "this_month":
      return { from: `${month}-01`, to: nextMonthStart(month) };
    case "last_month": {
      const prev = m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, "0")}`;
      return { from: `${prev}-01`, to: `${month}-01` };
    }
    case "last_7":
      return { from: addDays(today, -6), to: addDays(today, 1) };
    case "last_30":
      return { from: addDays(today, -29), to: addDays(today, 1) };
    case "this_year":
      return { from: `${y}-01-01`, to: `${y + 1}-01-01` };
    default:
      return null;
  }
}

/** Everything the Usage screen shows: period, filters, groupings, order of the records. */
export interface UsageView extends Filters {
  preset: Preset;
  by: string;
  /** A second grouping, or "". */
  then: string;
  order: "time_desc" | "time";
}

/** The default view: this month, by provider, newest records first. */
export function defaultView(today: string): UsageView {
  const r = presetRange("this_month", today)!;
  return { ...noFilters(r.from), to: r.to, preset: "this_month", by: "provider", then: "", order: "time_desc" };
}

/** The view a URL hash (`#/explorer?...`) names; what it leaves out is the default. */
export function viewFromHash(hash: string, today: string): UsageView {
  const v = defaultView(today);
  const q = new URLSearchParams(hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "");
  const preset = q.get("preset") ?? (q.has("from") || q.has("to") ? "custom" : "this_month");
  v.preset = (PRESETS.some(([id]) => id === preset) ? preset : "this_month") as Preset;
  const range = presetRange(v.preset, today);
  if (range) Object.assign(v, range);
  else {
    v.from = q.get("from") ?? "";
    v.to = q.get("to") ?? "";
  }
  for (const k of FILTER_FIELDS) v[k] = q.get(k) ?? "";
  const dims = DIMENSIONS as readonly string[];
  const by = q.get("by") ?? "provider";
  v.by = dims.includes(by) ? by : "provider";
  const then = q.get("then") ?? "";
  v.then = dims.includes(then) && then !== v.by ? then : "";
  v.order = q.get("order") === "time" ? "time" : "time_desc";
  return v;
}

/** The URL hash of a view: only what differs from the default, so links stay short. */
export function hashOfView(v: UsageView): string {
  const q = new URLSearchParams();
  if (v.preset !== "this_month") q.set("preset", v.preset);
  if (v.preset === "custom") {
    if (v.from) q.set("from", v.from);
    if (v.to) q.set("to", v.to);
  }
  for (const k of FILTER_FIELDS) if ((v[k] ?? "").trim()) q.set(k, (v[k] ?? "").trim());
  if (v.by !== "provider") q.set("by", v.by);
  if (v.then) q.set("then", v.then);
  if (v.order !== "time_desc") q.set("order", v.order);
  const s = q.toString();
  return s ? `#/explorer?${s}` : "#/explorer";
}

/** Drilling into a group of one or two groupings: the view narrowed to its keys (a time key makes the period custom). */
export function drillView(v: UsageView, keys: (string | null)[]): UsageView {
  let f: Filters = v;
  const dims = [v.by, v.then].filter(Boolean);
  dims.forEach((d, i) => {
    f = drillDown(f, d, keys[i] ?? null);
  });
  const timeKey = dims.some((d, i) => (d === "day" || d === "month") && keys[i] !== null);
  // The next grouping down: what a drill-down into one group shows next.
  const next: Record<string, string> = { provider: "model", model: "day", operation: "provider", investigation: "provider", user: "investigation", day: "provider", week: "day", month: "day" };
  const by = dims.length === 1 ? next[v.by] ?? "day" : v.by;
  return { ...v, ...f, preset: timeKey ? "custom" : v.preset, by, then: "" };
}

/**
 * Days of unusual spend: more than `factor` times the median of the days
 * with spend before them (at least 3 such days), and above zero. Chart
 * highlighting only; figures are the decimal strings.
 */
export function unusualDays(values: string[], factor = 3): boolean[] {
  const out: boolean[] = [];
  const seen: number[] = [];
  for (const v of values) {
    const x = Number(v);
    const sorted = [...seen].sort((a, b) => a - b);
    const median = sorted.length >= 3 ? (sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2) : null;
    out.push(median !== null && median > 0 && x > factor * median);
    if (x > 0) seen.push(x);
  }
  return out;
}

/** One changed field of an audit entry. */
export interface FieldChange {
  field: string;
  before: string;
  after: string;
}

/** The fields an audit entry changed, before and after (every field of an object added or removed; the whole value when not objects). */
export function fieldDiff(before: unknown, after: unknown): FieldChange[] {
  const text = (v: unknown) => (v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v));
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if ((isObj(before) || before == null) && (isObj(after) || after == null) && (isObj(before) || isObj(after))) {
    const b = isObj(before) ? before : {};
    const a = isObj(after) ? after : {};
    const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].sort();
    return keys.filter((k) => JSON.stringify(b[k]) !== JSON.stringify(a[k])).map((k) => ({ field: k, before: text(b[k]), after: text(a[k]) }));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ field: "", before: text(before), after: text(after) }];
}

/**
 * Splits a CSV export with its metadata as leading `# ` lines into the CSV
 * (the header, then rows: what a spreadsheet opens) and the metadata's JSON
 * (what `export verify` reads from FILE.meta.json).
 */
export function splitMetaLines(bytes: Uint8Array): { csv: Uint8Array; meta: string | null } {
  const lines: string[] = [];
  let at = 0;
  const dec = new TextDecoder();
  while (at + 1 < bytes.length && bytes[at] === 0x23 && bytes[at + 1] === 0x20) {
    let end = bytes.indexOf(0x0a, at);
    if (end < 0) end = bytes.length;
    lines.push(dec.decode(bytes.subarray(at + 2, end)));
    at = end + 1;
  }
  return { csv: bytes.subarray(Math.min(at, bytes.length)), meta: lines.length ? lines.join("\n") + "\n" : null };
}
