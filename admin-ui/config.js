// Where the admin JSON API lives. Served by the gateway itself this is "/admin/api". When the UI
// is hosted elsewhere, point it at the gateway with <meta name="kaixu-api-base" content="https://
// gateway.example.com/admin/api"> in index.html, or set window.KAIXU_API_BASE in a script file
// loaded before app.js (no inline scripts: the Content-Security-Policy forbids them).
const meta = document.querySelector('meta[name="kaixu-api-base"]');
const configured = globalThis.KAIXU_API_BASE || (meta && meta.content.trim()) || "/admin/api";

export const API_BASE = configured.replace(/\/+$/, "");

// The gateway's own address, for the copy-paste examples: the API base without its /admin/api.
export const GATEWAY_URL = (() => {
  const url = new URL(API_BASE, location.href);
  return (url.origin + url.pathname.replace(/\/admin\/api$/, "")).replace(/\/+$/, "");
})();
