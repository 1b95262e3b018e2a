// The form that adds an upstream or (with `editing`) changes one: the key is typed into a
// password field and never comes back; extra headers are name/value rows.
import { html, useEffect, useId, useRef, useState } from "../vendor/imports.js";
import { api } from "../api.js";
import { listText, parseList } from "../format.js";
import { Checkbox, Field } from "../components/fields.js";
import { WIRE_APIS, defaultApi } from "../components/providers.js";
import { Button, Card, ErrorText, useAction } from "../components/ui.js";

// What a base URL looks like for each wire format (the gateway appends the API's own path).
const BASE_URL_EXAMPLES = {
  openai: "https://api.groq.com/openai/v1",
  anthropic: "https://api.anthropic.com",
  gemini: "https://generativelanguage.googleapis.com",
};
const NO_HEADER = { name: "", value: "" };

function initialForm(upstream) {
  if (!upstream) {
    return {
      provider: "", api: null, base_url: "", api_key: "", label: "", models: "", priority: "0",
      weight: "1", enabled: true, headers: [], replaceHeaders: false,
    };
  }
  return {
    provider: upstream.provider, api: upstream.api, base_url: upstream.base_url, api_key: "",
    label: upstream.label || "", models: listText(upstream.models), priority: String(upstream.priority),
    weight: String(upstream.weight), enabled: upstream.enabled, headers: [], replaceHeaders: false,
  };
}

function wholeNumber(text, label) {
  const cleaned = String(text).trim();
  if (!/^-?\d+$/.test(cleaned)) throw new Error(`${label} must be a whole number.`);
  return Number(cleaned);
}

/** The header rows as the API's object; rows left blank are dropped. */
function headerObject(rows) {
  const headers = {};
  rows.forEach((row, i) => {
    const name = row.name.trim();
    if (!name && !row.value) return;
    if (!name) throw new Error(`Extra header ${i + 1} needs a name.`);
    headers[name] = row.value;
  });
  return headers;
}

/** Every field of the form as the API names them (the key and headers apart). */
function fields(form) {
  return {
    provider: form.provider.trim(),
    api: form.api || defaultApi(form.provider.trim()),
    base_url: form.base_url.trim(),
    label: form.label.trim(),
    models: parseList(form.models),
    priority: wholeNumber(form.priority, "The priority"),
    weight: wholeNumber(form.weight, "The weight"),
    enabled: form.enabled,
  };
}

/** A PATCH body: only what changed, so the audit log shows the real change. */
function changes(upstream, wanted) {
  return Object.fromEntries(
    Object.entries(wanted).filter(([name, value]) => JSON.stringify(value) !== JSON.stringify(upstream[name] ?? null)),
  );
}

export function UpstreamForm({ editing, providers, onSaved, onCancel }) {
  const [form, setForm] = useState(() => initialForm(editing));
  const [nothing, setNothing] = useState(false);
  const action = useAction();
  const ref = useRef(null);
  const listId = useId();
  const set = (name) => (event) => setForm({ ...form, [name]: event.target.value });
  const storedHeaders = editing ? editing.header_names : [];
  const headersOpen = !storedHeaders.length || form.replaceHeaders;
  const wire = form.api || defaultApi(form.provider.trim());
  // The field the API's 400 names (base_url, headers.X…) is marked invalid.
  const param = action.error && action.error.param ? action.error.param.split(/[.[]/)[0] : null;
  const invalid = (name) => (param === name ? "true" : undefined);

  useEffect(() => {
    // Editing starts from a row far up the table: focusing the first field scrolls to it.
    if (editing && ref.current) ref.current.querySelector("input").focus();
  }, [editing && editing.id]);

  const submit = (event) => {
    event.preventDefault();
    setNothing(false);
    action.run(async () => {
      const wanted = fields(form);
      const headers = headersOpen ? headerObject(form.headers) : null;
      let result;
      if (editing) {
        const body = changes(editing, wanted);
        // A renamed provider would get its own default API unless the shown one is sent.
        if (body.provider) body.api = wanted.api;
        if (form.api_key) body.api_key = form.api_key;
        // With headers stored, ticking "replace" and leaving no rows removes them all.
        if (headers && (form.replaceHeaders || Object.keys(headers).length)) body.headers = headers;
        if (!Object.keys(body).length) {
          setNothing(true);
          return;
        }
        result = await api("PATCH", `/upstreams/${encodeURIComponent(editing.id)}`, body);
      } else {
        const body = { ...wanted, api_key: form.api_key };
        if (headers && Object.keys(headers).length) body.headers = headers;
        result = await api("POST", "/upstreams", body);
        setForm(initialForm(null)); // the key leaves the page with the form's state
      }
      onSaved(result.upstream);
    });
  };

  const title = editing ? `Edit upstream ${editing.provider} (…${editing.key_last4})` : "Add an upstream";
  return html`<div ref=${ref}><${Card} title=${title} id="upstream-form-title">
    <form class="form-grid" onSubmit=${submit}>
      <${Field} label="Provider" value=${form.provider} onInput=${set("provider")} list=${listId}
        placeholder="e.g. groq" autocomplete="off" spellcheck="false" aria-invalid=${invalid("provider")}
        hint="The name calls use: provider in /v1/gateway/chat, groq/… as a model on /v1/chat/completions. Lowercase a–z, 0–9, - and _." />
      <datalist id=${listId}>${providers.map((name) => html`<option value=${name} />`)}</datalist>
      <${Field} as="select" label="Wire API" value=${wire} aria-invalid=${invalid("api")}
        onChange=${(event) => setForm({ ...form, api: event.target.value })}
        hint="The format the upstream speaks. OpenAI-compatible servers (Groq, Together, vLLM, Azure…) speak openai.">
        ${WIRE_APIS.map((name) => html`<option value=${name}>${name}</option>`)}
      <//>
      <${Field} label="Base URL" value=${form.base_url} onInput=${set("base_url")} inputmode="url"
        placeholder=${BASE_URL_EXAMPLES[wire]} autocomplete="off" spellcheck="false" aria-invalid=${invalid("base_url")}
        hint=${wire === "openai" ? "Up to the API's version, e.g. …/v1: the gateway adds /chat/completions." : "The API's root: the gateway adds the rest of the path."} />
      <${Field} label="API key" type="password" value=${form.api_key} onInput=${set("api_key")}
        autocomplete="new-password" spellcheck="false" aria-invalid=${invalid("api_key")}
        placeholder=${editing ? `Empty: keep …${editing.key_last4}` : ""}
        hint=${editing
          ? `A new key replaces …${editing.key_last4}; it is never shown again either.`
          : "Stored sealed. It is never shown again, not even here: the list shows only its last 4 characters."} />
      <${Field} label="Label" value=${form.label} onInput=${set("label")} placeholder="e.g. Groq, team account"
        aria-invalid=${invalid("label")} hint="For operators only: tells this upstream from the provider's others." />
      <${Field} label="Models" value=${form.models} onInput=${set("models")} placeholder="All models"
        spellcheck="false" aria-invalid=${invalid("models")}
        hint="Comma-separated; a trailing * matches a prefix (llama-*). Empty: every model of the provider." />
      <${Field} label="Priority" value=${form.priority} onInput=${set("priority")} inputmode="numeric"
        aria-invalid=${invalid("priority")} hint="−1000 to 1000. The lowest priority is tried first; the next ones if it fails." />
      <${Field} label="Weight" value=${form.weight} onInput=${set("weight")} inputmode="numeric"
        aria-invalid=${invalid("weight")} hint="1 to 1000: its share of the calls among upstreams of the same priority." />
      <${Checkbox} label="Enabled" checked=${form.enabled} onChange=${(enabled) => setForm({ ...form, enabled })}
        hint="A disabled upstream gets no calls; the provider's other upstreams answer them." />
      <${HeadersField} form=${form} setForm=${setForm} stored=${storedHeaders} open=${headersOpen}
        invalid=${invalid("headers")} />
      <div class="form-actions">
        <${Button} type="submit" kind="primary" busy=${action.busy} busyLabel="Saving…">${editing ? "Save upstream" : "Add upstream"}<//>
        ${editing && html`<button type="button" class="secondary" onClick=${onCancel}>Cancel</button>`}
        <${ErrorText} error=${action.error} />
        ${nothing && html`<p class="muted" role="status">Nothing changed.</p>`}
      </div>
    </form>
  <//></div>`;
}

/** Extra headers as name/value rows; when editing, stored ones are kept unless replaced. */
function HeadersField({ form, setForm, stored, open, invalid }) {
  const rows = form.headers;
  const setRow = (index, part, value) =>
    setForm({ ...form, headers: rows.map((row, i) => (i === index ? { ...row, [part]: value } : row)) });
  return html`<fieldset class="field headers">
    <legend>Extra headers</legend>
    ${stored.length > 0 && html`<p class="small">Stored: ${stored.map((name) => html`<code>${name}</code> `)}
      <span class="muted">(values are never shown)</span></p>
      <label class="check"><input type="checkbox" checked=${form.replaceHeaders}
        onChange=${(event) => setForm({ ...form, replaceHeaders: event.target.checked, headers: [] })} />
        Replace the stored headers</label>`}
    ${open && html`
      ${rows.map((row, i) => html`<div class="header-row">
        <input aria-label=${`Header ${i + 1} name`} value=${row.name} placeholder="Name, e.g. api-key"
          spellcheck="false" autocomplete="off" aria-invalid=${invalid} onInput=${(e) => setRow(i, "name", e.target.value)} />
        <input aria-label=${`Header ${i + 1} value`} value=${row.value} placeholder="Value, e.g. {api_key}"
          spellcheck="false" autocomplete="off" aria-invalid=${invalid} onInput=${(e) => setRow(i, "value", e.target.value)} />
        <button type="button" class="secondary small" aria-label=${`Remove header ${i + 1}`}
          onClick=${() => setForm({ ...form, headers: rows.filter((_, j) => j !== i) })}>Remove</button>
      </div>`)}
      <div><button type="button" class="secondary small"
        onClick=${() => setForm({ ...form, headers: [...rows, NO_HEADER] })}>Add a header</button></div>
      <p class="hint">The value <code>{api_key}</code> stands for the key and sends it in that header
        instead of the usual one (Azure: <code>api-key</code> = <code>{api_key}</code>). Values are
        sealed like the key and never shown again.${stored.length ? " No rows: the stored headers are removed." : ""}</p>`}
  </fieldset>`;
}
