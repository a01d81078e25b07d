import { describe, expect, it } from "vitest";
import { age, compareDecimal, count, groupDigits, money, parseDecimal, percent, roundDecimal } from "../src/format";

describe("roundDecimal: half to even on the digits, no floats", () => {
  it.each([
    ["141.46380662", 2, "141.46"],
    ["0.005", 2, "0.00"],
    ["0.015", 2, "0.02"],
    ["0.025", 2, "0.02"],
    ["0.0250001", 2, "0.03"],
    ["2.675", 2, "2.68"],
    ["999.995", 2, "1000.00"],
    ["-1.005", 2, "-1.00"],
    ["-1.015", 2, "-1.02"],
    ["-0.001", 2, "0.00"],
    ["12", 2, "12.00"],
    ["123456789012345678901234.125", 2, "123456789012345678901234.12"],
    ["0.5", 0, "0"],
    ["1.5", 0, "2"],
  ])("%s to %i places is %s", (s, p, want) => {
    expect(roundDecimal(s, p as number)).toBe(want);
  });
  it("refuses what is not a decimal", () => {
    expect(() => parseDecimal("1e5")).toThrow(/not a decimal/);
    expect(() => parseDecimal("")).toThrow();
  });
});

describe("money and counts", () => {
  it("groups, rounds and shows the currency", () => {
    expect(money("1234567.891", "USD")).toBe("$1,234,567.89");
    expect(money("0.5", "EUR")).toBe("€0.50");
    expect(money("-12.345", "USD")).toBe("−$12.34");
    expect(money("10", "SEK")).toBe("10.00 SEK");
    expect(money(null, "USD")).toBe("—");
  });
  it("counts and percents", () => {
    expect(count(1234567)).toBe("1,234,567");
    expect(count(0)).toBe("0");
    expect(groupDigits("1000")).toBe("1,000");
    expect(percent("84.125")).toBe("84.1%");
    expect(percent(null)).toBe("—");
  });
  it("compares decimals exactly, beyond what a float can tell apart", () => {
    expect(compareDecimal("0.100000000000000000001", "0.1")).toBe(1);
    expect(compareDecimal("10", "9.999999999")).toBe(1);
    expect(compareDecimal("-2", "-1")).toBe(-1);
    expect(compareDecimal("1.50", "1.5")).toBe(0);
  });
  it("says how long ago", () => {
    const now = new Date("2026-11-27T12:00:00Z");
    expect(age(null, now)).toBe("never");
    expect(age("2026-11-27T11:59:50Z", now)).toBe("just now");
    expect(age("2026-11-27T11:30:00Z", now)).toBe("30 minutes ago");
    expect(age("2026-11-27T09:00:00Z", now)).toBe("3 hours ago");
    expect(age("2026-11-24T12:00:00Z", now)).toBe("3 days ago");
  });
});
