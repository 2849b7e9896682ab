if (this.title && this.title.length > 200) error('title', 'must be at most 200 characters');
