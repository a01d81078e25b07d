import { useContext, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Card, ErrorBox, Progress } from "../ui";
import { ApiError, JobEvent } from "../types";

/** First run on an empty store: demo data, a server link, or a file. */
export function Welcome({ onDone }: { onDone: () => void }) {
  const { backend, go } = useContext(AppCtx);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [ev, setEv] = useState<JobEvent | null>(null);
  const [org, setOrg] = useState({ slug: "", currency: "USD", timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" });
  const demo = async () => {
    setBusy(true);
    try {
      await backend.demoLoad!();
      onDone();
    } catch (e) {
      setError(e as ApiError);
    }
    setBusy(false);
  };
  const importFile = async (f: File) => {
    if (org.slug.trim()) {
      try {
        await backend.orgCreate!(org.slug.trim(), org.currency.trim(), org.timezone.trim());
      } catch (e) {
        if ((e as ApiError).code !== "already_exists") return setError(e as ApiError);
      }
    }
    const j = await backend.startJob("import", { content: await f.text() }, setEv);
    const end = await j.done;
    if (end.error) setError(new ApiError(end.error.code, end.error.message));
    else onDone();
  };
  return (
    <div class="welcome">
      <h1>Welcome to Argus Usage</h1>
      <p>Every AI call's tokens, priced exactly; budgets, quotas and audit-grade exports. This store is empty: start one of three ways.</p>
      <div class="grid">
        <Card title="Explore with demo data">
          <p>Three months of realistic usage of a demo organisation across four providers, with a budget and an alert.</p>
          <button onClick={demo} disabled={busy}>{busy ? "Loading…" : "Load demo data"}</button>
        </Card>
        <Card title="Link to your server">
          <p>Follow your organisation's central server: usage, budgets and prices sync here and stay available offline.</p>
          <button onClick={() => go("sync")}>Link to a server</button>
        </Card>
        <Card title="Import a JSON Lines file">
          <p>One AI call per line, with <code>org</code>, <code>provider</code>, <code>model</code>, <code>operation</code>, token counts and <code>occurred_at</code>. Name the organisation the lines belong to; it is created if new.</p>
          <div class="form">
            <label>Organisation (slug)<input name="new_org" value={org.slug} placeholder="acme" onInput={(e) => setOrg({ ...org, slug: (e.target as HTMLInputElement).value })} /></label>
            <label>Currency<input name="new_currency" value={org.currency} onInput={(e) => setOrg({ ...org, currency: (e.target as HTMLInputElement).value })} /></label>
            <label>Time zone<input name="new_timezone" value={org.timezone} onInput={(e) => setOrg({ ...org, timezone: (e.target as HTMLInputElement).value })} /></label>
          </div>
          <input type="file" accept=".jsonl,.json,.txt" aria-label="JSON Lines file" onChange={(e) => { const f = (e.target as HTMLInputElement).files?.[0]; if (f) importFile(f); }} />
          {ev && ev.state === "running" ? <Progress done={ev.done} total={ev.total} label={ev.message} /> : null}
        </Card>
      </div>
      <ErrorBox error={error} />
    </div>
  );
}
