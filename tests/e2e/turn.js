// A TURN path the test controls: coturn on loopback, and in front of it an
// impairing UDP relay that holds back and drops a share of the datagrams
// of chosen clients, both ways. The kernel here has no `netem`; the relay
// makes delay and loss real at the packet level all the same (the browsers
// see late and missing packets, not a page that pretends).

import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Sends STUN Binding requests to `port` on loopback until one is answered. */
async function answersStun(port, timeoutMs = 20_000) {
  const socket = dgram.createSocket('udp4');
  const deadline = Date.now() + timeoutMs;
  let timer;
  try {
    await new Promise((resolve, reject) => {
      socket.on('message', (msg) => { if (msg.length >= 20 && msg[0] === 0x01 && msg[1] === 0x01) resolve(); });
      const ask = () => {
        if (Date.now() > deadline) { reject(new Error(`coturn did not answer STUN on ${port}`)); return; }
        const request = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), randomBytes(12)]);
        socket.send(request, port, '127.0.0.1');
        timer = setTimeout(ask, 100);
      };
      ask();
    });
  } finally {
    clearTimeout(timer);
    socket.close();
  }
}

/**
 * coturn's `turnserver` on 127.0.0.1:`port` with TURN REST credentials
 * (`secret`), relaying on `relayIp`'s ports `minPort`–`maxPort`.
 */
export async function startCoturn({ port, relayIp, minPort, maxPort, secret, realm = 'bedside.test' }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bedside-coturn-'));
  const child = spawn('turnserver', [
    '-n',
    '--listening-ip=127.0.0.1',
    `--relay-ip=${relayIp}`,
    `--listening-port=${port}`,
    `--min-port=${minPort}`,
    `--max-port=${maxPort}`,
    '--use-auth-secret',
    `--static-auth-secret=${secret}`,
    `--realm=${realm}`,
    '--no-tls',
    '--no-dtls',
    '--no-tcp-relay',
    '--no-cli',
    `--pidfile=${path.join(dir, 'turnserver.pid')}`,
    `--log-file=${path.join(dir, 'turnserver.log')}`,
    '--simple-log',
  ], { stdio: 'ignore' });
  const failed = new Promise((_, reject) => {
    child.on('error', (e) => reject(new Error(`coturn's \`turnserver\` must be installed (apt-get install -y coturn): ${e.message}`)));
  });
  await Promise.race([answersStun(port), failed]);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A UDP relay on `host:port` to `targetPort` on loopback: each client gets
 * its own upstream socket, so the target sees one address per client.
 * Datagrams to and from clients whose address `impaired(address)` accepts
 * are delayed by `delayMs` and dropped with probability `loss`, as set by
 * `impair()`. Counts what it carried per client address.
 */
export async function startImpairingRelay({ host, port, targetPort, impaired }) {
  const settings = { delayMs: 0, loss: 0 };
  const upstreams = new Map();
  const carried = new Map();
  const timers = new Set();
  const listener = dgram.createSocket('udp4');

  function pass(address, send) {
    if (!impaired(address)) { send(); return; }
    if (settings.loss > 0 && Math.random() < settings.loss) return;
    if (settings.delayMs <= 0) { send(); return; }
    const timer = setTimeout(() => { timers.delete(timer); send(); }, settings.delayMs);
    timers.add(timer);
  }

  listener.on('message', (msg, from) => {
    const key = `${from.address}:${from.port}`;
    carried.set(from.address, (carried.get(from.address) ?? 0) + 1);
    let upstream = upstreams.get(key);
    if (!upstream) {
      upstream = dgram.createSocket('udp4');
      upstream.bind(0, '127.0.0.1');
      upstream.on('message', (back) => {
        pass(from.address, () => listener.send(back, from.port, from.address));
      });
      upstream.on('error', () => {});
      upstreams.set(key, upstream);
    }
    pass(from.address, () => upstream.send(msg, targetPort, '127.0.0.1'));
  });
  listener.on('error', () => {});
  await new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.bind(port, host, resolve);
  });
  return {
    /** Sets the impairment; `{}` lifts it. */
    impair({ delayMs = 0, loss = 0 } = {}) {
      Object.assign(settings, { delayMs, loss });
    },
    /** Datagrams received from clients at `address`. */
    carriedFrom(address) {
      return carried.get(address) ?? 0;
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      for (const upstream of upstreams.values()) upstream.close();
      return new Promise((resolve) => listener.close(resolve));
    },
  };
}
