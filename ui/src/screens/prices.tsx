import { useContext, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Card, ErrorBox, Loading, Money, Progress, useLoad } from "../ui";
import { count, dateTime } from "../format";
import { ApiError, JobEvent, RepriceReport } from "../types";

const RATE_FIELDS = ["input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok", "cache_write_1h_per_mtok"] as const;
const TEXT_FIELDS = ["provider", "model", "effective_from", ...RATE_FIELDS, "above_input_tokens", "source"] as const;
const TIERS = ["standard", "batch", "flex", "priority"];
const PROBLEMS: Record<string, string> = {
  unpriced: "no price",
  deprecated: "retired model",
  service_tier_fallback: "standard rates for another service tier",
  fallback_rate: "a rate taken from another kind",
};

/** A source URL shown short: its host and the start of its path. */
function sourceLabel(url: string): string {
  try {
    const u = new URL(url);
    const path = u.pathname.replace(/\/$/, "");
    return u.host.replace(/^www\./, "") + (path.length > 18 ? `${path.slice(0, 18)}…` : path);
  } catch {
    return url;
  }
}

export function Prices() {
  const { backend, org, canEdit } = useContext(AppCtx);
  const data = useLoad(() => backend.prices(org.slug), [org.slug]);
  const check = useLoad(() => backend.pricesCheck(org.slug), [org.slug]);
  const rates = useLoad(() => backend.fxList(org.slug), [org.slug]);
  const [fxText, setFxText] = useState("date,from,to,rate\n");
  const [fxNote, setFxNote] = useState<string | null>(null);
  const [form, setForm] = useState<Record<string, string>>({ provider: "", model: "", effective_from: new Date().toISOString().slice(0, 10), input_per_mtok: "", output_per_mtok: "", cached_input_per_mtok: "", cache_write_per_mtok: "", cache_write_1h_per_mtok: "", service_tier: "standard", above_input_tokens: "", source: "" });
  const [error, setError] = useState<ApiError | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [period, setPeriod] = useState({ from: "", to: "" });
  const [preview, setPreview] = useState<RepriceReport | null>(null);
  const [job, setJob] = useState<JobEvent | null>(null);
  const cur = org.currency;
  const add = async (e: Event) => {
    e.preventDefault();
    const v: Record<string, string> = { currency: cur };
    for (const [k, x] of Object.entries(form)) if (x.trim()) v[k] = x.trim();
    try {
      // The version of the prices on screen: the largest id (versions are only added).
      const seen = data.data ? Math.max(0, ...data.data.map((p) => p.id)) : undefined;
      const r = await backend.pricesAdd(org.slug, JSON.stringify([v]), seen);
      if (r.rejected.length) throw new ApiError("bad_input", r.rejected[0].error, r.rejected[0].field);
      setNote(r.queued ? "Queued for the server; it arrives here with the next sync." : r.added ? "Added a new price version. Preview a reprice below to see what it changes." : "That version was already known.");
      setError(null);
      data.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  const importRates = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await backend.fxImport(org.slug, fxText);
      if (r.rejected.length) throw new ApiError("bad_input", `line ${r.rejected[0].line}: ${r.rejected[0].error}`, r.rejected[0].field);
      const waiting = r.waiting.find((w) => w.org === org.slug);
      setFxNote(`${count(r.added)} rates added, ${count(r.unchanged)} already known.` + (waiting ? ` ${count(waiting.records)} records wait for a rate: preview a reprice below to convert them.` : ""));
      setError(null);
      rates.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  const doPreview = async () => {
    try {
      setPreview(await backend.repricePreview(org.slug, period.from || undefined, period.to || undefined));
      setError(null);
    } catch (e) {
      setError(e as ApiError);
    }
  };
  const apply = async () => {
    const j = await backend.startJob("reprice", { org: org.slug, from: period.from || undefined, to: period.to || undefined }, setJob);
    const end = await j.done;
    if (end.state === "done") {
      setPreview(end.result as RepriceReport);
      data.reload();
      check.reload();
    } else if (end.error) setError(new ApiError(end.error.code, end.error.message));
  };
  if (data.loading && !data.data) return <Loading what="prices" />;
  if (data.error) return <ErrorBox error={data.error} />;
  const list = [...data.data!].sort((a, b) => a.provider.localeCompare(b.provider) || a.model.localeCompare(b.model) || b.effective_from.localeCompare(a.effective_from));
  return (
    <div class="grid">
      {canEdit ? <Card title="New price version (per million tokens)">
        <form class="form" onSubmit={add}>
          {TEXT_FIELDS.map((k) => (
            <label key={k}>
              {k.replace(/_/g, " ")}
              <input name={k} value={form[k]} required={k === "provider" || k === "model" || k === "effective_from" || k === "input_per_mtok" || k === "output_per_mtok"} inputMode={k.endsWith("mtok") ? "decimal" : k === "above_input_tokens" ? "numeric" : undefined} placeholder={k === "above_input_tokens" ? "a long-context tier: e.g. 200000" : undefined} onInput={(e) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value })} />
            </label>
          ))}
          <label>
            service tier
            <select name="service_tier" value={form.service_tier} onChange={(e) => setForm({ ...form, service_tier: (e.target as HTMLSelectElement).value })}>
              {TIERS.map((t) => <option key={t} value={t}>{t}</option>)}
            </select>
          </label>
          <button type="submit">Add version ({cur})</button>
          {note ? <p class="ok" role="status">{note}</p> : null}
        </form>
      </Card> : null}
      <Card title="Reprice records with the prices now known">
        <div class="form">
          <label>from<input name="reprice_from" placeholder="YYYY-MM-DD (all)" value={period.from} onInput={(e) => setPeriod({ ...period, from: (e.target as HTMLInputElement).value })} /></label>
          <label>to<input name="reprice_to" placeholder="YYYY-MM-DD (all)" value={period.to} onInput={(e) => setPeriod({ ...period, to: (e.target as HTMLInputElement).value })} /></label>
          <button onClick={doPreview}>Preview</button>
        </div>
        {preview ? (
          <div data-testid="reprice-preview">
            <p>
              {preview.applied ? "Applied: " : "Would change "} {count(preview.changed)} of {count(preview.records)} records: <Money amount={preview.before_cost} currency={cur} /> →{" "}
              <Money amount={preview.after_cost} currency={cur} /> (difference <Money amount={preview.difference} currency={cur} />), unpriced {count(preview.before_unpriced)} → {count(preview.after_unpriced)}
            </p>
            {canEdit && !preview.applied && preview.changed > 0 ? <button onClick={apply} disabled={job?.state === "running"}>Apply the reprice</button> : null}
          </div>
        ) : null}
        {job?.state === "running" ? <Progress done={0} total={0} label="Repricing in one transaction…" /> : null}
      </Card>
      <ErrorBox error={error} />
      <Card title={`Exchange rates into ${cur}`}>
        <p class="muted">Prices in another currency (the USD list prices) are converted at the rate of each record's day: the latest published on or before it, once a rate of that day or later is known. Until then a record is unconverted, counted like an unpriced one.</p>
        {rates.error ? <ErrorBox error={rates.error} /> : !rates.data ? <Loading what="exchange rates" /> : rates.data.length === 0 ? (
          <p data-testid="fx-empty">No exchange rate yet. Paste rates below (the ECB's reference rates, as <code>date,from,to,rate</code> rows such as <code>2026-10-30,USD,{cur === "USD" ? "EUR" : cur},0.9234</code>).</p>
        ) : (
          <table data-testid="fx-rates">
            <thead><tr><th scope="col">Date</th><th scope="col">Rate</th><th scope="col">Scope</th></tr></thead>
            <tbody>
              {[...rates.data].reverse().slice(0, 10).map((x) => (
                <tr key={x.id}><td>{x.date}</td><td>1 {x.from} = {x.rate} {x.to}</td><td>{x.scope === "org" ? "this organisation" : "shared"}</td></tr>
              ))}
            </tbody>
          </table>
        )}
        {canEdit ? <form class="form" onSubmit={importRates}>
          <label>rates (CSV)<textarea name="fx" rows={4} value={fxText} onInput={(e) => setFxText((e.target as HTMLTextAreaElement).value)} /></label>
          <button type="submit">Import rates</button>
          {fxNote ? <p class="ok" role="status">{fxNote}</p> : null}
        </form> : null}
      </Card>
      <Card title="Price check" wide>
        {check.error ? <ErrorBox error={check.error} /> : !check.data ? <Loading what="the price check" /> : check.data.findings.length === 0 ? (
          <p class="ok" data-testid="price-check">All {count(check.data.records)} records are priced by current versions with every rate they need.</p>
        ) : (
          <table data-testid="price-check">
            <thead><tr><th scope="col">Provider</th><th scope="col">Model</th><th scope="col">Tier</th><th scope="col">Finding</th><th scope="col" class="num">Records</th><th scope="col">What to do</th></tr></thead>
            <tbody>
              {check.data.findings.map((f, i) => (
                <tr key={i}>
                  <td>{f.provider}</td>
                  <td>{f.model}</td>
                  <td>{f.service_tier}</td>
                  <td>{PROBLEMS[f.problem] ?? f.problem}</td>
                  <td class="num">{count(f.records)}</td>
                  <td class="muted">
                    {f.detail}
                    {canEdit && f.problem === "unpriced" ? (
                      <>
                        {" "}
                        <button class="link" data-testid="add-price" aria-label={`Add a price for ${f.provider}/${f.model}`} onClick={() => {
                          setForm({ ...form, provider: f.provider, model: f.model, service_tier: f.service_tier });
                          document.querySelector<HTMLInputElement>('input[name="input_per_mtok"]')?.focus();
                        }}>Add a price</button>
                      </>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <Card title="Price history" wide>
        <div class="scroll-x" tabIndex={0} role="region" aria-label="Price history table">
        <table class="compact">
          <thead>
            <tr><th scope="col">Provider</th><th scope="col">Model</th><th scope="col">From</th><th scope="col">Scope</th><th scope="col" class="num">Input</th><th scope="col" class="num">Output</th><th scope="col">Tier</th><th scope="col" class="num">Cached input</th><th scope="col" class="num">Cache write</th><th scope="col" class="num">1-hour write</th><th scope="col">Retires</th><th scope="col">Source</th></tr>
          </thead>
          <tbody>
            {list.map((p) => (
              <tr key={p.id}>
                <td>{p.provider}</td>
                <td>{p.model}</td>
                <td>{dateTime(p.effective_from, org.timezone)}</td>
                <td>{p.scope === "org" ? "negotiated" : "list"}</td>
                <td class="num">{p.input_per_mtok}</td>
                <td class="num">{p.output_per_mtok}</td>
                <td>{p.service_tier}{p.above_input_tokens != null ? ` · prompts above ${count(p.above_input_tokens)}` : ""}</td>
                <td class="num">{p.cached_input_per_mtok ?? "—"}</td>
                <td class="num">{p.cache_write_per_mtok ?? "—"}</td>
                <td class="num">{p.cache_write_1h_per_mtok ?? "—"}</td>
                <td>{p.deprecation_date ? (p.deprecated ? <span class="warn-text">retired {p.deprecation_date}</span> : p.deprecation_date) : "—"}</td>
                <td class="muted source">{p.source ? (/^https?:\/\//.test(p.source) ? <a href={p.source} target="_blank" rel="noreferrer noopener">{sourceLabel(p.source)}</a> : p.source) : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      </Card>
    </div>
  );
}
