/** `/approvals/app.css`, kept as a string so it ships inside `dist/`; the CSP allows only same-origin style sheets. */
export const APP_STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --no: #b42318; --line: #8884; font: 15px/1.45 system-ui, sans-serif; }
body { margin: 0 auto; max-width: 60rem; padding: 1rem 1.5rem 3rem; }
header { display: flex; align-items: center; gap: 1rem; border-bottom: 1px solid var(--line); }
header h1 { flex: 1; font-size: 1.3rem; }
#status { font-size: .85rem; opacity: .75; }
h2 { font-size: 1.05rem; margin-top: 1.5rem; }
ul, ol { list-style: none; padding: 0; margin: 0; }
.empty { opacity: .7; font-style: italic; }
.approval { border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; margin-bottom: 1rem; }
.target { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
.target .host { font: 600 1.15rem ui-monospace, monospace; flex: 1; overflow-wrap: anywhere; }
.waiting, .left { font-size: .85rem; opacity: .8; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .8rem; margin: .6rem 0; font-size: .9rem; }
.facts dt { opacity: .7; }
.facts dd { margin: 0; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.prompt { border-left: 3px solid #c9a227; padding: .3rem .7rem; margin: .6rem 0; background: #c9a2271a; }
.prompt .label { font-size: .8rem; font-weight: 600; text-transform: uppercase; letter-spacing: .03em; }
.prompt-text { white-space: pre-wrap; overflow-wrap: anywhere; margin: .3rem 0; font-size: .9rem; }
button { font: inherit; padding: .35rem .75rem; border-radius: 6px; border: 1px solid var(--line); background: transparent; color: inherit; cursor: pointer; }
button:disabled { opacity: .5; cursor: wait; }
button.link { border: 0; padding: 0; text-decoration: underline; font-size: .85rem; }
.actions { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: .4rem; margin-top: .6rem; }
.actions .allow { border-color: var(--ok); color: var(--ok); }
.actions .deny { border-color: var(--no); color: var(--no); }
.actions .allow:first-child { background: var(--ok); color: #fff; }
.review { font-size: .9rem; }
.review.risk-high, .review.risk-critical { color: var(--no); font-weight: 600; }
.error { color: var(--no); margin: .3rem 0 0; }
.error:empty { display: none; }
.decided { display: flex; gap: .8rem; flex-wrap: wrap; padding: .35rem 0; border-bottom: 1px solid var(--line); font-size: .9rem; }
.decided .verdict { font-weight: 600; min-width: 8rem; }
.decided.allow .verdict { color: var(--ok); }
.decided.deny .verdict { color: var(--no); }
.decided .host { font-family: ui-monospace, monospace; flex: 1; overflow-wrap: anywhere; }
.login { max-width: 24rem; margin: 4rem auto; display: block; }
.login form { display: grid; gap: .6rem; }
.login input { font: inherit; padding: .4rem; }
`
