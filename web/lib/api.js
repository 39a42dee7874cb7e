// The HTTP API (CONTRACT.md): JSON in, JSON or problem+json out. Responses
// are never written to the browser's HTTP cache.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `The request failed (${status}).`);
    this.status = status;
    this.field = problem?.field;
    // A second sign-in step: `mfa_required` or `mfa_enrolment_required`.
    this.code = problem?.code;
    this.challenge = problem?.challenge;
  }
}

/**
 * An API client for one bearer token.
 * `onUnauthorized` runs on a 401 (a session that expired or was revoked).
 */
export function apiClient(getToken, onUnauthorized = () => {}) {
  return async function api(path, { method = 'GET', body } = {}) {
    const token = getToken();
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(`/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      throw new ApiError(0, { detail: 'The server could not be reached. Check your connection and try again.' });
    }
    if (response.status === 401) onUnauthorized();
    if (!response.ok) {
      const problem = await response.json().catch(() => null);
      throw new ApiError(response.status, problem);
    }
    if (response.status === 204) return null;
    return response.json();
  };
}
