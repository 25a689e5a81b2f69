// The owner's sign-in on the page, against Livebase's built-in accounts (the OAuth 2.0 token
// endpoint at /auth/token): the password is sent once, for a short-lived access token and a
// rotating refresh token. Only the refresh token is kept (localStorage, so a reload or a new tab
// stays signed in); access tokens live in memory and are handed to the Livebase client through
// its token fetcher (client.setAuth(session.fetchToken, onChange)).
//
// A refresh token may be used once: the server revokes the whole family when one is used twice.
// Two tabs share the stored token, so a refresh runs under a Web Lock (where the browser has
// them: secure contexts such as localhost) and starts from the token stored now, which another
// tab may have rotated meanwhile.

const STORE = "agentfeed.session"; // {refreshToken, email}
const LOCK = "agentfeed.refresh";

function stored() {
  try {
    const value = JSON.parse(localStorage.getItem(STORE) ?? "null");
    return value && typeof value.refreshToken === "string" ? value : null;
  } catch {
    return null;
  }
}

function expiresAt(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).exp * 1000;
  } catch {
    return 0;
  }
}

async function tokenRequest(form) {
  const response = await fetch("/auth/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error_description ?? body.message ?? `HTTP ${response.status}`);
    error.status = response.status;
    error.code = body.error;
    throw error;
  }
  return body;
}

const withLock = (fn) => (navigator.locks ? navigator.locks.request(LOCK, fn) : fn());

export class Session {
  constructor() {
    this.access = null; // the current access token, in memory only
    this.ended = null; // why the stored session ended (shown to the owner), else null
    this.fetchToken = this.fetchToken.bind(this);
  }

  /** The signed-in email, or null. */
  get email() {
    return stored()?.email ?? null;
  }

  /** Sign in with a password; throws an Error whose message says why it was refused. */
  async signIn(email, password) {
    const tokens = await tokenRequest({ grant_type: "password", username: email, password });
    localStorage.setItem(STORE, JSON.stringify({ refreshToken: tokens.refresh_token, email }));
    this.access = tokens.access_token;
    this.ended = null;
  }

  /** Sign out here and end the session on the server (its refresh token is revoked). */
  async signOut() {
    const session = stored();
    localStorage.removeItem(STORE);
    this.access = null;
    if (!session) return;
    await fetch("/auth/revoke", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: session.refreshToken }),
    }).catch(() => {}); // signed out here either way
  }

  /** The Livebase client's token fetcher: an access token, or null when signed out. */
  async fetchToken({ forceRefreshToken = false } = {}) {
    if (!stored()) return (this.access = null);
    if (!forceRefreshToken && this.access && expiresAt(this.access) - Date.now() > 10_000) {
      return this.access;
    }
    return withLock(async () => {
      const session = stored(); // perhaps rotated by another tab while we waited
      if (!session) return (this.access = null);
      try {
        const tokens = await tokenRequest({ grant_type: "refresh_token",
                                            refresh_token: session.refreshToken });
        localStorage.setItem(STORE, JSON.stringify({ ...session, refreshToken: tokens.refresh_token }));
        this.access = tokens.access_token;
      } catch (error) {
        if (error.status === undefined || error.status >= 500 || error.status === 429) {
          // The server is away or busy: stay signed in. The last token is sent on the next
          // connection; if it has expired by then, the server refuses it and we are asked again.
          return this.access;
        }
        if (stored()?.refreshToken === session.refreshToken) localStorage.removeItem(STORE);
        this.ended = error.message;
        this.access = null;
      }
      return this.access;
    });
  }
}
