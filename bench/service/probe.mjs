// The health-check probe of `npm run bench:service`, in its own process so that the load
// generator's event loop does not delay it. It warms its HTTP client, prints `ready`, then
// requests GET <url>/health every 50 ms; the line `start` on stdin discards what it measured
// so far (the phase begins), and closing stdin ends it: it prints the latencies (ms) since
// `start` as one JSON array.
import readline from 'node:readline';

const url = process.argv[2];
let latencies = [];
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'start') latencies = [];
});
// The first requests of a process set up and compile its HTTP client: not what is measured.
for (let i = 0; i < 5; i++) await fetch(`${url}/health`).then((r) => r.arrayBuffer());
console.error('ready');
while (!process.stdin.readableEnded) {
  const t = performance.now();
  try {
    await fetch(`${url}/health`).then((r) => r.arrayBuffer());
    latencies.push(performance.now() - t);
  } catch {
    latencies.push(null);
  }
  await new Promise((r) => setTimeout(r, 50));
}
process.stdout.write(JSON.stringify(latencies));
