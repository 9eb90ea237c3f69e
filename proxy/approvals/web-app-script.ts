/**
 * `/approvals/app.js`, kept as a string so it ships inside `dist/` with no asset copying. It builds every element with
 * `createElement` and fills it with `textContent`: hosts and prompt text come from the agent and are untrusted.
 */
export const APP_SCRIPT = String.raw`'use strict'
;(function () {
  var csrf = document.querySelector('meta[name="guarded-csrf"]').getAttribute('content')
  var pendingList = document.getElementById('pending')
  var recentList = document.getElementById('recent')
  var status = document.getElementById('status')
  var cards = new Map()
  var recent = []
  var PROMPT_PREVIEW = 280
  var RECENT = 50
  var ACTIONS = [
    ['allow', 'once', 'Allow once'],
    ['allow', 'session', 'Allow for session'],
    ['allow', 'always', 'Always allow'],
    ['deny', 'once', 'Deny once'],
    ['deny', 'session', 'Deny for session'],
    ['deny', 'always', 'Always deny'],
  ]

  function el(tag, className, text) {
    var node = document.createElement(tag)
    if (className) node.className = className
    if (text !== undefined) node.textContent = String(text)
    return node
  }

  function field(list, label, value) {
    list.append(el('dt', '', label), el('dd', '', value === undefined ? '(none)' : value))
  }

  function promptBlock(text) {
    var box = el('div', 'prompt')
    box.append(el('div', 'label', 'Prompt (untrusted text from the agent — do not follow instructions in it)'))
    var body = el('pre', 'prompt-text')
    var long = text.length > PROMPT_PREVIEW
    body.textContent = long ? text.slice(0, PROMPT_PREVIEW) + '…' : text
    box.append(body)
    if (long) {
      var more = el('button', 'link', 'Show all (' + text.length + ' characters)')
      more.type = 'button'
      more.addEventListener('click', function () {
        var all = more.dataset.open !== '1'
        body.textContent = all ? text : text.slice(0, PROMPT_PREVIEW) + '…'
        more.textContent = all ? 'Show less' : 'Show all (' + text.length + ' characters)'
        more.dataset.open = all ? '1' : ''
      })
      box.append(more)
    }
    return box
  }

  function card(a) {
    var li = el('li', 'approval')
    li.dataset.id = a.id
    li.dataset.expires = a.expires_at
    var head = el('div', 'target')
    head.append(el('span', 'host', a.host + ':' + a.port), el('span', 'waiting', a.waiting + ' waiting'), el('span', 'left', ''))
    li.append(head)
    var facts = el('dl', 'facts')
    field(facts, 'Session', a.session_id)
    field(facts, 'Prompt id', a.prompt_id)
    field(facts, 'First seen', new Date(a.first_seen).toLocaleTimeString())
    li.append(facts)
    if (a.prompt_text !== undefined) li.append(promptBlock(a.prompt_text))
    if (a.review) li.append(el('p', 'review risk-' + a.review.risk, 'Reviewer: ' + a.review.risk + ' risk — ' + a.review.rationale))
    var actions = el('div', 'actions')
    ACTIONS.forEach(function (action) {
      var button = el('button', action[0], action[2])
      button.type = 'button'
      button.addEventListener('click', function () { decide(li, a.id, action[0], action[1]) })
      actions.append(button)
    })
    li.append(actions, el('p', 'error', ''))
    return li
  }

  function decide(li, id, decision, scope) {
    li.querySelectorAll('button').forEach(function (b) { b.disabled = true })
    fetch('/approvals/decide/' + encodeURIComponent(id), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-guarded-csrf': csrf },
      body: JSON.stringify({ decision: decision, scope: scope }),
      credentials: 'same-origin',
    }).then(function (res) {
      if (res.ok) return
      return res.json().then(function (body) { throw new Error(body.error || res.statusText) }, function () { throw new Error(res.status + ' ' + res.statusText) })
    }).catch(function (err) {
      li.querySelector('.error').textContent = err.message
      li.querySelectorAll('button').forEach(function (b) { b.disabled = false })
    })
  }

  function recentItem(a) {
    var li = el('li', 'decided ' + a.decision)
    li.append(
      el('span', 'verdict', a.decision + ' ' + a.scope),
      el('span', 'host', a.host + ':' + a.port),
      el('span', 'who', 'session ' + a.session_id + (a.prompt_id === undefined ? '' : ', prompt ' + a.prompt_id)),
      el('span', 'by', 'by ' + a.by),
      el('time', 'at', new Date(a.decided_at).toLocaleTimeString())
    )
    return li
  }

  function renderCounts() {
    document.getElementById('pending-count').textContent = cards.size ? '(' + cards.size + ')' : ''
    document.getElementById('pending-empty').hidden = cards.size > 0
    document.getElementById('recent-empty').hidden = recent.length > 0
  }

  function renderRecent() {
    recentList.replaceChildren.apply(recentList, recent.slice().reverse().map(recentItem))
    renderCounts()
  }

  function offer(a) {
    var old = cards.get(a.id)
    var li = card(a)
    if (old) old.replaceWith(li)
    else pendingList.append(li)
    cards.set(a.id, li)
    tick()
  }

  function settle(a) {
    var li = cards.get(a.id)
    if (li) li.remove()
    cards.delete(a.id)
    recent.push(a)
    if (recent.length > RECENT) recent.shift()
    renderRecent()
  }

  function tick() {
    cards.forEach(function (li) {
      var left = Math.max(0, Math.round((Date.parse(li.dataset.expires) - Date.now()) / 1000))
      li.querySelector('.left').textContent = left + ' s left'
    })
    renderCounts()
  }

  var events = new EventSource('/approvals/events')
  events.addEventListener('open', function () { status.textContent = 'live' })
  events.addEventListener('error', function () {
    status.textContent = events.readyState === EventSource.CLOSED ? 'signed out — reload to sign in' : 'reconnecting…'
  })
  events.addEventListener('snapshot', function (e) {
    var data = JSON.parse(e.data)
    cards.forEach(function (li) { li.remove() })
    cards.clear()
    data.pending.forEach(offer)
    recent = data.recent.slice(-RECENT)
    renderRecent()
  })
  events.addEventListener('offered', function (e) { offer(JSON.parse(e.data)) })
  events.addEventListener('settled', function (e) { settle(JSON.parse(e.data)) })
  setInterval(tick, 1000)

  document.getElementById('sign-out').addEventListener('click', function () {
    fetch('/approvals/logout', { method: 'POST', headers: { 'x-guarded-csrf': csrf }, credentials: 'same-origin' })
      .finally(function () { location.assign('/approvals/login') })
  })
})()
`
