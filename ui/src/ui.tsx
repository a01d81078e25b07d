// Small shared pieces: loading data, errors, money cells, progress.
import { useEffect, useState } from "preact/hooks";
import type { ComponentChildren } from "preact";
import { ApiError } from "./types";
import type { JobEvent, JobKind } from "./types";
import type { Backend, Job } from "./backend";
import { count, money } from "./format";

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/** Loads data with `f` whenever `deps` change. */
export function useLoad<T>(f: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiError | null; loading: boolean }>({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    f().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (e) => live && setState({ data: null, error: e instanceof ApiError ? e : new ApiError("internal", String(e)), loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export function ErrorBox({ error }: { error: ApiError | null }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      <strong>{error.code.replace(/_/g, " ")}</strong>: {error.message}
      {error.field ? <span class="field"> (field: {error.field})</span> : null}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return <p class="muted" aria-busy="true">Loading {what}…</p>;
}

/** Money right-aligned, rounded for display; the exact amount in the title and data-exact. */
export function Money({ amount, currency, testid, places = 2 }: { amount: string | null | undefined; currency: string; testid?: string; places?: number }) {
  return (
    <span class="num money" title={amount ? `${amount} ${currency} exactly` : "unknown"} data-exact={amount ?? ""} data-testid={testid}>
      {money(amount, currency, places)}
    </span>
  );
}

export function Card({ title, children, wide }: { title: string; children: ComponentChildren; wide?: boolean }) {
  return (
    <section class={wide ? "card wide" : "card"} aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function Progress({ done, total, label }: { done: number; total: number; label: string }) {
  const pct = total > 0 ? Math.min(100, Math.round((done * 100) / total)) : null;
  return (
    <div class="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct ?? undefined} aria-label={label}>
      <div class={pct === null ? "bar indeterminate" : "bar"} style={pct === null ? undefined : { width: `${pct}%` }} />
      <span>{label}</span>
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

/**
 * A long job of the backend (an export...) with its progress events, its
 * error, and cancel through `job`: the one way screens start one.
 */
export function useJob(backend: Backend) {
  const [job, setJob] = useState<Job | null>(null);
  const [ev, setEv] = useState<JobEvent | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const run = async (kind: JobKind, params: Record<string, unknown>) => {
    setError(null);
    setEv(null);
    try {
      const j = await backend.startJob(kind, params, setEv);
      setJob(j);
      const end = await j.done;
      setJob(null);
      if (end.error) setError(new ApiError(end.error.code, end.error.message, end.error.field));
    } catch (err) {
      setJob(null);
      setError(err as ApiError);
    }
  };
  return { job, ev, error, setError, run };
}

/**
 * The export formats, each saying what you get. `csv_lines` is a CSV that
 * carries its metadata as leading `#` lines (one file); the others put the
 * metadata file (FILE.meta.json) beside the export, except JSON, which
 * holds it inside.
 */
export const EXPORT_FORMATS: { value: string; label: string; short: string }[] = [
  { value: "csv", label: "CSV for a spreadsheet, with a metadata file (.meta.json)", short: "CSV + metadata file" },
  { value: "csv_lines", label: "CSV with the metadata as # lines (one file)", short: "CSV, metadata as # lines" },
  { value: "json", label: "JSON: the rows and the metadata in one file", short: "JSON (one file)" },
  { value: "pdf", label: "PDF to read or print, with a metadata file", short: "PDF + metadata file" },
];

/** The export job's parameters of a format choice. */
export function formatParams(choice: string): Record<string, string> {
  return choice === "csv_lines" ? { format: "csv", meta: "lines" } : { format: choice };
}

/** A select of [`EXPORT_FORMATS`]. */
export function FormatSelect({ value, onChange, short, name = "format" }: { value: string; onChange: (v: string) => void; short?: boolean; name?: string }) {
  return (
    <select name={name} value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
      {EXPORT_FORMATS.map((f) => <option key={f.value} value={f.value}>{short ? f.short : f.label}</option>)}
    </select>
  );
}

/** What an export job wrote or downloaded, and how to check it. */
export function ExportDone({ result, backend, testid }: { result: any; backend: Backend; testid: string }) {
  return (
    <div role="status" data-testid={testid}>
      <p class="ok">
        {result.meta
          ? <>{result.bytes !== undefined ? "Downloaded" : "Wrote"} <code>{result.file}</code>: {count(result.meta.record_count)} rows{result.meta.kind === "audit" ? "" : <>, {count(result.meta.totals.requests)} requests, {money(result.meta.totals.cost, result.meta.totals.currency)}</>}; sha256 <code class="hash">{result.meta.sha256}</code></>
          : <>Downloaded <code>{result.file}</code> ({count(result.bytes)} bytes).</>}
      </p>
      {result.meta_file ? <p class="muted">Its metadata is in <code>{result.meta_file}</code>, beside it.</p> : null}
      {result.meta?.record_count === 0 ? <p class="muted">Nothing matched: the file says so and holds no rows.</p> : null}
      {backend.openPath && result.file ? <button type="button" onClick={() => backend.openPath!(result.file)}>Open the file</button> : null}
      <p class="muted">Check it any time with <code>argus-usage export verify FILE</code>.</p>
    </div>
  );
}
