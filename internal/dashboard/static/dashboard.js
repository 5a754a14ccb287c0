// The members dashboard. Served as a file (not inline) so the page runs
// under "script-src 'self'", and built with DOM calls and textContent only
// (the page requires Trusted Types: no string ever reaches an HTML sink).
// It uses the public GraphQL API at config.endpoint and nothing else:
//
//   - orgUsers facets as bar charts (roles, sign-in status, last sign-in,
//     one metadata path), refreshed at most every 300 ms while events arrive;
//   - the member table with search, role and sign-in filters and cursor
//     paging (first/after forward, last/before back);
//   - orgUsersChanged over GraphQL-over-SSE (graphql-sse "distinct
//     connections"): an UPDATED member on the page is updated in place,
//     ADDED and REMOVED refresh the page; the stream is reopened with
//     backoff whenever it ends (session tokens expire about every minute);
//   - updateOrgMemberRoles on the current filter: a dry run first, then the
//     same call for real, with the count the dry run matched.
(function () {
  'use strict';

  var config = JSON.parse(document.getElementById('dashboard-config').textContent);
  var endpoint = config.endpoint || '/graphql';
  var fixedHeaders = config.headers || null;
  var token = ''; // a pasted bearer token: in memory only, never stored
  var PAGE_SIZE = 25;
  var BULK_ITEMS_SHOWN = 200;

  // Two texts: the server refuses `first` and `last` in one field even when
  // one of them is a null variable (and `first` defaults to 100).
  function pageQuery(back) {
    var args = back ? '$last: Int, $before: String' : '$first: Int, $after: String';
    var use = back ? 'last: $last, before: $before' : 'first: $first, after: $after';
    return 'query DashboardPage($filter: OrgUserFilter, ' + args + ') {' +
      ' orgUsers(filter: $filter, ' + use + ', orderBy: {field: EMAIL, direction: ASC}) {' +
      ' totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }' +
      ' nodes { id email firstName lastName role roleName lastSignInAt publicMetadata } } }';
  }
  var FACETS_QUERY = 'query DashboardFacets($filter: OrgUserFilter) {' +
    ' orgUsers(filter: $filter, first: 0) { totalCount facets {' +
    ' roles { value count } signInStatus { value count } lastSignIn(bucketsDays: [7, 30, 90]) { value count } } } }';
  var METADATA_QUERY = 'query DashboardMetadata($filter: OrgUserFilter, $path: String!) {' +
    ' orgUsers(filter: $filter, first: 0) { facets { metadata(path: $path, limit: 12) {' +
    ' path values { value count } otherCount missingCount } } } }';
  var BULK_MUTATION = 'mutation DashboardBulkRole($input: UpdateOrgMemberRolesInput!) {' +
    ' updateOrgMemberRoles(input: $input) { dryRun matched succeeded unchanged failed skipped' +
    ' items { userId email status code message } } }';
  var LIVE_QUERY = 'subscription Live($filter: OrgUserFilter) { orgUsersChanged(filter: $filter) {' +
    ' kind userId version user { id email firstName lastName role roleName lastSignInAt publicMetadata } } }';
  var SUPPORT_QUERY = '{ __schema { subscriptionType { fields { name } } } }';

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // ---- requests -------------------------------------------------------

  function authHeaders() {
    var h = {};
    if (fixedHeaders) {
      Object.keys(fixedHeaders).forEach(function (k) { h[k] = fixedHeaders[k]; });
    } else if (token) {
      h.Authorization = 'Bearer ' + token;
    }
    return h;
  }

  function describeErrors(errors) {
    return errors.map(function (e) {
      var code = e.extensions && e.extensions.code;
      return (code ? code + ': ' : '') + e.message;
    }).join('; ');
  }

  // gql posts one operation and resolves to its data, or rejects with an
  // Error whose .errors holds the GraphQL errors.
  function gql(query, variables) {
    var headers = authHeaders();
    headers['Content-Type'] = 'application/json';
    headers.Accept = 'application/json';
    return fetch(endpoint, {
      method: 'POST',
      headers: headers,
      credentials: 'same-origin',
      body: JSON.stringify({ query: query, variables: variables || {} })
    }).then(function (resp) {
      return resp.json().catch(function () {
        throw new Error('HTTP ' + resp.status + ' from ' + endpoint);
      });
    }).then(function (body) {
      if (body.errors && body.errors.length) {
        var err = new Error(describeErrors(body.errors));
        err.errors = body.errors;
        throw err;
      }
      return body.data;
    });
  }

  function hasCode(err, code) {
    return !!(err && err.errors && err.errors.some(function (e) {
      return e.extensions && e.extensions.code === code;
    }));
  }

  function showError(err) {
    var msg = err ? (err.message || String(err)) : '';
    if (err && !fixedHeaders && (hasCode(err, 'UNAUTHENTICATED') || hasCode(err, 'NO_ACTIVE_ORGANIZATION'))) {
      msg += ' (sign in to the app with an organization selected, or paste a session token above)';
    }
    $('status').textContent = msg;
  }

  // ---- state ----------------------------------------------------------

  var state = {
    filter: {},               // the OrgUserFilter applied to everything
    page: { first: PAGE_SIZE }, // cursor arguments of the page shown
    pageNo: 1,
    pageInfo: null,
    total: 0,
    knownRoles: {}
  };
  var seq = { page: 0, facets: 0, meta: 0 };

  function readFilter() {
    var f = {};
    var search = $('f-search').value.trim();
    if (search) f.search = search;
    var role = $('f-role').value;
    if (role) f.roles = [role];
    var signIn = $('f-signin').value;
    if (signIn) f.signInStatus = signIn;
    return f;
  }

  function applyFilter() {
    var f = readFilter();
    if (JSON.stringify(f) === JSON.stringify(state.filter)) return;
    state.filter = f;
    state.page = { first: PAGE_SIZE };
    state.pageNo = 1;
    resetBulk();
    loadAll();
    startLive();
  }

  function loadAll() {
    loadPage();
    loadFacets();
    loadMetadata();
  }

  // ---- charts -----------------------------------------------------------

  // renderBars draws items ({label, value, count, extra}) as CSS bars whose
  // widths are set through the CSSOM (allowed by style-src 'self'). With
  // onPick, each bar is a button that filters by its value.
  function renderBars(container, items, onPick) {
    var max = 0;
    items.forEach(function (it) { if (it.count > max) max = it.count; });
    var rows = items.map(function (it) {
      var pickable = onPick && !it.extra;
      var row = el(pickable ? 'button' : 'div', 'bar' + (it.extra ? ' extra' : ''));
      if (pickable) {
        row.type = 'button';
        row.addEventListener('click', function () { onPick(it.value); });
      }
      row.dataset.value = it.value;
      row.title = it.label + ': ' + it.count;
      var track = el('span', 'track');
      var fill = el('span', 'fill');
      fill.style.width = (max > 0 ? (100 * it.count / max) : 0).toFixed(1) + '%';
      track.appendChild(fill);
      row.append(el('span', 'label', it.label), track, el('span', 'count', it.count));
      return row;
    });
    if (!rows.length) rows = [el('span', 'muted', 'none')];
    container.replaceChildren.apply(container, rows);
  }

  function pickRole(role) {
    $('f-role').value = role;
    applyFilter();
  }

  function pickSignIn(status) {
    $('f-signin').value = status;
    applyFilter();
  }

  function rememberRoles(roles) {
    var added = false;
    roles.forEach(function (r) {
      if (!state.knownRoles[r]) { state.knownRoles[r] = true; added = true; }
    });
    if (!added) return;
    var names = Object.keys(state.knownRoles).sort();
    var select = $('f-role');
    var current = select.value;
    var options = [el('option', null, 'Any role')];
    options[0].value = '';
    var list = [];
    names.forEach(function (n) {
      var o = el('option', null, n);
      o.value = n;
      options.push(o);
      var d = el('option');
      d.value = n;
      list.push(d);
    });
    select.replaceChildren.apply(select, options);
    select.value = current;
    $('role-list').replaceChildren.apply($('role-list'), list);
  }

  function loadFacets() {
    var n = ++seq.facets;
    return gql(FACETS_QUERY, { filter: state.filter }).then(function (data) {
      if (n !== seq.facets) return;
      var f = data.orgUsers.facets;
      rememberRoles(f.roles.map(function (r) { return r.value; }));
      renderBars($('chart-roles'), f.roles.map(function (r) {
        return { label: r.value, value: r.value, count: r.count };
      }), pickRole);
      renderBars($('chart-signin'), f.signInStatus.map(function (r) {
        return { label: r.value === 'SIGNED_IN' ? 'signed in' : 'never signed in', value: r.value, count: r.count };
      }), pickSignIn);
      renderBars($('chart-lastsignin'), f.lastSignIn.map(function (r) {
        return { label: r.value, value: r.value, count: r.count };
      }));
      document.body.dataset.facets = String(n);
    }).catch(function (err) {
      if (n === seq.facets) showError(err);
    });
  }

  function jsonLabel(v) {
    return typeof v === 'string' ? v : JSON.stringify(v);
  }

  function loadMetadata() {
    var n = ++seq.meta;
    var path = $('meta-path').value.trim();
    var chart = $('chart-metadata');
    if (!path) {
      chart.replaceChildren(el('span', 'muted', 'type a path, such as department or location.country'));
      return Promise.resolve();
    }
    return gql(METADATA_QUERY, { filter: state.filter, path: path }).then(function (data) {
      if (n !== seq.meta) return;
      var m = data.orgUsers.facets.metadata;
      var items = m.values.map(function (v) {
        return { label: jsonLabel(v.value), value: JSON.stringify(v.value), count: v.count };
      });
      if (m.otherCount) items.push({ label: '(other)', value: '(other)', count: m.otherCount, extra: true });
      if (m.missingCount) items.push({ label: '(missing)', value: '(missing)', count: m.missingCount, extra: true });
      renderBars(chart, items);
    }).catch(function (err) {
      if (n !== seq.meta) return;
      chart.replaceChildren(el('span', 'muted', err.message));
    });
  }

  // ---- member table -------------------------------------------------------

  function fullName(u) {
    return [u.firstName, u.lastName].filter(Boolean).join(' ');
  }

  function formatTime(t) {
    if (!t) return 'never';
    var d = new Date(t);
    return isNaN(d) ? t : d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  }

  function department(u) {
    var v = u.publicMetadata && u.publicMetadata.department;
    return v === undefined || v === null ? '' : jsonLabel(v);
  }

  function fillRow(tr, u) {
    tr.dataset.userId = u.id;
    var role = el('td', 'role', u.role);
    if (u.roleName) role.title = u.roleName;
    tr.replaceChildren(
      el('td', 'email', u.email || ''),
      el('td', 'name', fullName(u)),
      role,
      el('td', 'last-sign-in', formatTime(u.lastSignInAt)),
      el('td', 'department', department(u))
    );
  }

  function loadPage() {
    var n = ++seq.page;
    var vars = { filter: state.filter };
    Object.keys(state.page).forEach(function (k) { vars[k] = state.page[k]; });
    return gql(pageQuery('last' in state.page), vars).then(function (data) {
      if (n !== seq.page) return;
      var c = data.orgUsers;
      state.pageInfo = c.pageInfo;
      state.total = c.totalCount;
      var rows = c.nodes.map(function (u) {
        var tr = el('tr');
        fillRow(tr, u);
        return tr;
      });
      if (!rows.length) {
        var empty = el('tr');
        var td = el('td', 'muted', 'No member matches.');
        td.colSpan = 5;
        empty.appendChild(td);
        rows = [empty];
      }
      $('rows').replaceChildren.apply($('rows'), rows);
      if (!c.pageInfo.hasPreviousPage) state.pageNo = 1;
      var from = (state.pageNo - 1) * PAGE_SIZE + 1;
      $('page-info').textContent = c.nodes.length ? 'Page ' + state.pageNo + ' · ' + from + '–' +
        (from + c.nodes.length - 1) + ' of ' + c.totalCount : '';
      $('total').textContent = c.totalCount + (c.totalCount === 1 ? ' member' : ' members');
      $('prev').disabled = !c.pageInfo.hasPreviousPage;
      $('next').disabled = !c.pageInfo.hasNextPage;
      $('status').textContent = '';
      document.body.dataset.page = String(n);
    }).catch(function (err) {
      if (n === seq.page) showError(err);
    });
  }

  function nextPage() {
    if (!state.pageInfo || !state.pageInfo.hasNextPage) return;
    state.page = { first: PAGE_SIZE, after: state.pageInfo.endCursor };
    state.pageNo++;
    loadPage();
  }

  function prevPage() {
    if (!state.pageInfo || !state.pageInfo.hasPreviousPage) return;
    state.page = { last: PAGE_SIZE, before: state.pageInfo.startCursor };
    state.pageNo = Math.max(1, state.pageNo - 1);
    loadPage();
  }

  // ---- bulk role change -----------------------------------------------------

  var preview = null; // {filter, role, matched} of the last dry run

  // resetBulk forgets the preview: another filter or role needs another.
  function resetBulk() {
    preview = null;
    $('bulk-apply').disabled = true;
    $('bulk-apply').textContent = 'Apply';
    $('bulk-summary').textContent = '';
    $('bulk-items').hidden = true;
  }

  function renderBulk(r, role) {
    var verb = r.dryRun ? 'Dry run: ' : 'Done: ';
    var would = r.dryRun ? ' would change' : ' changed';
    $('bulk-summary').textContent = verb + r.matched + ' matched, ' + r.succeeded + would + ' to ' + role + ', ' +
      r.unchanged + ' unchanged, ' + r.failed + ' failed, ' + r.skipped + ' skipped.';
    var rows = r.items.slice(0, BULK_ITEMS_SHOWN).map(function (it) {
      var tr = el('tr', 'status-' + it.status.toLowerCase());
      tr.dataset.userId = it.userId;
      var code = el('td', 'code', it.code || '');
      if (it.message) code.title = it.message;
      tr.append(el('td', 'email', it.email || ''), el('td', 'user', it.userId), el('td', 'status', it.status), code);
      return tr;
    });
    if (r.items.length > BULK_ITEMS_SHOWN) {
      var more = el('tr');
      var td = el('td', 'muted', '… and ' + (r.items.length - BULK_ITEMS_SHOWN) + ' more');
      td.colSpan = 4;
      more.appendChild(td);
      rows.push(more);
    }
    $('bulk-rows').replaceChildren.apply($('bulk-rows'), rows);
    $('bulk-items').hidden = false;
  }

  function runBulk(filter, role, expectedCount, dryRun) {
    return gql(BULK_MUTATION, {
      input: { target: { filter: filter, expectedCount: expectedCount }, role: role, dryRun: dryRun }
    }).then(function (data) { return data.updateOrgMemberRoles; });
  }

  function bulkFailed(err) {
    var msg = err.message;
    if (hasCode(err, 'COUNT_MISMATCH')) msg = 'The filter matches another number of members now: preview again. (' + msg + ')';
    $('bulk-summary').textContent = msg;
    $('bulk-items').hidden = true;
  }

  function previewBulk(ev) {
    ev.preventDefault();
    resetBulk();
    var role = $('bulk-role').value.trim();
    var filter = JSON.parse(JSON.stringify(state.filter));
    if (!role) return;
    $('bulk-summary').textContent = 'Previewing…';
    gql('query DashboardBulkCount($filter: OrgUserFilter) { orgUsers(filter: $filter, first: 0) { totalCount } }', { filter: filter })
      .then(function (data) {
        return runBulk(filter, role, data.orgUsers.totalCount, true);
      })
      .then(function (r) {
        renderBulk(r, role);
        preview = { filter: filter, role: role, matched: r.matched };
        var apply = $('bulk-apply');
        apply.disabled = r.succeeded === 0;
        apply.textContent = 'Apply to ' + r.succeeded + (r.succeeded === 1 ? ' member' : ' members');
      })
      .catch(bulkFailed);
  }

  function applyBulk() {
    var p = preview;
    if (!p) return;
    resetBulk();
    $('bulk-summary').textContent = 'Applying…';
    runBulk(p.filter, p.role, p.matched, false)
      .then(function (r) {
        renderBulk(r, p.role);
        loadAll();
      })
      .catch(bulkFailed);
  }

  // ---- live updates (GraphQL over SSE) --------------------------------------

  var live = { ctrl: null, timer: null, retry: 0, supported: null };
  var refresh = { timer: null, page: false };

  function setLive(kind, text) {
    var badge = $('live');
    badge.className = 'live ' + (kind === 'on' ? 'on' : 'off');
    badge.dataset.state = kind;
    badge.textContent = text;
  }

  // scheduleRefresh reloads the facets (and, with page, the page shown) once
  // events stop arriving for 300 ms.
  function scheduleRefresh(page) {
    refresh.page = refresh.page || page;
    clearTimeout(refresh.timer);
    refresh.timer = setTimeout(function () {
      var withPage = refresh.page;
      refresh.page = false;
      loadFacets();
      loadMetadata();
      if (withPage) loadPage();
    }, 300);
  }

  function onChange(ev) {
    if (ev.kind === 'UPDATED' && ev.user) {
      var tr = $('rows').querySelector('tr[data-user-id="' + CSS.escape(ev.userId) + '"]');
      if (tr) {
        fillRow(tr, ev.user);
        tr.classList.remove('flash');
        void tr.offsetWidth; // restart the highlight
        tr.classList.add('flash');
        setTimeout(function () { tr.classList.remove('flash'); }, 1500);
      }
      scheduleRefresh(false);
    } else {
      scheduleRefresh(true);
    }
    var badge = $('live');
    badge.dataset.events = String(Number(badge.dataset.events || 0) + 1);
  }

  // handleFrame handles one SSE frame; it returns false when the stream is
  // over (complete, or an error the server sent).
  function handleFrame(frame) {
    var event = 'message';
    var data = [];
    frame.split(/\r?\n/).forEach(function (line) {
      if (!line || line.charAt(0) === ':') return; // keep-alive or comment
      var i = line.indexOf(':');
      var field = i < 0 ? line : line.slice(0, i);
      var value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    });
    if (event === 'complete') return false;
    if (event !== 'next' || !data.length) return true;
    var msg = JSON.parse(data.join('\n'));
    if (msg.errors && msg.errors.length) {
      throw new Error(describeErrors(msg.errors));
    }
    if (msg.data && msg.data.orgUsersChanged) onChange(msg.data.orgUsersChanged);
    return true;
  }

  function readStream(body) {
    var reader = body.getReader();
    var decoder = new TextDecoder();
    var buf = '';
    function pump() {
      return reader.read().then(function (r) {
        if (r.done) return;
        buf += decoder.decode(r.value, { stream: true });
        var m;
        while ((m = /\r?\n\r?\n/.exec(buf))) {
          var frame = buf.slice(0, m.index);
          buf = buf.slice(m.index + m[0].length);
          var more;
          try {
            more = handleFrame(frame);
          } catch (err) {
            reader.cancel();
            throw err;
          }
          if (!more) {
            reader.cancel();
            return;
          }
        }
        return pump();
      });
    }
    return pump();
  }

  function stopLive() {
    clearTimeout(live.timer);
    if (live.ctrl) live.ctrl.abort();
    live.ctrl = null;
  }

  function startLive() {
    stopLive();
    if (live.supported === false) return;
    var ctrl = new AbortController();
    live.ctrl = ctrl;
    var opened = Date.now();
    setLive('connecting', 'live: connecting');
    var headers = authHeaders();
    headers['Content-Type'] = 'application/json';
    headers.Accept = 'text/event-stream';
    fetch(endpoint, {
      method: 'POST',
      headers: headers,
      credentials: 'same-origin',
      signal: ctrl.signal,
      body: JSON.stringify({ query: LIVE_QUERY, variables: { filter: state.filter } })
    }).then(function (resp) {
      var type = resp.headers.get('Content-Type') || '';
      if (!resp.ok || type.indexOf('text/event-stream') !== 0 || !resp.body) {
        return resp.text().then(function (text) {
          var detail = text;
          try { detail = describeErrors(JSON.parse(text).errors); } catch (e) { /* not GraphQL JSON */ }
          throw new Error('HTTP ' + resp.status + (detail ? ': ' + detail.slice(0, 200) : ''));
        });
      }
      setLive('on', 'live');
      return readStream(resp.body);
    }).then(function () {
      if (live.ctrl === ctrl) reconnect(opened, 'stream ended');
    }, function (err) {
      if (live.ctrl === ctrl && !ctrl.signal.aborted) reconnect(opened, err.message);
    });
  }

  // reconnect opens the stream again after 1 s, 2 s, 4 s... at most 30 s;
  // a stream that stayed open 10 s or more starts the backoff over.
  function reconnect(opened, why) {
    live.ctrl = null;
    if (Date.now() - opened >= 10000) live.retry = 0;
    var delay = Math.min(30, Math.pow(2, live.retry)) * 1000;
    live.retry++;
    setLive('retrying', 'live: reconnecting in ' + delay / 1000 + ' s');
    $('live').title = 'Live updates: ' + why;
    live.timer = setTimeout(startLive, delay);
  }

  // checkLive asks the schema whether it offers orgUsersChanged; without it
  // the page stays as it is, with no stream to reopen. If the schema cannot
  // be asked, the page tries the stream anyway.
  function checkLive() {
    return gql(SUPPORT_QUERY).then(function (data) {
      var sub = data.__schema.subscriptionType;
      live.supported = !!(sub && sub.fields.some(function (f) { return f.name === 'orgUsersChanged'; }));
    }, function () {
      live.supported = null;
    }).then(function () {
      if (live.supported === false) {
        setLive('unsupported', 'live: not offered by this server');
        return;
      }
      startLive();
    });
  }

  // ---- wiring -------------------------------------------------------------

  var searchTimer = null;
  $('filters').addEventListener('submit', function (ev) { ev.preventDefault(); applyFilter(); });
  $('f-role').addEventListener('change', applyFilter);
  $('f-signin').addEventListener('change', applyFilter);
  $('f-search').addEventListener('input', function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(applyFilter, 400);
  });
  $('next').addEventListener('click', nextPage);
  $('prev').addEventListener('click', prevPage);
  $('meta-form').addEventListener('submit', function (ev) { ev.preventDefault(); loadMetadata(); });
  $('meta-path').addEventListener('change', loadMetadata);
  $('bulk-form').addEventListener('submit', previewBulk);
  $('bulk-role').addEventListener('input', resetBulk);
  $('bulk-apply').addEventListener('click', applyBulk);
  if (!fixedHeaders) {
    $('auth').hidden = false;
    $('auth').addEventListener('submit', function (ev) {
      ev.preventDefault();
      token = $('token').value.trim();
      loadAll();
      checkLive();
    });
  }

  loadAll();
  checkLive();
})();
