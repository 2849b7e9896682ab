// Realtime fan-out bench: every POST is emitted to every connected socket.
emit('feed:new', {n: this.n, t: this.t});
