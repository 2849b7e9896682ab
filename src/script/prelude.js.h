#pragma once
// The JavaScript half of the event API (spec §6.3–6.8, §10), compiled once per isolate. It builds the per-call
// helpers (cancel, error, hide, protect, changed, emit, console, the `dpd` client …), calls the event function with
// `this` = a fresh object, tracks the callbacks and promises of `dpd` calls (spec §6.8) and reports what happened
// as one JSON text — returned at once when nothing is outstanding, otherwise handed to host.done(callId, report)
// when the last tracked operation settles. The C++/V8 boundary is four host functions: log, emit, request, done.

namespace dpd::script {

inline constexpr const char* kPrelude = R"JS(
(function () {
  'use strict';
  // --- built once per isolate: pure helpers ---
  const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const text = (v) => (typeof v === 'string' ? v : (v instanceof Error ? String(v) : JSON.stringify(v)));
  const CANCEL = {};
  const CLIENT = Symbol('dpd client');
  const OK = Object.freeze({ kind: 'ok', message: '', status: null });

  function cancelResult(msg, status) {
    let message = msg;
    let st = status;
    if (msg instanceof Error) {
      message = msg.message;
      if (st === undefined && msg.statusCode !== undefined) st = msg.statusCode;
    } else if (msg !== null && typeof msg === 'object') {
      message = msg.message;
      if (st === undefined) st = msg.statusCode !== undefined ? msg.statusCode : msg.status;
    }
    return { kind: 'cancel', message: message === undefined ? '' : text(message),
             status: st === undefined || st === null ? null : Number(st) };
  }
  function errorResult(e) {
    if (e instanceof Error) {
      return { kind: 'error', message: e.message, status: e.statusCode !== undefined ? Number(e.statusCode) : null };
    }
    const r = cancelResult(e);
    r.kind = 'error';
    return r;
  }
  // dpd client arguments (spec §10): strings/numbers are path segments, objects query/body, a function the callback.
  const isPath = (a) => typeof a === 'string' || typeof a === 'number';
  function join() {
    const parts = [];
    for (let i = 0; i < arguments.length; i++) {
      const a = arguments[i];
      if (a === undefined || a === null) continue;
      const s = String(a).replace(/^\/+|\/+$/g, '');
      if (s !== '') parts.push(s);
    }
    return parts.join('/');
  }
  // get([path], [path], [query], [fn]) — also del.
  function readArgs(args) {
    let i = 0;
    const segs = [];
    while (i < args.length && segs.length < 2 && isPath(args[i])) segs.push(args[i++]);
    let query;
    if (i < args.length && args[i] !== undefined && typeof args[i] !== 'function') query = args[i++];
    const fn = typeof args[i] === 'function' ? args[i] : undefined;
    return { rest: join.apply(null, segs), query: query, fn: fn };
  }
  // post([path], [query], body, [fn]) — also put: two objects = query then body.
  function writeArgs(args) {
    let i = 0;
    const segs = [];
    while (i < args.length && segs.length < 2 && isPath(args[i])) segs.push(args[i++]);
    let query;
    let body;
    if (i < args.length && args[i] !== undefined && typeof args[i] !== 'function') body = args[i++];
    if (i < args.length && args[i] !== undefined && typeof args[i] !== 'function') { query = body; body = args[i++]; }
    const fn = typeof args[i] === 'function' ? args[i] : undefined;
    return { rest: join.apply(null, segs), query: query, body: body, fn: fn };
  }
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  // --- one event call. `used`: the injected names the script mentions (only those are built) ---
  return function (fn, selfText, valuesText, names, flags, host, each, callId, clients, used) {
    const values = JSON.parse(valuesText);
    if (values.ctx && values.query) values.ctx.query = values.query;  // one live query object, as in Deployd

    let pending = 0;        // tracked callbacks/promises not settled yet (all runs)
    let returned = false;   // every body has returned
    let finished = false;
    let asyncMode = false;  // the synchronous part is over: the report goes to host.done
    let report;
    const runs = [];

    let konsole;
    const console_ = function () {
      if (konsole === undefined) {
        const log = function () { host.log(callId, Array.prototype.map.call(arguments, text).join(' ')); };
        konsole = Object.freeze({ log: log, info: log, warn: log, error: log, debug: log });
      }
      return konsole;
    };
    // emit(event[, data]) / emit(room, event, data) / emit(usersClient, query, event, data) (spec §6.7). A users
    // client travels as {"$client": path}; JSON drops hidden (non-enumerable) properties.
    const emit = function () {
      const args = Array.prototype.slice.call(arguments);
      if (args.length === 4 && args[0] && args[0][CLIENT]) args[0] = { $client: args[0][CLIENT] };
      host.emit(callId, JSON.stringify(args));
    };

    // `session` (spec §6.3, §8.5): its data and room functions. Changes are reported and persisted by the host.
    let sessionObj;
    const sessionChanges = { save: false, remove: false };
    function sessionObject() {
      if (sessionObj !== undefined) return sessionObj;
      const v = values.session || {};
      const data = v.data || {};
      const rooms = function () {
        if (!Array.isArray(data._rooms)) data._rooms = [];
        return data._rooms;
      };
      const s = {
        data: data, sid: data.id, user: values.me, isRoot: !!v.isRoot, isAnonymous: !data.id,
        joinRoom: function (r) { const rs = rooms(); if (rs.indexOf(String(r)) < 0) rs.push(String(r)); sessionChanges.save = true; },
        joinRooms: function (list) { if (Array.isArray(list)) list.forEach(function (r) { s.joinRoom(r); }); },
        leaveRoom: function (r) {
          const rs = rooms();
          const i = rs.indexOf(String(r));
          if (i >= 0) rs.splice(i, 1);
          sessionChanges.save = true;
        },
        leaveRooms: function (list) { if (Array.isArray(list)) list.forEach(function (r) { s.leaveRoom(r); }); },
        leaveAllRooms: function () { data._rooms = []; sessionChanges.save = true; },
        emitToAll: function (ev, d) { emit(ev, d); },
        emitToRoom: function (room, ev, d) { emit(room, ev, d); },
        emitToUsers: function (client, query, ev, d) { emit(client, query, ev, d); },
        set: function (obj) { if (obj && typeof obj === 'object') Object.assign(data, obj); return s; },
        save: function () { sessionChanges.save = true; return s; },
        remove: function () { sessionChanges.remove = true; return s; },
      };
      sessionObj = s;
      return s;
    }

    function effective(run) {
      if (run.result.kind === 'ok' && run.asyncError) return errorResult(run.asyncError.value);
      return run.result;
    }
    // The report: one object for a single run, "L"+list or "F"+failure in each-mode.
    function buildReport() {
      if (!each) {
        const run = runs[0];
        const r = effective(run);
        let self = run.self;
        if (run.state.hidden.length > 0) {
          self = Object.assign({}, run.self);
          for (const h of run.state.hidden) self[h] = run.self[h];  // hidden properties are still written (§6.5)
        }
        return JSON.stringify({ kind: r.kind, message: r.message, status: r.status, errors: run.state.errors,
                                hidden: run.state.hidden, protected: run.state.protected, self: self,
                                query: values.query,
                                session: sessionChanges.save || sessionChanges.remove
                                  ? { save: sessionChanges.save, remove: sessionChanges.remove,
                                      data: sessionObj ? sessionObj.data : null }
                                  : undefined });
      }
      const out = [];
      for (const run of runs) {
        const r = effective(run);
        if (r.kind === 'error' || (r.kind === 'cancel' && flags.single)) return 'F' + JSON.stringify(r);
        if (r.kind === 'cancel') continue;
        out.push(run.self);  // hidden properties are non-enumerable: JSON leaves them out
      }
      return 'L' + JSON.stringify(out);
    }
    function finish() {
      if (finished) return;
      finished = true;
      try {
        report = buildReport();
      } catch (e) {  // e.g. a circular `this`: the call fails instead of never reporting
        const r = errorResult(e);
        report = each ? 'F' + JSON.stringify(r)
                      : JSON.stringify({ kind: 'error', message: r.message, status: r.status, errors: {}, hidden: [],
                                         protected: [], self: {}, query: null });
      }
      if (asyncMode) host.done(callId, report);
    }
    function check() { if (!finished && returned && pending === 0) finish(); }
    // A run stops (cancel or error). An error — or any stop outside a list — ends the whole call at once; pending
    // callbacks are then ignored (spec §6.8).
    function endRun(run, result) {
      if (run.over) return;
      run.over = true;
      run.result = result;
      pending -= run.pending;  // its outstanding callbacks no longer hold the event open
      run.pending = 0;
      if (!each || result.kind === 'error' || flags.single) finish(); else check();
    }

    function runOne(self) {
      const state = { errors: {}, hasErrors: false, hidden: [], protected: [] };
      const run = { self: self, over: false, pending: 0, result: OK, asyncError: null, cancelled: null, state: state };
      runs.push(run);
      const live = () => !finished && !run.over;

      // --- tracking (spec §6.8) ---
      // Runs `after(value, rejected)` when p settles, and holds the event open until then.
      function track(p, after) {
        pending++;
        run.pending++;
        const settle = function (v, rejected) {
          try {
            if (after && live()) after(v, rejected);
          } finally {
            if (!run.over) { run.pending--; pending--; }
            check();
          }
        };
        p.then(function (v) { settle(v, false); }, function (e) { settle(e, true); });
        return wrap(p);
      }
      // A then/catch handler: `this` = the event object; a throw records the error, a later rejection handler
      // that receives it clears it again; cancel() stops the run.
      function handler(f, rejection) {
        if (typeof f !== 'function') return undefined;
        return function (v) {
          if (!live()) return undefined;
          if (rejection && run.asyncError && run.asyncError.value === v) run.asyncError = null;
          try {
            return f.call(self, v);
          } catch (e) {
            if (e === CANCEL) { endRun(run, run.cancelled); return undefined; }
            run.asyncError = { value: e };
            throw e;
          }
        };
      }
      function wrap(p) {
        const w = {
          then: function (a, b) { return track(p.then(handler(a, false), handler(b, true))); },
          catch: function (b) { return track(p.then(undefined, handler(b, true))); },
          finally: function (f) {
            return track(p.finally(typeof f === 'function' ? function () { if (live()) return f.call(self); } : f));
          },
        };
        w.fail = w.catch;
        return w;
      }
      // A node-style callback fn(result, error) with `this` = the event object; a throw ends the run.
      function callbackAfter(f) {
        if (typeof f !== 'function') return null;
        return function (v, rejected) {
          try {
            if (rejected) f.call(self, null, v); else f.call(self, v);
          } catch (e) {
            endRun(run, e === CANCEL ? run.cancelled : errorResult(e));
          }
        };
      }
      function call(method, base, rest, query, body, hasBody, f) {
        if (!live()) return wrap(new Promise(function () {}));
        const path = base + (rest ? '/' + rest : '');
        const p = host.request(callId, method, path,
                               query === undefined || query === null ? undefined : JSON.stringify(query),
                               hasBody && body !== undefined ? JSON.stringify(body) : undefined);
        return track(p, callbackAfter(f));
      }
      function client(entry) {
        const c = {};
        c.get = function () { const a = readArgs(arguments); return call('GET', entry.path, a.rest, a.query, undefined, false, a.fn); };
        c.del = function () { const a = readArgs(arguments); return call('DELETE', entry.path, a.rest, a.query, undefined, false, a.fn); };
        c.post = function () { const a = writeArgs(arguments); return call('POST', entry.path, a.rest, a.query, a.body, true, a.fn); };
        c.put = function () { const a = writeArgs(arguments); return call('PUT', entry.path, a.rest, a.query, a.body, true, a.fn); };
        // exec(func, [path], [body], [fn]): POST /<resource>/<func>/<path>
        c.exec = function (func) {
          const a = writeArgs(Array.prototype.slice.call(arguments, 1));
          return call('POST', entry.path, join(func, a.rest), a.query, a.body, true, a.fn);
        };
        // aggregate(pipeline, fn): GET /<col>/aggregate (docs/aggregate.md)
        if (entry.collection) {
          c.aggregate = function (pipeline, f) {
            return call('GET', entry.path, 'aggregate', { pipeline: pipeline }, undefined, false, f);
          };
        }
        if (entry.users) {
          c.me = function (f) { return call('GET', entry.path, 'me', undefined, undefined, false, f); };
          c.login = function (credentials, f) { return call('POST', entry.path, 'login', undefined, credentials, true, f); };
          c.logout = function (f) { return call('POST', entry.path, 'logout', undefined, undefined, false, f); };
        }
        Object.defineProperty(c, CLIENT, { value: entry.path });
        return c;
      }
      let dpd;
      if (clients) {
        dpd = {};
        for (const entry of clients) dpd[entry.key] = client(entry);
        if (values.ctx) values.ctx.dpd = dpd;
      }

      // --- the event helpers (spec §6.3–6.5), built only when the script names them ---
      const cancel = function (msg, status) {
        run.cancelled = cancelResult(msg, status);
        throw CANCEL;
      };
      const error = function (k, m) { state.errors[k] = m || true; state.hasErrors = true; };
      const unhide = function (p) {
        const i = state.hidden.indexOf(p);
        if (i < 0) return;
        state.hidden.splice(i, 1);
        const d = Object.getOwnPropertyDescriptor(self, p);
        if (d) { d.enumerable = true; Object.defineProperty(self, p, d); }
      };
      const previous = values.previous || {};
      const kept = {};  // the value each protected property had when protect() was called
      const unprotect = function (p) {
        const i = state.protected.indexOf(p);
        if (i < 0) return;
        state.protected.splice(i, 1);
        Object.defineProperty(self, p, { value: kept[p], writable: true, enumerable: true, configurable: true });
      };
      function make(n) {
        switch (n) {
          case 'cancel': return cancel;
          case 'cancelIf': return function (c, m, s) { if (c) cancel(m, s); };
          case 'cancelUnless': return function (c, m, s) { if (!c) cancel(m, s); };
          case 'emit': return emit;
          case 'console': return console_();
          case 'dpd': return dpd;
          case 'session': return sessionObject();
          case 'isMe': return function (id) { return !!(values.me && values.me.id === id); };
          case '$addCallback': return function () { if (live()) { pending++; run.pending++; } };
          case '$finishCallback':
            return function () { if (run.pending > 0) { run.pending--; pending--; check(); } };
          case 'data': return each ? JSON.parse(JSON.stringify(self)) : values.data;  // a copy of `this`
        }
        if (flags.errors) {
          switch (n) {
            case 'error': return error;
            case 'errorIf': return function (c, k, m) { if (c) error(k, m); };
            case 'errorUnless': return function (c, k, m) { if (!c) error(k, m); };
            case 'hasErrors': return function () { return state.hasErrors; };
          }
        }
        if (flags.hide) {
          if (n === 'unhide') return unhide;
          if (n === 'hide') {
            return function (p, on) {
              if (on === false) return unhide(p);
              if (!own(self, p) || state.hidden.indexOf(p) >= 0) return;
              const d = Object.getOwnPropertyDescriptor(self, p);
              if (!d.configurable) return;
              state.hidden.push(p);
              d.enumerable = false;
              Object.defineProperty(self, p, d);
            };
          }
        }
        if (flags.protect) {
          switch (n) {
            case 'changed': return function (p) { return own(self, p) && !same(self[p], previous[p]); };
            case 'unprotect': return unprotect;
            case 'protect':
              return function (p, on) {
                if (on === false) return unprotect(p);
                if (!own(self, p) || state.protected.indexOf(p) >= 0) return;
                kept[p] = self[p];
                state.protected.push(p);
                Object.defineProperty(self, p, {
                  enumerable: true, configurable: true,
                  get: function () { return previous[p]; },
                  set: function () { throw new TypeError("Cannot modify protected property '" + p + "'"); },
                });
              };
          }
        }
        return values[n];
      }
      if (flags.protect && values.previous && own(self, 'id')) {
        // An update's id is protected from the start (Deployd): assigning it throws like a protect()ed property.
        const idValue = self.id;
        Object.defineProperty(self, 'id', {
          enumerable: true, configurable: true,
          get: function () { return idValue; },
          set: function () { throw new TypeError("Cannot modify protected property 'id'"); },
        });
      }
      const args = new Array(names.length);
      for (let i = 0; i < names.length; i++) {
        if (used[names[i]] === true) args[i] = make(names[i]);
      }
      try {
        fn.apply(self, args);
      } catch (e) {
        if (e === CANCEL) endRun(run, run.cancelled);
        else if (e instanceof Error) endRun(run, errorResult(e));
        else endRun(run, cancelResult(e));  // a thrown non-Error value acts like cancel(value) (spec §5.2, §6.6)
      }
    }

    if (!each) {
      runOne(JSON.parse(selfText));
    } else {
      const docs = JSON.parse(selfText);
      for (let i = 0; i < docs.length && !finished; i++) runOne(docs[i]);
    }
    returned = true;
    check();
    if (finished) return report;
    asyncMode = true;
    return undefined;  // pending: host.done(callId, report) follows
  };
})()
)JS";

// Run once per context: freezes the global object and the built-in prototypes, so one call cannot leave globals or
// patched built-ins behind for the next (sloppy-mode assignments to undeclared names then fail silently).
inline constexpr const char* kLockdown = R"JS(
(function () {
  'use strict';
  const ctors = [Object, Function, Array, String, Number, Boolean, Symbol, Error, TypeError, RangeError, SyntaxError,
                 ReferenceError, EvalError, URIError, Date, RegExp, Map, Set, WeakMap, WeakSet, Promise, ArrayBuffer,
                 DataView, BigInt];
  for (const c of ctors) { Object.freeze(c); Object.freeze(c.prototype); }
  Object.freeze(JSON);
  Object.freeze(Math);
  Object.freeze(Reflect);
  Object.freeze(globalThis);
})();
)JS";

}  // namespace dpd::script
