// Integration: how apps call this gateway — endpoints, the providers and models it serves, the
// request, the SSE events, examples filled in with this gateway's own URL.
import { html, useMemo, useState } from "../vendor/imports.js";
import { api } from "../api.js";
import { GATEWAY_URL } from "../config.js";
import { Badge, Card, CopyButton, Empty, ErrorText, Loading, PanelHeader, Table, useAsync, usePaged } from "../components/ui.js";

function Code({ label, text }) {
  return html`<div class="code-block">
    <div class="code-head"><span class="muted small">${label}</span><${CopyButton} text=${text} label="Copy" /></div>
    <pre><code>${text}</code></pre>
  </div>`;
}

const REQUEST = `{
  "provider": "openai",
  "model": "gpt-4o-mini",
  "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hello"}
  ],
  "max_tokens": 256,
  "temperature": 0.7
}`;

const RESPONSE = `{
  "provider": "openai",
  "model": "gpt-4o-mini",
  "text": "Hello!",
  "usage": {"input_tokens": 12, "output_tokens": 18, "cost_cents": 0.00126},
  "month": {"month": "2026-02", "cap_cents": 2000, "extra_cents": 0, "spent_cents": 1.5,
            "key_cap_cents": 500, "key_spent_cents": 0.2}
}`;

const EVENTS = `event: meta
data: {"provider":"openai","model":"gpt-4o-mini","month":{...}}

event: delta
data: {"text":"Hel"}

event: delta
data: {"text":"lo!"}

event: done
data: {"usage":{"input_tokens":12,"output_tokens":18,"cost_cents":0.00126},"month":{...}}`;

const ERRORS = [
  ["400", "invalid_request / model_not_priced", "a malformed request, or a model without a price"],
  ["401", "unauthorized", "missing, unknown or revoked key; inactive customer"],
  ["402", "cap_exceeded", "the month's allowance (or the key's own cap) is used up"],
  ["403", "provider_not_allowed / model_not_allowed", "outside the key's or customer's allowlist"],
  ["403", "install_id_required / device_limit / device_revoked", "device rules of the key"],
  ["429", "rate_limited", "over the requests-per-minute limit; see Retry-After"],
  ["502 / 504", "upstream_error / upstream_timeout", "the provider failed or was too slow"],
];

export function IntegrationPanel() {
  const base = GATEWAY_URL;
  const catalog = useAsync(loadCatalog, []);
  // The providers a request can name right now: those with an enabled upstream.
  const callable = catalog.data
    ? [...new Set(catalog.data.upstreams.filter((u) => u.enabled).map((u) => u.provider))]
    : ["openai", "anthropic", "gemini"];
  const endpoints = [
    ["POST", "/v1/gateway/chat", "one answer as JSON"],
    ["POST", "/v1/gateway/stream", "the answer as Server-Sent Events"],
    ["POST", "/v1/chat/completions", "OpenAI-compatible (stream and non-stream): the official SDKs work unchanged"],
    ["GET", "/v1/models", "the models this key may use, OpenAI-style"],
    ["POST", "/.netlify/functions/gateway-chat", "alias of /v1/gateway/chat"],
    ["POST", "/.netlify/functions/gateway-stream", "alias of /v1/gateway/stream"],
    ["GET", "/healthz · /readyz · /metrics", "liveness, readiness, Prometheus metrics"],
  ];
  const curlChat = `curl -s ${base}/v1/gateway/chat \\
  -H "Authorization: Bearer $KAIXU_KEY" \\
  -H "Content-Type: application/json" \\
  -H "X-Kaixu-Install-Id: my-laptop" \\
  -d '{"provider": "openai", "model": "gpt-4o-mini",
       "messages": [{"role": "user", "content": "Hello"}]}'`;
  const curlStream = `curl -sN ${base}/v1/gateway/stream \\
  -H "Authorization: Bearer $KAIXU_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"provider": "anthropic", "model": "claude-haiku-4-5",
       "messages": [{"role": "user", "content": "Hello"}]}'`;
  const python = `import os

from openai import OpenAI

client = OpenAI(base_url="${base}/v1", api_key=os.environ["KAIXU_KEY"])

reply = client.chat.completions.create(
    model="gpt-4o-mini",  # or "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"
    messages=[{"role": "user", "content": "Hello"}],
)
print(reply.choices[0].message.content)

for chunk in client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}], stream=True
):
    print(chunk.choices[0].delta.content or "", end="")`;
  const node = `import OpenAI from "openai";

const client = new OpenAI({ baseURL: "${base}/v1", apiKey: process.env.KAIXU_KEY });

const reply = await client.chat.completions.create({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Hello" }],
});
console.log(reply.choices[0].message.content);`;

  return html`
    <${PanelHeader} title="Integration">What to give a customer's developers. Every example below
      already points at this gateway; put one of the customer's keys in <code>KAIXU_KEY</code>.<//>
    <${Card} title="This gateway" id="integration-base-title">
      <div class="base-url"><code data-testid="gateway-url">${base}</code><${CopyButton} text=${base} label="Copy URL" /></div>
      <p class="muted small">Authenticate with <code>${"Authorization: Bearer <key>"}</code> (a master key or a sub-key).
        Apps that run on devices send <code>${"X-Kaixu-Install-Id: <id>"}</code> (1–128 printable characters)
        so seats can be limited and revoked; <code>User-Agent</code> is recorded with the device.</p>
    <//>
    <${Card} title="Endpoints" id="integration-endpoints-title">
      <${Table} label="Endpoints" head=${["Method", "URL", "What"]}>
        ${endpoints.map(([method, path, what]) => html`<tr><td><code>${method}</code></td>
          <td><code class="url">${path.includes("·") ? path : base + path}</code></td><td class="wrap">${what}</td></tr>`)}
      <//>
    <//>
    <${ModelsCard} catalog=${catalog} />
    <${Card} title="The normalized request" id="integration-request-title">
        <p class="muted small">For <code>/v1/gateway/chat</code> and <code>/v1/gateway/stream</code>. <code>provider</code>:
          ${callable.join(", ")} (see “Providers and models”); <code>max_tokens</code> is optional (a server default
          applies); <code>temperature</code> is optional, 0–2.</p>
        <${Code} label="Request body (JSON)" text=${REQUEST} />
        <${Code} label="Chat response (200)" text=${RESPONSE} />
      <//>
      <${Card} title="Streaming: the SSE events" id="integration-sse-title">
        <p class="muted small"><code>/v1/gateway/stream</code> answers <code>text/event-stream</code>:
          one <code>meta</code>, then <code>delta</code> events with text, then <code>done</code> with the usage
          and its exact cost. If the provider fails mid-stream, the last
          event is <code>error</code> (what was consumed is still billed). Errors before the stream starts are plain JSON errors.</p>
        <${Code} label="Events, in order" text=${EVENTS} />
      <//>
    <${Card} title="Examples" id="integration-examples-title">
      <${Code} label="curl: one answer" text=${curlChat} />
      <${Code} label="curl: streamed" text=${curlStream} />
      <${Code} label="Python, official OpenAI SDK" text=${python} />
      <${Code} label="JavaScript, official OpenAI SDK" text=${node} />
    <//>
    <${Card} title="Errors" id="integration-errors-title">
      <p class="muted small">Every error is JSON: <code>{"error": {"type": "…", "message": "…"}}</code>;
        on <code>/v1/chat/completions</code> in OpenAI's shape, so SDKs raise their usual exceptions.</p>
      <${Table} label="Error types" head=${["Status", "Type", "When"]}>
        ${ERRORS.map(([status, type, when]) => html`<tr><td>${status}</td><td><code>${type}</code></td><td class="wrap">${when}</td></tr>`)}
      <//>
    <//>
  `;
}

async function loadCatalog() {
  const [pricing, upstreams] = await Promise.all([api("GET", "/pricing"), api("GET", "/upstreams")]);
  return { prices: pricing.prices, upstreams: upstreams.upstreams };
}

function serves(upstream, model) {
  if (!upstream.models) return true;
  return upstream.models.some((p) => (p.endsWith("*") ? model.startsWith(p.slice(0, -1)) : model === p));
}

/**
 * Every priced model with the id apps put in `model`, and which enabled upstreams answer it: a
 * priced model nothing serves cannot be called (it is not in /v1/models either).
 */
function ModelsCard({ catalog }) {
  const [filter, setFilter] = useState("");
  const rows = useMemo(() => {
    if (!catalog.data) return [];
    const { prices, upstreams } = catalog.data;
    const needle = filter.trim().toLowerCase();
    return prices
      .map((p) => ({
        id: `${p.provider}/${p.model}`,
        provider: p.provider,
        servedBy: upstreams.filter((u) => u.enabled && u.provider === p.provider && serves(u, p.model)),
      }))
      .filter((row) => !needle || row.id.toLowerCase().includes(needle));
  }, [catalog.data, filter]);
  const paged = usePaged(rows, 25);
  const search = html`<div class="search"><label for="models-filter" class="visually-hidden">Filter models</label>
    <input id="models-filter" type="search" placeholder="Filter by provider or model" value=${filter}
      onInput=${(e) => { setFilter(e.target.value); paged.reset(); }} /></div>`;

  return html`<${Card} title="Providers and models" id="integration-models-title" actions=${search}>
    <p class="muted small">On <code>/v1/chat/completions</code> a model is named <code>provider/model</code>, as
      <code>/v1/models</code> lists it (a bare name works when a single provider prices it); the native
      routes take the two apart. Upstreams are set in <a href="#upstreams">Upstreams</a>, prices in
      <a href="#pricing">Pricing</a>.</p>
    <${ErrorText} error=${catalog.error} />
    ${!catalog.data ? !catalog.error && html`<${Loading} />`
      : rows.length ? html`<${Table} label="Models" head=${["Model id", "Provider", "Served by"]}>
          ${paged.rows.map((row) => html`<tr data-model=${row.id}>
            <td><code>${row.id}</code></td>
            <td>${row.provider}</td>
            <td class="wrap">${row.provider === "demo" ? html`<span class="muted">the gateway itself, when in demo mode</span>`
              : row.servedBy.length ? row.servedBy.map((u) => u.label || u.provider).join(", ")
              : html`<${Badge} kind="warn">no enabled upstream<//> <span class="muted small">cannot be called</span>`}</td>
          </tr>`)}
        <//>${paged.pager}`
      : html`<${Empty} title="No priced model matches." />`}
  <//>`;
}
