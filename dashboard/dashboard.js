/*
 * The dpd dashboard (spec §13): a single page that authors a Deployd app through /__resources and the resources'
 * own HTTP API, as root. Pages: /dashboard/ (overview), /dashboard/<resource>/<page>/ with the pages the type
 * declares (Properties, Data, Events, Rules, API for collections; Config and Events for other types).
 * Root: free in development (any key on a loopback listener); otherwise the key entered in the form, kept in the
 * DpdSshKey cookie and sent as the dpd-ssh-key header.
 */
(function () {
  'use strict';

  var PROPERTY_TYPES = ['string', 'number', 'boolean', 'date', 'object', 'array'];
  var EVENTS = [
    ['On Get', 'get.js'], ['On Validate', 'validate.js'], ['On Post', 'post.js'], ['On Put', 'put.js'],
    ['On Delete', 'delete.js'], ['On AfterCommit', 'aftercommit.js'], ['On BeforeRequest', 'beforerequest.js'],
  ];
  var LOGIN_EVENT = ['On Login', 'login.js'];
  var FORGOT_EVENT = ['On Forgot', 'forgot.js'];
  var PAGE_SIZE = 30;
  var PERF_ROUTE = '__performance';

  var state = { resources: [], types: {}, route: null, unsubscribe: null };
  var main = document.getElementById('main');

  // ------------------------------------------------------------------------------------------------- helpers
  function h(tag, attrs) {
    var el = document.createElement(tag);
    attrs = attrs || {};
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else el.setAttribute(k, v === true ? '' : v);
    });
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === undefined || child === null || child === false) continue;
      if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); continue; }
      el.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    }
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  function cookie(name) {
    var m = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
    return m ? decodeURIComponent(m[1]) : null;
  }
  function rootKey() { return cookie('DpdSshKey') || 'true'; }

  // One request as root: resolves with the parsed body, rejects with {status, message, errors}.
  function call(method, url, body) {
    var init = { method: method, headers: { 'dpd-ssh-key': rootKey() }, credentials: 'same-origin' };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
        if (!res.ok) {
          var err = data && typeof data === 'object' ? data : { message: text || res.statusText };
          err.status = res.status;
          throw err;
        }
        return data;
      });
    });
  }
  function errorText(err) {
    if (!err) return 'Something went wrong';
    if (err.errors) {
      return Object.keys(err.errors).map(function (k) { return k + ' ' + err.errors[k]; }).join(', ');
    }
    return err.message || String(err);
  }

  var toastTimer = null;
  function toast(text, isError) {
    var t = document.getElementById('toast');
    t.textContent = text;
    t.className = 'toast' + (isError ? ' error' : '');
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.hidden = true; }, isError ? 6000 : 2500);
  }

  function modal(title, body, actions) {
    var back = document.getElementById('modal');
    clear(back);
    var box = h('div', { class: 'modal', role: 'dialog', 'aria-label': title }, h('h2', { text: title }), body, actions);
    back.appendChild(box);
    back.hidden = false;
    back.onclick = function (e) { if (e.target === back) closeModal(); };
    var first = box.querySelector('input, select, textarea');
    if (first) first.focus();
    return box;
  }
  function closeModal() { var back = document.getElementById('modal'); back.hidden = true; clear(back); }

  // Deployd's rule for a new resource's path: lower case, spaces and underscores to '-', nothing else but
  // letters, digits, '-' and '/' (namespaces).
  function normalisePath(text) {
    return text.toLowerCase().replace(/[\s_]+/g, '-').replace(/[^a-z0-9\-\/]/g, '').replace(/\/+/g, '/')
      .replace(/^\/+|\/+$/g, '');
  }
  function jsName(name) { return name.replace(/[^A-Za-z0-9]/g, ''); }
  function typeLabel(type) { return (state.types[type] && state.types[type].label) || type; }
  function pagesOf(resource) {
    var t = state.types[resource.type];
    return t && t.dashboardPages && t.dashboardPages.length ? t.dashboardPages : ['Config'];
  }
  function isCollection(resource) { return resource.type === 'Collection' || resource.type === 'UserCollection'; }
  function findResource(id) {
    for (var i = 0; i < state.resources.length; i++) if (state.resources[i].id === id) return state.resources[i];
    return null;
  }

  // ------------------------------------------------------------------------------------------------- routing
  function parseRoute() {
    var rest = location.pathname.replace(/^\/dashboard\/?/, '').replace(/\/+$/, '');
    if (!rest) return { page: 'home' };
    if (rest === PERF_ROUTE) return { page: 'performance' };  // "__" cannot start a resource name
    var parts = rest.split('/');
    var last = parts[parts.length - 1].toLowerCase();
    var pages = ['properties', 'data', 'events', 'rules', 'api', 'config'];
    if (parts.length > 1 && pages.indexOf(last) >= 0) return { id: parts.slice(0, -1).join('/'), page: last };
    return { id: rest, page: null };
  }
  function navigate(url) {
    if (url !== location.pathname) history.pushState(null, '', url);
    render();
  }
  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('a[data-nav]');
    if (!a || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  window.addEventListener('popstate', render);
  function pageUrl(id, page) { return '/dashboard/' + id + '/' + page.toLowerCase() + '/'; }

  // ------------------------------------------------------------------------------------------------- data
  function load() {
    return Promise.all([call('GET', '/__resources'), call('GET', '/__resources/types')]).then(function (r) {
      state.resources = r[0].sort(function (a, b) { return a.id < b.id ? -1 : a.id > b.id ? 1 : 0; });
      state.types = r[1];
    });
  }

  // ------------------------------------------------------------------------------------------------- sidebar
  function renderSidebar() {
    var side = clear(document.getElementById('sidebar'));
    side.appendChild(h('button', { class: 'button new', onclick: createDialog, 'data-test': 'new-resource' }, '+ New resource'));
    var perfActive = state.route && state.route.page === 'performance';
    side.appendChild(h('div', { class: 'item perf-link' + (perfActive ? ' active' : '') },
      h('a', { href: '/dashboard/' + PERF_ROUTE + '/', 'data-nav': true }, '◔  Performance')));
    var groups = {};
    state.resources.forEach(function (r) { (groups[r.type] = groups[r.type] || []).push(r); });
    var order = Object.keys(groups).sort(function (a, b) {
      var rank = function (t) { return t === 'Collection' ? 0 : t === 'UserCollection' ? 1 : 2; };
      return rank(a) - rank(b) || (a < b ? -1 : 1);
    });
    if (!order.length) side.appendChild(h('div', { class: 'empty' }, 'No resources yet.'));
    order.forEach(function (type) {
      side.appendChild(h('h2', { text: type === 'Collection' ? 'Collections' : typeLabel(type) }));
      groups[type].forEach(function (r) {
        var active = state.route && state.route.id === r.id;
        side.appendChild(h('div', { class: 'item' + (active ? ' active' : '') },
          h('a', { href: pageUrl(r.id, pagesOf(r)[0]), 'data-nav': true, title: '/' + r.id }, '/' + r.id),
          h('button', { class: 'menu', title: 'Rename or delete', 'aria-label': 'Menu of /' + r.id,
            onclick: function () { resourceMenu(r); } }, '⋯')));
      });
    });
  }

  function createDialog() {
    var types = Object.keys(state.types);
    var select = h('select', { name: 'type' }, types.map(function (t) { return h('option', { value: t }, typeLabel(t)); }));
    var input = h('input', { type: 'text', name: 'path', placeholder: '/my-objects', autocomplete: 'off' });
    var preview = h('div', { class: 'hint' });
    var error = h('div', { class: 'error' });
    var update = function () {
      var p = normalisePath(input.value);
      preview.textContent = p ? 'Will be served at /' + p : '';
    };
    input.addEventListener('input', update);
    select.addEventListener('change', function () {
      var t = state.types[select.value];
      if (!input.value && t && t.defaultPath) input.placeholder = t.defaultPath;
    });
    select.dispatchEvent(new Event('change'));
    var submit = function (e) {
      if (e) e.preventDefault();
      var path = normalisePath(input.value || input.placeholder);
      if (!path) { error.textContent = 'Give the resource a path, such as /todos.'; return; }
      if (findResource(path)) { error.textContent = '/' + path + ' exists already.'; return; }
      call('POST', '/__resources/' + path, { type: select.value }).then(function () {
        closeModal();
        return load().then(function () {
          var r = findResource(path);
          toast('Created /' + path);
          navigate(pageUrl(path, pagesOf(r || { type: select.value })[0]));
        });
      }).catch(function (err) { error.textContent = errorText(err); });
    };
    modal('New resource', h('form', { onsubmit: submit },
      h('div', { class: 'field' }, h('label', { text: 'Type' }), select),
      h('div', { class: 'field' }, h('label', { text: 'Path' }), input, preview),
      error,
      h('div', { class: 'row end' },
        h('button', { type: 'button', class: 'button subtle', onclick: closeModal }, 'Cancel'),
        h('button', { type: 'submit', class: 'button', 'data-test': 'create' }, 'Create'))));
  }

  function resourceMenu(r) {
    var input = h('input', { type: 'text', value: r.id, name: 'path' });
    var error = h('div', { class: 'error' });
    var rename = function (e) {
      e.preventDefault();
      var to = normalisePath(input.value);
      if (!to || to === r.id) { closeModal(); return; }
      call('PUT', '/__resources/' + r.id, { id: to }).then(function () {
        closeModal();
        toast('Renamed /' + r.id + ' to /' + to);
        return load().then(function () { navigate(pageUrl(to, pagesOf(r)[0])); });
      }).catch(function (err) { error.textContent = errorText(err); });
    };
    var remove = function () {
      var words = isCollection(r) ? ' and all of its data' : '';
      if (!confirm('Delete /' + r.id + words + '? This cannot be undone.')) return;
      call('DELETE', '/__resources/' + r.id).then(function () {
        closeModal();
        toast('Deleted /' + r.id);
        return load().then(function () { navigate('/dashboard/'); });
      }).catch(function (err) { error.textContent = errorText(err); });
    };
    modal('/' + r.id, h('form', { onsubmit: rename },
      h('div', { class: 'field' }, h('label', { text: 'Rename to' }), input,
        h('div', { class: 'hint', text: isCollection(r) ? 'Its documents move with it.' : '' })),
      error,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'button danger', onclick: remove, 'data-test': 'delete-resource' }, 'Delete'),
        h('span', { class: 'spacer', style: 'flex:1' }),
        h('button', { type: 'button', class: 'button subtle', onclick: closeModal }, 'Cancel'),
        h('button', { type: 'submit', class: 'button' }, 'Rename'))));
  }

  // ------------------------------------------------------------------------------------------------- pages
  function header(r, page) {
    var pages = pagesOf(r);
    return [
      h('div', { class: 'page-head' }, h('h1', { text: '/' + r.id }), h('span', { class: 'type', text: typeLabel(r.type) })),
      h('nav', { class: 'tabs' }, pages.map(function (p) {
        return h('a', { href: pageUrl(r.id, p), 'data-nav': true, class: p.toLowerCase() === page ? 'active' : '' }, p);
      })),
    ];
  }

  function renderHome() {
    var cards = state.resources.map(function (r) {
      return h('a', { class: 'res-card', href: pageUrl(r.id, pagesOf(r)[0]), 'data-nav': true },
        h('div', { class: 'name', text: '/' + r.id }),
        h('div', { class: 'meta', text: typeLabel(r.type) + (r.properties ? ' · ' + Object.keys(r.properties).length + ' properties' : '') }));
    });
    append(main, h('div', { class: 'welcome' },
      h('h1', { text: 'Your app' }),
      h('p', { class: 'subtitle' }, state.resources.length
        ? 'Pick a resource on the left, or create another one. Changes take effect at once — no restart.'
        : 'Create a collection to store data: it gets a REST API, realtime events and a dpd.js client at once.')));
    if (cards.length) append(main, h('div', { class: 'cards' }, cards));
    else append(main, h('button', { class: 'button', onclick: createDialog }, '+ Create your first collection'));
  }

  // -- Properties
  function renderProperties(r) {
    var users = r.type === 'UserCollection';
    var props = r.properties || {};
    var names = Object.keys(props).sort(function (a, b) {
      var oa = props[a].order, ob = props[b].order;
      return (oa === undefined ? 1e9 : oa) - (ob === undefined ? 1e9 : ob);
    });
    var table = null;
    // Every edit sends the whole list as this render drew it, so a second edit made before the first one's save has
    // been loaded back would overwrite it with the old state (checking "required", then "Move up" at once, lost the
    // required flag). The table is disabled from an edit until the page is drawn again from what the server holds.
    var save = function (list, renamed) {
      if (table) {
        table.setAttribute('aria-busy', 'true');
        table.querySelectorAll('input, select, button').forEach(function (el) { el.disabled = true; });
      }
      var out = {};
      list.forEach(function (p, i) {
        out[p.name] = Object.assign({}, p.def, { name: p.name, id: p.name, type: p.def.type || 'string', order: i });
        if (!out[p.name].required) delete out[p.name].required;
        else out[p.name].required = true;
      });
      return call('PUT', '/__resources/' + r.id, { properties: out }).then(function () {
        if (renamed) {
          var body = { properties: {} };
          body.properties[renamed[0]] = renamed[1];
          return call('POST', '/' + r.id + '/rename', body);
        }
      }).then(function () { return load(); }).then(function () { toast('Saved'); render(); })
        .catch(function (err) { toast(errorText(err), true); render(); });
    };
    var list = names.map(function (n) { return { name: n, def: props[n] }; });
    var rows = list.map(function (p, i) {
      var nameInput = h('input', { type: 'text', value: p.name, 'aria-label': 'Name of ' + p.name,
        onchange: function () {
          var to = nameInput.value.replace(/[^A-Za-z0-9]/g, '');
          if (!to || to === p.name || props[to]) { nameInput.value = p.name; return; }
          var next = list.slice();
          next[i] = { name: to, def: p.def };
          save(next, [p.name, to]);
        } });
      var typeSelect = h('select', { 'aria-label': 'Type of ' + p.name, onchange: function () {
        var next = list.slice();
        next[i] = { name: p.name, def: Object.assign({}, p.def, { type: typeSelect.value }) };
        save(next);
      } }, PROPERTY_TYPES.map(function (t) { return h('option', { value: t, selected: (p.def.type || 'string') === t }, t); }));
      var required = h('input', { type: 'checkbox', checked: !!p.def.required, 'aria-label': p.name + ' is required',
        onchange: function () {
          var next = list.slice();
          next[i] = { name: p.name, def: Object.assign({}, p.def, { required: required.checked }) };
          save(next);
        } });
      var move = function (d) {
        var j = i + d;
        if (j < 0 || j >= list.length) return;
        var next = list.slice();
        next[i] = list[j];
        next[j] = list[i];
        save(next);
      };
      return h('tr', { 'data-property': p.name },
        h('td', null, nameInput),
        h('td', null, typeSelect),
        h('td', null, h('label', { class: 'check' }, required, 'required')),
        h('td', { class: 'actions' },
          h('button', { class: 'button icon', title: 'Move up', disabled: i === 0, onclick: function () { move(-1); } }, '↑'),
          ' ',
          h('button', { class: 'button icon', title: 'Move down', disabled: i === list.length - 1, onclick: function () { move(1); } }, '↓'),
          ' ',
          h('button', { class: 'button icon danger-ink', title: 'Delete ' + p.name, onclick: function () {
            if (!confirm('Delete the property "' + p.name + '"? Stored values stay in the documents but are no longer served.')) return;
            save(list.filter(function (q) { return q.name !== p.name; }));
          } }, '✕')));
    });
    var newName = h('input', { type: 'text', placeholder: 'name', name: 'new-property', 'aria-label': 'New property name' });
    var newType = h('select', { name: 'new-type', 'aria-label': 'New property type' },
      PROPERTY_TYPES.map(function (t) { return h('option', { value: t }, t); }));
    var newRequired = h('input', { type: 'checkbox', 'aria-label': 'New property is required' });
    var add = function (e) {
      e.preventDefault();
      var n = newName.value.replace(/[^A-Za-z0-9]/g, '');
      if (!n) { toast('A property name is letters and digits only', true); return; }
      if (props[n] || (users && (n === 'username' || n === 'password'))) { toast('"' + n + '" exists already', true); return; }
      save(list.concat([{ name: n, def: { type: newType.value, required: newRequired.checked } }]));
    };
    var builtins = users ? ['username', 'password'].map(function (n) {
      return h('tr', null, h('td', { class: 'builtin', text: n }), h('td', { class: 'builtin', text: 'string' }),
        h('td', { class: 'builtin', text: 'required' }), h('td', { class: 'actions builtin', text: 'built in' }));
    }) : [];
    append(main, table = h('table', { class: 'grid', 'data-test': 'properties' },
      h('thead', null, h('tr', null, h('th', { text: 'Name' }), h('th', { text: 'Type' }), h('th', { text: 'Required' }), h('th', { text: '' }))),
      h('tbody', null, builtins, rows),
      h('tfoot', null, h('tr', { class: 'new-row' },
        h('td', null, newName), h('td', null, newType),
        h('td', null, h('label', { class: 'check' }, newRequired, 'required')),
        h('td', { class: 'actions' }, h('button', { class: 'button', onclick: add, 'data-test': 'add-property' }, 'Add'))))));
    append(main, h('p', { class: 'hint' },
      'Property names are letters and digits. Renaming a property renames the field in every stored document.'));
    newName.addEventListener('keydown', function (e) { if (e.key === 'Enter') add(e); });
  }

  // -- Data
  function columnsOf(r) {
    var props = r.properties || {};
    var names = Object.keys(props).sort(function (a, b) { return (props[a].order || 0) - (props[b].order || 0); });
    if (r.type === 'UserCollection') names = ['username', 'password'].concat(names.filter(function (n) { return n !== 'username' && n !== 'password'; }));
    return names.map(function (n) { return { name: n, type: (props[n] && props[n].type) || 'string' }; });
  }
  function show(value, type) {
    if (value === undefined || value === null) return '';
    if (type === 'object' || type === 'array' || typeof value === 'object') return JSON.stringify(value);
    return String(value);
  }
  function parseCell(text, type) {
    if (text === '') return null;
    if (type === 'number') { var n = Number(text); if (isNaN(n)) throw new Error('not a number'); return n; }
    if (type === 'boolean') return text === 'true' || text === '1' || text === 'yes';
    if (type === 'object' || type === 'array') return JSON.parse(text);
    return text;
  }

  function renderData(r) {
    var cols = columnsOf(r);
    var page = 0;
    var total = 0;
    var count = h('span', { class: 'count', 'data-test': 'count' });
    var prev = h('button', { class: 'button subtle', onclick: function () { if (page > 0) { page--; refresh(); } } }, '‹ Prev');
    var next = h('button', { class: 'button subtle', onclick: function () { if ((page + 1) * PAGE_SIZE < total) { page++; refresh(); } } }, 'Next ›');
    var tbody = h('tbody');
    var addRow = function () {
      if (tbody.querySelector('tr.new-row')) return;
      var inputs = {};
      var tr = h('tr', { class: 'new-row' }, h('td', { class: 'id', text: 'new' }),
        cols.map(function (c) {
          var el = c.type === 'object' || c.type === 'array'
            ? h('textarea', { class: 'json', placeholder: c.type === 'array' ? '[]' : '{}' })
            : c.type === 'boolean' ? h('select', null, h('option', { value: '' }, ''), h('option', { value: 'true' }, 'true'), h('option', { value: 'false' }, 'false'))
              : h('input', { type: c.name === 'password' ? 'password' : 'text', placeholder: c.type });
          el.setAttribute('data-column', c.name);
          inputs[c.name] = el;
          return h('td', null, el);
        }),
        h('td', { class: 'actions' },
          h('button', { class: 'button', 'data-test': 'save-row', onclick: function () {
            var body = { $skipEvents: true };
            try {
              cols.forEach(function (c) {
                var v = parseCell(inputs[c.name].value, c.type);
                if (v !== null) body[c.name] = v;
              });
            } catch (e) { toast('Invalid value: ' + e.message, true); return; }
            call('POST', '/' + r.id, body).then(function () { toast('Added'); refresh(); })
              .catch(function (err) { toast(errorText(err), true); });
          } }, 'Save'), ' ',
          h('button', { class: 'button subtle', onclick: function () { tr.remove(); } }, 'Cancel')));
      tbody.insertBefore(tr, tbody.firstChild);
      var first = tr.querySelector('input, textarea, select');
      if (first) first.focus();
    };
    var editCell = function (td, doc, c) {
      if (td.querySelector('input, textarea')) return;
      var original = c.name === 'password' ? '' : show(doc[c.name], c.type);
      var multi = c.type === 'object' || c.type === 'array';
      var el = multi ? h('textarea', { class: 'json', value: original }) : h('input', { type: c.name === 'password' ? 'password' : 'text', value: original });
      clear(td).appendChild(el);
      el.focus();
      var done = false;
      var commit = function () {
        if (done) return;
        done = true;
        if (el.value === original) { refresh(); return; }
        var body = { $skipEvents: true };
        try { body[c.name] = parseCell(el.value, c.type); } catch (e) { toast('Invalid value: ' + e.message, true); refresh(); return; }
        call('PUT', '/' + r.id + '/' + doc.id, body).then(function () { toast('Saved'); refresh(); })
          .catch(function (err) { toast(errorText(err), true); refresh(); });
      };
      el.addEventListener('blur', commit);
      el.addEventListener('keydown', function (e) {
        if (e.key === 'Escape') { done = true; refresh(); }
        if (e.key === 'Enter' && (!multi || e.metaKey || e.ctrlKey)) { e.preventDefault(); commit(); }
      });
    };
    var refresh = function () {
      var q = encodeURIComponent(JSON.stringify({ $skip: page * PAGE_SIZE, $limit: PAGE_SIZE, $skipEvents: true }));
      return Promise.all([call('GET', '/' + r.id + '/count'), call('GET', '/' + r.id + '?_jsonquery=' + q)]).then(function (res) {
        total = res[0].count;
        count.textContent = total === 0 ? 'No documents' : (page * PAGE_SIZE + 1) + '–' + Math.min(total, (page + 1) * PAGE_SIZE) + ' of ' + total;
        prev.disabled = page === 0;
        next.disabled = (page + 1) * PAGE_SIZE >= total;
        clear(tbody);
        if (!res[1].length) {
          tbody.appendChild(h('tr', null, h('td', { colspan: cols.length + 2, class: 'hint', text: 'No documents yet — add one with “+ Add row”.' })));
        }
        res[1].forEach(function (doc) {
          var tr = h('tr', { 'data-id': doc.id }, h('td', { class: 'id mono', text: doc.id }),
            cols.map(function (c) {
              var text = c.name === 'password' ? '••••••' : show(doc[c.name], c.type);
              var td = h('td', { class: 'cell' + (text === '' ? ' null' : ''), 'data-column': c.name, title: text }, text === '' ? '—' : text);
              td.addEventListener('click', function () { editCell(td, doc, c); });
              return td;
            }),
            h('td', { class: 'actions' }, h('button', { class: 'button icon danger-ink', title: 'Delete this document',
              onclick: function () {
                if (!confirm('Delete document ' + doc.id + '?')) return;
                call('DELETE', '/' + r.id + '/' + doc.id + '?$skipEvents=true').then(function () { toast('Deleted'); refresh(); })
                  .catch(function (err) { toast(errorText(err), true); });
              } }, '✕')));
          tbody.appendChild(tr);
        });
      }).catch(function (err) { toast(errorText(err), true); });
    };
    // Jump to the page that holds a document (index-of, spec §5.11).
    var jump = h('input', { type: 'text', placeholder: 'Go to id', name: 'goto', 'aria-label': 'Go to a document id', style: 'width:170px' });
    jump.addEventListener('keydown', function (e) {
      if (e.key !== 'Enter' || !jump.value.trim()) return;
      var id = jump.value.trim();
      call('GET', '/' + r.id + '/index-of/' + encodeURIComponent(id)).then(function (res) {
        if (!res || res.index < 0) { toast('No document ' + id, true); return; }
        page = Math.floor(res.index / PAGE_SIZE);
        return refresh().then(function () {
          var row = tbody.querySelector('tr[data-id="' + id.replace(/"/g, '') + '"]');
          if (row) { row.classList.add('found'); row.scrollIntoView({ block: 'center' }); }
        });
      }).catch(function (err) { toast(errorText(err), true); });
    });
    append(main, h('div', { class: 'toolbar' },
      h('button', { class: 'button', onclick: addRow, 'data-test': 'add-row' }, '+ Add row'),
      h('button', { class: 'button subtle', onclick: function () { refresh(); } }, 'Refresh'),
      jump,
      h('span', { class: 'spacer', style: 'flex:1' }), count, h('span', { class: 'pager' }, prev, next)));
    append(main, h('div', { class: 'table-wrap' }, h('table', { class: 'grid', 'data-test': 'data' },
      h('thead', null, h('tr', null, h('th', { text: 'id' }), cols.map(function (c) { return h('th', { text: c.name }); }), h('th', { text: '' }))),
      tbody)));
    append(main, h('p', { class: 'hint' }, 'Click a cell to edit it (Enter saves, Esc cancels). Writes here skip the event scripts; the table refreshes when the app emits “' + r.id + ':changed”.'));
    // Live: the app's own realtime event for this collection refreshes the grid.
    if (window.dpd && dpd.on) {
      // An event emitted by post.js/put.js comes before the write is stored: refresh soon, and once more a little
      // later so a write that was still being committed shows up too.
      var timers = [];
      var onChanged = function () {
        timers.forEach(clearTimeout);
        timers = [setTimeout(refresh, 150), setTimeout(refresh, 1000)];
      };
      dpd.on(r.id + ':changed', onChanged);
      state.unsubscribe = function () { dpd.off(r.id + ':changed', onChanged); };
    }
    refresh();
  }

  // -- Events
  function renderEvents(r) {
    var events = EVENTS.slice();
    if (r.type === 'UserCollection') events.push(LOGIN_EVENT, FORGOT_EVENT);
    var t = state.types[r.type];
    if (r.type !== 'Collection' && r.type !== 'UserCollection' && t && Array.isArray(t.events) && t.events.length) {
      // A module type's own events (dpd-event: get, post, put, delete), as its module declares them.
      events = t.events.map(function (file) {
        var base = file.replace(/\.js$/, '');
        return ['On ' + base.charAt(0).toUpperCase() + base.slice(1), file];
      });
    }
    var current = (state.route.event && events.filter(function (e) { return e[1] === state.route.event; })[0]) || events[0];
    var tabs = h('nav', { class: 'tabs small' }, events.map(function (e) {
      return h('a', { href: '#', class: e === current ? 'active' : '', 'data-event': e[1], onclick: function (ev) {
        ev.preventDefault();
        state.route.event = e[1];
        render();
      } }, e[0]);
    }));
    // A dot on the tabs of the events that have a script.
    events.forEach(function (e) {
      call('GET', '/__resources/' + r.id + '/' + e[1]).then(function (res) {
        var tab = tabs.querySelector('[data-event="' + e[1] + '"]');
        if (tab && res && res.value && res.value.trim()) tab.classList.add('has-script');
      }, function () {});
    });
    var status = h('div', { class: 'status-line idle', 'data-test': 'script-status' }, 'Loading…');
    var host = h('div', { class: 'editor' });
    var saveButton = h('button', { class: 'button', 'data-test': 'save-script' }, 'Save');
    append(main, tabs, h('p', { class: 'hint', text: hintFor(current[1], r.type) }), host, status,
      h('div', { class: 'row end' }, h('span', { class: 'hint', text: 'Ctrl+S saves' }), saveButton));
    var editor = CodeMirror(host, { mode: 'javascript', lineNumbers: true, matchBrackets: true, tabSize: 2,
      indentUnit: 2, value: '' });
    var marked = null;
    var mark = function (line) {
      if (marked !== null) editor.removeLineClass(marked, 'background', 'cm-error-line');
      marked = line;
      if (line !== null) editor.addLineClass(line, 'background', 'cm-error-line');
    };
    var setStatus = function (kind, text) { status.className = 'status-line ' + kind; status.textContent = text; };
    var url = '/__resources/' + r.id + '/' + current[1];
    var check = function () {
      return call('POST', url, { value: editor.getValue(), $check: true }).then(function () {
        mark(null);
        setStatus('ok', editor.getValue().trim() ? 'No syntax errors.' : 'Empty: this event does nothing.');
        return true;
      }).catch(function (err) {
        var line = err.line ? err.line - 1 : null;
        mark(line !== null && line < editor.lineCount() ? line : null);
        setStatus('error', errorText(err));
        return false;
      });
    };
    var save = function () {
      return check().then(function (ok) {
        if (!ok) { toast('Not saved: fix the syntax error first', true); return; }
        return call('PUT', url, { value: editor.getValue() }).then(function () { toast('Saved ' + current[0]); })
          .catch(function (err) { toast(errorText(err), true); });
      });
    };
    saveButton.addEventListener('click', save);
    editor.setOption('extraKeys', { 'Ctrl-S': save, 'Cmd-S': save });
    var timer = null;
    editor.on('change', function () { clearTimeout(timer); timer = setTimeout(check, 500); });
    call('GET', url).then(function (res) { editor.setValue(res.value || ''); }, function () { editor.setValue(''); })
      .then(function () { editor.clearHistory(); host.setAttribute('data-loaded', ''); check(); editor.focus(); });
    window.dashboardEditor = editor;  // for tests and the curious
  }
  function hintFor(file, type) {
    var hints = {
      'get.js': 'Runs for each document a GET returns. `this` is the document; hide(), cancel() and `me` are there.',
      'validate.js': 'Runs before POST and PUT are written. error(field, message) rejects the write.',
      'post.js': 'Runs when a document is created. `this` is the new document.',
      'put.js': 'Runs when a document is updated. `previous` holds the stored version.',
      'delete.js': 'Runs before a document is deleted. cancel() keeps it.',
      'aftercommit.js': 'Runs after a write is stored. A good place for emit().',
      'beforerequest.js': 'Runs before every request to this resource. `event` is GET, POST, PUT or DELETE.',
      'login.js': 'Runs when someone logs in. `success` says whether the password was right.',
    };
    if (type && type !== 'Collection' && type !== 'UserCollection') {
      return 'Runs when this resource gets a ' + file.replace(/\.js$/, '').toUpperCase() + ' request. What the script sees is ' +
        'up to its module (dpd-event: query, body, parts, me, setResult, setStatusCode, dpd, emit, cancel).';
    }
    return hints[file] || '';
  }

  // -- API
  function renderApi(r) {
    var p = '/' + r.id;
    var js = 'dpd.' + jsName(r.id);
    var routes = [
      ['GET', p, 'Every document (with a query: those that match)'],
      ['GET', p + '/<id>', 'One document'],
      ['GET', p + '/count', 'How many documents (root, or whoever the count rule admits)'],
      ['GET', p + '/aggregate?[…]', 'Groups with $sum, $avg, $min, $max, $count (root, or within the list rule)'],
      ['POST', p, 'Create a document'],
      ['PUT', p + '/<id>', 'Update fields of a document ($inc, $push, … allowed)'],
      ['DELETE', p + '/<id>', 'Delete a document'],
    ];
    if (r.type === 'UserCollection') {
      routes.push(['POST', p + '/login', 'Log in with {username, password}; answers the session']);
      routes.push(['POST', p + '/logout', 'Log out']);
      routes.push(['GET', p + '/me', 'The logged-in user (204 when nobody is)']);
    }
    append(main, h('div', { class: 'card' }, h('h3', { text: 'HTTP' }),
      h('table', { class: 'grid api-table' }, h('tbody', null, routes.map(function (rt) {
        return h('tr', null, h('td', null, h('code', { text: rt[0] })), h('td', null, h('code', { text: rt[1] })), h('td', { text: rt[2] }));
      })))));
    var sample = [
      '// in a page that loads <script src="/dpd.js"></script>',
      js + '.get({$sort: {createdAt: -1}, $limit: 10}, function (result, err) { … });',
      js + '.get("<id>").then(function (doc) { … });',
      js + '.post({…}).then(function (created) { … }, function (err) { … });',
      js + '.put("<id>", {…});',
      js + '.del("<id>");',
      js + '.aggregate([{$group: {_id: "$<field>", n: {$count: {}}}}], function (groups, err) { … });',
      js + '.on("changed", function (data) { … });   // the app\'s emit("' + r.id + ':changed", …)',
    ];
    if (r.type === 'UserCollection') {
      sample.push(js + '.login({username: "alice", password: "…"}).then(function (session) { … });');
      sample.push(js + '.me(function (user) { … });');
      sample.push(js + '.logout();');
    }
    append(main, h('div', { class: 'card' }, h('h3', { text: 'dpd.js' }), h('pre', { class: 'sample', text: sample.join('\n') })));
  }

  // -- Rules (docs/rules.md): who may list, read, create, update, delete and count, with what each kind of caller
  // gets, worked out from the rule as written.
  var RULE_OPS = [
    ['list', 'List', 'GET /{path}, /{path}/aggregate'], ['get', 'Read one', 'GET /{path}/<id>'], ['create', 'Create', 'POST /{path}'],
    ['update', 'Update', 'PUT /{path}/<id>'], ['delete', 'Delete', 'DELETE /{path}/<id>'], ['count', 'Count', 'GET /{path}/count'],
  ];
  var RULE_KINDS = [['', 'As Deployd (scripts decide)'], ['public', 'Everyone'], ['users', 'Logged-in users'],
    ['root', 'Root only (dashboard key)'], ['query', 'Matching documents…']];
  var VERB = { list: 'see', get: 'read', create: 'create', update: 'update', delete: 'delete', count: 'count' };

  // A rule query in words, for a caller who is a user (me = true) or a guest (me = false: $me matches nothing).
  // Returns null when, for that caller, it can match nothing.
  function describeQuery(q, me) {
    var parts = [];
    for (var k in q) {
      if (!Object.prototype.hasOwnProperty.call(q, k)) continue;
      var v = q[k];
      if (k === '$or' || k === '$and' || k === '$nor') {
        var branches = (Array.isArray(v) ? v : []).map(function (b) { return describeQuery(b, me); });
        if (k === '$or') {
          var live = branches.filter(function (b) { return b !== null; });
          if (!live.length) return null;
          parts.push(live.length > 1 ? '(' + live.join(' or ') + ')' : live[0]);
        } else if (k === '$and') {
          if (branches.indexOf(null) >= 0) return null;
          parts.push(branches.join(' and '));
        } else {
          parts.push('not (' + branches.map(function (b) { return b === null ? 'nothing' : b; }).join(' or ') + ')');
        }
        continue;
      }
      var d = describeCondition(k, v, me);
      if (d === null) return null;
      parts.push(d);
    }
    return parts.length ? parts.join(' and ') : 'any document';
  }
  function describeValue(v, me) {
    if (typeof v === 'string' && v.indexOf('$me.') === 0) return me ? 'their own ' + v.slice(4) : null;
    if (v === '$now') return 'now';
    return JSON.stringify(v);
  }
  var OP_WORDS = { $eq: 'is', $ne: 'is not', $gt: '>', $gte: '≥', $lt: '<', $lte: '≤', $in: 'is one of', $nin: 'is none of' };
  function describeCondition(field, v, me) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      var out = [];
      for (var op in v) {
        if (op === '$exists') { out.push(field + (v[op] ? ' is set' : ' is not set')); continue; }
        var val = describeValue(v[op], me);
        if (val === null) return null;
        out.push(field + ' ' + (OP_WORDS[op] || op) + ' ' + val);
      }
      return out.join(' and ');
    }
    var value = describeValue(v, me);
    return value === null ? null : field + ' is ' + value;
  }
  function ruleEffect(op, kind, query) {
    var v = VERB[op];
    if (kind === '') {
      return op === 'count' ? { guest: 'No (403)', user: 'No (403)', root: 'Yes' }
        : { guest: 'Yes, unless a script cancels', user: 'Yes, unless a script cancels', root: 'Yes' };
    }
    if (kind === 'public') return { guest: 'Yes', user: 'Yes', root: 'Yes' };
    if (kind === 'users') return { guest: 'No (401)', user: 'Yes', root: 'Yes' };
    if (kind === 'root') return { guest: 'No (401)', user: 'No (403)', root: 'Yes' };
    var forGuest = describeQuery(query || {}, false);
    var forUser = describeQuery(query || {}, true);
    var says = function (d) {
      if (d === null) return op === 'list' || op === 'count' ? 'Nothing' : 'No';
      return 'Where ' + d;
    };
    return { guest: says(forGuest), user: says(forUser), root: 'Yes, all (' + v + ' everything)' };
  }

  function renderRules(r) {
    var rules = Object.assign({}, r.rules || {});
    var rows = [];
    var controls = {};
    RULE_OPS.forEach(function (o) {
      var op = o[0];
      var current = rules[op];
      var kind = current === undefined ? '' : typeof current === 'string' ? current : 'query';
      var select = h('select', { name: 'rule-' + op, 'aria-label': o[1] + ' rule' },
        RULE_KINDS.map(function (k) { return h('option', { value: k[0], selected: k[0] === kind }, k[1]); }));
      var area = h('textarea', { class: 'json rule-query', name: 'query-' + op, rows: 2, spellcheck: 'false',
        placeholder: '{"owner": "$me.id"}', value: kind === 'query' ? JSON.stringify(current) : '' });
      var effect = h('div', { class: 'rule-effect', 'data-effect': op });
      var update = function () {
        area.style.display = select.value === 'query' ? '' : 'none';
        var q = null;
        if (select.value === 'query') {
          try { q = JSON.parse(area.value || '{}'); area.classList.remove('invalid'); } catch (e) { area.classList.add('invalid'); }
        }
        var e = ruleEffect(op, select.value, q);
        clear(effect);
        [['Guest', e.guest], ['User', e.user], ['Root', e.root]].forEach(function (w) {
          append(effect, h('div', { class: 'who' }, h('span', { class: 'who-name', text: w[0] }),
            h('span', { class: /^(No|Nothing)/.test(w[1]) ? 'who-no' : 'who-yes', text: w[1] })));
        });
      };
      select.addEventListener('change', update);
      area.addEventListener('input', update);
      controls[op] = { select: select, area: area };
      rows.push(h('tr', { 'data-rule': op },
        h('td', null, h('div', { class: 'rule-op', text: o[1] }), h('div', { class: 'hint mono', text: o[2].replace(/\{path\}/g, r.id) })),
        h('td', null, select, area),
        h('td', null, effect)));
      update();
    });
    var save = function () {
      var out = {};
      for (var op in controls) {
        var c = controls[op];
        if (c.select.value === '') continue;
        if (c.select.value !== 'query') { out[op] = c.select.value; continue; }
        try { out[op] = JSON.parse(c.area.value || '{}'); } catch (e) { toast('The ' + op + ' rule is not JSON: ' + e.message, true); return; }
      }
      call('PUT', '/__resources/' + r.id, { rules: out }).then(function () { return load(); })
        .then(function () { toast('Rules saved'); render(); })
        .catch(function (err) { toast(errorText(err), true); });
    };
    append(main, h('p', { class: 'subtitle' },
      'Who may do what, enforced by the server before any event script runs. A query rule is merged into every ',
      'read, so a list returns only what the caller may see, and checked inside every write. Use "$me.id" (or ',
      '"$me.<field>") for the calling user and "$now" for the time. The list rule also opens /aggregate (without ',
      'one, only root aggregates).'));
    append(main, h('table', { class: 'grid rules', 'data-test': 'rules' },
      h('thead', null, h('tr', null, h('th', { text: 'Operation' }), h('th', { text: 'Allowed for' }), h('th', { text: 'What each caller gets' }))),
      h('tbody', null, rows)));
    append(main, h('div', { class: 'row end', style: 'margin-top:12px' },
      h('button', { class: 'button', 'data-test': 'save-rules', onclick: save }, 'Save rules')));
  }

  // -- Config (types without their own pages): the type's settings form when its module declares one
  // (basicDashboard.settings: text, textarea, numeric, checkbox), else config.json as JSON.
  function renderConfig(r) {
    var copy = Object.assign({}, r);
    delete copy.id;
    var t = state.types[r.type] || {};
    var settings = t.basicDashboard && Array.isArray(t.basicDashboard.settings) ? t.basicDashboard.settings : null;
    var put = function (body) {
      body.$setAll = true;
      return call('PUT', '/__resources/' + r.id, body).then(function () { toast('Saved'); return load(); }).then(render)
        .catch(function (err) { toast(errorText(err), true); });
    };
    if (settings && settings.length) {
      var inputs = {};
      var fields = settings.filter(function (f) { return f && typeof f.name === 'string'; }).map(function (f) {
        var v = copy[f.name];
        var input;
        if (f.type === 'checkbox') {
          input = h('input', { type: 'checkbox', name: f.name });
          input.checked = !!v;
          inputs[f.name] = input;
          return h('div', { class: 'field' }, h('label', { class: 'check' }, input, f.name),
            f.description ? h('div', { class: 'hint', text: f.description }) : null);
        }
        if (f.type === 'textarea') input = h('textarea', { name: f.name, rows: 5, value: v === undefined ? '' : String(v) });
        else input = h('input', { type: f.type === 'numeric' ? 'number' : 'text', name: f.name, value: v === undefined ? '' : String(v) });
        inputs[f.name] = input;
        return h('div', { class: 'field' }, h('label', { text: f.name }), input,
          f.description ? h('div', { class: 'hint', text: f.description }) : null);
      });
      var saveForm = function () {
        var body = Object.assign({}, copy);
        settings.forEach(function (f) {
          var input = inputs[f.name];
          if (!input) return;
          if (f.type === 'checkbox') body[f.name] = input.checked;
          else if (f.type === 'numeric') { if (input.value === '') delete body[f.name]; else body[f.name] = Number(input.value); }
          else body[f.name] = input.value;
        });
        put(body);
      };
      append(main, h('div', { class: 'card' }, h('h3', { text: (t.label || r.type) + ' settings' }),
        h('div', { class: 'form' }, fields),
        h('div', { class: 'row end', style: 'margin-top:10px' }, h('button', { class: 'button', onclick: saveForm }, 'Save'))));
      return;
    }
    var area = h('textarea', { class: 'json', style: 'width:100%;min-height:320px', value: JSON.stringify(copy, null, 2) });
    var saveConfig = function () {
      var body;
      try { body = JSON.parse(area.value); } catch (e) { toast('Not JSON: ' + e.message, true); return; }
      put(body);
    };
    append(main, h('div', { class: 'card' }, h('h3', { text: 'config.json' }), area,
      h('div', { class: 'row end', style: 'margin-top:10px' }, h('button', { class: 'button', onclick: saveConfig }, 'Save'))));
  }

  // -- Performance: live figures pushed by the server once a second over socket.io (a root-only watcher socket)
  var SVG = 'http://www.w3.org/2000/svg';
  function s(tag, attrs) {
    var el = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) el.appendChild(arguments[i]);
    return el;
  }
  function fmtMs(v) { return v >= 100 ? Math.round(v) + ' ms' : v >= 10 ? v.toFixed(1) + ' ms' : v.toFixed(2) + ' ms'; }
  function fmtNum(v) { return v >= 1e6 ? (v / 1e6).toFixed(1) + 'M' : v >= 1e4 ? (v / 1e3).toFixed(1) + 'k' : String(Math.round(v * 10) / 10); }
  function fmtBytes(v) {
    var u = ['B', 'KiB', 'MiB', 'GiB']; var i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : v) + ' ' + u[i];
  }
  function fmtAgo(ms) {
    var sec = Math.max(0, Math.round((Date.now() - ms) / 1000));
    return sec < 60 ? sec + ' s ago' : Math.round(sec / 60) + ' min ago';
  }
  var KIND_LABELS = {
    validation: 'Validation', bad_request: 'Bad request', unauthorized: 'Not logged in (401)', forbidden: 'Forbidden (403)',
    not_found: 'Not found', too_large: 'Too large', rate_limited: 'Rate limited', timeout: 'Client timeout',
    client_other: 'Other 4xx', script_error: 'Script error', script_timeout: 'Script timeout', script_heap: 'Script heap',
    store_unavailable: 'Store unavailable', store_error: 'Store error', query_budget: 'Query budget', server_error: 'Server error',
  };

  // A line chart of `points` (oldest first): one line per key, y from 0 to a rounded maximum.
  function chart(points, lines, fmt, xLabel) {
    var W = 560, H = 170, L = 58, R = 10, T = 12, B = 26;
    var max = 0;
    points.forEach(function (p) { lines.forEach(function (l) { max = Math.max(max, p[l.key] || 0); }); });
    var step = Math.pow(10, Math.floor(Math.log10(max || 1)));
    var top = Math.ceil((max || 1) / step) * step;
    var svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img' });
    for (var g = 0; g <= 4; g++) {
      var y = T + (H - T - B) * (1 - g / 4);
      svg.appendChild(s('line', { x1: L, x2: W - R, y1: y, y2: y, class: g ? 'grid' : 'axis' }));
      var label = s('text', { x: L - 8, y: y + 4, 'text-anchor': 'end', class: 'tick' });
      label.textContent = fmt(top * g / 4);
      svg.appendChild(label);
    }
    var n = points.length;
    var x = function (i) { return L + (W - L - R) * (n > 1 ? i / (n - 1) : 1); };
    var yOf = function (v) { return T + (H - T - B) * (1 - Math.min(v, top) / top); };
    lines.forEach(function (l) {
      if (!n) return;
      var d = points.map(function (p, i) { return (i ? 'L' : 'M') + x(i).toFixed(1) + ' ' + yOf(p[l.key] || 0).toFixed(1); }).join(' ');
      if (l.fill) {
        svg.appendChild(s('path', { d: d + ' L' + x(n - 1).toFixed(1) + ' ' + yOf(0) + ' L' + x(0).toFixed(1) + ' ' + yOf(0) + ' Z',
          class: 'area', style: 'fill:' + l.color }));
      }
      svg.appendChild(s('path', { d: d, class: 'line', style: 'stroke:' + l.color }));
    });
    var left = s('text', { x: L, y: H - 6, class: 'tick' }); left.textContent = xLabel;
    var right = s('text', { x: W - R, y: H - 6, 'text-anchor': 'end', class: 'tick' }); right.textContent = 'now';
    svg.appendChild(left); svg.appendChild(right);
    if (!n) {
      var empty = s('text', { x: (L + W) / 2, y: H / 2, 'text-anchor': 'middle', class: 'tick' });
      empty.textContent = 'waiting for the first figures…';
      svg.appendChild(empty);
    }
    return svg;
  }

  function legend(lines) {
    return h('div', { class: 'legend' }, lines.map(function (l) {
      return h('span', null, h('i', { style: 'background:' + l.color }), l.label);
    }));
  }

  function renderPerformance() {
    var view = { span: 'minute', frame: null };
    append(main, h('div', { class: 'page-head' }, h('h1', { text: 'Performance' }),
      h('span', { class: 'type', id: 'perf-status', text: 'connecting…' })));
    var spans = h('nav', { class: 'tabs small' });
    var body = h('div', { id: 'perf-body' });
    append(main, h('p', { class: 'subtitle', text: 'Live figures of this server, pushed every second. Long polls of socket.io are left out of the request figures.' }), spans, body);
    var drawTabs = function () {
      clear(spans);
      [['minute', 'Last minute'], ['hour', 'Last hour']].forEach(function (t) {
        append(spans, h('a', { href: '#', class: view.span === t[0] ? 'active' : '', 'data-test': 'span-' + t[0],
          onclick: function (e) { e.preventDefault(); view.span = t[0]; drawTabs(); draw(); } }, t[1]));
      });
    };
    var tile = function (label, value, sub, tone) {
      return h('div', { class: 'tile' + (tone ? ' ' + tone : '') }, h('div', { class: 'label', text: label }),
        h('div', { class: 'value', text: value }), sub ? h('div', { class: 'sub', text: sub }) : null);
    };
    var draw = function () {
      var f = view.frame;
      if (!f || !f.overall) return;
      var w = f.overall[view.span];
      var fig = f.figures || {};
      var mem = fig.memory || {}, ses = fig.sessions || {}, sock = fig.sockets || {}, scr = fig.script || {}, st = fig.store || {};
      var errorsTotal = w.client_errors + w.server_errors;
      var lookups = (scr.cache_hits || 0) + (scr.cache_misses || 0);
      var storeTile = st.pool_max !== undefined
        ? tile('Store pool', (st.pool_in_use || 0) + ' / ' + st.pool_max, (st.pool_waits || 0) + ' waits')
        : tile('Group commit', st.batches ? (st.writes / st.batches).toFixed(1) : '—',
          st.batches ? 'writes per fsync · ' + fmtMs(1000 * st.commit_seconds / st.batches) : 'no writes yet');
      clear(body);
      (f.alerts || []).filter(function (a) { return a.active; }).forEach(function (a) {
        append(body, h('div', { class: 'alert-banner', 'data-test': 'alert' },
          h('b', { text: 'Alert: ' + a.name }), ' — ' + (a.name === 'rss_bytes' ? fmtBytes(a.value) : a.name === 'p99_ms' ? fmtMs(a.value) : (100 * a.value).toFixed(2) + ' %') +
          ' is over its threshold of ' + (a.name === 'rss_bytes' ? fmtBytes(a.threshold) : a.name === 'p99_ms' ? fmtMs(a.threshold) : (100 * a.threshold).toFixed(2) + ' %')));
      });
      append(body, h('div', { class: 'tiles' },
        tile('Requests / s', fmtNum(w.rps), fmtNum(w.count) + ' requests', null),
        tile('p50', fmtMs(w.p50), 'median'),
        tile('p95', fmtMs(w.p95)),
        tile('p99', fmtMs(w.p99), null, (f.alerts || []).some(function (a) { return a.name === 'p99_ms' && a.active; }) ? 'bad' : null),
        tile('Errors', w.count ? (100 * errorsTotal / w.count).toFixed(1) + ' %' : '0 %', w.server_errors + ' server · ' + w.client_errors + ' client', w.server_errors ? 'bad' : null),
        tile('Memory', fmtBytes(mem.rss || 0), (mem.fds || 0) + ' open files'),
        tile('Sessions', fmtNum(ses.cached || 0), 'cached · ' + (ses.created || 0) + ' logins'),
        tile('Sockets', fmtNum(sock.connected || 0), (sock.rooms || 0) + ' rooms · ' + (sock.dropped || 0) + ' dropped'),
        tile('Script cache', lookups ? (100 * scr.cache_hits / lookups).toFixed(1) + ' %' : '—', (scr.cache_entries || 0) + ' compiled · ' + fmtBytes(scr.heap || 0) + ' heap'),
        storeTile));
      var series = view.span === 'minute' ? f.series : f.hourly;
      var xLabel = view.span === 'minute' ? '60 s ago' : '60 min ago';
      var rpsLines = [{ key: 'rps', label: 'requests / s', color: '#2f6fed', fill: true }];
      var latLines = [{ key: 'p50', label: 'p50', color: '#12805c' }, { key: 'p99', label: 'p99', color: '#d97706' }];
      append(body, h('div', { class: 'charts' },
        h('div', { class: 'card' }, h('h3', { text: 'Throughput' }), chart(series, rpsLines, fmtNum, xLabel), legend(rpsLines)),
        h('div', { class: 'card' }, h('h3', { text: 'Latency' }), chart(series, latLines, function (v) { return fmtMs(v); }, xLabel), legend(latLines))));
      // Per resource
      var rows = (f.resources || []).map(function (r) {
        var x = r[view.span];
        return h('tr', null, h('td', null, h('code', { text: r.name.charAt(0) === '(' || r.name.indexOf('__') === 0 || r.name === 'dashboard' || r.name === 'dpd.js' ? r.name : '/' + r.name })),
          h('td', { class: 'num', text: fmtNum(x.rps) }), h('td', { class: 'num', text: fmtNum(x.count) }),
          h('td', { class: 'num', text: fmtMs(x.p50) }), h('td', { class: 'num', text: fmtMs(x.p95) }),
          h('td', { class: 'num', text: fmtMs(x.p99) }),
          h('td', { class: 'num' + (x.server_errors ? ' bad' : ''), text: String(x.client_errors + x.server_errors) }));
      });
      var kinds = f.errors ? f.errors[view.span] : {};
      var kindRows = Object.keys(kinds).sort(function (a, b) { return kinds[b] - kinds[a]; }).map(function (k) {
        return h('tr', null, h('td', { text: KIND_LABELS[k] || k }), h('td', { class: 'num', text: String(kinds[k]) }));
      });
      append(body, h('div', { class: 'split' },
        h('div', { class: 'card wide' }, h('h3', { text: 'By resource' }),
          rows.length ? h('table', { class: 'grid perf-table' }, h('thead', null, h('tr', null,
            ['Resource', 'Req/s', 'Requests', 'p50', 'p95', 'p99', 'Errors'].map(function (c, i) { return h('th', { class: i ? 'num' : '', text: c }); }))),
            h('tbody', null, rows)) : h('p', { class: 'hint', text: 'No requests yet.' })),
        h('div', { class: 'card' }, h('h3', { text: 'Errors by kind' }),
          kindRows.length ? h('table', { class: 'grid' }, h('tbody', null, kindRows)) : h('p', { class: 'hint', text: 'No errors in this period.' }))));
      // Slowest recent requests, with where their time went
      var slow = (f.slowest || []).slice(0, 12).map(function (r) {
        var total = Math.max(r.ms, 0.001);
        var bar = h('div', { class: 'stages', title: 'script ' + fmtMs(r.script_ms) + ' · store ' + fmtMs(r.store_ms) + ' · queue and dpd ' + fmtMs(r.other_ms) },
          h('span', { class: 'script', style: 'width:' + (100 * r.script_ms / total) + '%' }),
          h('span', { class: 'store', style: 'width:' + (100 * r.store_ms / total) + '%' }),
          h('span', { class: 'other', style: 'width:' + (100 * r.other_ms / total) + '%' }));
        return h('tr', null, h('td', null, h('code', { text: r.method })), h('td', { class: 'path' }, h('code', { text: r.path })),
          h('td', { class: 'num', text: String(r.status) }), h('td', { class: 'num', text: fmtMs(r.ms) }), h('td', null, bar),
          h('td', { class: 'when', text: fmtAgo(r.at) }));
      });
      append(body, h('div', { class: 'card' }, h('h3', { text: 'Slowest recent requests' }),
        h('div', { class: 'legend' }, h('span', null, h('i', { class: 'script' }), 'script'), h('span', null, h('i', { class: 'store' }), 'store'),
          h('span', null, h('i', { class: 'other' }), 'queue and dpd')),
        slow.length ? h('table', { class: 'grid perf-table', 'data-test': 'slowest' }, h('thead', null, h('tr', null,
          ['Method', 'Path', 'Status', 'Time', 'Where the time went', 'When'].map(function (c) { return h('th', { text: c }); }))),
          h('tbody', null, slow)) : h('p', { class: 'hint', text: 'No requests in the last ten minutes.' })));
      var lag = (f.lag_ms || []).map(function (v, i) { return 'worker ' + i + ': ' + fmtMs(v); }).join(' · ');
      append(body, h('p', { class: 'hint foot', text: 'Event-loop lag — ' + (lag || 'n/a') + '. Scrape /__metrics for the same figures in Prometheus format.' }));
    };
    drawTabs();
    var status = document.getElementById('perf-status');
    if (typeof io !== 'function') { status.textContent = 'socket.io client missing'; return; }
    var socket = io(location.origin, { query: { dpdPerf: '1' }, extraHeaders: { 'dpd-ssh-key': rootKey() }, forceNew: true });
    socket.on('connect', function () { status.textContent = 'live'; status.className = 'type live'; });
    socket.on('disconnect', function () { status.textContent = 'reconnecting…'; status.className = 'type'; });
    socket.on('dpd:perf', function (frame) {
      view.frame = frame;
      if (document.getElementById('perf-body') === body) draw();
    });
    state.unsubscribe = function () { socket.close(); };
  }

  // ------------------------------------------------------------------------------------------------- frame
  function render() {
    if (state.unsubscribe) { state.unsubscribe(); state.unsubscribe = null; }
    var previous = state.route;
    state.route = parseRoute();
    if (previous && previous.id === state.route.id && previous.page === state.route.page) state.route.event = previous.event;
    clear(main);
    renderSidebar();
    if (state.route.page === 'home') { renderHome(); return; }
    if (state.route.page === 'performance') { renderPerformance(); return; }
    var r = findResource(state.route.id);
    if (!r) {
      append(main, h('div', { class: 'card' }, h('h3', { text: 'No resource at /' + state.route.id }),
        h('a', { href: '/dashboard/', 'data-nav': true }, 'Back to the overview')));
      return;
    }
    var pages = pagesOf(r).map(function (p) { return p.toLowerCase(); });
    if (!state.route.page || pages.indexOf(state.route.page) < 0) { navigate(pageUrl(r.id, pages[0])); return; }
    append(main, header(r, state.route.page));
    ({ properties: renderProperties, data: renderData, events: renderEvents, rules: renderRules, api: renderApi, config: renderConfig })[state.route.page](r);
  }

  function askForKey(message) {
    clear(document.getElementById('sidebar'));
    var input = h('input', { type: 'password', name: 'key', placeholder: 'dpd showkey prints it', autocomplete: 'off', style: 'width:100%' });
    var error = h('div', { class: 'error', text: message || '' });
    clear(main).appendChild(h('div', { class: 'card login' },
      h('h3', { text: 'Authentication key' }),
      h('p', { class: 'hint', text: 'Outside development the dashboard needs one of the app\'s root keys (.dpd/keys.json). Run “dpd showkey” in the app folder.' }),
      h('form', { onsubmit: function (e) {
        e.preventDefault();
        document.cookie = 'DpdSshKey=' + encodeURIComponent(input.value.trim()) + '; path=/; SameSite=Strict';
        start();
      } }, input, error, h('div', { class: 'row end', style: 'margin-top:12px' }, h('button', { class: 'button', type: 'submit' }, 'Open the dashboard')))));
    input.focus();
  }

  function start() {
    call('GET', '/dashboard/__is-root').then(function (res) {
      if (!res || !res.isRoot) { askForKey(cookie('DpdSshKey') ? 'That key is not one of this app\'s root keys.' : ''); return; }
      return load().then(render);
    }).catch(function (err) { clear(main).appendChild(h('div', { class: 'card' }, h('h3', { text: 'The dashboard cannot reach the server' }), h('p', { text: errorText(err) }))); });
  }

  document.getElementById('env').textContent = location.host;
  start();
})();
