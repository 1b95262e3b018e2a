// Provider names: the built-in ones, and those the upstreams and the price table add (groq,
// mistral…). Loaded whenever a form that lists them opens, so a provider added a moment ago
// is already there.
import { api } from "../api.js";
import { useAsync } from "./ui.js";

export const BUILTIN_PROVIDERS = ["openai", "anthropic", "gemini", "demo"];
export const WIRE_APIS = ["openai", "anthropic", "gemini"];

/** The wire format a provider speaks unless told otherwise (the gateway's own default). */
export function defaultApi(provider) {
  return provider === "anthropic" || provider === "gemini" ? provider : "openai";
}

/** The built-in names in their order, then every other name of `lists` once, alphabetically. */
export function providerNames(...lists) {
  const extra = new Set();
  for (const list of lists) {
    for (const name of list || []) {
      if (name && !BUILTIN_PROVIDERS.includes(name)) extra.add(name);
    }
  }
  return [...BUILTIN_PROVIDERS, ...[...extra].sort()];
}

async function loadNames() {
  const [upstreams, pricing] = await Promise.all([api("GET", "/upstreams"), api("GET", "/pricing")]);
  return providerNames(
    upstreams.upstreams.map((u) => u.provider),
    pricing.prices.map((p) => p.provider),
  );
}

/** `{names, error}`: the built-in names at once, every known one when loaded. */
export function useProviderNames() {
  const loaded = useAsync(loadNames, []);
  return { names: loaded.data || BUILTIN_PROVIDERS, error: loaded.error };
}
