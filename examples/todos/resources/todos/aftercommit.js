// Tell every open page: the todo list changed (spec §6.7 — dpd.todos.on('changed') in the browser).
emit('todos:changed', {method: method, todo: this});
