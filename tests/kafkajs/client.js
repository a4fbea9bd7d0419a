// client.js - a small kafkajs client the tests drive (tests/test_kafka_kafkajs.py).
//
//   node client.js BROKER produce TOPIC [gzip]   values on stdin, one a line
//                                                (JSON {key,value,headers,timestamp}
//                                                or plain text); prints the
//                                                send results as JSON
//   node client.js BROKER consume TOPIC FROM N   FROM: beginning, end, an offset
//                                                or time:MS; prints {start} (the
//                                                offset it seeks to), then N messages
//   node client.js BROKER group GROUP N TOPIC... consumes N messages in GROUP,
//                                                committing each
//   node client.js BROKER member GROUP TOPIC...  stays in GROUP until stdin
//                                                closes; prints each assignment
//   node client.js BROKER offsets TOPIC [MS]     the topic's offsets (by time)
//
// Every message printed is a JSON line {offset,key,value,headers,timestamp};
// an error is printed as "ERROR name type message" and exits 1.
const { Kafka, logLevel, CompressionTypes } = require('kafkajs');

const [broker, cmd, ...args] = process.argv.slice(2);
// With KAFKAJS_CA, KAFKAJS_CERT and KAFKAJS_KEY (PEM files): TLS, with
// that client certificate.
const fs = require('fs');
const ssl = process.env.KAFKAJS_CA ? {
	ca: [fs.readFileSync(process.env.KAFKAJS_CA)],
	cert: fs.readFileSync(process.env.KAFKAJS_CERT),
	key: fs.readFileSync(process.env.KAFKAJS_KEY),
} : undefined;
const kafka = new Kafka({
	brokers: [broker], clientId: 'streamfs-test', logLevel: logLevel.NOTHING,
	retry: { retries: 3, initialRetryTime: 100 }, ssl,
});

function out(o) { process.stdout.write(JSON.stringify(o) + '\n'); }

function str(b) { return b === null ? null : b.toString(); }

function show(m) {
	const h = {};
	for (const k of Object.keys(m.headers || {})) h[k] = str(m.headers[k]);
	out({ offset: Number(m.offset), key: str(m.key), value: str(m.value),
	      headers: h, timestamp: Number(m.timestamp) });
}

function lines() {
	return fs.readFileSync(0, 'utf8').split('\n').filter((l) => l);
}

function message(l) {
	if (!l.startsWith('{')) return { value: l };
	return JSON.parse(l);
}

async function produce(topic, codec) {
	const p = kafka.producer({ allowAutoTopicCreation: true });
	await p.connect();
	try {
		out(await p.send({
			topic, acks: -1, messages: lines().map(message),
			compression: codec === 'gzip' ? CompressionTypes.GZIP
				: CompressionTypes.None,
		}));
	} finally {
		await p.disconnect();
	}
}

async function startAt(topic, from) {
	if (from === 'beginning') return null;
	if (!from.startsWith('time:') && from !== 'end') return from;
	const admin = kafka.admin();
	await admin.connect();
	try {
		const o = from === 'end' ? await admin.fetchTopicOffsets(topic)
			: await admin.fetchTopicOffsetsByTimestamp(topic, Number(from.slice(5)));
		return o[0].offset;
	} finally {
		await admin.disconnect();
	}
}

// Take n messages from a consumer already subscribed, then disconnect.
async function take(c, n, seek) {
	if (n === 0) { await c.disconnect(); return; }
	let got = 0;
	await new Promise((resolve, reject) => {
		c.on(c.events.CRASH, (e) => reject(e.payload.error));
		c.run({
			autoCommit: true, autoCommitThreshold: 1,
			eachMessage: async ({ message }) => {
				if (got >= n) return;
				show(message);
				if (++got === n) resolve();
			},
		}).then(() => { if (seek) c.seek(seek); }, reject);
	});
	await c.disconnect();
}

async function consume(topic, from, n) {
	const offset = await startAt(topic, from);
	out({ start: offset === null ? null : Number(offset) });
	const c = kafka.consumer({ groupId: 'kafkajs-' + process.pid, maxWaitTimeInMs: 100 });
	await c.connect();
	await c.subscribe({ topic, fromBeginning: from === 'beginning' });
	await take(c, Number(n), offset === null ? null : { topic, partition: 0, offset });
}

async function group(id, n, topics) {
	const c = kafka.consumer({ groupId: id, maxWaitTimeInMs: 100 });
	await c.connect();
	await c.subscribe({ topics, fromBeginning: true });
	await take(c, Number(n), null);
}

async function member(id, topics) {
	const c = kafka.consumer({ groupId: id, maxWaitTimeInMs: 100,
	                           heartbeatInterval: 300, sessionTimeout: 10000,
	                           rebalanceTimeout: 10000 });
	c.on(c.events.GROUP_JOIN, (e) => out({ assigned: Object.keys(e.payload.memberAssignment).sort() }));
	await c.connect();
	await c.subscribe({ topics, fromBeginning: true });
	await c.run({ eachMessage: async () => {} });
	await new Promise((resolve) => { process.stdin.on('end', resolve); process.stdin.resume(); });
	await c.disconnect();                   // LeaveGroup
	out({ left: true });
}

async function offsets(topic, ms) {
	const admin = kafka.admin();
	await admin.connect();
	try {
		out(ms === undefined ? await admin.fetchTopicOffsets(topic)
			: await admin.fetchTopicOffsetsByTimestamp(topic, Number(ms)));
	} finally {
		await admin.disconnect();
	}
}

const cmds = {
	produce: () => produce(args[0], args[1]),
	consume: () => consume(args[0], args[1], args[2]),
	group: () => group(args[0], args[1], args.slice(2)),
	member: () => member(args[0], args.slice(1)),
	offsets: () => offsets(args[0], args[1]),
};

if (!cmds[cmd]) {
	console.error('usage: client.js BROKER produce|consume|group|member|offsets ...');
	process.exit(2);
}
cmds[cmd]().then(() => process.exit(0), (e) => {
	// A retrier wraps the broker's error: name the innermost one's code.
	let inner = e;
	while (inner.cause) inner = inner.cause;
	console.log('ERROR', e.name, inner.type, e.message);
	process.exit(1);
});
