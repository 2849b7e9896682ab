#pragma once
// The JavaScript half of the event API (spec §6.3–6.6), compiled once per isolate. It builds the per-call helpers
// (cancel, error, hide, protect, changed, emit, console …), calls the event function with `this` = a fresh object,
// and reports what happened as one JSON text. Keeping these helpers in JavaScript keeps the C++/V8 boundary to two
// host functions (log, emit) and one JSON round trip per call.

namespace dpd::script {

inline constexpr const char* kPrelude = R"JS(
(function (fn, selfText, valuesText, names, flags, host) {
  'use strict';
  const self = JSON.parse(selfText);
  const values = JSON.parse(valuesText);
  if (values.ctx && values.query) values.ctx.query = values.query;  // one live query object, as in Deployd
  const state = { errors: {}, hasErrors: false, hidden: [], protected: [] };
  const CANCEL = {};
  let cancelled = null;
  const text = (v) => (typeof v === 'string' ? v : (v instanceof Error ? String(v) : JSON.stringify(v)));
  const domain = {};
  domain.cancel = function (msg, status) {
    let message = msg;
    let st = status;
    if (msg instanceof Error) {
      message = msg.message;
      if (st === undefined && msg.statusCode !== undefined) st = msg.statusCode;
    } else if (msg !== null && typeof msg === 'object') {
      message = msg.message;
      if (st === undefined) st = msg.statusCode !== undefined ? msg.statusCode : msg.status;
    }
    cancelled = { message: message === undefined ? '' : String(message), status: st === undefined ? null : Number(st) };
    throw CANCEL;
  };
  domain.cancelIf = function (c, m, s) { if (c) domain.cancel(m, s); };
  domain.cancelUnless = function (c, m, s) { if (!c) domain.cancel(m, s); };
  domain.emit = function () { host.emit(JSON.stringify(Array.prototype.slice.call(arguments))); };
  const log = function () { host.log(Array.prototype.map.call(arguments, text).join(' ')); };
  domain.console = Object.freeze({ log: log, info: log, warn: log, error: log, debug: log });
  domain.isMe = function (id) { return !!(values.me && values.me.id === id); };
  if (flags.errors) {
    domain.error = function (k, m) { state.errors[k] = m || true; state.hasErrors = true; };
    domain.errorIf = function (c, k, m) { if (c) domain.error(k, m); };
    domain.errorUnless = function (c, k, m) { if (!c) domain.error(k, m); };
    domain.hasErrors = function () { return state.hasErrors; };
  }
  if (flags.hide) {
    domain.hide = function (p, on) {
      if (on === false) return domain.unhide(p);
      if (Object.prototype.hasOwnProperty.call(self, p) && state.hidden.indexOf(p) < 0) state.hidden.push(p);
    };
    domain.unhide = function (p) { const i = state.hidden.indexOf(p); if (i >= 0) state.hidden.splice(i, 1); };
  }
  if (flags.protect) {
    const previous = values.previous || {};
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    domain.changed = function (p) {
      return Object.prototype.hasOwnProperty.call(self, p) && !same(self[p], previous[p]);
    };
    domain.protect = function (p, on) {
      if (on === false) return domain.unprotect(p);
      if (!Object.prototype.hasOwnProperty.call(self, p) || state.protected.indexOf(p) >= 0) return;
      state.protected.push(p);
      Object.defineProperty(self, p, {
        enumerable: true, configurable: true,
        get: function () { return previous[p]; },
        set: function () { throw new TypeError("Cannot modify protected property '" + p + "'"); },
      });
    };
    domain.unprotect = function (p) {
      const i = state.protected.indexOf(p);
      if (i < 0) return;
      state.protected.splice(i, 1);
      Object.defineProperty(self, p, { value: previous[p], writable: true, enumerable: true, configurable: true });
    };
  }
  const args = names.map(function (n) { return Object.prototype.hasOwnProperty.call(domain, n) ? domain[n] : values[n]; });
  const report = function (kind, message, status) {
    return JSON.stringify({ kind: kind, message: message, status: status, errors: state.errors, hidden: state.hidden,
                            protected: state.protected, self: self, query: values.query });
  };
  try {
    fn.apply(self, args);
  } catch (e) {
    if (e === CANCEL) return report('cancel', cancelled.message, cancelled.status);
    if (e instanceof Error) {
      return report('error', e.message, e.statusCode !== undefined ? Number(e.statusCode) : null);
    }
    // A thrown non-Error value acts like cancel(value) (spec §5.2, §6.6).
    return report('cancel', e === undefined ? '' : text(e), null);
  }
  return report('ok', '', null);
})
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
