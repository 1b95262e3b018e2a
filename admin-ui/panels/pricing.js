// Pricing: the price table (USD per 1M tokens) — view it, edit it, save it whole (PUT).
import { html, useMemo, useState } from "../vendor/imports.js";
import { api } from "../api.js";
import { formatUsd, usdText } from "../format.js";
import { Button, Card, Empty, ErrorText, Loading, PanelHeader, Success, Table, Time, useAction, useAsync, usePaged } from "../components/ui.js";
import { can } from "../roles.js";
import { AliasesCard, ImportCard } from "./price-import.js";

const PRICE_FIELDS = [
  ["input", "Input"],
  ["output", "Output"],
  ["cached_input", "Cached input"],
  ["cache_write", "Cache write (5 min)"],
  ["cache_write_1h", "Cache write (1 h)"],
  ["reasoning_output", "Reasoning output"],
  ["long_input", "Long input"],
  ["long_output", "Long output"],
  ["long_cached_input", "Long cached input"],
  ["long_cache_write", "Long cache write (5 min)"],
  ["long_cache_write_1h", "Long cache write (1 h)"],
];
const SHORT = 6; // the first SHORT prices apply below the long-context threshold
const REQUIRED = new Set(["input", "output"]);

function toRow(price) {
  const row = { provider: price.provider, model: price.model, long_context_threshold: price.long_context_threshold ? String(price.long_context_threshold) : "" };
  for (const [field] of PRICE_FIELDS) row[field] = usdText(price[field]);
  return row;
}

/** A form row to the API's price object; messages name the row the operator sees. */
function fromRow(row, index) {
  const where = `Row ${index + 1} (${row.provider || "?"}/${row.model || "?"})`;
  const price = { provider: row.provider.trim(), model: row.model.trim() };
  for (const [field, label] of PRICE_FIELDS) {
    const text = row[field].trim().replace(/^\$/, "");
    if (text === "") {
      if (REQUIRED.has(field)) throw new Error(`${where}: ${label} is required.`);
      price[field] = null;
    } else if (!/^\d+(\.\d+)?$/.test(text)) {
      throw new Error(`${where}: ${label} must be a price in USD per 1M tokens, like 0.15.`);
    } else {
      price[field] = Number(text);
    }
  }
  const threshold = row.long_context_threshold.trim();
  if (threshold && !/^\d+$/.test(threshold)) throw new Error(`${where}: the long-context threshold must be a whole number of tokens.`);
  price.long_context_threshold = threshold ? Number(threshold) : null;
  return price;
}

/** The API's "prices[3].input …" pointed at the row as shown ("row 4: openai/gpt-4o"). */
function explain(error, rows) {
  const match = error && error.param && /^prices\[(\d+)\]/.exec(error.param);
  if (!match || !rows[Number(match[1])]) return error;
  const row = rows[Number(match[1])];
  const explained = new Error(`${error.message} (row ${Number(match[1]) + 1}: ${row.provider}/${row.model})`);
  return explained;
}

export function PricingPanel() {
  const prices = useAsync(() => api("GET", "/pricing"), []);
  const [editing, setEditing] = useState(null); // the rows being edited, or null
  const [filter, setFilter] = useState("");
  const [saved, setSaved] = useState("");
  const action = useAction();
  const all = (prices.data && prices.data.prices) || [];
  const shown = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    return needle ? all.filter((p) => `${p.provider}/${p.model}`.toLowerCase().includes(needle)) : all;
  }, [all, filter]);
  const paged = usePaged(shown, 50);

  const setCell = (index, field, value) =>
    setEditing(editing.map((row, i) => (i === index ? { ...row, [field]: value } : row)));
  const save = (event) => {
    event.preventDefault();
    setSaved("");
    action.run(async () => {
      const body = { prices: editing.map(fromRow) };
      try {
        await api("PUT", "/pricing", body);
      } catch (error) {
        throw explain(error, body.prices);
      }
      setEditing(null);
      setSaved(`Saved ${body.prices.length} prices. New requests are billed with them at once.`);
      prices.reload();
    });
  };

  const tools = editing || !can("owner")
    ? null
    : html`<button type="button" class="primary" disabled=${!prices.data}
        onClick=${() => { setSaved(""); action.setError(null); setEditing(all.map(toRow)); }}>Edit prices</button>`;

  return html`
    <${PanelHeader} title="Pricing" tools=${tools}>
      What each model costs, in US dollars per 1 million tokens. A model without a price cannot be
      called (400 model_not_priced).<//>
    <${Success}>${saved}<//>
    <${ErrorText} error=${prices.error} />
    ${!prices.data ? html`<${Loading} />` : editing ? html`
      <form onSubmit=${save}>
        <${Card} title="Edit the price table" id="pricing-edit-title">
          <p class="muted small">Saving replaces the whole table. Long-context prices apply to requests
            whose input exceeds the threshold; leave them all empty when a model has none. An empty
            price falls back: cached input and cache writes to input, a 1-hour write to the 5-minute
            one, reasoning output to output.</p>
          <${Table} label="Price table (editing)" className="edit-table"
            head=${["Provider", "Model", ...PRICE_FIELDS.slice(0, SHORT).map(([, l]) => l), "Long-context threshold", ...PRICE_FIELDS.slice(SHORT).map(([, l]) => l), ""]}>
            ${editing.map((row, i) => html`<tr>
              <td><input aria-label=${`Row ${i + 1} provider`} value=${row.provider} onInput=${(e) => setCell(i, "provider", e.target.value)} class="narrow" /></td>
              <td><input aria-label=${`Row ${i + 1} model`} value=${row.model} onInput=${(e) => setCell(i, "model", e.target.value)} /></td>
              ${PRICE_FIELDS.slice(0, SHORT).map(([field, label]) => priceInput(row, i, field, label, setCell))}
              <td><input aria-label=${`${row.model || `Row ${i + 1}`} long-context threshold`} inputmode="numeric" class="narrow"
                value=${row.long_context_threshold} onInput=${(e) => setCell(i, "long_context_threshold", e.target.value)} /></td>
              ${PRICE_FIELDS.slice(SHORT).map(([field, label]) => priceInput(row, i, field, label, setCell))}
              <td><button type="button" class="secondary small" aria-label=${`Remove ${row.provider}/${row.model}`}
                onClick=${() => setEditing(editing.filter((_, j) => j !== i))}>Remove</button></td>
            </tr>`)}
          <//>
          <div class="form-actions">
            <button type="button" class="secondary"
              onClick=${() => setEditing([...editing, toRow({ provider: "", model: "" })])}>Add a row</button>
            <${Button} type="submit" kind="primary" busy=${action.busy} busyLabel="Saving…">Save price table<//>
            <button type="button" class="secondary" onClick=${() => { setEditing(null); action.setError(null); }}>Cancel</button>
          </div>
          <${ErrorText} error=${action.error} />
        <//>
      </form>`
    : html`
      <${Card} title=${`${all.length} priced models`} id="pricing-title"
        actions=${html`<div class="search"><label for="pricing-filter" class="visually-hidden">Filter models</label>
          <input id="pricing-filter" type="search" placeholder="Filter by provider or model" value=${filter}
            onInput=${(e) => { setFilter(e.target.value); paged.reset(); }} /></div>`}>
        ${shown.length ? html`<${Table} label="Price table"
            head=${["Provider", "Model", ...PRICE_FIELDS.slice(0, SHORT).map(([, l]) => l), "Long-context threshold", ...PRICE_FIELDS.slice(SHORT).map(([, l]) => l), "Updated"]}>
            ${paged.rows.map((p) => html`<tr data-model=${`${p.provider}/${p.model}`}>
              <td>${p.provider}</td><td>${p.model}</td>
              ${PRICE_FIELDS.slice(0, SHORT).map(([field]) => html`<td class="num">${formatUsd(p[field])}</td>`)}
              <td class="num">${p.long_context_threshold ? `${p.long_context_threshold.toLocaleString("en-US")} tokens` : "—"}</td>
              ${PRICE_FIELDS.slice(SHORT).map(([field]) => html`<td class="num">${formatUsd(p[field])}</td>`)}
              <td><${Time} iso=${p.updated_at} /></td>
            </tr>`)}
          <//>${paged.pager}`
          : html`<${Empty} title="No prices match." />`}
      <//>
      <${AliasesCard} prices=${all} />
      ${can("owner") && html`<${ImportCard} onApplied=${(message) => { setSaved(message); prices.reload(); }} />`}`}
  `;
}

function priceInput(row, index, field, label, setCell) {
  return html`<td><input aria-label=${`${row.model || `Row ${index + 1}`} ${label.toLowerCase()} price`} inputmode="decimal" class="narrow"
    value=${row[field]} onInput=${(e) => setCell(index, field, e.target.value)} /></td>`;
}
