// The Pricing panel's import (a price file: our CSV or LiteLLM's community JSON, previewed as
// what it adds and changes, applied only when confirmed) and its model aliases.
import { html, useState } from "../vendor/imports.js";
import { api, sendFile } from "../api.js";
import { formatUsd } from "../format.js";
import { Field } from "../components/fields.js";
import { Button, Card, Empty, ErrorText, Success, Table, useAction, useAsync } from "../components/ui.js";
import { can } from "../roles.js";

const SHOWN = ["input", "output", "cached_input", "cache_write", "cache_write_1h", "long_context_threshold"];

function changedFields(before, after) {
  return Object.keys(after).filter((name) => name !== "updated_at" && before[name] !== after[name]);
}

function value(name, price) {
  return name === "long_context_threshold" ? (price[name] ? price[name].toLocaleString("en-US") : "—") : formatUsd(price[name]);
}

export function ImportCard({ onApplied }) {
  const [file, setFile] = useState(null);
  const [preview, setPreview] = useState(null);
  const action = useAction();
  const check = (event) => {
    event.preventDefault();
    action.run(async () => {
      if (!file) throw new Error("Choose a price file first.");
      setPreview(await sendFile("POST", "/pricing/import", file));
    });
  };
  const apply = () =>
    action.run(async () => {
      const done = await sendFile("POST", `/pricing/import?confirm=${encodeURIComponent(preview.digest)}`, file);
      setPreview(null);
      setFile(null);
      onApplied(`Imported ${file.name}: ${done.added.length} added, ${done.changed.length} changed. Every gateway process bills with them within a second.`);
    });
  const nothing = preview && !preview.added.length && !preview.changed.length;
  return html`<${Card} title="Import a price file" id="price-import-title">
    <p class="muted small">The project's CSV (<code>python -m proxy prices export</code> writes one) or the community
      price map most gateways use (LiteLLM's <code>model_prices_and_context_window.json</code>). Nothing changes
      until you confirm what it adds and changes; models it does not name keep their prices.</p>
    <form class="toolbar" onSubmit=${check}>
      <div class="field inline"><label for="price-file">Price file</label>
        <input id="price-file" type="file" accept=".csv,.json,text/csv,application/json"
          onChange=${(e) => { setFile(e.target.files[0] || null); setPreview(null); }} /></div>
      <${Button} type="submit" kind="secondary" busy=${action.busy && !preview} busyLabel="Reading…">Preview<//>
    </form>
    <${ErrorText} error=${action.error} />
    ${preview && html`<section aria-label="Import preview" data-testid="import-preview">
      <p><strong>${preview.added.length}</strong> added, <strong>${preview.changed.length}</strong> changed,
        ${preview.unchanged} unchanged, ${preview.skipped} skipped (other providers, or not chat models).</p>
      ${preview.warnings.map((w) => html`<p class="warning small">${w}</p>`)}
      ${preview.added.length > 0 && html`<${Table} label="Added" head=${["Added", "Input", "Output", "Cached input", "Cache write (5 min)", "Cache write (1 h)", "Long above"]}>
        ${preview.added.map((p) => html`<tr><td>${p.provider}/${p.model}</td>${SHOWN.map((n) => html`<td class="num">${value(n, p)}</td>`)}</tr>`)}
      <//>`}
      ${preview.changed.length > 0 && html`<${Table} label="Changed" head=${["Changed", "What", "Before", "After"]}>
        ${preview.changed.flatMap(({ before, after }) => changedFields(before, after).map((name) => html`<tr>
          <td>${after.provider}/${after.model}</td><td>${name}</td>
          <td class="num">${value(name, before)}</td><td class="num">${value(name, after)}</td></tr>`))}
      <//>`}
      ${nothing ? html`<${Empty} title="Nothing to import: the table has these prices already." />`
        : html`<div class="form-actions">
          <${Button} kind="primary" busy=${action.busy} busyLabel="Importing…" onClick=${apply}>Apply ${preview.added.length + preview.changed.length} changes<//>
          <button type="button" class="secondary" onClick=${() => setPreview(null)}>Cancel</button></div>`}
    </section>`}
  <//>`;
}

export function AliasesCard({ prices }) {
  const aliases = useAsync(() => api("GET", "/pricing/aliases"), []);
  const [form, setForm] = useState({ provider: "", alias: "", model: "" });
  const [notice, setNotice] = useState("");
  const action = useAction();
  const rows = (aliases.data && aliases.data.aliases) || [];
  const add = (event) => {
    event.preventDefault();
    action.run(async () => {
      await api("POST", "/pricing/aliases", { ...form, provider: form.provider.trim(), alias: form.alias.trim(), model: form.model.trim() });
      setNotice(`${form.provider}/${form.alias} is billed as ${form.model}.`);
      setForm({ provider: "", alias: "", model: "" });
      aliases.reload();
    });
  };
  const remove = (a) =>
    action.run(async () => {
      await api("DELETE", `/pricing/aliases/${encodeURIComponent(a.provider)}/${encodeURIComponent(a.alias)}`);
      setNotice(`${a.provider}/${a.alias} is no longer an alias.`);
      aliases.reload();
    });
  return html`<${Card} title="Model aliases" id="aliases-title">
    <p class="muted small">A name billed as another, priced model of the same provider. Dated snapshots
      (<code>…-2025-08-07</code>, <code>…-20250929</code>, <code>…-001</code>) and <code>…-latest</code> find their
      base model by themselves; add an alias for any other name a provider answers with.</p>
    <${Success}>${notice}<//>
    <${ErrorText} error=${aliases.error || action.error} />
    ${rows.length ? html`<${Table} label="Model aliases" head=${["Provider", "Alias", "Billed as", "From", ""]}>
        ${rows.map((a) => html`<tr data-alias=${`${a.provider}/${a.alias}`}>
          <td>${a.provider}</td><td><code>${a.alias}</code></td><td><code>${a.model}</code></td>
          <td>${a.shipped ? "shipped" : "operator"}</td>
          <td>${can("owner") && html`<button type="button" class="secondary small" aria-label=${`Remove alias ${a.provider}/${a.alias}`}
            disabled=${action.busy} onClick=${() => remove(a)}>Remove</button>`}</td></tr>`)}
      <//>` : html`<${Empty} title="No aliases." />`}
    ${can("owner") && html`<form class="form-grid" onSubmit=${add}>
      <${Field} label="Alias provider" value=${form.provider} onInput=${(e) => setForm({ ...form, provider: e.target.value })} placeholder="anthropic" />
      <${Field} label="Alias" value=${form.alias} onInput=${(e) => setForm({ ...form, alias: e.target.value })} placeholder="claude-sonnet-latest" />
      <${Field} label="Billed as" value=${form.model} onInput=${(e) => setForm({ ...form, model: e.target.value })}
        list="priced-models" placeholder="claude-sonnet-4-5" />
      <datalist id="priced-models">${prices.map((p) => html`<option value=${p.model} />`)}</datalist>
      <div class="form-actions"><${Button} type="submit" kind="secondary" busy=${action.busy} busyLabel="Adding…">Add alias<//></div>
    </form>`}
  <//>`;
}
