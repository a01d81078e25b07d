import { useContext, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Empty, ErrorBox, Loading, useLoad } from "../ui";
import { dateTime } from "../format";

export function Audit() {
  const { backend, org } = useContext(AppCtx);
  const [cursors, setCursors] = useState<number[]>([0]);
  const after = cursors[cursors.length - 1];
  const page = useLoad(() => backend.audit(org.slug, after, 100), [org.slug, after]);
  if (page.loading && !page.data) return <Loading what="the audit log" />;
  if (page.error) return <ErrorBox error={page.error} />;
  const entries = page.data!.entries;
  const show = (v: unknown) => (v === null || v === undefined ? "" : JSON.stringify(v));
  return (
    <section aria-label="audit log">
      {entries.length === 0 ? (
        <Empty>No entries yet. Every change of configuration, prices and budgets is written here with who made it.</Empty>
      ) : (
        <table class="audit">
          <thead>
            <tr><th scope="col" class="num">#</th><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Object</th><th scope="col">Before</th><th scope="col">After</th></tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.id}>
                <td class="num">{e.id}</td>
                <td>{dateTime(e.at, org.timezone)}</td>
                <td>{e.actor}</td>
                <td>{e.action}</td>
                <td>{e.object}</td>
                <td class="json">{show(e.before)}</td>
                <td class="json">{show(e.after)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="pager">
        <button disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>← Previous</button>
        <button disabled={!page.data!.has_more} onClick={() => setCursors([...cursors, page.data!.next_after ?? after])}>Next →</button>
      </div>
    </section>
  );
}
