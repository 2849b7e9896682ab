if (!me || me.id !== this.owner) hide('owner');
