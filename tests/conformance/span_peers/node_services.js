// Front and back services on Node.js's event loop for the span-link suite (one thread serves
// every request at once; the front calls the back through a keep-alive agent; no trace headers).
//   node node_services.js back           GET /items/<id>: 200 after 0-15 ms
//   node node_services.js front PORT     GET /api/orders/<id>: GET /items/<id> on the back, then 200
// Each prints "ready <port>" and exits when stdin closes.
'use strict';
const http = require('http');

function serve(handler) {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 60000;
  server.listen(0, '127.0.0.1', () => console.log('ready ' + server.address().port));
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

const mode = process.argv[2];
if (mode === 'back') {
  serve((req, res) => {
    setTimeout(() => {
      res.writeHead(200, {'Content-Type': 'text/plain'});
      res.end('back ' + req.url + '\n');
    }, Math.floor(Math.random() * 15));
  });
} else if (mode === 'front') {
  const backPort = Number(process.argv[3]);
  const agent = new http.Agent({keepAlive: true, maxSockets: 10});
  serve((req, res) => {
    const id = req.url.split('/').pop();
    http.get({host: '127.0.0.1', port: backPort, path: '/items/' + id, agent}, (back) => {
      back.resume();
      back.on('end', () => {
        res.writeHead(back.statusCode === 200 ? 200 : 502, {'Content-Type': 'text/plain'});
        res.end('front\n');
      });
    }).on('error', () => {
      res.writeHead(502);
      res.end();
    });
  });
} else {
  console.error('usage: node_services.js back | front BACK_PORT');
  process.exit(2);
}
