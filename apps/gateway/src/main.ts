// The gateway (REST API, SSE, dashboard, metrics) is built by its own issue; see docs/ and
// shared ARCHITECTURE.md. Until then `vigil tail` is the way to watch topics.
export const GATEWAY_PLANNED = true;
