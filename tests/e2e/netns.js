// Real networks for the call-quality tests: a Linux network namespace of
// the test's own, joined to the host by a veth pair, with a browser started
// inside it; `tc tbf` rate caps on its link; a TCP forwarder from the
// host's side of the pair to the server's proxy on loopback.
//
// Needs root (for `ip netns` and `tc`), as CI runs; it fails otherwise.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_FLAGS } from './harness.js';

export function run(...args) {
  return execFileSync(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/**
 * A namespace `name` whose interface `nsIf` (address `nsIp`/24) pairs with
 * the host's `hostIf` (`hostIp`/24). `routes` are extra host addresses the
 * namespace may reach through the pair; with `defaultRoute` it reaches the
 * host's every address.
 */
export class Namespace {
  constructor({ name, hostIf, nsIf, hostIp, nsIp, defaultRoute = true, routes = [] }) {
    Object.assign(this, { name, hostIf, nsIf, hostIp, nsIp, defaultRoute, routes });
  }

  make() {
    if (process.getuid?.() !== 0) throw new Error('the shaped-network tests need root (ip netns, tc)');
    run('ip', 'netns', 'add', this.name);
    run('ip', 'link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', this.nsIf);
    run('ip', 'link', 'set', this.nsIf, 'netns', this.name);
    // No IPv6 link-local addresses: each would come a second or two after
    // the link is up (duplicate address detection), and Chromium takes the
    // new address as a network change and aborts what it is loading
    // (ERR_NETWORK_CHANGED), which once left the console page half loaded.
    run('ip', 'link', 'set', 'dev', this.hostIf, 'addrgenmode', 'none');
    this.exec('ip', 'link', 'set', 'dev', this.nsIf, 'addrgenmode', 'none');
    run('ip', 'addr', 'add', `${this.hostIp}/24`, 'dev', this.hostIf);
    run('ip', 'link', 'set', this.hostIf, 'up');
    this.exec('ip', 'link', 'set', 'lo', 'up');
    this.exec('ip', 'addr', 'add', `${this.nsIp}/24`, 'dev', this.nsIf);
    this.exec('ip', 'link', 'set', this.nsIf, 'up');
    if (this.defaultRoute) this.exec('ip', 'route', 'add', 'default', 'via', this.hostIp);
    for (const address of this.routes) this.exec('ip', 'route', 'add', `${address}/32`, 'via', this.hostIp);
    return this;
  }

  remove() {
    try { run('ip', 'netns', 'del', this.name); } catch { /* not made */ }
    try { run('ip', 'link', 'del', this.hostIf); } catch { /* gone with the namespace */ }
  }

  exec(...args) {
    return run('ip', 'netns', 'exec', this.name, ...args);
  }

  /** Caps what leaves the namespace (its side of the veth pair). */
  cap(rate) {
    this.exec('tc', 'qdisc', 'replace', 'dev', this.nsIf, 'root', 'tbf', 'rate', rate, 'burst', '6kb', 'latency', '200ms');
  }

  uncap() {
    this.exec('tc', 'qdisc', 'del', 'dev', this.nsIf, 'root');
  }

  /**
   * Chromium started inside the namespace (Playwright starts a wrapper
   * script in `dir` that enters it), with fake camera and microphone.
   */
  launchChromium(dir, { base, args = [] }) {
    const wrapper = path.join(dir, `chromium-in-${this.name}`);
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${this.name} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    return chromium.launch({ executablePath: wrapper, headless: true, args: [...browserFlags(base), ...args] });
  }
}

/** Flags for a browser that reaches the server at `base`, a host address other than localhost. */
export function browserFlags(base) {
  return [
    '--use-fake-ui-for-media-stream',
    ...CHROMIUM_FLAGS,
    // Real addresses in ICE candidates: mDNS names do not cross a namespace.
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    // The host's address is not localhost: let the pages use camera and microphone.
    `--unsafely-treat-insecure-origin-as-secure=${base}`,
  ];
}

/** Forwards TCP from `host:port` to `targetPort` on loopback (the server's proxy). */
export async function forward(host, port, targetPort) {
  const sockets = new Set();
  const listener = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    for (const s of [client, upstream]) { s.on('error', close); s.on('close', close); }
  });
  await new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(port, host, resolve);
  });
  return {
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => listener.close(resolve));
    },
  };
}
