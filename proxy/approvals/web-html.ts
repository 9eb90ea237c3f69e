/** The approver page's two HTML documents. They hold no inline script or style (the CSP forbids both) and no approval data. */

/** Escapes text for an HTML attribute or element; only server-made values go through here, never approval data. */
function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const HEAD = `<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/approvals/app.css">`

/** The page itself; `app.js` fills it from the event stream and reads the CSRF token from the meta element. */
export function pageHtml(csrf: string): string {
  return `<!doctype html>
<html lang="en">
<head>
${HEAD}
<meta name="guarded-csrf" content="${escape(csrf)}">
<title>Guarded approvals</title>
<script src="/approvals/app.js" defer></script>
</head>
<body>
<header>
<h1>Guarded approvals</h1>
<span id="status" role="status">connecting…</span>
<button type="button" id="sign-out">Sign out</button>
</header>
<main>
<section aria-labelledby="pending-title">
<h2 id="pending-title">Waiting for a decision <span id="pending-count"></span></h2>
<p id="pending-empty" class="empty">Nothing is waiting.</p>
<ul id="pending"></ul>
</section>
<section aria-labelledby="recent-title">
<h2 id="recent-title">Recent decisions</h2>
<p id="recent-empty" class="empty">No decisions yet.</p>
<ol id="recent"></ol>
</section>
</main>
</body>
</html>
`
}

/** The sign-in form: the admin token is pasted once and exchanged for an HttpOnly cookie. */
export function loginHtml(tokenFile: string, message?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
${HEAD}
<title>Sign in · Guarded approvals</title>
</head>
<body>
<main class="login">
<h1>Guarded approvals</h1>
${message === undefined ? '' : `<p class="error" role="alert">${escape(message)}</p>`}
<form method="post" action="/approvals/login">
<label for="token">Admin token <small>(in ${escape(tokenFile)})</small></label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
`
}
