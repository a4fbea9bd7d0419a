/* test_store.c - unit tests of the store (store/), without FUSE: the byte
 * layouts of docs/format.md, segment records and CRC-32C, topics through
 * store.h (append, read, seek, reopen, the index batch, a segment roll, the
 * space reserve, purges, message boundaries, consumer group cursors), and
 * recovery of segment tails edited by hand.
 *
 * The harness and the common helpers are in store_fixture.h.  A crash is
 * simulated by a child process that writes and leaves with _exit, neither
 * syncing nor closing: the files are then as a kill -9 leaves them, and
 * the parent edits and reopens them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store_fixture.h"

/* ========================================================================
 * Helpers: files under DATADIR/segments, simulated crashes
 */

static int flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	unsigned char c;
	int ok = fd >= 0 && pread(fd, &c, 1, at) == 1;
	c ^= 0x20;
	ok = ok && pwrite(fd, &c, 1, at) == 1;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int append_bytes(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND);
	int ok = fd >= 0 && write(fd, p, n) == (ssize_t)n;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Where records recs[0..n) end in a segment that holds only them. */
static uint64_t recs_end(const char *const *recs, int n)
{
	uint64_t end = 0;
	for (int i = 0; i < n; i++)
		end += REC_HDR + strlen(recs[i]);
	return end;
}

/* A whole record of payload p, header h (magic, len and crc filled in),
 * into buf; returns its size. */
static size_t build_record(char *buf, const struct rec_header *h0,
			   const char *p)
{
	struct rec_header h = *h0;
	struct iovec iov = { (void *)p, strlen(p) };
	h.magic = REC_MAGIC;
	h.len = (uint32_t)iov.iov_len;
	rec_encode(buf, &h);
	h.crc = rec_crc(buf, &iov, 1);
	rec_encode(buf, &h);
	memcpy(buf + REC_HDR, p, iov.iov_len);
	return REC_HDR + iov.iov_len;
}

/* ---- simulated crashes ---- */

static struct store *crash_store;       /* reachable until the _exit */

/* In a child: open the store, load the topic, run work on it and _exit,
 * neither syncing nor closing.  1 if the child got to its end. */
static int crash_after(const char *dir, const struct fx *fx,
		       int (*work)(struct store *, const struct fx *,
				   struct sf_topic *, const void *),
		       const void *arg)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		char err[512];
		struct sf_topic t;
		int ok = store_open(dir, 0, &crash_store, err,
				    sizeof(err)) == 0;
		ok = ok && store_topic_load(crash_store, fx->ino, &t) == 0;
		ok = ok && work(crash_store, fx, &t, arg) == 0;
		_exit(ok ? 0 : 1);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Records for a crashing child; with flush, their index entries are
 * written to LevelDB (unsynced) before the crash. */
struct recs {
	const char *const *v;
	int n;
	bool flush;
};

static int append_recs(struct store *st, const struct fx *fx,
		       struct sf_topic *t, const void *arg)
{
	const struct recs *r = arg;
	int e = append_all(st, fx, t, r->v, r->n);
	if (e == 0 && r->flush)
		e = store_topic_load(st, fx->ino, t);
	return e;
}

static int crash_appending(const char *dir, const struct fx *fx,
			   const char *const *recs, int n, bool flush)
{
	struct recs r = { recs, n, flush };
	return crash_after(dir, fx, append_recs, &r);
}

/* A fresh store with a topic in stream "s" holding recs[0..n), closed
 * cleanly; the topic's state in *t. */
static int setup_closed(const char *dir, struct fx *fx,
			const char *const *recs, int n, struct sf_topic *t)
{
	struct store *st = open_store(dir);
	int ok = st && make_topic(st, fx);
	ok = ok && EQ(store_topic_load(st, fx->ino, t), 0);
	ok = ok && EQ(append_all(st, fx, t, recs, n), 0);
	store_close(st);
	return ok;
}

/* ========================================================================
 * Encodings, byte by byte against the tables of docs/format.md
 */

static void test_number_helpers(const char *dir)
{
	char b[8];
	static const unsigned char le32[] = { 0x04, 0x03, 0x02, 0x01 };
	static const unsigned char le64[] = {
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x81 };
	static const unsigned char be64[] = {
		0x81, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };

	put_le32(b, 0x01020304u);
	BYTES(b, le32, 4);
	EQ(get_le32(b), 0x01020304u);
	put_le64(b, 0x8102030405060708ull);
	BYTES(b, le64, 8);
	EQ(get_le64(b), 0x8102030405060708ull);
	put_be64(b, 0x8102030405060708ull);
	BYTES(b, be64, 8);
	EQ(get_be64(b), 0x8102030405060708ull);
	/* bytes with the high bit set must not sign-extend */
	memset(b, 0xff, sizeof(b));
	EQ(get_le32(b), 0xffffffffu);
	EQ(get_le64(b), ~0ull);
	EQ(get_be64(b), ~0ull);
}

static void test_key_layouts(const char *dir)
{
	char k[KEY_MAX];
	static const unsigned char inode[] = {
		'I', 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };
	static const unsigned char index[] = {
		'T', 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,
		     0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff };
	static const unsigned char seguser[] = {
		'W', 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
		     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
		     0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10 };
	static const unsigned char dirent[] = {
		'D', 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
		'a', 'b' };

	EQ(KEY_INODE, 'I');
	EQ(KEY_DIRENT, 'D');
	EQ(KEY_XATTR, 'X');
	EQ(KEY_SYMLINK, 'L');
	EQ(KEY_INDEX, 'T');
	EQ(KEY_SEGSTATE, 'S');
	EQ(KEY_SEGUSER, 'W');
	EQ(KEY_ORPHAN, 'O');
	EQ(KEY_META, 'M');
	if (EQ(key_u64(k, KEY_INODE, 0x0102030405060708ull), 9))
		BYTES(k, inode, sizeof(inode));
	if (EQ(key_u64_u64(k, KEY_INDEX, 42, 0x1000000ffull), 17))
		BYTES(k, index, sizeof(index));
	if (EQ(key_u64_u64_u64(k, KEY_SEGUSER, 2, 1, 0xfedcba9876543210ull),
	       25))
		BYTES(k, seguser, sizeof(seguser));
	if (EQ(key_u64_name(k, KEY_DIRENT, 0x100, "ab"), 11))
		BYTES(k, dirent, sizeof(dirent));
}

/* Big-endian numbers make LevelDB's byte order numeric order. */
static void test_key_order(const char *dir)
{
	char a[KEY_MAX], b[KEY_MAX];
	key_u64_u64(a, KEY_INDEX, 1, 255);
	key_u64_u64(b, KEY_INDEX, 1, 256);
	CHECK(memcmp(a, b, 17) < 0);
	key_u64_u64(a, KEY_INDEX, 1, ~0ull);
	key_u64_u64(b, KEY_INDEX, 2, 0);
	CHECK(memcmp(a, b, 17) < 0);
	/* a topic's entries all lie between its bare prefix and the next */
	key_u64(b, KEY_INDEX, 2);
	CHECK(memcmp(a, b, 9) < 0);
}

static void test_key_name_limit(const char *dir)
{
	char k[KEY_MAX], name[300];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	EQ(key_u64_name(k, KEY_XATTR, 7, name), 9 + 255);
	EQ(k[0], 'X');
	EQ(get_be64(k + 1), 7);
	EQ(k[9 + 254], 'n');
	EQ(key_u64_name(k, KEY_XATTR, 7, ""), 9);
}

/* Values with a different byte in every position show any misplaced
 * field. */
static const struct sf_inode sample_inode = {
	.ino = 77, .kind = SF_KIND_TOPIC, .flags = SF_INODE_MTIME_SET,
	.mode = S_IFREG | 0644,
	.uid = 0x01020304, .gid = 0x05060708, .nlink = 0x090a0b0c,
	.parent = 0x1112131415161718ull, .rdev = 0x2122232425262728ull,
	.atime = { 0x3132333435363738ll, 0x393a3b3c },
	.mtime = { 0x4142434445464748ll, 0x191a1b1c },
	.ctime = { 0x5152535455565758ll, 0x292a2b2c },
};

static const unsigned char sample_inode_bytes[80] = {
	/* 0: version, kind, flags, an unused byte */
	0x01, 0x01, 0x01, 0x00,
	/* 4: mode 0100644 */
	0xa4, 0x81, 0x00, 0x00,
	/* 8: uid, 12: gid, 16: nlink */
	0x04, 0x03, 0x02, 0x01, 0x08, 0x07, 0x06, 0x05,
	0x0c, 0x0b, 0x0a, 0x09,
	/* 20: parent */
	0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
	/* 28: rdev */
	0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21,
	/* 36: atime seconds, nanoseconds */
	0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31,
	0x3c, 0x3b, 0x3a, 0x39,
	/* 48: mtime */
	0x48, 0x47, 0x46, 0x45, 0x44, 0x43, 0x42, 0x41,
	0x1c, 0x1b, 0x1a, 0x19,
	/* 60: ctime */
	0x58, 0x57, 0x56, 0x55, 0x54, 0x53, 0x52, 0x51,
	0x2c, 0x2b, 0x2a, 0x29,
	/* 72: unused */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static void test_inode_encoding(const char *dir)
{
	char b[INODE_REC_SIZE];
	struct sf_inode in;

	EQ(INODE_REC_SIZE, 80);
	memset(b, 0xee, sizeof(b));     /* unused bytes must be cleared */
	inode_encode(b, &sample_inode);
	BYTES(b, sample_inode_bytes, 80);

	memset(&in, 0xee, sizeof(in));
	if (!EQ(inode_decode(b, sizeof(b), 77, &in), 0))
		return;
	EQ(in.ino, 77);
	EQ(in.kind, SF_KIND_TOPIC);
	EQ(in.flags, SF_INODE_MTIME_SET);
	EQ(in.mode, S_IFREG | 0644);
	EQ(in.uid, 0x01020304);
	EQ(in.gid, 0x05060708);
	EQ(in.nlink, 0x090a0b0c);
	EQ(in.parent, 0x1112131415161718ull);
	EQ(in.rdev, 0x2122232425262728ull);
	EQ(in.atime.tv_sec, 0x3132333435363738ll);
	EQ(in.atime.tv_nsec, 0x393a3b3c);
	EQ(in.mtime.tv_sec, 0x4142434445464748ll);
	EQ(in.mtime.tv_nsec, 0x191a1b1c);
	EQ(in.ctime.tv_sec, 0x5152535455565758ll);
	EQ(in.ctime.tv_nsec, 0x292a2b2c);
}

static void test_inode_decode_rejects(const char *dir)
{
	char b[INODE_REC_SIZE + 1];
	struct sf_inode in;

	inode_encode(b, &sample_inode);
	b[INODE_REC_SIZE] = 0;
	EQ(inode_decode(b, 79, 77, &in), -EIO);
	EQ(inode_decode(b, 81, 77, &in), -EIO);
	EQ(inode_decode(b, 0, 77, &in), -EIO);
	b[0] = 0;
	EQ(inode_decode(b, 80, 77, &in), -EIO);
	b[0] = 2;
	EQ(inode_decode(b, 80, 77, &in), -EIO);
	b[0] = 1;
	EQ(inode_decode(b, 80, 77, &in), 0);
}

static const struct idx_entry sample_entry = {
	.off = 0x0000000100000002ull, .seg_stream = 0x1112131415161718ull,
	.seg_seq = 0x2122232425262728ull, .seg_off = 0x3132333435363738ull,
	.len = 0x41424344, .nmsgs = 0x51525354,
	.msg = 0x6162636465666768ull, .ns = 0x1718191a1b1c1d1ell,
};

static void test_index_encoding(const char *dir)
{
	static const unsigned char key[17] = {
		'T', 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,
		     0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02 };
	static const unsigned char val[48] = {
		/* 0: stream */
		0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
		/* 8: segment number */
		0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21,
		/* 16: offset of the header in the segment */
		0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31,
		/* 24: payload length, 28: messages */
		0x44, 0x43, 0x42, 0x41, 0x54, 0x53, 0x52, 0x51,
		/* 32: first message */
		0x68, 0x67, 0x66, 0x65, 0x64, 0x63, 0x62, 0x61,
		/* 40: arrival ns */
		0x1e, 0x1d, 0x1c, 0x1b, 0x1a, 0x19, 0x18, 0x17,
	};
	char k[KEY_MAX], v[IDX_VAL_SIZE];
	struct idx_entry e;

	EQ(IDX_VAL_SIZE, 48);
	EQ(key_u64_u64(k, KEY_INDEX, 0x0a0b0c0d0e0f1011ull, sample_entry.off),
	   17);
	BYTES(k, key, 17);
	idx_encode(v, &sample_entry);
	BYTES(v, val, 48);

	memset(&e, 0xee, sizeof(e));
	if (!EQ(idx_decode(k, 17, v, 48, &e), 0))
		return;
	EQ(e.off, sample_entry.off);
	EQ(e.seg_stream, sample_entry.seg_stream);
	EQ(e.seg_seq, sample_entry.seg_seq);
	EQ(e.seg_off, sample_entry.seg_off);
	EQ(e.len, sample_entry.len);
	EQ(e.nmsgs, sample_entry.nmsgs);
	EQ(e.msg, sample_entry.msg);
	EQ(e.ns, sample_entry.ns);
}

static void test_index_decode_rejects(const char *dir)
{
	char k[KEY_MAX + 1], v[IDX_VAL_SIZE + 1];
	struct idx_entry e;

	key_u64_u64(k, KEY_INDEX, 5, 6);
	idx_encode(v, &sample_entry);
	EQ(idx_decode(k, 16, v, 48, &e), -EIO);
	EQ(idx_decode(k, 18, v, 48, &e), -EIO);
	EQ(idx_decode(k, 17, v, 47, &e), -EIO);
	EQ(idx_decode(k, 17, v, 49, &e), -EIO);
	EQ(idx_decode(k, 17, v, 0, &e), -EIO);
	k[0] = KEY_INODE;
	EQ(idx_decode(k, 17, v, 48, &e), -EIO);
	k[0] = KEY_INDEX;
	EQ(idx_decode(k, 17, v, 48, &e), 0);
	EQ(e.off, 6);
}

static void test_segstate_encoding(const char *dir)
{
	static const struct seg_state s0 = {
		.seq = 0x0102030405060708ull, .end = 0x1112131415161718ull,
		.synced_seq = 0x2122232425262728ull,
		.synced = 0x3132333435363738ull,
		.max_ns = 0x4142434445464748ll,
	};
	static const unsigned char val[40] = {
		/* 0: active segment */
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		/* 8: end */
		0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
		/* 16: synced bytes of synced_seq */
		0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31,
		/* 24: synced_seq */
		0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21,
		/* 32: newest arrival in the stream */
		0x48, 0x47, 0x46, 0x45, 0x44, 0x43, 0x42, 0x41,
	};
	char v[SEGSTATE_SIZE + 1];
	struct seg_state s;

	EQ(SEGSTATE_SIZE, 40);
	segstate_encode(v, &s0);
	BYTES(v, val, 40);
	memset(&s, 0xee, sizeof(s));
	if (EQ(segstate_decode(v, 40, &s), 0)) {
		EQ(s.seq, s0.seq);
		EQ(s.end, s0.end);
		EQ(s.synced_seq, s0.synced_seq);
		EQ(s.synced, s0.synced);
		EQ(s.max_ns, s0.max_ns);
	}
	/* A state written before max_ns existed reads with max_ns 0. */
	memset(&s, 0xee, sizeof(s));
	if (EQ(segstate_decode(v, 32, &s), 0)) {
		EQ(s.synced, s0.synced);
		EQ(s.max_ns, 0);
	}
	EQ(segstate_decode(v, 24, &s), -EIO);
	EQ(segstate_decode(v, 31, &s), -EIO);
	EQ(segstate_decode(v, 33, &s), -EIO);
	EQ(segstate_decode(v, 41, &s), -EIO);
	EQ(segstate_decode(v, 0, &s), -EIO);
}

static const struct rec_header sample_header = {
	.magic = REC_MAGIC, .crc = 0xa1a2a3a4, .len = 0x0b0c0d0e,
	.nmsgs = 0x0102, .topic = 0x1112131415161718ull,
	.off = 0x2122232425262728ull, .msg = 0x3132333435363738ull,
	.ns = 0x4142434445464748ll,
};

static void test_record_header_encoding(const char *dir)
{
	static const unsigned char hdr[48] = {
		/* 0: magic "SFR1", 4: crc */
		'S', 'F', 'R', '1', 0xa4, 0xa3, 0xa2, 0xa1,
		/* 8: payload length, 12: messages */
		0x0e, 0x0d, 0x0c, 0x0b, 0x02, 0x01, 0x00, 0x00,
		/* 16: topic */
		0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
		/* 24: topic byte offset */
		0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21,
		/* 32: first message */
		0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31,
		/* 40: arrival ns */
		0x48, 0x47, 0x46, 0x45, 0x44, 0x43, 0x42, 0x41,
	};
	char b[REC_HDR];
	struct rec_header h;

	EQ(REC_HDR, 48);
	EQ(REC_MAGIC, 0x31524653u);
	rec_encode(b, &sample_header);
	BYTES(b, hdr, 48);
	memset(&h, 0xee, sizeof(h));
	rec_decode(b, &h);
	EQ(h.magic, REC_MAGIC);
	EQ(h.crc, sample_header.crc);
	EQ(h.len, sample_header.len);
	EQ(h.nmsgs, sample_header.nmsgs);
	EQ(h.topic, sample_header.topic);
	EQ(h.off, sample_header.off);
	EQ(h.msg, sample_header.msg);
	EQ(h.ns, sample_header.ns);
}

/* ========================================================================
 * Records and CRC-32C
 */

static const struct rec_header plain_header = {
	.nmsgs = 2, .topic = 9, .off = 100, .msg = 7, .ns = 1234567890,
};

static void test_record_check_good(const char *dir)
{
	char rec[256];
	struct rec_header h;
	size_t n = build_record(rec, &plain_header, "one\ntwo\n");

	EQ(n, REC_HDR + 8);
	if (EQ(rec_check(rec, n, &h), 0)) {
		EQ(h.len, 8);
		EQ(h.nmsgs, 2);
		EQ(h.topic, 9);
		EQ(h.off, 100);
		EQ(h.msg, 7);
		EQ(h.ns, 1234567890);
	}
	/* bytes after the record (the next one) do not matter */
	memset(rec + n, 0x55, 16);
	EQ(rec_check(rec, n + 16, &h), 0);
	/* an empty payload is a whole record */
	n = build_record(rec, &plain_header, "");
	EQ(rec_check(rec, n, &h), 0);
	EQ(h.len, 0);
}

/* Any flipped bit from the crc field on is caught: the crc covers the
 * rest of the header and the payload. */
static void test_record_check_flipped_bits(const char *dir)
{
	char rec[256];
	struct rec_header h;
	size_t n = build_record(rec, &plain_header, "one\ntwo\n");

	for (size_t i = 4; i < n; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			rec[i] ^= (char)(1 << bit);
			if (!EQ(rec_check(rec, n, &h), -EIO))
				fprintf(stderr, "  byte %zu bit %d\n", i, bit);
			rec[i] ^= (char)(1 << bit);
		}
	}
	EQ(rec_check(rec, n, &h), 0);
}

/* The magic is outside the crc; it is checked on its own. */
static void test_record_check_magic(const char *dir)
{
	char rec[256];
	struct rec_header h;
	size_t n = build_record(rec, &plain_header, "x\n");

	rec[3] = '2';                   /* "SFR2" */
	EQ(rec_check(rec, n, &h), -EIO);
	memset(rec, 0, 4);
	EQ(rec_check(rec, n, &h), -EIO);
}

static void test_record_check_length(const char *dir)
{
	char rec[256];
	struct rec_header h;
	size_t n = build_record(rec, &plain_header, "one\ntwo\n");

	/* the payload runs past what is available */
	EQ(rec_check(rec, n - 1, &h), -EIO);
	EQ(rec_check(rec, REC_HDR, &h), -EIO);
	/* a header claiming more payload than there is, its crc right for
	 * the header */
	struct rec_header big = plain_header;
	struct iovec none = { NULL, 0 };
	big.magic = REC_MAGIC;
	big.len = 0xffffffffu;
	rec_encode(rec, &big);
	big.crc = rec_crc(rec, &none, 0);
	rec_encode(rec, &big);
	EQ(rec_check(rec, n, &h), -EIO);
}

static void test_record_check_truncated_header(const char *dir)
{
	char rec[256];
	struct rec_header h;
	size_t n = build_record(rec, &plain_header, "");

	EQ(n, REC_HDR);
	EQ(rec_check(rec, REC_HDR - 1, &h), -EIO);
	EQ(rec_check(rec, 8, &h), -EIO);
	EQ(rec_check(rec, 0, &h), -EIO);
	EQ(rec_check(rec, REC_HDR, &h), 0);
}

/* rec_crc over a payload in pieces equals the crc over it whole. */
static void test_record_crc_pieces(const char *dir)
{
	char rec[256];
	const char *p = "alpha\nbeta\ngamma\n";
	size_t n = build_record(rec, &plain_header, p);
	struct iovec whole = { rec + REC_HDR, n - REC_HDR };
	struct iovec parts[3] = {
		{ rec + REC_HDR, 3 }, { rec + REC_HDR + 3, 0 },
		{ rec + REC_HDR + 3, n - REC_HDR - 3 },
	};
	EQ(rec_crc(rec, parts, 3), rec_crc(rec, &whole, 1));
	EQ(rec_crc(rec, &whole, 1), get_le32(rec + 4));
	/* the crc field itself is not covered */
	rec[4] ^= 1;
	EQ(rec_crc(rec, &whole, 1), get_le32(rec + 4) ^ 1);
}

/* Known answers: the standard check value and the iSCSI test vectors of
 * RFC 3720, B.4. */
static void test_crc32c_known_answers(const char *dir)
{
	unsigned char b[32];

	EQ(crc32c(0, "123456789", 9), 0xe3069283u);
	EQ(crc32c(0, "", 0), 0);
	EQ(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	memset(b, 0, sizeof(b));
	EQ(crc32c(0, b, 32), 0x8a9136aau);
	memset(b, 0xff, sizeof(b));
	EQ(crc32c(0, b, 32), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	EQ(crc32c(0, b, 32), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	EQ(crc32c(0, b, 32), 0x113fdb5cu);
}

/* One bit at a time, the definition itself. */
static uint32_t crc_bitwise(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

/* Every alignment and short length: the fast path handles unaligned heads
 * and tails separately. */
static void test_crc32c_alignments(const char *dir)
{
	unsigned char b[600];
	int wrong = 0;
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(b); i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (unsigned char)(x >> 16);
	}
	for (size_t start = 0; start < 16; start++)
		for (size_t n = 0; n <= 72; n++)
			wrong += crc32c(0, b + start, n) !=
				 crc_bitwise(b + start, n);
	for (size_t start = 0; start < 8; start++)
		wrong += crc32c(0, b + start, 500) !=
			 crc_bitwise(b + start, 500);
	EQ(wrong, 0);
}

/* ========================================================================
 * The public API: opening, namespace records, topics
 */

static void test_open_empty_folder(const char *dir)
{
	char path[4200], err[512] = "";
	struct sf_inode root;
	struct store *st = open_store(dir), *again = NULL;
	if (!st)
		return;
	if (EQ(store_get_inode(st, 1, &root), 0)) {
		CHECK(S_ISDIR(root.mode));
		EQ(root.nlink, 2);
		EQ(root.ino, 1);
	}
	EQ(store_dir_is_empty(st, 1), 1);
	CHECK(new_ino(st) >= 2);
	snprintf(path, sizeof(path), "%s/db/CURRENT", dir);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/segments", dir);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/blobs", dir);
	CHECK(access(path, F_OK) == 0);
	/* a second open of the same folder is refused as busy */
	EQ(store_open(dir, 0, &again, err, sizeof(err)), -EBUSY);
	CHECK(strstr(err, "already mounted") != NULL);
	store_close(st);
	st = open_store(dir);
	if (st)
		EQ(store_get_inode(st, 1, &root), 0);
	store_close(st);
}

/* Inode numbers are never reused, across a reopen too. */
static void test_alloc_ino_not_reused(const char *dir)
{
	struct store *st = open_store(dir);
	if (!st)
		return;
	uint64_t a = new_ino(st), b = new_ino(st);
	CHECK(b > a);
	store_close(st);
	if (!(st = open_store(dir)))
		return;
	CHECK(new_ino(st) > b);
	store_close(st);
}

static int count_name(const char *name, size_t len, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void test_namespace_records(const char *dir)
{
	struct store *st = open_store(dir);
	struct fx fx;
	struct sf_inode in;
	uint64_t ino;
	if (!st || !make_topic(st, &fx)) {
		store_close(st);
		return;
	}
	EQ(store_lookup(st, 1, "s", &ino), 0);
	EQ(ino, fx.stream);
	EQ(store_lookup(st, fx.stream, "t", &ino), 0);
	EQ(ino, fx.ino);
	EQ(store_lookup(st, fx.stream, "u", &ino), -ENOENT);
	if (EQ(store_get_inode(st, fx.ino, &in), 0)) {
		EQ(in.kind, SF_KIND_TOPIC);
		EQ(in.parent, fx.stream);
		CHECK(S_ISREG(in.mode));
	}
	if (EQ(store_get_inode(st, 1, &in), 0))
		EQ(in.nlink, 3);        /* the stream is a subdirectory */
	EQ(store_dir_is_empty(st, fx.stream), 0);

	struct store_dirit *it = store_dirit_open(st, fx.stream);
	const char *name;
	size_t nlen;
	uint32_t dtype;
	if (CHECK(it != NULL)) {
		EQ(store_dirit_next(it, &name, &nlen, &ino, &dtype), 1);
		CHECK(nlen == 1 && strcmp(name, "t") == 0);
		EQ(ino, fx.ino);
		EQ(dtype, DT_REG);
		EQ(store_dirit_next(it, &name, &nlen, &ino, &dtype), 0);
		store_dirit_close(it);
	}

	struct store_batch *b = store_batch_new();
	char *val = NULL;
	size_t len;
	int names = 0;
	store_put_xattr(b, fx.ino, "user.a", "1", 1);
	store_put_xattr(b, fx.ino, "user.b", "22", 2);
	EQ(store_commit(st, b, true), 0);
	store_batch_free(b);
	if (EQ(store_get_xattr(st, fx.ino, "user.b", &val, &len), 0))
		CHECK(len == 2 && memcmp(val, "22", 2) == 0);
	free(val);
	EQ(store_get_xattr(st, fx.ino, "user.c", &val, &len), -ENODATA);
	EQ(store_list_xattr(st, fx.ino, count_name, &names), 0);
	EQ(names, 2);
	store_close(st);
}

static void test_topic_empty(const char *dir)
{
	struct store *st = open_store(dir);
	struct fx fx;
	struct sf_topic t;
	uint64_t off = 99;
	if (!st || !make_topic(st, &fx)) {
		store_close(st);
		return;
	}
	EQ(store_topic_load(st, fx.ino, &t), 0);
	EQ(t.size, 0);
	EQ(t.next_msg, 0);
	EQ(t.first_ns, 0);
	EQ(t.last_ns, 0);
	READS(st, fx.ino, &t, 0, 100, "");
	EQ(store_topic_seek_message(st, fx.ino, &t, 0, &off), -ENXIO);
	EQ(store_topic_seek_time(st, fx.ino, &t, 0, &off), 0);
	EQ(off, 0);
	store_close(st);
}

/* Four records, seven messages: "a\n" "bb\nccc\n" "dddd\n" "e\nf\ng\n". */
static const char *const seven[] = {
	"a\n", "bb\nccc\n", "dddd\n", "e\nf\ng\n",
};
#define SEVEN "a\nbb\nccc\ndddd\ne\nf\ng\n"

static struct store *open_seven(const char *dir, struct fx *fx,
				struct sf_topic *t)
{
	struct store *st = open_store(dir);
	if (st && make_topic(st, fx) &&
	    EQ(store_topic_load(st, fx->ino, t), 0) &&
	    EQ(append_all(st, fx, t, seven, 4), 0))
		return st;
	store_close(st);
	return NULL;
}

static void test_topic_append_read(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct store *st = open_seven(dir, &fx, &t);
	if (!st)
		return;
	EQ(t.size, 20);
	EQ(t.next_msg, 7);
	EQ(t.start, 0);
	EQ(t.first_msg, 0);
	CHECK(t.first_ns > 0 && t.first_ns <= t.last_ns);
	EQ(t.seg_stream, fx.stream);
	EQ(t.seg_seq, 1);
	READS(st, fx.ino, &t, 0, 20, SEVEN);
	READS(st, fx.ino, &t, 0, 1000, SEVEN);         /* cut at the end */
	READS(st, fx.ino, &t, 1, 4, "\nbb\n");         /* across a record */
	READS(st, fx.ino, &t, 3, 12, "b\nccc\ndddd\ne");
	READS(st, fx.ino, &t, 9, 5, "dddd\n");         /* exactly one */
	READS(st, fx.ino, &t, 19, 1, "\n");
	READS(st, fx.ino, &t, 20, 10, "");
	READS(st, fx.ino, &t, 5, 0, "");
	/* what the index says agrees with what the appends returned */
	struct sf_topic l;
	if (EQ(store_topic_load(st, fx.ino, &l), 0))
		SAME_TOPIC(&l, &t);
	store_close(st);
}

static void test_topic_seek_message(const char *dir)
{
	static const uint64_t want[7] = { 0, 2, 5, 9, 14, 16, 18 };
	struct fx fx;
	struct sf_topic t;
	uint64_t off;
	struct store *st = open_seven(dir, &fx, &t);
	if (!st)
		return;
	for (uint64_t m = 0; m < 7; m++) {
		off = 999;
		if (!EQ(store_topic_seek_message(st, fx.ino, &t, m, &off), 0) ||
		    !EQ(off, want[m]))
			fprintf(stderr, "  message %llu\n",
				(unsigned long long)m);
	}
	EQ(store_topic_seek_message(st, fx.ino, &t, 7, &off), -ENXIO);
	EQ(store_topic_seek_message(st, fx.ino, &t, ~0ull, &off), -ENXIO);
	store_close(st);
}

static void test_topic_seek_time(const char *dir)
{
	static const uint64_t starts[4] = { 0, 2, 9, 14 };
	struct store *st = open_store(dir);
	struct fx fx;
	struct sf_topic t;
	int64_t ns[4];
	uint64_t off;
	if (!st || !make_topic(st, &fx) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0)) {
		store_close(st);
		return;
	}
	for (int i = 0; i < 4; i++) {
		sleep_ms(2);            /* distinct arrival times */
		EQ(append(st, &fx, &t, seven[i]), 0);
		ns[i] = t.last_ns;
	}
	CHECK(ns[0] < ns[1] && ns[1] < ns[2] && ns[2] < ns[3]);
	EQ(t.first_ns, ns[0]);
	for (int i = 0; i < 4; i++) {
		EQ(store_topic_seek_time(st, fx.ino, &t, ns[i], &off), 0);
		EQ(off, starts[i]);
		/* just before an arrival finds that record */
		EQ(store_topic_seek_time(st, fx.ino, &t, ns[i] - 1, &off), 0);
		EQ(off, starts[i]);
	}
	EQ(store_topic_seek_time(st, fx.ino, &t, 0, &off), 0);
	EQ(off, 0);
	EQ(store_topic_seek_time(st, fx.ino, &t, ns[3] + 1, &off), 0);
	EQ(off, 20);                    /* none: the topic's size */
	store_close(st);
}

static void test_topic_reopen(const char *dir)
{
	struct fx fx;
	struct sf_topic t, l;
	uint64_t off;
	struct store *st = open_seven(dir, &fx, &t);
	if (!st)
		return;
	store_close(st);
	if (!(st = reopen_load(dir, &fx, &l)))
		return;
	SAME_TOPIC(&l, &t);
	READS(st, fx.ino, &l, 0, 20, SEVEN);
	EQ(store_topic_seek_message(st, fx.ino, &l, 4, &off), 0);
	EQ(off, 14);
	/* appends go on where they stopped */
	EQ(append(st, &fx, &l, "h\n"), 0);
	EQ(l.size, 22);
	EQ(l.next_msg, 8);
	store_close(st);
	if (!(st = reopen_load(dir, &fx, &t)))
		return;
	SAME_TOPIC(&t, &l);
	READS(st, fx.ino, &t, 18, 4, "g\nh\n");
	store_close(st);
}

/* Two topics of one stream share its segment; each reads only its own. */
static void test_topics_interleaved(const char *dir)
{
	struct store *st = open_store(dir);
	struct fx a, b;
	struct sf_topic ta, tb;
	if (!st || !make_topic_in(st, "s", "a", &a) ||
	    !make_topic_in(st, "s", "b", &b)) {
		store_close(st);
		return;
	}
	EQ(a.stream, b.stream);
	EQ(store_topic_load(st, a.ino, &ta), 0);
	EQ(store_topic_load(st, b.ino, &tb), 0);
	for (int i = 0; i < 10; i++) {
		EQ(append(st, &a, &ta, "aa\n"), 0);
		EQ(append(st, &b, &tb, "b\n"), 0);
	}
	READS(st, a.ino, &ta, 27, 3, "aa\n");
	READS(st, b.ino, &tb, 0, 6, "b\nb\nb\n");
	store_close(st);
	if (!(st = reopen_load(dir, &a, &ta)))
		return;
	EQ(ta.size, 30);
	EQ(ta.next_msg, 10);
	EQ(store_topic_load(st, b.ino, &tb), 0);
	EQ(tb.size, 20);
	READS(st, b.ino, &tb, 16, 10, "b\nb\n");
	store_close(st);
}

/* A record may be gathered from several pieces, at most IOV_MAX_APPEND;
 * more are refused and nothing is appended. */
static void test_append_pieces(const char *dir)
{
	struct store *st = open_store(dir);
	struct fx fx;
	struct sf_topic t, before;
	struct iovec iov[IOV_MAX_APPEND + 1];
	if (!st || !make_topic(st, &fx) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0)) {
		store_close(st);
		return;
	}
	for (int i = 0; i < IOV_MAX_APPEND + 1; i++)
		iov[i] = (struct iovec){ (void *)("ab\n" + i % 3), 1 };
	EQ(store_topic_append(st, fx.ino, fx.stream, &t, iov, IOV_MAX_APPEND,
			      IOV_MAX_APPEND, 2, false), 0);
	READS(st, fx.ino, &t, 0, 100, "ab\nab\nab");
	before = t;
	EQ(store_topic_append(st, fx.ino, fx.stream, &t, iov,
			      IOV_MAX_APPEND + 1, IOV_MAX_APPEND + 1, 3,
			      false), -EINVAL);
	SAME_TOPIC(&t, &before);
	EQ(append(st, &fx, &t, "\n"), 0);
	READS(st, fx.ino, &t, 0, 100, "ab\nab\nab\n");
	store_close(st);
}

/* ========================================================================
 * The index batch, a segment roll, space, purges, damage on read
 */

#define MANY 600                /* two whole groups of 256 and a part */

/* Record i of the MANY is "mNNN\n": it starts at byte 5 i. */
static void many_name(char *b, int i)
{
	snprintf(b, 8, "m%03d\n", i);
}

static void test_index_groups(const char *dir)
{
	struct store *st = open_store(dir);
	struct fx fx;
	struct sf_topic t, l;
	char want[16], *all = malloc(MANY * 5 + 1);
	uint64_t off;
	if (!CHECK(all != NULL) || !st || !make_topic(st, &fx) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0))
		goto out;
	for (int i = 0; i < MANY; i++) {
		many_name(all + 5 * i, i);
		char one[8];
		many_name(one, i);
		if (!EQ(append(st, &fx, &t, one), 0))
			goto out;
		if (i == 300) {
			/* the second group is half pending, and a read
			 * finds its entries without writing them */
			EQ(index_waiting_count(st), 300 - 256 + 1);
			READS(st, fx.ino, &t, 5 * 290, 5, "m290\n");
			EQ(index_waiting_count(st), 300 - 256 + 1);
		}
	}
	/* a full batch is written when the next entry comes */
	EQ(index_waiting_count(st), (MANY - 1) % 256 + 1);
	EQ(t.size, 5 * MANY);
	EQ(t.next_msg, MANY);
	/* in the middle of a written group, across groups, in the pending
	 * part, and all of it (more entries than are served in place) */
	READS(st, fx.ino, &t, 5 * 100 + 1, 5, "100\nm");
	READS(st, fx.ino, &t, 5 * 255, 10, "m255\nm256\n");
	READS(st, fx.ino, &t, 5 * 599, 5, "m599\n");
	READS(st, fx.ino, &t, 0, 5 * MANY, all);
	EQ(store_topic_seek_message(st, fx.ino, &t, 511, &off), 0);
	EQ(off, 5 * 511);
	EQ(append(st, &fx, &t, "m600\n"), 0);
	EQ(store_topic_seek_message(st, fx.ino, &t, 600, &off), 0);
	EQ(off, 5 * 600);
	store_close(st);
	if ((st = reopen_load(dir, &fx, &l))) {
		SAME_TOPIC(&l, &t);
		snprintf(want, sizeof(want), "m%03d\n", 333);
		READS(st, fx.ino, &l, 5 * 333, 5, want);
	}
out:
	store_close(st);
	free(all);
}

/* A payload of len bytes from five pieces of one 16 MiB chunk: byte i is
 * 'a' + i % 23, the last one a newline. */
#define CHUNK (16u << 20)

struct big {
	char *chunk;
	struct iovec iov[IOV_MAX_APPEND];
	int iovcnt;
	size_t len;
};

static int big_init(struct big *b, size_t len)
{
	size_t left = len - 1;
	b->chunk = malloc(CHUNK);
	b->len = len;
	b->iovcnt = 0;
	if (!b->chunk)
		return 0;
	for (size_t i = 0; i < CHUNK; i++)
		b->chunk[i] = (char)('a' + i % 23);
	while (left > 0 && b->iovcnt < IOV_MAX_APPEND - 1) {
		size_t c = left < CHUNK ? left : CHUNK;
		b->iov[b->iovcnt++] = (struct iovec){ b->chunk, c };
		left -= c;
	}
	b->iov[b->iovcnt++] = (struct iovec){ (void *)"\n", 1 };
	return left == 0;
}

static char big_byte(const struct big *b, size_t i)
{
	return i + 1 == b->len ? '\n' : b->chunk[i % CHUNK];
}

static int append_big(struct store *st, const struct fx *fx,
		      struct sf_topic *t, const struct big *b)
{
	return store_topic_append(st, fx->ino, fx->stream, t, b->iov,
				  b->iovcnt, b->len, 1, false);
}

/* The tail of the big record and the record after it. */
static void expect_boundary(struct store *st, const struct fx *fx,
			    const struct sf_topic *t, uint64_t big_off,
			    const struct big *b, const char *next)
{
	char want[64];
	size_t n = 0;
	for (size_t i = b->len - 3; i < b->len; i++)
		want[n++] = big_byte(b, i);
	snprintf(want + n, sizeof(want) - n, "%s", next);
	READS(st, fx->ino, t, big_off + b->len - 3, 3 + strlen(next), want);
}

/* A record that does not fit in the active segment starts segment 2; reads
 * cross from the sealed segment into it, before and after a reopen. */
static void test_segment_roll(const char *dir)
{
	/* "a\n" (50 bytes in the segment) and the big record leave the
	 * segment 10 bytes short of SEG_MAX: "x\n" does not fit. */
	struct big b;
	struct store *st = NULL;
	struct fx fx;
	struct sf_topic t, l;
	char path[4200];
	uint64_t off;
	if (!CHECK(big_init(&b, SEG_MAX - 50 - REC_HDR - 10)))
		goto out;
	st = open_store(dir);
	if (!st || !make_topic(st, &fx) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0) ||
	    !EQ(append(st, &fx, &t, "a\n"), 0) ||
	    !EQ(append_big(st, &fx, &t, &b), 0))
		goto out;
	EQ(t.seg_seq, 1);
	EQ(append(st, &fx, &t, "x\n"), 0);
	EQ(t.seg_seq, 2);
	EQ(t.size, 2 + b.len + 2);
	EQ(t.next_msg, 3);
	seg_file(path, sizeof(path), dir, fx.stream, 1);
	EQ(file_size(path), SEG_MAX - 10);
	seg_file(path, sizeof(path), dir, fx.stream, 2);
	EQ(file_size(path), REC_HDR + 2);
	expect_boundary(st, &fx, &t, 2, &b, "x\n");
	EQ(store_topic_seek_message(st, fx.ino, &t, 2, &off), 0);
	EQ(off, 2 + b.len);
	store_close(st);
	if (!(st = reopen_load(dir, &fx, &l)))
		goto out;
	SAME_TOPIC(&l, &t);
	expect_boundary(st, &fx, &l, 2, &b, "x\n");
	READS(st, fx.ino, &l, 0, 3, "a\na");
out:
	store_close(st);
	free(b.chunk);
}

static void test_space_reserve(const char *dir)
{
	struct store *st = open_reserve(dir, 1ull << 62);
	struct fx fx;
	struct sf_topic t, before;
	struct statvfs sv;
	char path[4200];
	if (!st || !make_topic(st, &fx) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0))
		goto out;
	EQ(store_space_check(st, 1), -ENOSPC);
	before = t;
	EQ(append(st, &fx, &t, "a\n"), -ENOSPC);
	SAME_TOPIC(&t, &before);
	snprintf(path, sizeof(path), "%s/segments/%016llx", dir,
		 (unsigned long long)fx.stream);
	CHECK(access(path, F_OK) != 0);         /* nothing was written */
	if (EQ(store_statfs(st, &sv), 0))
		CHECK(sv.f_bavail > 0);
	store_close(st);
	if (!(st = open_reserve(dir, 0)))
		return;
	EQ(store_space_check(st, 4096), 0);
	EQ(store_topic_load(st, fx.ino, &t), 0);
	EQ(append(st, &fx, &t, "a\n"), 0);
	READS(st, fx.ino, &t, 0, 10, "a\n");
out:
	store_close(st);
}

/* A purge removes the topic's index, pending entries included, and its
 * attributes and record; a reopen does not bring them back. */
static void test_purge_inode(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct sf_inode in;
	char *val = NULL;
	size_t len;
	struct store *st = open_seven(dir, &fx, &t);
	if (!st)
		return;
	struct store_batch *b = store_batch_new();
	store_put_xattr(b, fx.ino, "user.k", "v", 1);
	EQ(store_commit(st, b, false), 0);
	store_batch_free(b);
	EQ(append(st, &fx, &t, "pending\n"), 0);
	CHECK(index_waiting_count(st) > 0);
	EQ(store_purge_inode(st, fx.ino), 0);
	EQ(store_topic_load(st, fx.ino, &t), 0);
	EQ(t.size, 0);
	EQ(t.next_msg, 0);
	EQ(store_get_inode(st, fx.ino, &in), -ENOENT);
	EQ(store_get_xattr(st, fx.ino, "user.k", &val, &len), -ENODATA);
	store_close(st);
	if (!(st = reopen_load(dir, &fx, &t)))
		return;
	EQ(t.size, 0);
	EQ(store_get_inode(st, fx.ino, &in), -ENOENT);
	/* the stream's segment goes on for its other topics */
	struct fx other;
	struct sf_topic o;
	if (make_topic_in(st, "s", "u", &other) &&
	    EQ(store_topic_load(st, other.ino, &o), 0) &&
	    EQ(append(st, &other, &o, "u\n"), 0))
		READS(st, other.ino, &o, 0, 10, "u\n");
	store_close(st);
}

/* Orphans (unlinked while open) are purged when the store opens. */
static void test_orphan_purged_at_open(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct sf_inode in;
	struct store *st = open_seven(dir, &fx, &t);
	if (!st)
		return;
	struct store_batch *b = store_batch_new();
	store_put_orphan(b, fx.ino);
	EQ(store_commit(st, b, false), 0);
	store_batch_free(b);
	EQ(store_get_inode(st, fx.ino, &in), 0);
	store_close(st);
	if (!(st = reopen_load(dir, &fx, &t)))
		return;
	EQ(store_get_inode(st, fx.ino, &in), -ENOENT);
	EQ(t.size, 0);
	store_close(st);
}

/* Damage inside the synced part of a segment is not looked for at open,
 * but every read checks what it serves: only reads that touch the damaged
 * record fail. */
static void test_read_checks_records(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	char path[4200];
	uint64_t off;
	struct store *st = open_seven(dir, &fx, &t);
	if (!st)
		return;
	store_close(st);
	seg_file(path, sizeof(path), dir, fx.stream, 1);
	/* the second record's payload starts at 50 + REC_HDR */
	CHECK(flip_byte(path, 50 + REC_HDR + 3));
	if (!(st = reopen_load(dir, &fx, &t)))
		return;
	EQ(t.size, 20);
	char buf[64];
	EQ(read_into(st, fx.ino, &t, 2, 7, buf, sizeof(buf)), -EIO);
	EQ(read_into(st, fx.ino, &t, 0, 20, buf, sizeof(buf)), -EIO);
	READS(st, fx.ino, &t, 0, 2, "a\n");
	READS(st, fx.ino, &t, 9, 11, "dddd\ne\nf\ng\n");
	EQ(store_topic_seek_message(st, fx.ino, &t, 2, &off), -EIO);
	store_close(st);
}

/* ========================================================================
 * Recovery of segment tails edited by hand
 */

static const char *const three[] = { "a\n", "bb\n", "ccc\n" };

/* Reopen and expect the topic to hold exactly want (lines), the segment
 * file to be seg_size bytes long. */
static struct store *expect_recovered_at(const char *dir,
					 const struct fx *fx,
					 struct sf_topic *t, const char *want,
					 long long seg_size, const char *file,
					 int line)
{
	char path[4200];
	struct store *st = reopen_load(dir, fx, t);
	if (!st)
		return NULL;
	eq_at(t->size, strlen(want), "recovered size", file, line);
	eq_at(t->next_msg, count_lines(want, strlen(want)),
	      "recovered next_msg", file, line);
	reads_at(st, fx->ino, t, 0, strlen(want) + 10, want, file, line);
	seg_file(path, sizeof(path), dir, fx->stream, 1);
	eq_at(file_size(path), seg_size, "segment size", file, line);
	return st;
}

#define RECOVERED(dir, fx, t, want, seg_size) \
	expect_recovered_at(dir, fx, t, want, seg_size, __FILE__, __LINE__)

/* After recovery the topic takes appends where it ends, and a further
 * reopen agrees. */
static void expect_appends_after(struct store *st, const char *dir,
				 const struct fx *fx, struct sf_topic *t,
				 const char *want_then)
{
	struct sf_topic l;
	if (!EQ(append(st, fx, t, "z\n"), 0))
		return;
	READS(st, fx->ino, t, 0, 1000, want_then);
	store_close(st);
	if (!(st = reopen_load(dir, fx, &l)))
		return;
	SAME_TOPIC(&l, t);
	READS(st, fx->ino, &l, 0, 1000, want_then);
	store_close(st);
}

/* A record torn at the tail (its header and part of its payload, after a
 * crash) is cut; the indexed records before it stay. */
static void test_recover_torn_tail(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	char path[4200], rec[128];
	if (!setup_closed(dir, &fx, three, 2, &t) ||
	    !CHECK(crash_appending(dir, &fx, three + 2, 1, true)))
		return;
	struct rec_header h = { .nmsgs = 1, .topic = fx.ino, .off = 9,
				.msg = 3, .ns = store_now_ns() };
	size_t n = build_record(rec, &h, "dddd\n");
	seg_file(path, sizeof(path), dir, fx.stream, 1);
	CHECK(append_bytes(path, rec, n - 3));
	struct store *st = RECOVERED(dir, &fx, &t, "a\nbb\nccc\n",
				     recs_end(three, 3));
	if (st)
		expect_appends_after(st, dir, &fx, &t, "a\nbb\nccc\nz\n");
}

/* A topic of the three records "a\n" "bb\n" "ccc\n", appended by a
 * process that then died without a sync; path names its segment file.
 * false if that could not be set up. */
static bool crashed_three(const char *dir, struct fx *fx, struct sf_topic *t,
			  char *path, size_t cap)
{
	if (!setup_closed(dir, fx, three, 0, t) ||
	    !CHECK(crash_appending(dir, fx, three, 3, true)))
		return false;
	seg_file(path, cap, dir, fx->stream, 1);
	return true;
}

/* A sync planned before an append and ended after it (the replication
 * receiver's and the group commit's, which flush off the lock), then a
 * crash: the states that sync wrote must not cover the record whose
 * entry still waited in memory, or recovery takes it for indexed and
 * the record (acknowledged to its writer) is lost. */
static int sync_around_append(struct store *st, const struct fx *fx,
			      struct sf_topic *t, const void *arg)
{
	(void)arg;
	struct store_flush *f;
	int e = append_all(st, fx, t, three, 1);
	if (e == 0)             /* nothing but entries and states unsynced */
		e = store_sync(st);
	if (e == 0)
		e = append_all(st, fx, t, three + 1, 1);
	if (e == 0)
		e = store_sync_begin(st, &f);
	if (e == 0) {
		e = append_all(st, fx, t, three + 2, 1);
		store_sync_flush(f);
		int r = store_sync_end(st, f);
		e = e ? e : r;
	}
	return e;
}

static void test_recover_append_during_sync(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	if (!setup_closed(dir, &fx, three, 0, &t) ||
	    !CHECK(crash_after(dir, &fx, sync_around_append, NULL)))
		return;
	struct store *st = RECOVERED(dir, &fx, &t, "a\nbb\nccc\n",
				     recs_end(three, 3));
	if (st)
		expect_appends_after(st, dir, &fx, &t, "a\nbb\nccc\nz\n");
}

/* The index got ahead of the segment: the last indexed record is torn.
 * Its entry is dropped and the topic ends at its last whole message. */
static void test_recover_torn_indexed_record(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	char path[4200];
	uint64_t off;
	if (!crashed_three(dir, &fx, &t, path, sizeof(path)))
		return;
	EQ(file_size(path), recs_end(three, 3));
	CHECK(truncate(path, recs_end(three, 2) + 10) == 0);
	struct store *st = RECOVERED(dir, &fx, &t, "a\nbb\n",
				     recs_end(three, 2));
	if (!st)
		return;
	EQ(store_topic_seek_message(st, fx.ino, &t, 2, &off), -ENXIO);
	expect_appends_after(st, dir, &fx, &t, "a\nbb\nz\n");
}

/* Flip the byte at off of the crashed three-record segment: recovery must
 * keep exactly `want`, the records before the damaged one. */
static void flip_and_recover(const char *dir, uint64_t off, int good)
{
	static const char *const want[] = { "", "a\n", "a\nbb\n" };
	char path[4200], after[16];
	struct fx fx;
	struct sf_topic t;
	if (!crashed_three(dir, &fx, &t, path, sizeof(path)))
		return;
	CHECK(flip_byte(path, off));
	struct store *st = RECOVERED(dir, &fx, &t, want[good],
				     recs_end(three, good));
	snprintf(after, sizeof(after), "%sz\n", want[good]);
	if (st)
		expect_appends_after(st, dir, &fx, &t, after);
}

/* A flipped byte in the last record's payload: cut there. */
static void test_recover_flipped_last_record(const char *dir)
{
	flip_and_recover(dir, recs_end(three, 2) + REC_HDR + 1, 2);
}

/* A flipped byte in a middle record's header (its topic field) ends the
 * good data there: the whole record after it goes too. */
static void test_recover_flipped_middle_record(const char *dir)
{
	flip_and_recover(dir, recs_end(three, 1) + 16, 1);
}

/* Whole records past the indexed end that continue the topic exactly are
 * indexed again, one after the other. */
static void test_recover_reindex_continuing(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	char path[4200], rec[128];
	uint64_t off;
	if (!setup_closed(dir, &fx, three, 2, &t))
		return;
	int64_t ns = t.last_ns + 1000;
	struct rec_header h1 = { .nmsgs = 1, .topic = fx.ino, .off = 5,
				 .msg = 2, .ns = ns };
	struct rec_header h2 = { .nmsgs = 2, .topic = fx.ino, .off = 9,
				 .msg = 3, .ns = ns + 1 };
	seg_file(path, sizeof(path), dir, fx.stream, 1);
	CHECK(append_bytes(path, rec, build_record(rec, &h1, "ccc\n")));
	CHECK(append_bytes(path, rec, build_record(rec, &h2, "d\ne\n")));
	long long size = file_size(path);
	struct store *st = RECOVERED(dir, &fx, &t, "a\nbb\nccc\nd\ne\n", size);
	if (!st)
		return;
	EQ(t.last_ns, ns + 1);
	EQ(store_topic_seek_message(st, fx.ino, &t, 4, &off), 0);
	EQ(off, 11);
	EQ(store_topic_seek_time(st, fx.ino, &t, ns, &off), 0);
	EQ(off, 5);
	expect_appends_after(st, dir, &fx, &t, "a\nbb\nccc\nd\ne\nz\n");
}

/* Whole records that do not continue their topic are left in the segment
 * as dead bytes, unindexed; appends go on after them. */
static void test_recover_not_continuing(const char *dir)
{
	enum { WRONG_OFF, OFF_BEHIND, WRONG_MSG, NOT_A_TOPIC, NO_INODE, N };
	for (int v = 0; v < N; v++) {
		char sub[4200], path[4300], rec[128];
		struct fx fx;
		struct sf_topic t;
		snprintf(sub, sizeof(sub), "%s/v%d", dir, v);
		if (!setup_closed(sub, &fx, three, 2, &t))
			continue;
		struct rec_header h = { .nmsgs = 1, .topic = fx.ino,
					.off = 5, .msg = 2,
					.ns = t.last_ns + 1 };
		if (v == WRONG_OFF)
			h.off = 6;
		if (v == OFF_BEHIND)
			h.off = 2;
		if (v == WRONG_MSG)
			h.msg = 3;
		if (v == NOT_A_TOPIC)
			h.topic = fx.stream;
		if (v == NO_INODE)
			h.topic = fx.ino + 1000;
		seg_file(path, sizeof(path), sub, fx.stream, 1);
		CHECK(append_bytes(path, rec, build_record(rec, &h, "ccc\n")));
		long long size = file_size(path);
		struct store *st = RECOVERED(sub, &fx, &t, "a\nbb\n", size);
		if (!st) {
			fprintf(stderr, "  variant %d\n", v);
			continue;
		}
		expect_appends_after(st, sub, &fx, &t, "a\nbb\nz\n");
		EQ(file_size(path), size + REC_HDR + 2);
	}
}

/* After a kill -9 the entries of up to 256 appends are lost with the
 * batch in memory; their records are indexed again.  A torn header after
 * them is cut. */
static void test_recover_lost_index_batch(const char *dir)
{
	enum { N = 300 };
	static char names[N][8];
	const char *recs[N];
	char *all = malloc(5 * N + 1), path[4200], rec[128];
	struct fx fx;
	struct sf_topic t;
	for (int i = 0; i < N; i++) {
		many_name(names[i], i);
		recs[i] = names[i];
		if (all)
			many_name(all + 5 * i, i);
	}
	if (!CHECK(all != NULL) || !setup_closed(dir, &fx, recs, 0, &t) ||
	    !CHECK(crash_appending(dir, &fx, recs, N, false)))
		goto out;
	struct rec_header h = { .nmsgs = 1, .topic = fx.ino, .off = 5 * N,
				.msg = N, .ns = store_now_ns() };
	build_record(rec, &h, "m300\n");
	seg_file(path, sizeof(path), dir, fx.stream, 1);
	CHECK(append_bytes(path, rec, 20));
	struct store *st = RECOVERED(dir, &fx, &t, all, recs_end(recs, N));
	if (st) {
		READS(st, fx.ino, &t, 5 * 290, 5, "m290\n");
		store_close(st);
	}
out:
	free(all);
}

/* A segment cut short at a record boundary: the entries of both topics
 * that point past the cut are dropped, those before it stay. */
static void test_recover_cut_short(const char *dir)
{
	struct store *st = open_store(dir);
	struct fx a, b;
	struct sf_topic ta, tb;
	char path[4200];
	if (!st || !make_topic_in(st, "s", "a", &a) ||
	    !make_topic_in(st, "s", "b", &b)) {
		store_close(st);
		return;
	}
	EQ(store_topic_load(st, a.ino, &ta), 0);
	EQ(store_topic_load(st, b.ino, &tb), 0);
	EQ(append(st, &a, &ta, "a1\n"), 0);
	EQ(append(st, &b, &tb, "b1\n"), 0);
	EQ(append(st, &a, &ta, "a2\n"), 0);
	EQ(append(st, &b, &tb, "b2\n"), 0);
	store_close(st);
	seg_file(path, sizeof(path), dir, a.stream, 1);
	CHECK(truncate(path, 2 * (REC_HDR + 3)) == 0);
	if (!(st = RECOVERED(dir, &a, &ta, "a1\n", 2 * (REC_HDR + 3))))
		return;
	if (EQ(store_topic_load(st, b.ino, &tb), 0)) {
		EQ(tb.size, 3);
		EQ(tb.next_msg, 1);
		READS(st, b.ino, &tb, 0, 100, "b1\n");
	}
	EQ(append(st, &b, &tb, "b3\n"), 0);
	READS(st, b.ino, &tb, 0, 100, "b1\nb3\n");
	expect_appends_after(st, dir, &a, &ta, "a1\nz\n");
}

/* A crash after a roll, with the sealed segment damaged at its tail: it
 * is cut there, the later segment deleted, and the sealed one becomes the
 * active segment again. */
struct roll_work {
	const struct big *b;
};

static int append_and_roll(struct store *st, const struct fx *fx,
			   struct sf_topic *t, const void *arg)
{
	const struct roll_work *w = arg;
	int r = append_all(st, fx, t, three, 2);
	if (r == 0)
		r = append_big(st, fx, t, w->b);
	if (r == 0)
		r = append(st, fx, t, "x\n");
	return r == 0 && t->seg_seq == 2 ? 0 : -1;
}

static void test_recover_sealed_segment(const char *dir)
{
	struct big b;
	struct fx fx;
	struct sf_topic t;
	char path[4200];
	uint64_t head = recs_end(three, 2);
	if (!CHECK(big_init(&b, SEG_MAX - head - REC_HDR - 10)))
		goto out;
	struct roll_work w = { &b };
	if (!setup_closed(dir, &fx, three, 0, &t) ||
	    !CHECK(crash_after(dir, &fx, append_and_roll, &w)))
		goto out;
	seg_file(path, sizeof(path), dir, fx.stream, 2);
	EQ(file_size(path), REC_HDR + 2);
	seg_file(path, sizeof(path), dir, fx.stream, 1);
	CHECK(flip_byte(path, head + REC_HDR + b.len - 1));
	struct store *st = RECOVERED(dir, &fx, &t, "a\nbb\n", head);
	if (!st)
		goto out;
	seg_file(path, sizeof(path), dir, fx.stream, 2);
	EQ(file_size(path), -1);
	EQ(append(st, &fx, &t, "c\n"), 0);
	EQ(t.seg_seq, 1);
	expect_appends_after(st, dir, &fx, &t, "a\nbb\nc\nz\n");
out:
	free(b.chunk);
}

/* The active segment's file is gone: every entry into it is dropped and
 * the stream starts it again. */
static void test_recover_missing_segment(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	char path[4200];
	if (!setup_closed(dir, &fx, three, 3, &t))
		return;
	seg_file(path, sizeof(path), dir, fx.stream, 1);
	CHECK(unlink(path) == 0);
	struct store *st = RECOVERED(dir, &fx, &t, "", -1);
	if (st)
		expect_appends_after(st, dir, &fx, &t, "z\n");
}

/* More streams than there are segment writers (64): evicted writers come
 * back from their segment state and go on where they were. */
static void test_many_streams(const char *dir)
{
	enum { N = 70 };
	struct store *st = open_store(dir);
	struct fx fx[N];
	struct sf_topic t[N];
	char name[16];
	int ok = st != NULL;
	for (int i = 0; ok && i < N; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		ok = make_topic_in(st, name, "t", &fx[i]) &&
		     EQ(store_topic_load(st, fx[i].ino, &t[i]), 0);
	}
	for (int round = 0; ok && round < 2; round++) {
		const char *line = round ? "2\n" : "1\n";
		for (int i = 0; ok && i < N; i++)
			ok = EQ(append(st, &fx[i], &t[i], line), 0);
	}
	if (ok) {
		READS(st, fx[0].ino, &t[0], 0, 10, "1\n2\n");
		READS(st, fx[N - 1].ino, &t[N - 1], 0, 10, "1\n2\n");
	}
	store_close(st);
	if (ok && (st = reopen_load(dir, &fx[3], &t[3])))
		READS(st, fx[3].ino, &t[3], 0, 10, "1\n2\n");
	store_close(st);
}

/* ========================================================================
 * Recovery when the index says more than a segment holds (both were
 * bugs, found by these tests).
 */

/* The index entries of a topic into one segment of a stream, at or past
 * byte off of that segment. */
static int entries_past(struct store *st, uint64_t ino, uint64_t stream,
			uint64_t seq, uint64_t off)
{
	char k[KEY_MAX];
	int n = 0;
	leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
	for (leveldb_iter_seek(it, k, key_u64(k, KEY_INDEX, ino));
	     leveldb_iter_valid(it); leveldb_iter_next(it)) {
		size_t kl, vl;
		const char *ik = leveldb_iter_key(it, &kl);
		const char *iv = leveldb_iter_value(it, &vl);
		struct idx_entry e;
		if (kl < 9 || memcmp(ik, k, 9) != 0 ||
		    idx_decode(ik, kl, iv, vl, &e) < 0)
			break;
		n += e.seg_stream == stream && e.seg_seq == seq &&
		     e.seg_off >= off;
	}
	leveldb_iter_destroy(it);
	return n;
}

/* A power cut can leave an unsynced sealed segment shorter than the index
 * says, ending exactly at a record boundary.  Recovery must drop the
 * entries past the cut although no record there is torn (it used to keep
 * them, and index a record of the next segment as if it continued them:
 * the topic's size counted bytes that were gone and reads failed). */
static void test_recover_sealed_cut_at_boundary(const char *dir)
{
	struct big b;
	struct fx fx;
	struct sf_topic t;
	char path[4200], buf[64];
	uint64_t head = recs_end(three, 2);
	if (!CHECK(big_init(&b, SEG_MAX - head - REC_HDR - 10)))
		goto out;
	struct roll_work w = { &b };
	if (!setup_closed(dir, &fx, three, 0, &t) ||
	    !CHECK(crash_after(dir, &fx, append_and_roll, &w)))
		goto out;
	seg_file(path, sizeof(path), dir, fx.stream, 1);
	CHECK(truncate(path, head) == 0);       /* the big record is lost */
	struct store *st = reopen_load(dir, &fx, &t);
	if (!st)
		goto out;
	EQ(entries_past(st, fx.ino, fx.stream, 1, head), 0);
	EQ(t.size, 5);
	EQ(read_into(st, fx.ino, &t, 0, 5, buf, sizeof(buf)), 5);
	EQ(read_into(st, fx.ino, &t, 5, 10, buf, sizeof(buf)), 0);
	store_close(st);
out:
	free(b.chunk);
}

/* Rename the topic into stream to (as fs/ does: its parent is the stream
 * its appends go to). */
static int move_topic(struct store *st, struct fx *fx, uint64_t to,
		      const char *name)
{
	struct sf_inode in;
	int r = store_get_inode(st, fx->ino, &in);
	if (r < 0)
		return r;
	struct store_batch *b = store_batch_new();
	store_del_dirent(b, fx->stream, name);
	store_put_dirent(b, to, name, fx->ino, DT_REG);
	in.parent = to;
	store_put_inode(b, &in);
	r = store_commit(st, b, false);
	store_batch_free(b);
	fx->stream = to;
	return r;
}

struct move_work {
	uint64_t to;
};

static int append_move_append(struct store *st, const struct fx *fx0,
			      struct sf_topic *t, const void *arg)
{
	const struct move_work *w = arg;
	struct fx fx = *fx0;
	int r = append(st, &fx, t, "bb\n");
	if (r == 0)
		r = move_topic(st, &fx, w->to, "t");
	if (r == 0)
		r = append(st, &fx, t, "ccc\n");
	if (r == 0)
		r = store_topic_load(st, fx.ino, t);     /* flush the index */
	return r;
}

/* Damage in a stream's segment must drop the entries past it also for a
 * topic renamed into another stream since, whose last entries lie in the
 * other stream's segments (recovery used to walk each topic back from its
 * end and stop at the first entry elsewhere). */
static void test_recover_drop_follows_moved_topic(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	char path[4200], buf[64];
	if (!setup_closed(dir, &fx, three, 1, &t))
		return;
	struct store *st = open_store(dir);
	struct move_work w = { st ? make_node(st, 1, "s2", S_IFDIR | 0755, 0)
				  : 0 };
	store_close(st);
	if (!CHECK(w.to != 0) ||
	    !CHECK(crash_after(dir, &fx, append_move_append, &w)))
		return;
	seg_file(path, sizeof(path), dir, fx.stream, 1);
	CHECK(flip_byte(path, recs_end(three, 1) + REC_HDR));  /* "bb\n" */
	if (!(st = reopen_load(dir, &fx, &t)))
		return;
	EQ(file_size(path), recs_end(three, 1));
	EQ(entries_past(st, fx.ino, fx.stream, 1, recs_end(three, 1)), 0);
	EQ(read_into(st, fx.ino, &t, 0, 2, buf, sizeof(buf)), 2);
	store_close(st);
}

/* ======================================================================== */

/* ========================================================================
 * Consumer group cursors (cursor.c) and message boundaries (topic.c)
 */

/* Key C topic(8, big-endian) group, value byte offset, message offset,
 * commit time (8 each, little-endian), as docs/format.md has them. */
static void test_cursor_encoding(const char *dir)
{
	static const unsigned char key[] = {
		'C', 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		'g', '-', '1' };
	static const unsigned char val[24] = {
		0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
		0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21,
		0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31 };
	struct sf_cursor c = { 0x1112131415161718ull, 0x2122232425262728ull,
			       0x3132333435363738ll };
	struct store *st = open_store(dir);
	char *err = NULL;
	size_t len = 0;
	if (!st)
		return;
	EQ(KEY_CURSOR, 'C');
	EQ(store_cursor_set(st, 0x0102030405060708ull, "g-1", &c, false), 0);
	char *v = leveldb_get(st->db, st->ropts, (const char *)key,
			      sizeof(key), &len, &err);
	CHECK(err == NULL);
	if (CHECK(v != NULL) && EQ(len, 24))
		BYTES(v, val, 24);
	leveldb_free(v);
	leveldb_free(err);
	store_close(st);
}

static void test_cursor_get_set_delete(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct sf_cursor c = { 0 }, a = { 5, 2, 1000 }, b = { 9, 3, 2000 };
	struct store *st = open_seven(dir, &fx, &t);
	if (!st)
		return;
	EQ(store_cursor_get(st, fx.ino, &t, "g", &c), -ENODATA);
	EQ(store_cursor_set(st, fx.ino, "g", &a, false), 0);
	EQ(store_cursor_get(st, fx.ino, &t, "g", &c), 0);
	EQ(c.off, 5);
	EQ(c.msg, 2);
	EQ(c.ns, 1000);
	EQ(store_cursor_get(st, fx.ino, &t, "h", &c), -ENODATA);
	EQ(store_cursor_get(st, fx.ino + 1, &t, "g", &c), -ENODATA);
	EQ(store_cursor_set(st, fx.ino, "g", &b, true), 0);    /* moves on */
	EQ(store_cursor_set(st, fx.ino, "h", &a, false), 0);
	store_close(st);
	if (!(st = reopen_load(dir, &fx, &t)))
		return;
	EQ(store_cursor_get(st, fx.ino, &t, "g", &c), 0);
	EQ(c.off, 9);
	EQ(c.msg, 3);
	EQ(c.ns, 2000);
	EQ(store_cursor_delete(st, fx.ino, "g", false), 0);
	EQ(store_cursor_get(st, fx.ino, &t, "g", &c), -ENODATA);
	EQ(store_cursor_delete(st, fx.ino, "g", false), -ENODATA);
	EQ(store_cursor_get(st, fx.ino, &t, "h", &c), 0);      /* untouched */
	EQ(c.off, 5);
	store_close(st);
	if (!(st = reopen_load(dir, &fx, &t)))
		return;
	EQ(store_cursor_get(st, fx.ino, &t, "g", &c), -ENODATA);
	store_close(st);
}

static void test_cursor_names(const char *dir)
{
	static const char *const good[] = { "a", "A.b_c-9", "..x", "-", "_" };
	static const char *const bad[] = {
		"", ".", "..", "a/b", "a b", "a\n", "é", "a:b", "a*", "a=b" };
	char longest[SF_GROUP_MAX + 2];
	struct sf_cursor c = { 0 }, a = { 0, 0, 1 };
	struct store *st = open_store(dir);
	if (!st)
		return;
	for (size_t i = 0; i < NTESTS(good); i++)
		if (!EQ(store_cursor_name_check(good[i]), 0))
			fprintf(stderr, "  good name '%s'\n", good[i]);
	for (size_t i = 0; i < NTESTS(bad); i++) {
		if (!EQ(store_cursor_name_check(bad[i]), -EINVAL) ||
		    !EQ(store_cursor_set(st, 7, bad[i], &a, false), -EINVAL) ||
		    !EQ(store_cursor_get(st, 7, NULL, bad[i], &c), -EINVAL) ||
		    !EQ(store_cursor_delete(st, 7, bad[i], false), -EINVAL))
			fprintf(stderr, "  bad name '%s'\n", bad[i]);
	}
	memset(longest, 'n', SF_GROUP_MAX);
	longest[SF_GROUP_MAX] = 0;
	EQ(store_cursor_set(st, 7, longest, &a, false), 0);
	EQ(store_cursor_get(st, 7, NULL, longest, &c), 0);
	longest[SF_GROUP_MAX] = 'n';
	longest[SF_GROUP_MAX + 1] = 0;
	EQ(store_cursor_set(st, 7, longest, &a, false), -EINVAL);
	store_close(st);
}

struct seen {
	char groups[8][16];
	struct sf_cursor c[8];
	int n, stop_at;
};

static int note_cursor(const char *group, const struct sf_cursor *c,
		       void *arg)
{
	struct seen *s = arg;
	if (s->n == 8)
		return -E2BIG;
	snprintf(s->groups[s->n], sizeof(s->groups[0]), "%s", group);
	s->c[s->n++] = *c;
	return s->n == s->stop_at ? 42 : 0;
}

/* A topic's cursors in name order, no other topic's; fn can stop early. */
static void test_cursor_list(const char *dir)
{
	struct sf_cursor a = { 2, 1, 10 }, b = { 5, 2, 20 };
	struct seen s = { .stop_at = -1 };
	struct store *st = open_store(dir);
	if (!st)
		return;
	EQ(store_cursor_list(st, 8, NULL, note_cursor, &s), 0);
	EQ(s.n, 0);
	EQ(store_cursor_set(st, 8, "zeta", &a, false), 0);
	EQ(store_cursor_set(st, 8, "alpha", &b, false), 0);
	EQ(store_cursor_set(st, 8, "Beta", &a, false), 0);
	EQ(store_cursor_set(st, 7, "other", &a, false), 0);
	EQ(store_cursor_set(st, 9, "other", &a, false), 0);
	EQ(store_cursor_list(st, 8, NULL, note_cursor, &s), 0);
	if (EQ(s.n, 3)) {
		CHECK(strcmp(s.groups[0], "Beta") == 0);
		CHECK(strcmp(s.groups[1], "alpha") == 0);
		CHECK(strcmp(s.groups[2], "zeta") == 0);
		EQ(s.c[1].off, 5);
		EQ(s.c[1].msg, 2);
		EQ(s.c[1].ns, 20);
	}
	s = (struct seen){ .stop_at = 2 };
	EQ(store_cursor_list(st, 8, NULL, note_cursor, &s), 42);
	EQ(s.n, 2);
	store_close(st);
}

/* A cursor below the first live byte (the topic's head expired) reads as
 * that byte and its message; one past the end (a power cut took appends
 * the commit survived) as the end. */
static void test_cursor_clamp(const char *dir)
{
	struct fx fx;
	struct sf_topic t, expired;
	struct sf_cursor c, at2 = { 2, 1, 10 }, at14 = { 14, 4, 11 };
	struct sf_cursor past = { 99, 40, 12 };
	struct seen s = { .stop_at = -1 };
	struct store *st = open_seven(dir, &fx, &t);
	if (!st)
		return;
	EQ(store_cursor_set(st, fx.ino, "early", &at2, false), 0);
	EQ(store_cursor_set(st, fx.ino, "late", &at14, false), 0);
	EQ(store_cursor_set(st, fx.ino, "past", &past, false), 0);
	expired = t;
	expired.start = 9;              /* "a\nbb\nccc\n" expired */
	expired.first_msg = 3;
	EQ(store_cursor_get(st, fx.ino, &expired, "early", &c), 0);
	EQ(c.off, 9);
	EQ(c.msg, 3);
	EQ(c.ns, 10);
	EQ(store_cursor_get(st, fx.ino, &expired, "late", &c), 0);
	EQ(c.off, 14);
	EQ(c.msg, 4);
	EQ(store_cursor_get(st, fx.ino, &expired, "past", &c), 0);
	EQ(c.off, 20);
	EQ(c.msg, 7);
	EQ(store_cursor_list(st, fx.ino, &expired, note_cursor, &s), 0);
	if (EQ(s.n, 3)) {
		EQ(s.c[0].off, 9);
		EQ(s.c[0].msg, 3);
		EQ(s.c[1].off, 14);
		EQ(s.c[2].off, 20);
	}
	/* What is stored is not changed by reading it. */
	EQ(store_cursor_get(st, fx.ino, NULL, "early", &c), 0);
	EQ(c.off, 2);
	EQ(c.msg, 1);
	store_close(st);
}

/* Purging a topic removes its cursors, and only its own. */
static void test_cursor_purged(const char *dir)
{
	struct fx fx, other;
	struct sf_topic t;
	struct sf_cursor c, a = { 0, 0, 1 };
	struct seen s = { .stop_at = -1 };
	struct store *st = open_seven(dir, &fx, &t);
	if (!st)
		return;
	if (!make_topic_in(st, "s", "u", &other)) {
		store_close(st);
		return;
	}
	EQ(store_cursor_set(st, fx.ino, "g", &a, false), 0);
	EQ(store_cursor_set(st, fx.ino, "h", &a, false), 0);
	EQ(store_cursor_set(st, other.ino, "g", &a, false), 0);
	EQ(store_purge_inode(st, fx.ino), 0);
	EQ(store_cursor_list(st, fx.ino, NULL, note_cursor, &s), 0);
	EQ(s.n, 0);
	EQ(store_cursor_get(st, other.ino, NULL, "g", &c), 0);
	store_close(st);
	if (!(st = open_store(dir)))
		return;
	EQ(store_cursor_get(st, fx.ino, NULL, "g", &c), -ENODATA);
	EQ(store_cursor_get(st, other.ino, NULL, "g", &c), 0);
	store_close(st);
}

struct gone_seen {
	char groups[4][16];
	int64_t ns[4];
	int n;
};

static int note_gone(const char *group, int64_t ns, void *arg)
{
	struct gone_seen *s = arg;
	if (s->n == 4)
		return -E2BIG;
	snprintf(s->groups[s->n], sizeof(s->groups[0]), "%s", group);
	s->ns[s->n++] = ns;
	return 0;
}

/* A removed cursor leaves a tombstone with its time (after the removed
 * commit even when that is in the future), which no cursor listing
 * shows; a commit drops it; one from elsewhere is kept with its own
 * time; tombstones survive a reopen and go with their topic. */
static void test_cursor_tombstones(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct sf_cursor c, a = { 2, 1, 10 }, later = { 5, 2, INT64_MAX / 2 };
	struct seen s = { .stop_at = -1 };
	struct gone_seen g = { .n = 0 };
	int64_t ns = 0;
	struct store *st = open_seven(dir, &fx, &t);
	if (!st)
		return;
	EQ(store_cursor_gone_get(st, fx.ino, "g", &ns), -ENODATA);
	EQ(store_cursor_set(st, fx.ino, "g", &a, false), 0);
	EQ(store_cursor_set(st, fx.ino, "f", &later, false), 0);
	EQ(store_cursor_delete(st, fx.ino, "g", false), 0);
	EQ(store_cursor_delete(st, fx.ino, "f", false), 0);
	EQ(store_cursor_gone_get(st, fx.ino, "g", &ns), 0);
	CHECK(ns > 10);
	EQ(store_cursor_gone_get(st, fx.ino, "f", &ns), 0);
	EQ(ns, INT64_MAX / 2 + 1);      /* after what it removed */
	EQ(store_cursor_list(st, fx.ino, NULL, note_cursor, &s), 0);
	EQ(s.n, 0);
	EQ(store_cursor_get(st, fx.ino, NULL, "g", &c), -ENODATA);
	EQ(store_cursor_delete(st, fx.ino, "g", false), -ENODATA);
	EQ(store_cursor_gone_get(st, fx.ino, "..", &ns), -EINVAL);
	EQ(store_cursor_remove_at(st, fx.ino, "a/b", 5, false), -EINVAL);
	/* A commit drops the tombstone. */
	EQ(store_cursor_set(st, fx.ino, "g", &a, false), 0);
	EQ(store_cursor_gone_get(st, fx.ino, "g", &ns), -ENODATA);
	/* A removal from elsewhere, with and without a cursor here. */
	EQ(store_cursor_remove_at(st, fx.ino, "g", 77, false), 0);
	EQ(store_cursor_get(st, fx.ino, NULL, "g", &c), -ENODATA);
	EQ(store_cursor_remove_at(st, fx.ino, "h", 88, true), 0);
	store_close(st);
	if (!(st = reopen_load(dir, &fx, &t)))
		return;
	EQ(store_cursor_gone_list(st, fx.ino, note_gone, &g), 0);
	if (EQ(g.n, 3)) {
		CHECK(strcmp(g.groups[0], "f") == 0);
		CHECK(strcmp(g.groups[1], "g") == 0);
		EQ(g.ns[1], 77);
		CHECK(strcmp(g.groups[2], "h") == 0);
		EQ(g.ns[2], 88);
	}
	s.n = 0;
	EQ(store_cursor_list(st, fx.ino, NULL, note_cursor, &s), 0);
	EQ(s.n, 0);
	EQ(store_purge_inode(st, fx.ino), 0);
	g.n = 0;
	EQ(store_cursor_gone_list(st, fx.ino, note_gone, &g), 0);
	EQ(g.n, 0);
	store_close(st);
}

/* Boundaries of SEVEN ("a\n" "bb\nccc\n" "dddd\n" "e\nf\ng\n"): record
 * starts, the ends of lines inside a record, and the end; read from the
 * index batch and, after a reopen, from LevelDB. */
static void check_seven_boundaries(struct store *st, const struct fx *fx,
				   const struct sf_topic *t)
{
	static const uint64_t at[8] = { 0, 2, 5, 9, 14, 16, 18, 20 };
	int m = 0;
	for (uint64_t off = 0; off <= 22; off++) {
		uint64_t msg = 999;
		int want = m < 8 && at[m] == off ? 0 : -EINVAL;
		int r = store_topic_boundary(st, fx->ino, t, off, &msg);
		if (!EQ(r, want) || (want == 0 && !EQ(msg, m)))
			fprintf(stderr, "  offset %llu\n",
				(unsigned long long)off);
		m += want == 0;
	}
}

static void test_topic_boundary(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	uint64_t msg;
	struct store *st = open_seven(dir, &fx, &t);
	if (!st)
		return;
	CHECK(index_waiting_count(st) > 0);
	check_seven_boundaries(st, &fx, &t);
	EQ(store_topic_boundary(st, fx.ino, &t, ~0ull, &msg), -EINVAL);
	store_close(st);
	if (!(st = reopen_load(dir, &fx, &t)))
		return;
	EQ(index_waiting_count(st), 0);
	check_seven_boundaries(st, &fx, &t);
	store_close(st);
}

/* One message holding newlines (framing=write) has no boundary inside;
 * a topic restored from byte 10 on has none before it. */
static void test_topic_boundary_one_message(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	uint64_t msg = 0;
	struct iovec iov = { "x\ny\n", 4 };
	struct store *st = open_store(dir);
	if (!st || !make_topic(st, &fx) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0) ||
	    !EQ(store_topic_restore(st, fx.ino, fx.stream, &t, &iov, 1, 4, 1,
				    store_now_ns() - 1000, 10, 3, false), 0)) {
		store_close(st);
		return;
	}
	EQ(store_topic_boundary(st, fx.ino, &t, 10, &msg), 0);
	EQ(msg, 3);
	EQ(store_topic_boundary(st, fx.ino, &t, 12, &msg), -EINVAL);
	EQ(store_topic_boundary(st, fx.ino, &t, 14, &msg), 0);
	EQ(msg, 4);
	EQ(store_topic_boundary(st, fx.ino, &t, 0, &msg), -EINVAL);
	EQ(store_topic_boundary(st, fx.ino, &t, 9, &msg), -EINVAL);
	store_close(st);
}

/* ---- retention (expire.c, compact.c, retention.c) ---- */

static void note_expired(void *arg, uint64_t ino, uint64_t start,
			 uint64_t first_msg, int64_t first_ns)
{
	struct sf_topic *t = arg;
	(void)ino;
	t->start = start;
	t->first_msg = first_msg;
	t->first_ns = first_ns;
}

/* A cap expires whole records from the head; the head record keeps the
 * topic's end once nothing is live; offsets go on from there. */
static void test_expiry_cap_and_head(const char *dir)
{
	static const char *const recs[] = { "a\n", "bb\n", "ccc\n", "dddd\n" };
	struct fx fx;
	struct sf_topic t, r;
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0) ||
	    !EQ(append_all(st, &fx, &t, recs, 4), 0))
		return;
	struct store_expiry *x = store_expiry_begin(st);
	EQ(store_expiry_cap(x, fx.ino, t.size, 9, 0), 2);   /* "ccc\ndddd\n" */
	EQ(store_expiry_end(x, note_expired, &t), 0);
	EQ(t.start, 5);
	EQ(t.first_msg, 2);
	EQ(store_topic_load(st, fx.ino, &r), 0);
	SAME_TOPIC(&r, &t);
	char buf[32];
	EQ(read_into(st, fx.ino, &r, 0, 14, buf, sizeof(buf)), 14);
	BYTES(buf, "\0\0\0\0\0ccc\ndddd\n", 14);
	READS(st, fx.ino, &r, 5, 9, "ccc\ndddd\n");
	/* Everything: the end stays, nothing is live. */
	x = store_expiry_begin(st);
	EQ(store_expiry_cap(x, fx.ino, t.size, 1, 0), 2);
	EQ(store_expiry_end(x, note_expired, &t), 0);
	EQ(t.start, 14);
	EQ(t.first_ns, 0);
	store_close(st);
	st = reopen_load(dir, &fx, &r);
	if (!st)
		return;
	EQ(r.size, 14);
	EQ(r.start, 14);
	EQ(r.next_msg, 4);
	EQ(r.first_msg, 4);
	EQ(r.last_ns, t.last_ns);
	EQ(append(st, &fx, &r, "e\n"), 0);
	store_close(st);
	st = reopen_load(dir, &fx, &r);
	if (!st)
		return;
	EQ(r.start, 14);
	EQ(r.first_msg, 4);
	EQ(r.next_msg, 5);
	READS(st, fx.ino, &r, 14, 2, "e\n");
	store_close(st);
}

/* Run the store's retention steps until nothing is left to do. */
static int reclaim_all(struct store *st, struct sf_topic *t)
{
	int r, n = 0;
	while ((r = store_reclaim(st, note_expired, t)) == 1 && n++ < 10000)
		;
	return r;
}

/* A segment kept only by a few live records of one topic is compacted:
 * they are copied forward, read the same, and the segment is deleted. */
static void test_compaction_moves_live_records(const char *dir)
{
	struct fx keep, fast;
	struct sf_topic tk, tf, r;
	char line[512], path[4096], want[8192] = "";
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic_in(st, "s", "keep", &keep)) ||
	    !CHECK(make_topic_in(st, "s", "fast", &fast)))
		return;
	store_set_segment_size(st, 8192);
	EQ(store_topic_load(st, keep.ino, &tk), 0);
	EQ(store_topic_load(st, fast.ino, &tf), 0);
	memset(line, 'f', 400);
	line[400] = '\n';
	line[401] = 0;
	for (int i = 0; i < 60; i++) {
		EQ(append(st, &fast, &tf, line), 0);
		if (i % 10 == 0) {
			char k[32];
			snprintf(k, sizeof(k), "keep %d\n", i);
			strcat(want, k);
			EQ(append(st, &keep, &tk, k), 0);
		}
	}
	seg_file(path, sizeof(path), dir, keep.stream, 1);
	CHECK(file_size(path) > 0);
	struct store_expiry *x = store_expiry_begin(st);
	CHECK(store_expiry_cap(x, fast.ino, tf.size, 1, 0) > 0);
	EQ(store_expiry_end(x, note_expired, &tf), 0);
	EQ(reclaim_all(st, &tf), 0);
	EQ(file_size(path), -1);                /* segment 1 is gone */
	EQ(store_topic_load(st, keep.ino, &r), 0);
	EQ(r.size, tk.size);
	EQ(r.next_msg, tk.next_msg);
	READS(st, keep.ino, &r, 0, strlen(want), want);
	store_close(st);
	st = reopen_load(dir, &keep, &r);
	if (!st)
		return;
	EQ(r.start, 0);
	EQ(r.next_msg, 6);
	READS(st, keep.ino, &r, 0, strlen(want), want);
	store_close(st);
}

/* The ttl scan expires what is older than the stream's ttl, and what
 * arrived later stays. */
static void test_ttl_scan(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct sf_policy p;
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0))
		return;
	struct store_batch *b = store_batch_new();
	store_put_xattr(b, fx.stream, SF_POLICY_PREFIX "ttl", "1", 1);
	EQ(store_commit(st, b, false), 0);
	store_batch_free(b);
	EQ(store_get_policy(st, fx.stream, &p), 0);
	EQ(append(st, &fx, &t, "old\n"), 0);
	store_policy_changed(st, fx.stream, &p);
	EQ(reclaim_all(st, &t), 0);
	EQ(t.start, 0);                         /* not old enough yet */
	sleep_ms(1100);
	EQ(append(st, &fx, &t, "new\n"), 0);
	EQ(reclaim_all(st, &t), 0);
	EQ(t.start, 4);
	EQ(t.first_msg, 1);
	struct sf_topic r;
	EQ(store_topic_load(st, fx.ino, &r), 0);
	EQ(r.start, 4);
	READS(st, fx.ino, &r, 4, 4, "new\n");
	store_close(st);
}

static const struct test tests[] = {
	T(test_expiry_cap_and_head),
	T(test_compaction_moves_live_records),
	T(test_ttl_scan),
	T(test_number_helpers),
	T(test_key_layouts),
	T(test_key_order),
	T(test_key_name_limit),
	T(test_inode_encoding),
	T(test_inode_decode_rejects),
	T(test_index_encoding),
	T(test_index_decode_rejects),
	T(test_segstate_encoding),
	T(test_record_header_encoding),
	T(test_record_check_good),
	T(test_record_check_flipped_bits),
	T(test_record_check_magic),
	T(test_record_check_length),
	T(test_record_check_truncated_header),
	T(test_record_crc_pieces),
	T(test_crc32c_known_answers),
	T(test_crc32c_alignments),
	T(test_open_empty_folder),
	T(test_alloc_ino_not_reused),
	T(test_namespace_records),
	T(test_topic_empty),
	T(test_topic_append_read),
	T(test_topic_seek_message),
	T(test_topic_seek_time),
	T(test_topic_reopen),
	T(test_topics_interleaved),
	T(test_append_pieces),
	T(test_index_groups),
	T(test_segment_roll),
	T(test_space_reserve),
	T(test_purge_inode),
	T(test_orphan_purged_at_open),
	T(test_read_checks_records),
	T(test_recover_torn_tail),
	T(test_recover_torn_indexed_record),
	T(test_recover_flipped_last_record),
	T(test_recover_flipped_middle_record),
	T(test_recover_reindex_continuing),
	T(test_recover_not_continuing),
	T(test_recover_lost_index_batch),
	T(test_recover_cut_short),
	T(test_recover_sealed_segment),
	T(test_recover_missing_segment),
	T(test_many_streams),
	T(test_recover_sealed_cut_at_boundary),
	T(test_recover_drop_follows_moved_topic),
	T(test_cursor_encoding),
	T(test_cursor_get_set_delete),
	T(test_cursor_names),
	T(test_cursor_list),
	T(test_cursor_clamp),
	T(test_cursor_purged),
	T(test_cursor_tombstones),
	T(test_recover_append_during_sync),
	T(test_topic_boundary),
	T(test_topic_boundary_one_message),
};

int main(int argc, char **argv)
{
	return fixture_main("test_store", tests, NTESTS(tests), argc, argv);
}
