// The health-check probe of `npm run bench:service`, in its own process so that the load
// generator's event loop does not delay it: GET <url>/health every 50 ms until stdin closes,
// then prints the latencies (ms) as one JSON array.
const url = process.argv[2];
const latencies = [];
process.stdin.resume();
// The first request of a process sets up the HTTP client: not part of what is measured.
await fetch(`${url}/health`).then((r) => r.arrayBuffer());
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
