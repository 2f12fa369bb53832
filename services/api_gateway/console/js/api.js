// The console's only way to ChargePlane: the public API at /api/v1, with the session cookie the
// browser sends by itself and, on every change, the session's CSRF token in a header.

let csrfToken = null;

export function setCsrfToken(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "Something went wrong.";
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?)]$/.test(first) ? first : `${first}.`;
}

// What went wrong, said for a person.
function explain(status, error) {
  const code = error?.code;
  const message = error?.message;
  switch (code) {
    case "station_offline":
      return "The station is offline, so it cannot be asked now. Try again when it is back online.";
    case "station_timeout":
      return `The station did not answer in time. It may be busy or its connection poor; try again. (${message})`;
    case "station_call_error": {
      const details = error.details || {};
      return `The station refused the request with an error: ${details.errorCode || "unknown"}` +
        (details.errorDescription ? ` (${details.errorDescription}).` : ".");
    }
    case "station_not_found":
      return "This station is not registered with ChargePlane.";
    case "service_unavailable":
      return "A part of ChargePlane is not answering right now; try again in a moment.";
    case "invalid_request":
    case "invalid_payload": {
      const details = Array.isArray(error.details) ? error.details : [];
      const parts = details.map((d) => `${(d.loc || []).join(".") || d.path || "input"}: ${d.msg || d.message || ""}`);
      return parts.length ? `Some input is not valid: ${parts.join("; ")}.` : sentence(message);
    }
    default:
      if (status >= 500) return "ChargePlane failed to do this (a server error). Try again; if it persists, look at the service logs.";
      return sentence(message || `The request failed (HTTP ${status})`);
  }
}

export async function api(path, { method = "GET", body, query } = {}) {
  const url = new URL(`/api/v1${path}`, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (Array.isArray(value)) value.forEach((item) => url.searchParams.append(name, item));
    else if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "ChargePlane cannot be reached. Check the network connection and try again.");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error || {};
    if (response.status === 401 && path !== "/auth/session") window.dispatchEvent(new Event("chargeplane:signed-out"));
    throw new ApiError(response.status, error.code || "http_error", explain(response.status, error), error.details);
  }
  return data;
}

// A command to a station: its reply ({status: ...} for most), or an ApiError said for a person.
export function command(stationId, action, payload) {
  return api(`/stations/${encodeURIComponent(stationId)}/commands/${action}`, {
    method: "POST", body: payload, query: { timeout: 30 },
  });
}
