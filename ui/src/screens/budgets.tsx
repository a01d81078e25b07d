import { useContext, useEffect, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Card, ErrorBox, Loading, Money, useLoad } from "../ui";
import { dateTime, percent } from "../format";
import { budgetForm, overThresholds } from "../state";
import { ApiError, BudgetView } from "../types";
import type { AlertView, ChannelBody } from "../types";

export function Budgets() {
  const { backend, org, info, canEdit } = useContext(AppCtx);
  const data = useLoad(async () => {
    const [status, budgets, alerts] = await Promise.all([backend.budgetStatus(org.slug), backend.budgets(org.slug), backend.alerts(org.slug)]);
    return { status, budgets, alerts };
  }, [org.slug]);
  const [month, setMonth] = useState<string | null>(null);
  const [amount, setAmount] = useState("");
  const [thresholds, setThresholds] = useState("80, 90, 100");
  const [hard, setHard] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  // Thresholds above 100 % were questioned; a second save confirms them.
  const [overConfirmed, setOverConfirmed] = useState<string | null>(null);
  const [question, setQuestion] = useState(false);
  // The form opens with the budget in force this month (its own, or the default).
  useEffect(() => {
    if (!data.data || month !== null) return;
    const { status, budgets } = data.data;
    const source = status.budget_source ?? status.month;
    edit(budgets.find((b) => b.scope === "org" && b.month === source), source);
  }, [data.data]);
  if (data.loading && !data.data) return <Loading what="budgets" />;
  if (data.error) return <ErrorBox error={data.error} />;
  const { status, alerts } = data.data!;
  // The organisation's own budgets; the scopes' are below, in their card.
  const budgets = data.data!.budgets.filter((b) => b.scope === "org");
  const cur = org.currency;
  const target = month ?? status.month;
  const existing: BudgetView | undefined = budgets.find((b) => b.month === target);
  const edit = (b: BudgetView | undefined, m: string) => {
    setMonth(m);
    setAmount(b ? b.amount : "");
    setThresholds(b ? b.thresholds.join(", ") : "80, 90, 100");
    setHard(b ? b.hard_limit : false);
    setSaved(null);
    setError(null);
    setOverConfirmed(null);
  };
  const over = overThresholds(thresholds);
  const save = async (e: Event) => {
    e.preventDefault();
    const f = budgetForm(amount, thresholds, hard);
    if (f.error) return setError(new ApiError("bad_input", f.error, "amount"));
    if (over.length > 0 && overConfirmed !== thresholds) {
      setOverConfirmed(null);
      setError(null);
      setSaved(null);
      setQuestion(true);
      return;
    }
    setQuestion(false);
    try {
      const b = await backend.budgetSet(org.slug, target, f.body!, existing ? existing.version : 0);
      setSaved(`Saved the budget of ${b.month}: ${b.amount} ${b.currency} (version ${b.version})${info.sync?.server ? "; it is pushed to the server with the next sync" : ""}.`);
      setError(null);
      data.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <div class="grid">
      <Card title={`This month (${status.month})`}>
        <p>
          Spent <Money amount={status.spent} currency={cur} testid="budgets-spent" />
          {status.amount ? <> of <Money amount={status.amount} currency={cur} /> ({percent(status.percent)})</> : " — no budget"}
        </p>
        <p class="muted">
          Budget from: {status.budget_source ?? "none"}; reserved by admitted calls: <Money amount={status.reserved} currency={cur} />
        </p>
      </Card>
      {canEdit ? (
        <Card title={existing ? `Edit the budget of ${target}` : `Set a budget for ${target}`}>
          <form onSubmit={save} class="form">
            <label>
              Month
              <input name="month" value={target} onChange={(e) => { const m = (e.target as HTMLInputElement).value.trim(); edit(budgets.find((b) => b.month === m), m); }} placeholder="YYYY-MM or default" />
            </label>
            <label>
              Amount ({cur})
              <input name="amount" inputMode="decimal" value={amount} onInput={(e) => setAmount((e.target as HTMLInputElement).value)} placeholder="1500" required />
            </label>
            <label>
              Alert thresholds (%)
              <input name="thresholds" value={thresholds} onInput={(e) => { setThresholds((e.target as HTMLInputElement).value); setQuestion(false); }} />
            </label>
            <label class="check">
              <input type="checkbox" name="hard_limit" checked={hard} onChange={(e) => setHard((e.target as HTMLInputElement).checked)} />
              Hard limit: refuse calls once the budget is spent
            </label>
            {question ? (
              <div class="warn" role="alert" data-testid="threshold-question">
                <p>
                  {over.map((t) => `${t}%`).join(", ")} {over.length === 1 ? "is" : "are"} above 100 %: {over.length === 1 ? "that alert fires" : "those alerts fire"} only
                  once the budget is overspent. Keep {over.length === 1 ? "it" : "them"}, or change the thresholds?
                </p>
                <button type="button" onClick={(e) => { setOverConfirmed(thresholds); setQuestion(false); (e.currentTarget.closest("form") as HTMLFormElement).requestSubmit(); }}>
                  Save with {over.map((t) => `${t}%`).join(", ")}
                </button>{" "}
                <button type="button" class="secondary" onClick={() => { setQuestion(false); document.querySelector<HTMLInputElement>('input[name="thresholds"]')?.focus(); }}>
                  Change the thresholds
                </button>
              </div>
            ) : (
              <button type="submit">Save budget</button>
            )}
            <ErrorBox error={error} />
            {saved ? <p class="ok" role="status">{saved}</p> : null}
          </form>
        </Card>
      ) : null}
      <Card title="Budgets" wide>
        {budgets.length === 0 ? (
          <p class="muted">No budgets yet. A <code>default</code> budget applies to every month without its own.</p>
        ) : (
          <table>
            <thead>
              <tr><th scope="col">Month</th><th scope="col" class="num">Amount</th><th scope="col">Thresholds</th><th scope="col">Hard limit</th><th scope="col" class="num">Version</th>{canEdit ? <th scope="col"><span class="sr-only">Edit</span></th> : null}</tr>
            </thead>
            <tbody>
              {budgets.map((b) => (
                <tr key={b.month}>
                  <td>{b.month}</td>
                  <td class="num"><Money amount={b.amount} currency={b.currency} /></td>
                  <td>{b.thresholds.map((t) => `${t}%`).join(", ")}</td>
                  <td>{b.hard_limit ? "yes" : "no"}</td>
                  <td class="num">{b.version}</td>
                  {canEdit ? <td><button class="secondary" aria-label={`Edit the budget of ${b.month}`} onClick={() => { edit(b, b.month); document.querySelector<HTMLInputElement>('input[name="amount"]')?.focus(); }}>Edit</button></td> : null}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <ScopedBudgets all={data.data!.budgets} month={status.month} onSaved={data.reload} />
      <Card title="Alerts" wide>
        {alerts.length === 0 ? (
          <p class="muted">No alerts have fired. They fire once per month and threshold when spend reaches it.</p>
        ) : (
          <table>
            <thead>
              <tr><th scope="col">Budget</th><th scope="col">Alert</th><th scope="col" class="num">Spent</th><th scope="col">Fired</th><th scope="col">Acknowledged</th></tr>
            </thead>
            <tbody>
              {alerts.map((a) => (
                <tr key={a.id}>
                  <td>{a.scope === "org" ? "The budget" : <>The budget of <strong>{a.scope}</strong></>} of {a.month}: <Money amount={a.amount} currency={cur} /></td>
                  <td>{alertText(a)}</td>
                  <td class="num"><Money amount={a.spent} currency={cur} /></td>
                  <td>{dateTime(a.fired_at, org.timezone)}</td>
                  <td>
                    {a.acknowledged_at ? (
                      `${dateTime(a.acknowledged_at, org.timezone)} by ${a.acknowledged_by ?? "?"}`
                    ) : canEdit ? (
                      <button aria-label={`Acknowledge the ${a.threshold}% alert of ${a.month}`} onClick={async () => { try { await backend.alertAck(org.slug, a.id); data.reload(); } catch (e) { setError(e as ApiError); } }}>Acknowledge</button>
                    ) : (
                      <span class="muted">not yet</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      {canEdit ? <Channels /> : null}
    </div>
  );
}

/**
 * Where every alert also goes, once each (admins): Slack-compatible
 * webhooks, e-mail and signed webhooks; added, listed without secrets,
 * removed. Sent by the server (or, for a solo store, by this window while it runs).
 */
function Channels() {
  const { backend, org, info } = useContext(AppCtx);
  const list = useLoad(() => backend.channels(org.slug), [org.slug]);
  const [kind, setKind] = useState<ChannelBody["kind"]>("slack");
  const [url, setUrl] = useState("");
  const [to, setTo] = useState("");
  const [smtp, setSmtp] = useState("");
  const [user, setUser] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const linked = backend.kind === "tauri" && info.sync != null;
  const add = async (e: Event) => {
    e.preventDefault();
    const body: ChannelBody = kind === "email"
      ? { kind, to: to.trim(), smtp: smtp.trim(), ...(user.trim() ? { smtp_auth: { user: user.trim() } } : {}) }
      : { kind, url: url.trim() };
    try {
      const c = await backend.channelAdd(org.slug, body);
      setSaved(`Added channel ${c.id}: ${c.kind} to ${c.target}.${c.secret ? ` Its signing secret (shown once): ${c.secret}` : ""}${c.password_env ? ` The SMTP password is read from ${c.password_env} where alerts are sent from.` : ""}`);
      setError(null);
      setUrl(""); setTo(""); setSmtp(""); setUser("");
      list.reload();
    } catch (err) {
      setError(err as ApiError);
      setSaved(null);
    }
  };
  const remove = async (id: number) => {
    try {
      await backend.channelRemove(org.slug, id);
      setSaved(`Removed channel ${id}.`);
      list.reload();
      document.querySelector<HTMLSelectElement>('select[name="channel_kind"]')?.focus();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <Card title="Alert channels" wide>
      {linked ? <p class="muted">This store is linked to a server: its alerts are fired and sent by the server, so channels are added there (in the browser console or with <code>argus-usage alerts channel add</code>).</p> : null}
      {list.error ? <ErrorBox error={list.error} /> : !list.data ? <Loading what="alert channels" /> : list.data.length === 0 ? (
        <p class="muted">No channels yet: alerts show here{backend.kind === "tauri" ? " and as desktop notifications" : ""}. Add a Slack-compatible incoming webhook or an e-mail address to reach people where they are.</p>
      ) : (
        <table data-testid="channels">
          <thead>
            <tr><th scope="col" class="num">Id</th><th scope="col">Kind</th><th scope="col">Sends to</th><th scope="col">Added</th><th scope="col"><span class="sr-only">Remove</span></th></tr>
          </thead>
          <tbody>
            {list.data.map((c) => (
              <tr key={c.id}>
                <td class="num">{c.id}</td>
                <td>{c.kind}</td>
                <td>{c.target}</td>
                <td>{dateTime(c.created_at, org.timezone)}</td>
                <td><button class="secondary" aria-label={`Remove channel ${c.id} (${c.kind} to ${c.target})`} onClick={() => remove(c.id)}>Remove</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form onSubmit={add} class="form" aria-label="Add an alert channel">
        <label>
          Kind
          <select name="channel_kind" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value as ChannelBody["kind"])}>
            <option value="slack">Slack (incoming webhook)</option>
            <option value="email">E-mail (SMTP)</option>
            <option value="webhook">Signed webhook</option>
          </select>
        </label>
        {kind === "email" ? (
          <>
            <label>
              Send to
              <input name="channel_to" type="email" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} placeholder="budgets@example.com" required />
            </label>
            <label>
              SMTP server
              <input name="channel_smtp" value={smtp} onInput={(e) => setSmtp((e.target as HTMLInputElement).value)} placeholder="smtp://mail.example.com:587" required />
            </label>
            <label>
              SMTP user (optional; the password is read from ARGUS_USAGE_SMTP_PASSWORD where alerts are sent from)
              <input name="channel_user" value={user} onInput={(e) => setUser((e.target as HTMLInputElement).value)} placeholder="alerts@example.com" />
            </label>
          </>
        ) : (
          <label>
            Webhook URL
            <input name="channel_url" type="url" value={url} onInput={(e) => setUrl((e.target as HTMLInputElement).value)} placeholder={kind === "slack" ? "https://hooks.slack.com/services/..." : "https://alerts.example.com/argus"} required />
          </label>
        )}
        <button type="submit">Add channel</button>
        <ErrorBox error={error} />
        {saved ? <p class="ok" role="status">{saved}</p> : null}
      </form>
    </Card>
  );
}

/** What an alert says, by its kind. */
export function alertText(a: AlertView): string {
  if (a.kind === "forecast") return `projected to end the month over budget${a.crosses_on ? `, crossing it on ${a.crosses_on}` : ""}`;
  if (a.kind === "spike") return `a spike on ${a.day ?? "a day"}: several times a normal day`;
  return `${a.threshold}% reached`;
}

const SCOPE_KINDS = ["investigation", "user", "operation", "provider", "token"] as const;

/**
 * Budgets of one investigation, user, operation, provider or token: their spend and
 * projection this month, and a form to set one (admins).
 */
function ScopedBudgets({ all, month, onSaved }: { all: BudgetView[]; month: string; onSaved: () => void }) {
  const { backend, org, canEdit } = useContext(AppCtx);
  const scopes = [...new Set(all.filter((b) => b.scope !== "org").map((b) => b.scope))];
  const rows = useLoad(
    () => Promise.all(scopes.map(async (scope) => ({ scope, status: await backend.budgetStatus(org.slug, month, scope), forecast: await backend.forecast(org.slug, month, scope) }))),
    [org.slug, month, scopes.join("\n"), all.map((b) => b.version).join(",")],
  );
  const [kind, setKind] = useState<string>("investigation");
  const [value, setValue] = useState("");
  const [amount, setAmount] = useState("");
  const [thresholds, setThresholds] = useState("80, 90, 100");
  const [hard, setHard] = useState(false);
  const [spike, setSpike] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const cur = org.currency;
  const editScope = (scope: string) => {
    const [k, ...rest] = scope.split(":");
    const b = all.find((x) => x.scope === scope && x.month === "default") ?? all.find((x) => x.scope === scope);
    setKind(k);
    setValue(rest.join(":"));
    setAmount(b?.amount ?? "");
    setThresholds(b ? b.thresholds.join(", ") : "80, 90, 100");
    setHard(b?.hard_limit ?? false);
    setSpike(b?.spike_factor ?? "");
    setSaved(null);
    setError(null);
    document.querySelector<HTMLInputElement>('input[name="scope_value"]')?.focus();
  };
  const save = async (e: Event) => {
    e.preventDefault();
    const f = budgetForm(amount, thresholds, hard);
    if (!value.trim()) return setError(new ApiError("bad_input", `Name the ${kind} this budget is for.`, "scope"));
    if (f.error) return setError(new ApiError("bad_input", f.error, "amount"));
    const scope = `${kind}:${value.trim()}`;
    const existing = all.find((b) => b.scope === scope && b.month === "default");
    try {
      const b = await backend.budgetSet(org.slug, "default", { ...f.body!, spike_factor: spike.trim() ? spike.trim() : null }, existing ? existing.version : 0, scope);
      setSaved(`Saved the budget of ${b.scope}: ${b.amount} ${b.currency} a month (version ${b.version}).`);
      setError(null);
      onSaved();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <Card title="Budgets of investigations, users, operations, providers and tokens" wide>
      {scopes.length === 0 ? (
        <p class="muted">None yet. A budget can cover one investigation, user, operation, provider or token (an API or gateway token, by its name): its calls count against it, and its hard limit refuses only them.</p>
      ) : rows.error ? <ErrorBox error={rows.error} /> : !rows.data ? <Loading what="scoped budgets" /> : (
        <table data-testid="scoped-budgets">
          <thead>
            <tr><th scope="col">Scope</th><th scope="col" class="num">Spent in {month}</th><th scope="col" class="num">Budget</th><th scope="col" class="num">Used</th><th scope="col" class="num">Projected</th><th scope="col">Hard limit</th><th scope="col">Alerts</th>{canEdit ? <th scope="col"><span class="sr-only">Edit</span></th> : null}</tr>
          </thead>
          <tbody>
            {rows.data.map(({ scope, status, forecast }) => (
              <tr key={scope}>
                <td>{scope}</td>
                <td class="num"><Money amount={status.spent} currency={cur} /></td>
                <td class="num">{status.amount ? <Money amount={status.amount} currency={cur} /> : "—"}</td>
                <td class="num">{percent(status.percent)}</td>
                <td class="num">{forecast.enough_data && forecast.projected ? <><Money amount={forecast.projected} currency={cur} />{forecast.crosses_on ? <span class="muted"> (crosses {forecast.crosses_on})</span> : null}</> : <span class="muted">not enough data</span>}</td>
                <td>{status.hard_limit ? (status.blocked ? "yes: blocked" : "yes") : "no"}</td>
                <td>{status.alerts.length === 0 ? <span class="muted">none</span> : status.alerts.map(alertText).join("; ")}</td>
                {canEdit ? <td><button class="secondary" aria-label={`Edit the budget of ${scope}`} onClick={() => editScope(scope)}>Edit</button></td> : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canEdit ? (
        <form onSubmit={save} class="form" aria-label="Set a scoped budget">
          <label>
            Scope
            <select name="scope_kind" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
              {SCOPE_KINDS.map((k) => <option key={k} value={k}>{k}</option>)}
            </select>
          </label>
          <label>
            Which {kind}
            <input name="scope_value" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} placeholder={kind === "investigation" ? "INV-2026-0440" : kind === "user" ? "ann@example.com" : kind === "operation" ? "chat" : kind === "provider" ? "openai" : "gateway-1"} required />
          </label>
          <label>
            Amount a month ({cur})
            <input name="scope_amount" inputMode="decimal" value={amount} onInput={(e) => setAmount((e.target as HTMLInputElement).value)} placeholder="200" required />
          </label>
          <label>
            Alert thresholds (%)
            <input name="scope_thresholds" value={thresholds} onInput={(e) => setThresholds((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            Spike factor
            <input name="scope_spike" inputMode="decimal" value={spike} onInput={(e) => setSpike((e.target as HTMLInputElement).value)} placeholder="off (e.g. 5)" />
          </label>
          <label class="check">
            <input type="checkbox" name="scope_hard_limit" checked={hard} onChange={(e) => setHard((e.target as HTMLInputElement).checked)} />
            Hard limit: refuse this scope's calls once its budget is spent
          </label>
          <button type="submit">Save scoped budget</button>
          <ErrorBox error={error} />
          {saved ? <p class="ok" role="status">{saved}</p> : null}
        </form>
      ) : null}
    </Card>
  );
}
