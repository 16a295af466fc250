// Starts the built pemx binary for one test file: a copy of pemx.toml with every topic and
// group name prefixed (so parallel runs and the integration tests never share one), a fresh
// SQLite store in a temporary directory, the HTTP listener on a free loopback port (port 0,
// read back from the log), the real broker from PEMX_TEST_BROKERS. stop() sends SIGTERM and
// waits; a process that is still running when the test process exits is killed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync,
  writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startDevServer } from './dev_server.mjs';

export const sourceDir = process.env.PEMX_SOURCE_DIR ||
  resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

// Every pemx this process started dies with it: at exit (a failed test included), and on
// SIGINT/SIGTERM (Ctrl-C, or the runner giving up), which would otherwise skip 'exit'.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of running) child.kill('SIGKILL');
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

function requiredEnv(name, hint) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: ${hint}`);
  return value;
}

export function binary() {
  return requiredEnv('PEMX_BINARY', 'run the browser tests through ctest (-L browser), ' +
    'which passes the built binary, or set it to build/pemx');
}

export function brokers() {
  return requiredEnv('PEMX_TEST_BROKERS', 'run the tests through scripts/test.sh, which ' +
    'starts the Kafka test broker, or start one with tests/broker/kafka.sh start');
}

// Where a run's screenshots and pemx logs go (ctest: the build tree; else the temp dir).
export function outputDir() {
  const dir = process.env.PEMX_BROWSER_OUTPUT || join(tmpdir(), 'pemx-browser-output');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function uniquePrefix() {
  return `b${process.pid}x${randomBytes(3).toString('hex')}`;
}

// The equivalent of tests/support/kafka_util.cpp's prefixed_config().
export function prefixedConfig(prefix) {
  let text = readFileSync(join(sourceDir, 'pemx.toml'), 'utf8');
  for (const name of ['product-event', 'product-price-update', 'country-',
    'specific-product-discount-update']) {
    text = text.split(`"${name}`).join(`"${prefix}-${name}`);
  }
  for (const listen of ['"127.0.0.1:8080"', '"127.0.0.1:8081"']) {
    text = text.split(listen).join('"127.0.0.1:0"');
  }
  return text;
}

// One HTTP request to pemx without keep-alive (an idle pooled connection would hold the test
// process open for seconds after its last test). Resolves to {status, body}.
export function http(url, { method = 'GET', body, headers: extra = {} } = {}) {
  return new Promise((resolveAnswer, reject) => {
    const headers = { ...extra };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const req = request(url, { method, headers, agent: false, timeout: 15000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolveAnswer({ status: res.statusCode,
        body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in 15 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

// An error that ends a waitFor() at once (the awaited thing can no longer happen).
export class Hopeless extends Error {}

// Resolves when `predicate()` returns a truthy value (which it resolves to); rejects with
// `what` after `timeoutMs`, or at once when it throws Hopeless. `predicate` may be async; it
// is polled every `everyMs`.
export async function waitFor(what, predicate, { timeoutMs = 20000, everyMs = 100 } = {}) {
  const until = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value;
    } catch (error) {
      if (error instanceof Hopeless) throw error;
      lastError = error;
    }
    if (Date.now() >= until) {
      const why = lastError ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export class Pemx {
  // `name` names the copy of the log kept next to the screenshots.
  constructor({ name = 'pemx', role = 'all', extraArgs = [] } = {}) {
    this.name = name;
    this.role = role;
    this.extraArgs = extraArgs;
    this.prefix = uniquePrefix();
    this.dir = mkdtempSync(join(tmpdir(), 'pemx-browser-'));
    this.configPath = join(this.dir, 'pemx.toml');
    this.logPath = join(this.dir, 'pemx.log');
    this.log = '';
    this.child = null;
    this.exit = null;
    this.port = 0;
    this.helpers = new Set();
    this.devServer = null;
  }

  // The API (pemx itself).
  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  // The page: pemx, or with PEMX_BROWSER_WEB_DIR the page's files from that directory.
  get pageUrl() {
    return this.devServer ? `http://127.0.0.1:${this.devServer.address().port}` : this.url;
  }

  // The arguments every command of this instance gets: its config and the test broker.
  configArgs() {
    return ['--config', this.configPath, '--set', `kafka.brokers=${brokers()}`];
  }

  async start({ timeoutMs = 30000 } = {}) {
    writeFileSync(this.configPath, prefixedConfig(this.prefix));
    const args = [`--role=${this.role}`, ...this.configArgs(),
      '--set', `store.path=${join(this.dir, 'pemx.db')}`,
      '--set', 'http.listen=127.0.0.1:0',
      '--set', 'log.stats_interval=1s', ...this.extraArgs];
    const file = createWriteStream(this.logPath);
    const child = spawn(binary(), args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    running.add(child);
    this.exited = new Promise((resolveExit) => {
      child.on('exit', (code, signal) => {
        running.delete(child);
        this.exit = { code, signal };
        resolveExit(this.exit);
      });
      child.on('error', (error) => {  // not started at all (a wrong PEMX_BINARY)
        running.delete(child);
        this.exit = { code: null, signal: null, error: error.message };
        resolveExit(this.exit);
      });
    });
    const take = (chunk) => {
      file.write(chunk);
      if (this.log.length < 4 * 1024 * 1024) this.log += chunk.toString('utf8');
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', () => file.end());  // after the last output, unlike 'exit'

    this.port = await waitFor('pemx to log "listening" (see ' + this.logPath + ')', () => {
      if (this.exit) {
        throw new Hopeless(`pemx exited (${JSON.stringify(this.exit)}) before listening: ` +
          this.log.slice(-2000));
      }
      return this.httpPort();
    }, { timeoutMs });
    // Ready = the store is open and the producer reaches Kafka. The consumer groups may still
    // be joining (their topics appear with the first push); the tests' waits allow for that.
    await waitFor('pemx /readyz', async () => (await http(`${this.url}/readyz`)).status === 200,
      { timeoutMs });
    if (process.env.PEMX_BROWSER_WEB_DIR) {
      this.devServer = await startDevServer(resolve(process.env.PEMX_BROWSER_WEB_DIR), this.port);
    }
    return this;
  }

  // The port of the page's listener: the first "listening" line (the web role has only one).
  httpPort() {
    const m = /"msg":"listening"[^\n]*?"port":(\d+)/.exec(this.log);
    return m ? Number(m[1]) : 0;
  }

  // Runs another pemx command (e.g. `simulate`) on this instance's config, in the background;
  // it is stopped by stop() if it is still running.
  spawnHelper(args, logName) {
    const out = createWriteStream(join(this.dir, logName));
    const child = spawn(binary(), args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    this.helpers.add(child);
    child.stdout.pipe(out);
    child.stderr.pipe(out);
    child.done = new Promise((r) => {
      const done = (result) => {
        running.delete(child);
        this.helpers.delete(child);
        r(result);
      };
      child.on('exit', (code, signal) => done({ code, signal }));
      child.on('error', (error) => done({ code: null, signal: null, error: error.message }));
    });
    return child;
  }

  async stop({ timeoutMs = 40000 } = {}) {
    if (this.devServer) {
      this.devServer.closeAllConnections();
      this.devServer.close();
    }
    for (const helper of this.helpers) {
      helper.kill('SIGTERM');
      await Promise.race([helper.done, new Promise((r) => setTimeout(r, 10000))]);
      helper.kill('SIGKILL');
    }
    if (this.child && !this.exit) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    // The log outlives the temp dir: next to the screenshots, for a failed test's post-mortem.
    const kept = join(outputDir(), `pemx-${this.name}.log`);
    try {
      copyFileSync(this.logPath, kept);
      this.logPath = kept;
    } catch {
      // Nothing logged (pemx never started): nothing to keep.
    }
    const clean = this.exit && this.exit.code === 0;
    if (clean && !process.env.PEMX_KEEP_TEST_DIRS) {
      rmSync(this.dir, { recursive: true, force: true });
    }
    return this.exit;
  }

  // ---- the API, for setting up and checking what the page shows ----

  async push(events) {
    // The JSON receipt; without Prefer the answer is the reference's text.
    const r = await http(`${this.url}/event`, {
      method: 'POST',
      body: JSON.stringify({ events }),
      headers: { Prefer: 'return=representation' },
    });
    if (r.status !== 201) throw new Error(`POST /event answered ${r.status}: ${r.body}`);
    return JSON.parse(r.body);
  }

  async history(productIds, query = '') {
    const r = await http(`${this.url}/event?productIds=${productIds.join(',')}${query}`);
    if (r.status !== 200) throw new Error(`GET /event answered ${r.status}: ${r.body}`);
    return JSON.parse(r.body);
  }

  // Waits until the store holds at least `count` events of these products (the path is
  // POST -> Kafka -> dist -> storage topic -> SQLite: a second or two).
  async waitStored(productIds, count, timeoutMs = 30000) {
    return waitFor(`${count} stored events of ${productIds.join(',')}`, async () => {
      const events = await this.history(productIds, `&limit=${Math.max(200, count)}`);
      return events.length >= count ? events : null;
    }, { timeoutMs, everyMs: 200 });
  }
}
