import { useContext, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Card, ErrorBox, Loading, Progress, useLoad } from "../ui";
import { age, count, dateTime } from "../format";
import { ApiError, JobEvent, SyncStatus } from "../types";
import type { Job } from "../backend";
import { Theme, getTheme, setTheme } from "../theme";

export function SyncSettings() {
  const { backend, refresh } = useContext(AppCtx);
  const [theme, setT] = useState<Theme>(getTheme());
  return (
    <div class="grid">
      {backend.syncStatus ? <SyncPanel /> : (
        <Card title="Server">
          <p>This console runs in a browser and talks to the server directly, so there is nothing to sync.</p>
          <button class="secondary" onClick={() => { sessionStorage.removeItem("argus-login"); refresh(); }}>Sign out</button>
        </Card>
      )}
      <Card title="Appearance">
        <fieldset class="radios">
          <legend>Theme</legend>
          {(["system", "light", "dark"] as Theme[]).map((t) => (
            <label key={t}>
              <input type="radio" name="theme" value={t} checked={theme === t} onChange={() => { setTheme(t); setT(t); }} /> {t === "system" ? "Follow the system" : t}
            </label>
          ))}
        </fieldset>
      </Card>
    </div>
  );
}

function SyncPanel() {
  const { backend, refresh } = useContext(AppCtx);
  const status = useLoad(() => backend.syncStatus!(), []);
  const [form, setForm] = useState({ server: "", org: "", token: "" });
  const [error, setError] = useState<ApiError | null>(null);
  const [job, setJob] = useState<Job | null>(null);
  const [ev, setEv] = useState<JobEvent | null>(null);
  if (status.loading && !status.data) return <Loading what="the sync status" />;
  const s: SyncStatus | null = status.data;
  const run = async (f: () => Promise<unknown>) => {
    try {
      await f();
      setError(null);
    } catch (e) {
      setError(e as ApiError);
    }
    status.reload();
    refresh();
  };
  const syncNow = async () => {
    setError(null);
    const j = await backend.startJob("sync", {}, setEv);
    setJob(j);
    const end = await j.done;
    setJob(null);
    if (end.error) setError(new ApiError(end.error.code, end.error.message));
    status.reload();
    refresh();
  };
  if (!s?.server) {
    return (
      <Card title="Link to a server">
        <p class="muted">A linked store follows one organisation of your central server and works offline between syncs. The token goes into the OS keyring, never into the store.</p>
        <form class="form" onSubmit={(e) => { e.preventDefault(); run(() => backend.syncLink!(form.server, form.org, form.token)); }}>
          <label>Server<input name="server" placeholder="http://argus.example:8680" value={form.server} onInput={(e) => setForm({ ...form, server: (e.target as HTMLInputElement).value })} required /></label>
          <label>Organisation<input name="org" placeholder="acme" value={form.org} onInput={(e) => setForm({ ...form, org: (e.target as HTMLInputElement).value })} required /></label>
          <label>Token<input name="token" type="password" autocomplete="off" value={form.token} onInput={(e) => setForm({ ...form, token: (e.target as HTMLInputElement).value })} required /></label>
          <button type="submit">Link</button>
          <ErrorBox error={error ?? status.error} />
        </form>
      </Card>
    );
  }
  return (
    <>
      <Card title="Sync">
        <dl class="facts">
          <dt>Server</dt><dd>{s.server} {s.server_version ? <span class="muted">(version {s.server_version})</span> : null}</dd>
          <dt>Organisation</dt><dd>{s.org}</dd>
          <dt>Last synced</dt><dd data-testid="last-synced">{s.last_synced_at ? `${age(s.last_synced_at, new Date())} (${dateTime(s.last_synced_at)})` : "never"}</dd>
          <dt>Records up to</dt><dd>server sequence {count(s.cursor)}</dd>
          <dt>Waiting to push</dt><dd>{count(s.pending_pushes)}</dd>
        </dl>
        {s.last_error ? <p class="bad">Last attempt: {s.last_error}</p> : null}
        {job && ev ? (
          <>
            <Progress done={ev.done} total={ev.total} label={ev.message} />
            <button class="secondary" onClick={() => job.cancel()}>Cancel</button>
          </>
        ) : (
          <button data-testid="sync-now" onClick={syncNow}>Sync now</button>
        )}
        {ev?.state === "done" ? <p class="ok" role="status">Synced: {count(ev.result.records)} new records, {ev.result.pushed} edits pushed, {ev.result.conflicts} conflicts.</p> : null}
        {ev?.state === "cancelled" ? <p class="muted" role="status">Stopped; what was pulled stays, the next sync goes on from there.</p> : null}
        <ErrorBox error={error} />
        <button class="secondary" onClick={() => confirm("Unlink this store? The data stays; the token is removed from the keyring.") && run(() => backend.syncUnlink!())}>Unlink</button>
      </Card>
      <Card title="Waiting to push">
        {s.pending.length === 0 ? <p class="muted">Nothing: every local edit is on the server.</p> : (
          <ul>
            {s.pending.map((p) => (
              <li key={p.id}><code>{p.object}</code> — {p.state}{p.last_error ? <span class="bad"> ({p.last_error})</span> : null}</li>
            ))}
          </ul>
        )}
      </Card>
      <Card title="Conflicts" wide>
        {s.conflicts.length === 0 ? <p class="muted">No conflicts.</p> : (
          <table>
            <thead><tr><th scope="col">Object</th><th scope="col">Your edit</th><th scope="col">On the server</th><th scope="col"></th></tr></thead>
            <tbody>
              {s.conflicts.map((c) => (
                <tr key={c.id}>
                  <td><code>{c.object}</code></td>
                  <td class="json">{JSON.stringify(c.local)}</td>
                  <td class="json">{JSON.stringify(c.server)}</td>
                  <td>
                    <button onClick={() => run(() => backend.syncResolve!(c.id, "local"))}>Keep mine</button>{" "}
                    <button class="secondary" onClick={() => run(() => backend.syncResolve!(c.id, "server"))}>Keep the server's</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </>
  );
}
