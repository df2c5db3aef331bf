// Starts fauxqs (an in-memory SQS emulator) for hlsfleet's tests, listening on
// 127.0.0.1 only. fauxqs's own CLI (startFauxqs) always listens on 0.0.0.0, so
// this launcher builds the same Fastify app through the package's exported
// buildApp and listens on loopback itself.
//
// Usage: node launch.mjs PORTFILE [PORT]
//   PORT defaults to 0 (a free port chosen by the kernel). Once the server
//   listens, the chosen port is written to PORTFILE (atomically, via rename).
//   SIGTERM/SIGINT close the server and exit 0.
import { writeFileSync, renameSync } from "node:fs";
import { buildApp } from "fauxqs";

const [portFile, portArg] = process.argv.slice(2);
if (!portFile) {
  console.error("usage: node launch.mjs PORTFILE [PORT]");
  process.exit(2);
}
const region = process.env.AWS_REGION || "us-east-1";

// host "localhost" keeps fauxqs's usual queue URLs (http://sqs.<region>.localhost:PORT/...),
// the form our clients must never dial: requests go to AWS_ENDPOINT_URL_SQS.
const app = buildApp({ logger: process.env.FAUXQS_LOGGER === "true", host: "localhost", defaultRegion: region });
const address = await app.listen({ host: "127.0.0.1", port: Number(portArg || 0) });
const port = new URL(address).port;
writeFileSync(portFile + ".tmp", port + "\n");
renameSync(portFile + ".tmp", portFile);
console.log(`fauxqs listening on ${address} (region ${region})`);

let closing = false;
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, async () => {
    if (closing) return;
    closing = true;
    await app.close();
    process.exit(0);
  });
}
