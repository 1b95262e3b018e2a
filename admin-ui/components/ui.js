// Shared building blocks: async state hooks, buttons with progress, errors, tables, paging,
// the show-once secret, confirmation dialogs and copy buttons. Everything renders as text.
import { html, useEffect, useMemo, useRef, useState } from "../vendor/imports.js";
import { ApiError } from "../api.js";
import { exactCents, formatCents, formatTime } from "../format.js";

/** Load something when `deps` change; `reload()` fetches again, keeping the old data meanwhile. */
export function useAsync(loader, deps) {
  const [state, setState] = useState({ loading: true, data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((previous) => ({ ...previous, loading: true, error: null }));
    Promise.resolve()
      .then(loader)
      .then(
        (data) => live && setState({ loading: false, data, error: null }),
        (error) => live && setState({ loading: false, data: null, error }),
      );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

/** One user action at a time: `run(fn)` sets busy, catches the error for display. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async (fn) => {
    setBusy(true);
    setError(null);
    try {
      return await fn();
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

export function errorText(error) {
  if (!error) return "";
  if (error instanceof ApiError) {
    return error.status === 429 || error.status === 0 || !error.status
      ? error.message
      : `${error.message} (${error.status} ${error.type})`;
  }
  return error.message || String(error);
}

export function ErrorText({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${errorText(error)}</p>`;
}

export function Success({ children }) {
  if (!children) return null;
  return html`<p class="success" role="status">${children}</p>`;
}

export function Button({ busy, busyLabel, children, type = "button", kind = "", disabled, ...rest }) {
  return html`<button ...${rest} type=${type} class=${kind} disabled=${Boolean(busy || disabled)}
    aria-busy=${busy ? "true" : undefined}>${busy ? busyLabel || "Working…" : children}</button>`;
}

export function Loading({ what = "Loading…" }) {
  return html`<p class="muted loading" role="status">${what}</p>`;
}

export function Empty({ title, children }) {
  return html`<div class="empty"><p class="empty-title">${title}</p>${
    children && html`<p class="muted">${children}</p>`
  }</div>`;
}

export function Money({ cents }) {
  return html`<span class="money" title=${exactCents(cents)}>${formatCents(cents)}</span>`;
}

export function Time({ iso }) {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime=${iso} title=${new Date(iso).toString()}>${formatTime(iso)}</time>`;
}

export function Badge({ kind = "", children, ...rest }) {
  return html`<span ...${rest} class=${`badge ${kind}`}>${children}</span>`;
}

export function YesNo({ value }) {
  return value ? html`<${Badge} kind="ok">Yes<//>` : html`<${Badge} kind="off">No<//>`;
}

/** A table that scrolls sideways inside its own box on narrow screens. */
export function Table({ label, head, children, className = "" }) {
  return html`<div class="table-wrap" role="region" aria-label=${label} tabindex="0">
    <table class=${className}>
      <thead><tr>${head.map((name) => html`<th scope="col">${name}</th>`)}</tr></thead>
      <tbody>${children}</tbody>
    </table>
  </div>`;
}

/** Client-side pages of `rows` (lists the API returns whole). */
export function usePaged(rows, size = 25) {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const current = Math.min(page, pages - 1);
  const shown = rows.slice(current * size, current * size + size);
  const pager =
    rows.length > size
      ? html`<${Pager}
          summary=${`${current * size + 1}–${current * size + shown.length} of ${rows.length}`}
          onPrevious=${current > 0 ? () => setPage(current - 1) : null}
          onNext=${current < pages - 1 ? () => setPage(current + 1) : null}
        />`
      : null;
  return { rows: shown, pager, reset: () => setPage(0) };
}

export function Pager({ summary, onPrevious, onNext, previousLabel = "← Previous", nextLabel = "Next →", busy }) {
  return html`<nav class="pager" aria-label="Pages">
    <button type="button" class="secondary" disabled=${!onPrevious || busy} onClick=${onPrevious}>${previousLabel}</button>
    <span class="muted">${summary}</span>
    <button type="button" class="secondary" disabled=${!onNext || busy} onClick=${onNext}>${nextLabel}</button>
  </nav>`;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Without the async clipboard (plain-HTTP pages), copy through a selected text area.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    area.remove();
    return copied;
  }
}

export function CopyButton({ text, label = "Copy" }) {
  const [state, setState] = useState("idle");
  const copy = async () => setState((await copyText(text)) ? "copied" : "failed");
  return html`<span class="copy">
    <button type="button" class="secondary small" onClick=${copy}>${state === "copied" ? "Copied ✓" : label}</button>
    ${state === "failed" && html`<span class="error small" role="alert">Copy failed: select the text and copy it by hand.</span>`}
  </span>`;
}

/** A new key's plaintext, shown this once, with a copy button and the warning to store it. */
export function SecretOnce({ title, secret, children, onDone }) {
  const ref = useRef(null);
  useEffect(() => ref.current && ref.current.focus(), [secret]);
  return html`<section class="secret" aria-labelledby="secret-title" tabindex="-1" ref=${ref}>
    <h3 id="secret-title">${title}</h3>
    <p class="warning"><strong>Store it now.</strong> This is the only time the full key is shown:
      the gateway keeps only a hash of it and cannot show it again. If it is lost, rotate the key.</p>
    <div class="secret-row">
      <code class="secret-value" data-testid="secret-key">${secret}</code>
      <${CopyButton} text=${secret} label="Copy key" />
    </div>
    ${children}
    <button type="button" class="secondary" onClick=${onDone}>I have stored it — hide the key</button>
  </section>`;
}

/** A modal confirmation (<dialog>): says what will happen; Escape or Cancel backs out. */
export function ConfirmDialog({ title, children, confirmLabel, busyLabel, danger, busy, error, onConfirm, onCancel }) {
  const ref = useRef(null);
  useEffect(() => {
    // Back to where the operator was (the row's button) once the dialog goes away.
    const opener = document.activeElement;
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => {
      if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
    };
  }, []);
  const cancel = (event) => {
    event.preventDefault();
    if (!busy) onCancel();
  };
  const submit = (event) => {
    event.preventDefault();
    onConfirm();
  };
  return html`<dialog ref=${ref} class="confirm" aria-labelledby="confirm-title" onCancel=${cancel}>
    <form onSubmit=${submit}>
      <h3 id="confirm-title">${title}</h3>
      <div class="confirm-body">${children}</div>
      <${ErrorText} error=${error} />
      <div class="actions">
        <button type="button" class="secondary" onClick=${cancel} disabled=${busy}>Cancel</button>
        <${Button} type="submit" kind=${danger ? "danger" : ""} busy=${busy} busyLabel=${busyLabel}>${confirmLabel}<//>
      </div>
    </form>
  </dialog>`;
}

/** The same customer list in every panel: picking one here selects it everywhere. */
export function CustomerPicker({ app }) {
  const { customers, selected, select } = app;
  if (!customers.length) {
    return html`<${Empty} title="No customers yet.">Create one in <a href="#customers">Customers</a> first.<//>`;
  }
  return html`<div class="picker">
    <label for="customer-picker">Customer</label>
    <select id="customer-picker" value=${selected || ""} onChange=${(event) => select(event.target.value)}>
      ${!selected && html`<option value="">Choose a customer…</option>`}
      ${customers.map((c) => html`<option value=${c.id}>${customerLabel(c)}</option>`)}
    </select>
  </div>`;
}

export function customerLabel(customer) {
  return customer.name ? `${customer.name} (${customer.id})` : customer.id;
}

/** The panel heading, its one-line purpose, and controls on the right. */
export function PanelHeader({ title, children, tools }) {
  const ref = useRef(null);
  useEffect(() => ref.current && ref.current.focus({ preventScroll: true }), [title]);
  return html`<header class="panel-header">
    <div>
      <h2 tabindex="-1" ref=${ref}>${title}</h2>
      ${children && html`<p class="muted">${children}</p>`}
    </div>
    ${tools && html`<div class="panel-tools">${tools}</div>`}
  </header>`;
}

export function Card({ title, children, actions, id }) {
  return html`<section class="card">
    ${title && html`<div class="card-head"><h3 id=${id}>${title}</h3>${actions}</div>`}
    ${children}
  </section>`;
}

/** Shown instead of a customer panel's body until a customer is chosen. */
export function NeedCustomer({ app }) {
  // With no customers at all, the picker already says what to do.
  if (app.selectedCustomer || !app.customersLoaded || !app.customers.length) return null;
  return html`<${Empty} title="No customer chosen.">
    Pick one with the Customer list above, or click a row in <a href="#customers">Customers</a>.
  <//>`;
}

export function useKeyNames(keys) {
  return useMemo(() => {
    const names = new Map();
    for (const key of keys || []) {
      names.set(key.id, `…${key.last4}${key.label ? ` · ${key.label}` : ""}${key.kind === "master" ? " · master" : ""}`);
    }
    return names;
  }, [keys]);
}
