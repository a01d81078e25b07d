import { useContext, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Card, ErrorBox, Loading, Money, useLoad } from "../ui";
import { dateTime, percent } from "../format";
import { budgetForm } from "../state";
import { ApiError, BudgetView } from "../types";

export function Budgets() {
  const { backend, org, info } = useContext(AppCtx);
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
  if (data.loading && !data.data) return <Loading what="budgets" />;
  if (data.error) return <ErrorBox error={data.error} />;
  const { status, budgets, alerts } = data.data!;
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
  };
  const save = async (e: Event) => {
    e.preventDefault();
    const f = budgetForm(amount, thresholds, hard);
    if (f.error) return setError(new ApiError("bad_input", f.error, "amount"));
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
            <input name="thresholds" value={thresholds} onInput={(e) => setThresholds((e.target as HTMLInputElement).value)} />
          </label>
          <label class="check">
            <input type="checkbox" name="hard_limit" checked={hard} onChange={(e) => setHard((e.target as HTMLInputElement).checked)} />
            Hard limit: refuse calls once the budget is spent
          </label>
          <button type="submit">Save budget</button>
          <ErrorBox error={error} />
          {saved ? <p class="ok" role="status">{saved}</p> : null}
        </form>
      </Card>
      <Card title="Budgets" wide>
        {budgets.length === 0 ? (
          <p class="muted">No budgets yet. A <code>default</code> budget applies to every month without its own.</p>
        ) : (
          <table>
            <thead>
              <tr><th scope="col">Month</th><th scope="col" class="num">Amount</th><th scope="col">Thresholds</th><th scope="col">Hard limit</th><th scope="col" class="num">Version</th><th scope="col"></th></tr>
            </thead>
            <tbody>
              {budgets.map((b) => (
                <tr key={b.month}>
                  <td>{b.month}</td>
                  <td class="num"><Money amount={b.amount} currency={b.currency} /></td>
                  <td>{b.thresholds.map((t) => `${t}%`).join(", ")}</td>
                  <td>{b.hard_limit ? "yes" : "no"}</td>
                  <td class="num">{b.version}</td>
                  <td><button class="secondary" onClick={() => edit(b, b.month)}>Edit</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <Card title="Alerts" wide>
        {alerts.length === 0 ? (
          <p class="muted">No alerts have fired. They fire once per month and threshold when spend reaches it.</p>
        ) : (
          <table>
            <thead>
              <tr><th scope="col">Month</th><th scope="col" class="num">Threshold</th><th scope="col" class="num">Spent</th><th scope="col" class="num">Budget</th><th scope="col">Fired</th><th scope="col">Acknowledged</th></tr>
            </thead>
            <tbody>
              {alerts.map((a) => (
                <tr key={a.id}>
                  <td>{a.month}</td>
                  <td class="num">{a.threshold}%</td>
                  <td class="num"><Money amount={a.spent} currency={cur} /></td>
                  <td class="num"><Money amount={a.amount} currency={cur} /></td>
                  <td>{dateTime(a.fired_at, org.timezone)}</td>
                  <td>
                    {a.acknowledged_at ? (
                      `${dateTime(a.acknowledged_at, org.timezone)} by ${a.acknowledged_by ?? "?"}`
                    ) : (
                      <button onClick={async () => { try { await backend.alertAck(org.slug, a.id); data.reload(); } catch (e) { setError(e as ApiError); } }}>Acknowledge</button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}
