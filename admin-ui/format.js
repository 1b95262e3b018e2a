// Formatting and parsing of money, tokens, times and months. Money arrives as JSON numbers of
// cents with up to 6 decimals; it is formatted from its decimal digits, never rounded to a cent.

const UC_PER_CENT = 1_000_000;

function group(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** "$12.50", "$0.015", "$1,234.567891"… or "0.00126 ¢" below one cent; every decimal kept. */
export function formatCents(value) {
  if (value === null || value === undefined || value === "") return "—";
  const cents = Number(value);
  if (!Number.isFinite(cents)) return String(value);
  const sign = cents < 0 ? "−" : "";
  // toFixed(6) is exact for a JSON number with at most 6 decimals: it prints the decimal it was.
  const [whole, micro] = Math.abs(cents).toFixed(6).split(".");
  if (whole === "0" && micro !== "000000") return `${sign}${`0.${micro}`.replace(/0+$/, "")} ¢`;
  const padded = whole.padStart(3, "0");
  const fraction = (padded.slice(-2) + micro).replace(/0+$/, "").padEnd(2, "0");
  return `${sign}$${group(padded.slice(0, -2))}.${fraction}`;
}

/** The exact amount in cents, e.g. "1234.567891 ¢" (for a tooltip). */
export function exactCents(value) {
  if (value === null || value === undefined) return "";
  const cents = Number(value);
  const text = cents.toFixed(6).replace(/\.?0+$/, "");
  return `${text} ¢`;
}

/** Cents as integer micro-cents, for exact sums and differences in the browser. */
export function toUc(cents) {
  return Math.round(Number(cents || 0) * UC_PER_CENT);
}

export function fromUc(uc) {
  return uc / UC_PER_CENT;
}

/** A price in USD per 1M tokens, e.g. "$0.075". */
export function formatUsd(value) {
  if (value === null || value === undefined) return "—";
  const [whole, fraction] = usdText(value).split(".");
  return `$${group(whole)}.${(fraction || "").padEnd(2, "0")}`;
}

/** A price as plain decimal digits for a form field: 0.075 → "0.075", 1e-8 → "0.00000001". */
export function usdText(value) {
  if (value === null || value === undefined) return "";
  return Number(value).toFixed(8).replace(/\.?0+$/, "");
}

export function formatInt(value) {
  if (value === null || value === undefined) return "—";
  return group(String(value));
}

/** "2026-11-25 14:03 UTC": times are shown in UTC, like the months they are billed in. */
export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "14:03:22 UTC": the time of day alone, for moments minutes away (a cool-down's end). */
export function formatClock(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(11, 19)} UTC`;
}

/** A 0–1 rate as "98.5 %" ("100 %", "0 %"); "—" when there is none. */
export function formatPercent(rate) {
  if (rate === null || rate === undefined) return "—";
  return `${(Number(rate) * 100).toFixed(1).replace(/\.0$/, "")} %`;
}

/** The current month in UTC, "YYYY-MM". */
export function currentMonth() {
  return new Date().toISOString().slice(0, 7);
}

export function daysInMonth(month) {
  const [year, mon] = month.split("-").map(Number);
  return new Date(Date.UTC(year, mon, 0)).getUTCDate();
}

/**
 * Dollars typed by the operator ("12.50", "$1,000", "0.0005") to a JSON number of cents, exactly
 * (string arithmetic: 0.29 dollars is 29 cents, not 28.999999999999996). "" gives null.
 */
export function dollarsToCents(text, field = "The amount") {
  const cleaned = String(text).trim().replace(/^\$/, "").replace(/,/g, "");
  if (cleaned === "") return null;
  const match = /^(\d+)(?:\.(\d*))?$/.exec(cleaned);
  if (!match) throw new Error(`${field} must be an amount in US dollars, like 12.50.`);
  const fraction = match[2] || "";
  if (fraction.length > 8) {
    throw new Error(`${field} can have at most 8 decimals (a millionth of a cent).`);
  }
  const digits = fraction.padEnd(8, "0");
  const whole = `${match[1]}${digits.slice(0, 2)}`.replace(/^0+(?=\d)/, "");
  return Number(`${whole}.${digits.slice(2)}`);
}

/** Cents back to a dollars string for a form field, exactly ("" for null). */
export function centsToDollars(cents) {
  if (cents === null || cents === undefined) return "";
  const [whole, micro] = Number(cents).toFixed(6).split(".");
  const padded = whole.padStart(3, "0");
  const fraction = (padded.slice(-2) + micro).replace(/0+$/, "").padEnd(2, "0");
  return `${padded.slice(0, -2)}.${fraction}`;
}

/** A whole number ≥ 1 from a form field, or null when empty. */
export function parsePositiveInt(text, field) {
  const cleaned = String(text).trim().replace(/,/g, "");
  if (cleaned === "") return null;
  if (!/^\d+$/.test(cleaned) || Number(cleaned) < 1) {
    throw new Error(`${field} must be a whole number of 1 or more (or empty for no limit).`);
  }
  return Number(cleaned);
}

/** "gpt-4o-mini, claude-*" to ["gpt-4o-mini", "claude-*"]; empty to null (no restriction). */
export function parseList(text) {
  const items = String(text || "")
    .split(/[\s,]+/)
    .map((item) => item.trim())
    .filter(Boolean);
  return items.length ? items : null;
}

export function listText(list) {
  return list && list.length ? list.join(", ") : "";
}

/** "Any" for a missing allowlist, else its entries. */
export function allowlistText(list) {
  if (list === null || list === undefined) return "Any";
  return list.length ? list.join(", ") : "None";
}
