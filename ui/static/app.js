// The bare window of the foundation: shows this month's spend per
// organisation from the embedded store. The full console replaces it.
"use strict";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function render(status) {
  const main = document.getElementById("main");
  document.getElementById("db").textContent = status.db;
  main.replaceChildren();
  if (status.orgs.length === 0) {
    main.append(el("div", { class: "card" },
      el("h2", {}, "Welcome"),
      el("p", {}, "This store has no organisation yet. Load demo data with ",
        el("code", {}, "argus-usage demo"), ", or import usage with ",
        el("code", {}, "argus-usage ingest FILE"), ", then reopen the window.")));
    return;
  }
  for (const { org, month } of status.orgs) {
    const card = el("section", { class: "card", "data-org": org.slug },
      el("h2", {}, `${org.name} (${org.slug})`),
      el("p", { class: "muted" }, `This month, ${org.timezone}`),
      el("div", { class: "big", "data-testid": "mtd-cost" }, `${month.cost} ${month.currency}`),
      el("p", {}, `${month.requests.toLocaleString()} requests`));
    if (month.unpriced_requests > 0) {
      card.append(el("p", { class: "warn" }, `${month.unpriced_requests} requests are unpriced and not in this total.`));
    }
    const table = el("table", {}, el("tr", {}, el("th", {}, "Provider"), el("th", { class: "num" }, "Requests"), el("th", { class: "num" }, `Cost (${month.currency})`)));
    for (const g of month.groups) {
      table.append(el("tr", {}, el("td", {}, g.key), el("td", { class: "num" }, String(g.requests)), el("td", { class: "num" }, g.cost)));
    }
    card.append(table);
    main.append(card);
  }
}

async function start() {
  const main = document.getElementById("main");
  try {
    const status = await window.__TAURI__.core.invoke("app_status");
    render(status);
  } catch (e) {
    main.replaceChildren(el("div", { class: "card warn" }, `Could not open the store: ${e && e.message ? e.message : JSON.stringify(e)}`));
  }
}

start();
