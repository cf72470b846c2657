'use strict';
// The S3 server of arca's tests (tests/unit/test_s3.c): @20minutes/s3rver
// (a fork of s3rver that verifies AWS Signature Version 4 on every signed
// request: a wrong secret gets 403 SignatureDoesNotMatch), with one access
// key of the test's choosing instead of its built-in S3RVER/S3RVER.
//
//   node server.js DIR PORT_FILE [BUCKET...]
// Environment: S3_TEST_ACCESS_KEY, S3_TEST_SECRET (both required).
// Logs one line per request to stdout, METHOD URL STATUS (the tests
// read it), then " if-none-match" when the request carried that header.
// S3_TEST_CONDITIONAL (optional) chooses how a write with If-None-Match
// (PutObject, CompleteMultipartUpload) is answered, for the tests of
// conditional PUT:
//   unset    as s3rver does: the header is ignored, the object written;
//   honour   as AWS does: 412 PreconditionFailed when the key exists;
//   501      501 NotImplemented (a server without conditional writes);
//   400      400 InvalidArgument naming the header (another such server);
//   409      409 ConditionalRequestConflict (a concurrent write).
// Listens on 127.0.0.1, port chosen by the kernel (no race for a free
// port); writes the port to PORT_FILE (via a temp file and a rename, so a
// reader never sees half of it) once it accepts connections.
// The payload hash (x-amz-content-sha256) is part of the signed request,
// but s3rver does not compare it with the body.
const fs = require('fs');
const path = require('path');
const S3rver = require('@20minutes/s3rver');
const AWSAccount = require('@20minutes/s3rver/lib/models/account');

const [dir, portFile, ...buckets] = process.argv.slice(2);
const key = process.env.S3_TEST_ACCESS_KEY;
const secret = process.env.S3_TEST_SECRET;
if (!dir || !portFile || !key || !secret) {
  console.error('usage: S3_TEST_ACCESS_KEY=K S3_TEST_SECRET=S ' +
      'node server.js DIR PORT_FILE [BUCKET...]');
  process.exit(2);
}
AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
AWSAccount.DUMMY_ACCOUNT.createKeyPair(key, secret);

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: dir,
  silent: true,
  vhostBuckets: false,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});
// One line per request, "METHOD URL STATUS", first in the chain (Koa
// composes app.middleware when it starts listening).
server.middleware.unshift(async (ctx, next) => {
  try {
    await next();
  } finally {
    const inm = ctx.get('if-none-match') ? ' if-none-match' : '';
    process.stdout.write(`${ctx.method} ${ctx.url} ${ctx.status}${inm}\n`);
  }
}, async (ctx, next) => {
  const mode = process.env.S3_TEST_CONDITIONAL;
  const write = (ctx.method === 'PUT' && !('partNumber' in ctx.query)) ||
      (ctx.method === 'POST' && 'uploadId' in ctx.query);
  if (!mode || !write || ctx.get('if-none-match') !== '*') return next();
  const answer = (status, code, message) => {
    ctx.status = status;
    ctx.type = 'application/xml';
    ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' +
        code + '</Code><Message>' + message + '</Message></Error>';
  };
  if (mode === '501')
    return answer(501, 'NotImplemented', 'A header you provided implies ' +
        'functionality that is not implemented');
  if (mode === '400')
    return answer(400, 'InvalidArgument', 'If-None-Match is not supported');
  if (mode === '409')
    return answer(409, 'ConditionalRequestConflict', 'A conflicting ' +
        'conditional operation is currently in progress');
  const [bucket, ...rest] = ctx.path.slice(1).split('/');
  const key = decodeURIComponent(rest.join('/'));
  if (await server.store.existsObject(bucket, key))
    return answer(412, 'PreconditionFailed', 'At least one of the ' +
        'pre-conditions you specified did not hold');
  return next();
});
server.run().then(({ port }) => {
  const tmp = path.join(path.dirname(portFile), '.port.tmp');
  fs.writeFileSync(tmp, String(port) + '\n');
  fs.renameSync(tmp, portFile);
}, (err) => {
  console.error('s3 test server: ' + err.message);
  process.exit(1);
});
for (const sig of ['SIGTERM', 'SIGINT'])
  process.on(sig, () => process.exit(0));
