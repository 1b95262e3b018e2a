// Labelled form fields, and the policy fields that customers and keys share (allowlists).
import { html, useId } from "../vendor/imports.js";
import { providerNames, useProviderNames } from "./providers.js";
import { errorText } from "./ui.js";

/** A labelled input (or `as="select"`/`"textarea"`), with an optional hint tied to it. */
export function Field({ label, hint, as = "input", children, className = "", ...input }) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const control =
    as === "select"
      ? html`<select id=${id} aria-describedby=${hintId} ...${input}>${children}</select>`
      : as === "textarea"
        ? html`<textarea id=${id} aria-describedby=${hintId} ...${input}></textarea>`
        : html`<input id=${id} aria-describedby=${hintId} ...${input} />`;
  return html`<div class=${`field ${className}`}>
    <label for=${id}>${label}</label>
    ${control}
    ${hint && html`<p class="hint" id=${hintId}>${hint}</p>`}
  </div>`;
}

export function Checkbox({ label, hint, checked, onChange, ...rest }) {
  const id = useId();
  return html`<div class="field checkbox">
    <input type="checkbox" id=${id} checked=${checked}
      onChange=${(event) => onChange(event.target.checked)} aria-describedby=${hint ? `${id}-hint` : undefined} ...${rest} />
    <label for=${id}>${label}</label>
    ${hint && html`<p class="hint" id=${`${id}-hint`}>${hint}</p>`}
  </div>`;
}

/**
 * Allowed providers as checkboxes; none ticked means no restriction (null). The choices are the
 * built-in providers, those of the upstreams and prices, and any the list already holds (so
 * saving never drops a name nothing serves any more).
 */
export function ProvidersField({ value, onChange, legend = "Allowed providers" }) {
  const chosen = value || [];
  const known = useProviderNames();
  const names = providerNames(known.names, chosen);
  const toggle = (provider, on) => {
    const next = names.filter((p) => (p === provider ? on : chosen.includes(p)));
    onChange(next.length ? next : null);
  };
  return html`<fieldset class="field providers">
    <legend>${legend}</legend>
    <div class="checks">
      ${names.map(
        (provider) => html`<label class="check">
          <input type="checkbox" checked=${chosen.includes(provider)}
            onChange=${(event) => toggle(provider, event.target.checked)} />
          ${provider}
        </label>`,
      )}
    </div>
    <p class="hint">None ticked: every provider is allowed.</p>
    ${known.error && html`<p class="hint warning">Only the built-in providers are listed: the
      upstreams' and prices' could not be loaded (${errorText(known.error)}).</p>`}
  </fieldset>`;
}
