this.createdAt = Date.now();
this.owner = me && me.id;
