// Formatting for the window. Money arrives as decimal strings and is never
// turned into a floating-point number: rounding for display is done on the
// digits (half to even, the same rule as the engine), so what is shown is
// the exact amount rounded, and the exact amount is kept for titles.

/** Splits a decimal string into sign, integer digits and fraction digits. */
export function parseDecimal(s: string): { neg: boolean; int: string; frac: string } {
  const m = /^(-)?(\d+)(?:\.(\d+))?$/.exec(s.trim());
  if (!m) throw new Error(`${JSON.stringify(s)} is not a decimal number`);
  return { neg: m[1] === "-", int: m[2].replace(/^0+(?=\d)/, ""), frac: m[3] ?? "" };
}

/** Adds one to a string of digits. */
function incDigits(d: string): string {
  const a = d.split("");
  for (let i = a.length - 1; i >= 0; i--) {
    if (a[i] === "9") a[i] = "0";
    else {
      a[i] = String(Number(a[i]) + 1);
      return a.join("");
    }
  }
  return "1" + a.join("");
}

/** Rounds a decimal string to `places` decimals, half to even. */
export function roundDecimal(s: string, places: number): string {
  const { neg, int, frac } = parseDecimal(s);
  const padded = frac.padEnd(places + 1, "0");
  let kept = int + padded.slice(0, places);
  const rest = padded.slice(places);
  const first = rest[0];
  const beyond = rest.slice(1).replace(/0/g, "");
  const lastKept = Number(kept[kept.length - 1]);
  const up = first > "5" || (first === "5" && (beyond.length > 0 || lastKept % 2 === 1));
  if (up) kept = incDigits(kept);
  const i = kept.slice(0, kept.length - places) || "0";
  const f = kept.slice(kept.length - places);
  const isZero = /^0*$/.test(i + f);
  return (neg && !isZero ? "-" : "") + (places > 0 ? `${i}.${f}` : i);
}

/** Groups thousands: 1234567 -> 1,234,567. */
export function groupDigits(int: string): string {
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

const SYMBOLS: Record<string, string> = { USD: "$", EUR: "€", GBP: "£", JPY: "¥", CHF: "CHF " };

/** Money for display: rounded to cents (half to even), grouped, with the currency. */
export function money(amount: string | null | undefined, currency: string, places = 2): string {
  if (amount === null || amount === undefined) return "—";
  const r = roundDecimal(amount, places);
  const neg = r.startsWith("-");
  const [i, f] = (neg ? r.slice(1) : r).split(".");
  const body = groupDigits(i) + (f !== undefined ? "." + f : "");
  const sym = SYMBOLS[currency];
  const text = sym ? `${sym}${body}` : `${body} ${currency}`;
  return neg ? `−${text}` : text;
}

/** Integers (counts, tokens) grouped. */
export function count(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  const neg = n < 0;
  return (neg ? "−" : "") + groupDigits(String(Math.abs(Math.trunc(n))));
}

/** A percent string from the engine ("84.12") for display. */
export function percent(p: string | null | undefined): string {
  if (p === null || p === undefined) return "—";
  return `${roundDecimal(p, 1)}%`;
}

/** Compares two decimal strings exactly: -1, 0 or 1. */
export function compareDecimal(a: string, b: string): number {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  if (x.neg !== y.neg) return x.neg ? -1 : 1;
  const sign = x.neg ? -1 : 1;
  const len = Math.max(x.frac.length, y.frac.length);
  const xi = x.int.padStart(64, "0") + x.frac.padEnd(len, "0");
  const yi = y.int.padStart(64, "0") + y.frac.padEnd(len, "0");
  return xi === yi ? 0 : xi < yi ? -sign : sign;
}

/** A time from the engine (RFC 3339, UTC) shown in the organisation's zone. */
export function dateTime(iso: string | null | undefined, timeZone?: string): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  try {
    return new Intl.DateTimeFormat("en-GB", { timeZone, dateStyle: "medium", timeStyle: "short" }).format(d);
  } catch {
    return iso;
  }
}

/** "3 minutes ago" style age of a time, from `now`. */
export function age(iso: string | null | undefined, now: Date): string {
  if (!iso) return "never";
  const s = Math.round((now.getTime() - new Date(iso).getTime()) / 1000);
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? "" : "s"} ago`;
  const h = Math.round(m / 60);
  if (h < 36) return `${h} hour${h === 1 ? "" : "s"} ago`;
  const d = Math.round(h / 24);
  return `${d} day${d === 1 ? "" : "s"} ago`;
}

/** Length of a chart bar in pixels for `value` of `max` (drawing only, never a figure shown). */
export function barLength(value: string, max: string, width: number): number {
  const v = Number(value);
  const m = Number(max);
  if (!(m > 0) || !(v > 0)) return 0;
  return Math.max(1, Math.round((v / m) * width));
}

const NANO = BigInt(1_000_000_000);

/** A decimal string (at most 9 decimals) in nano-units, exactly. */
export function toNanos(s: string): bigint {
  const d = parseDecimal(s);
  if (d.frac.length > 9) throw new Error(`${s} has more than 9 decimals`);
  const v = BigInt(d.int || "0") * NANO + BigInt((d.frac + "000000000").slice(0, 9));
  return d.neg ? -v : v;
}

/** Nano-units back to a decimal string, exactly. */
export function fromNanos(v: bigint): string {
  const neg = v < BigInt(0);
  const a = neg ? -v : v;
  const frac = (a % NANO).toString().padStart(9, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${a / NANO}${frac ? `.${frac}` : ""}`;
}

/** `a - b` of two decimal strings, exactly. */
export function subtractDecimal(a: string, b: string): string {
  return fromNanos(toNanos(a) - toNanos(b));
}

/** A round number at or above `v` for the top of a chart's scale (drawing only). */
export function niceCeiling(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
