import { useContext, useEffect, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Card, ErrorBox, Loading, Money, useLoad } from "../ui";
import { dateTime, percent } from "../format";
import { budgetForm, overThresholds } from "../state";
import { ApiError, BudgetView } from "../types";

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
    edit(budgets.find((b) => b.month === source), source);
  }, [data.data]);
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
                  <td>The budget of {a.month}: <Money amount={a.amount} currency={cur} /></td>
                  <td>{a.threshold}% reached</td>
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
    </div>
  );
}
