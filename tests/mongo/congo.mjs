// Starts CongoDB — a MongoDB wire-protocol server in TypeScript, the test double of ../shared/DEPENDENCIES.md, NOT
// MongoDB — on the given port (0 = any), optionally seeded from a JSON file {"<db>": {"<collection>": [docs]}}
// (documents written as Deployd writes them: string _id). Prints "listening on port N".
//   node tests/mongo/congo.mjs 0 [seed.json]
import fs from 'node:fs';

// Deployd's ids are strings; CongoDB calls toHexString() on every _id.
Object.defineProperty(String.prototype, 'toHexString', { value: function () { return String(this); } });
const { CongoServer } = await import('./congodb/index.js');

const server = new CongoServer({ port: Number(process.argv[2] || 0) });
await server.start();
if (process.argv[3]) {
  const seed = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
  const storage = server.getStorage();
  for (const [db, collections] of Object.entries(seed)) {
    for (const [collection, docs] of Object.entries(collections)) {
      await storage.createCollection(db, collection);
      for (const doc of docs) await storage.insertOne(db, collection, doc);
    }
  }
}
console.log('listening on port', server.server.address().port);
process.on('SIGTERM', async () => { await server.stop(); process.exit(0); });
