// Where the admin JSON API lives. Served by the gateway itself this is "/admin/api"; when the
// UI is hosted elsewhere, set window.KAIXU_API_BASE (or edit this line) to the gateway's URL.
export const API_BASE = (globalThis.KAIXU_API_BASE || "/admin/api").replace(/\/$/, "");
