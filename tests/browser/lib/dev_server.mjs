// For work on the page only (PEMX_BROWSER_WEB_DIR=web): serves the page's files from that
// directory, with the server's Content-Security-Policy, and passes every other request to
// pemx, so a change in web/ is tested without rebuilding the binary. Never used by ctest.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { extname, join, normalize } from 'node:path';

const kTypes = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
const kCsp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
  "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

export async function startDevServer(webDir, pemxPort) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const name = path === '/' ? 'index.html' : normalize(path.slice(1));
    const file = join(webDir, name);
    if (req.method === 'GET' && !name.includes('/') && kTypes[extname(name)] &&
        existsSync(file) && statSync(file).isFile()) {
      res.writeHead(200, { 'Content-Type': kTypes[extname(name)], 'Content-Security-Policy': kCsp,
        'Cache-Control': 'no-cache' });
      createReadStream(file).pipe(res);
      return;
    }
    const upstream = request({ host: '127.0.0.1', port: pemxPort, method: req.method,
      path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (e) => {
      res.writeHead(502);
      res.end(e.message);
    });
    req.pipe(upstream);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}
