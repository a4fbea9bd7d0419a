/* test_kafka_codec.c - unit tests of the Kafka listener's primitives
 * (fs/kafka/codec.c): every writer's bytes, read back by its reader; the
 * varint edge values; short, negative and oversized lengths set bad and
 * never read past the end.  And the topic name mapping (fs/kafka/names.c):
 * names of paths, paths of names, one name per path.
 * main prints "N passed, N failed" and exits 1 on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "kafka.h"

#include "check.h"

static void test_ints(void)
{
	struct kbuf b;
	kb_init(&b);
	kb_i8(&b, -2);
	kb_i16(&b, -300);
	kb_i32(&b, 0x01020304);
	kb_i64(&b, -5);
	CHECK(!b.oom && b.len == 15);
	CHECK(b.p[1] == 0xfe && b.p[2] == 0xd4);
	CHECK(b.p[3] == 1 && b.p[6] == 4);
	struct kreader r;
	kr_init(&r, b.p, b.len);
	CHECK(kr_i8(&r) == -2);
	CHECK(kr_i16(&r) == -300);
	CHECK(kr_i32(&r) == 0x01020304);
	CHECK(kr_i64(&r) == -5);
	CHECK(!r.bad && kr_left(&r) == 0);
	CHECK(kr_i8(&r) == 0 && r.bad);
	kb_free(&b);
}

static void test_varints(void)
{
	static const int64_t longs[] = {
		0, 1, -1, 63, -64, 64, 300, -300, INT32_MAX, INT32_MIN,
		INT64_MAX, INT64_MIN,
	};
	struct kbuf b;
	kb_init(&b);
	for (size_t i = 0; i < sizeof longs / sizeof *longs; i++)
		kb_varlong(&b, longs[i]);
	kb_varint(&b, INT32_MIN);
	kb_varint(&b, -1);
	kb_uvarint(&b, UINT32_MAX);
	struct kreader r;
	kr_init(&r, b.p, b.len);
	for (size_t i = 0; i < sizeof longs / sizeof *longs; i++)
		CHECK(kr_varlong(&r) == longs[i]);
	CHECK(kr_varint(&r) == INT32_MIN);
	CHECK(kr_varint(&r) == -1);
	CHECK(kr_uvarint(&r) == UINT32_MAX);
	CHECK(!r.bad && kr_left(&r) == 0);
	kb_free(&b);

	/* One: 0x01; -1: 0x01 zigzag; 150 unsigned: 0x96 0x01. */
	kb_init(&b);
	kb_varint(&b, -1);
	kb_uvarint(&b, 150);
	CHECK(b.len == 3 && b.p[0] == 1 && b.p[1] == 0x96 && b.p[2] == 1);
	kb_free(&b);

	/* Too long, or unterminated. */
	static const uint8_t six[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
	kr_init(&r, six, sizeof six);
	kr_uvarint(&r);
	CHECK(r.bad);
	static const uint8_t big[] = { 0xff, 0xff, 0xff, 0xff, 0x7f };
	kr_init(&r, big, sizeof big);
	kr_uvarint(&r);                 /* 2^35 - 1: over 32 bits */
	CHECK(r.bad);
	kr_init(&r, six, 3);
	kr_varlong(&r);
	CHECK(r.bad);
}

static void test_strings(void)
{
	struct kbuf b;
	kb_init(&b);
	kb_string(&b, "plant.temp");
	kb_string(&b, NULL);
	kb_bytes(&b, "ab", 2);
	kb_bytes(&b, NULL, -1);
	kb_cstring(&b, "x");
	kb_cstring(&b, NULL);
	kb_cbytes(&b, "", 0);
	kb_array(&b, 2);
	kb_i8(&b, 1);
	kb_i8(&b, 2);
	kb_carray(&b, 1);
	kb_i8(&b, 3);
	kb_carray(&b, -1);
	kb_tags(&b);
	CHECK(!b.oom);
	struct kreader r;
	kr_init(&r, b.p, b.len);
	CHECK(kstr_eq(kr_string(&r), "plant.temp"));
	struct kstr s = kr_string(&r);
	CHECK(s.len == -1 && !s.p);
	CHECK(kstr_eq(kr_bytes(&r), "ab"));
	CHECK(kr_bytes(&r).len == -1);
	CHECK(kstr_eq(kr_cstring(&r), "x"));
	CHECK(kr_cstring(&r).len == -1);
	s = kr_cbytes(&r);
	CHECK(s.len == 0 && s.p);
	CHECK(kr_array(&r) == 2 && kr_i8(&r) == 1 && kr_i8(&r) == 2);
	CHECK(kr_carray(&r) == 1 && kr_i8(&r) == 3);
	CHECK(kr_carray(&r) == -1);
	kr_tags(&r);
	CHECK(!r.bad && kr_left(&r) == 0);
	kb_free(&b);

	char buf[8];
	static const uint8_t nul[] = { 0, 3, 'a', 0, 'b' };
	kr_init(&r, nul, sizeof nul);
	CHECK(!kstr_copy(kr_string(&r), buf, sizeof buf));
	static const uint8_t ok[] = { 0, 3, 'a', 'b', 'c' };
	kr_init(&r, ok, sizeof ok);
	CHECK(kstr_copy(kr_string(&r), buf, sizeof buf) && !strcmp(buf, "abc"));
	kr_init(&r, ok, sizeof ok);
	CHECK(!kstr_copy(kr_string(&r), buf, 3));
}

static void test_bad_lengths(void)
{
	struct kreader r;
	static const uint8_t longer[] = { 0, 9, 'a', 'b' };
	kr_init(&r, longer, sizeof longer);
	kr_string(&r);
	CHECK(r.bad);
	static const uint8_t neg[] = { 0xff, 0xfe, 'a' };
	kr_init(&r, neg, sizeof neg);
	kr_string(&r);
	CHECK(r.bad);
	static const uint8_t negb[] = { 0x80, 0, 0, 0 };
	kr_init(&r, negb, sizeof negb);
	kr_bytes(&r);
	CHECK(r.bad);
	/* An array claiming more elements than bytes left. */
	static const uint8_t arr[] = { 0x7f, 0xff, 0xff, 0xff, 1, 2 };
	kr_init(&r, arr, sizeof arr);
	kr_array(&r);
	CHECK(r.bad);
	static const uint8_t carr[] = { 0x05, 1, 2 };
	kr_init(&r, carr, sizeof carr);
	kr_carray(&r);
	CHECK(r.bad);
	/* A tag whose size runs past the end. */
	static const uint8_t tags[] = { 1, 0, 9, 'x' };
	kr_init(&r, tags, sizeof tags);
	kr_tags(&r);
	CHECK(r.bad);
	/* Once bad, reads give zero and stay bad. */
	kr_init(&r, tags, 0);
	CHECK(kr_i32(&r) == 0 && r.bad && kr_left(&r) == 0);
	CHECK(kr_skip(&r, 0) == NULL);
}

static void test_patch(void)
{
	struct kbuf b;
	kb_init(&b);
	kb_i32(&b, 0);
	for (int i = 0; i < 100000; i++)
		kb_i8(&b, (int8_t)i);
	kb_patch_i32(&b, 0, (int32_t)(b.len - 4));
	struct kreader r;
	kr_init(&r, b.p, b.len);
	CHECK(kr_i32(&r) == 100000);
	size_t len = b.len;
	kb_patch_i32(&b, len - 2, 7);   /* past the end: ignored */
	CHECK(b.len == len);
	CHECK(kb_reserve(&b, (size_t)1 << 40) == NULL && b.oom);
	kb_i8(&b, 1);
	CHECK(b.len == len);
	kb_free(&b);
}

/* path -> name -> the same path. */
static int round_trip(const char *path, const char *want)
{
	char name[KAFKA_NAME_MAX + 1], back[4096];
	int n = kname_from_path(path, name);
	if (n < 0 || strcmp(name, want)) {
		fprintf(stderr, "name of %s: %s (want %s)\n", path,
			n < 0 ? "error" : name, want);
		return 0;
	}
	if (kname_to_path(name, (size_t)n, back, sizeof back) < 0 ||
	    strcmp(back, path)) {
		fprintf(stderr, "path of %s: not %s\n", name, path);
		return 0;
	}
	return 1;
}

static int to_path(const char *name, char *out)
{
	return kname_to_path(name, strlen(name), out, 4096);
}

static void test_names(void)
{
	CHECK(round_trip("plant/temp", "plant.temp"));
	CHECK(round_trip("temp", "temp"));
	CHECK(round_trip("a.b/c", "a_2eb.c"));
	CHECK(round_trip("a/b/c", "a.b.c"));
	CHECK(round_trip("t_c", "t_c"));
	CHECK(round_trip("t_ab", "t_5fab"));
	CHECK(round_trip("t_a", "t_a"));
	CHECK(round_trip("t_", "t_"));
	CHECK(round_trip("_.x", "__2ex"));
	CHECK(round_trip("x y/Z-1", "x_20y.Z-1"));
	CHECK(round_trip(".streamfs/metrics", "_2estreamfs.metrics"));
	CHECK(round_trip("caf\xc3\xa9", "caf_c3_a9"));

	char path[4096], name[KAFKA_NAME_MAX + 1];
	CHECK(to_path("/plant:temp", path) == 0 && !strcmp(path, "plant/temp"));
	CHECK(to_path("/a/b:c", path) == 0 && !strcmp(path, "a/b/c"));
	CHECK(to_path("/a:", path) == -EINVAL);
	CHECK(to_path("/:a", path) == -EINVAL);
	CHECK(to_path("/a:b:c", path) == -EINVAL);
	CHECK(to_path("/a//b:c", path) == -EINVAL);
	CHECK(to_path("/../a:c", path) == -EINVAL);
	/* Not names the mapping makes. */
	CHECK(to_path("", path) == -EINVAL);
	CHECK(to_path(".a", path) == -EINVAL);
	CHECK(to_path("a.", path) == -EINVAL);
	CHECK(to_path("a..b", path) == -EINVAL);
	CHECK(to_path("a b", path) == -EINVAL);
	CHECK(to_path("a_2fb", path) == -EINVAL);       /* a '/' inside */
	CHECK(to_path("a_00", path) == -EINVAL);
	CHECK(to_path("_41", path) == -EINVAL);         /* 'A' is "A" */
	CHECK(to_path("_2e", path) == -EINVAL);         /* "." */
	CHECK(to_path("_2e_2e.x", path) == -EINVAL);    /* ".." */
	CHECK(to_path("a_2E", path) == 0 && !strcmp(path, "a_2E"));
	/* Lengths. */
	char longp[300];
	memset(longp, 'a', 249);
	longp[249] = 0;
	CHECK(kname_from_path(longp, name) == 249);
	longp[249] = 'a';
	longp[250] = 0;
	CHECK(kname_from_path(longp, name) == -ENAMETOOLONG);
	CHECK(kname_to_path(longp, 250, path, sizeof path) == -EINVAL);
	memset(longp, '.', 84);
	longp[84] = 0;                  /* 84 escapes: 252 characters */
	CHECK(kname_from_path(longp, name) == -ENAMETOOLONG);
	CHECK(kname_to_path("abc", 3, path, 3) == -ENAMETOOLONG);
}

int main(void)
{
	test_names();
	test_ints();
	test_varints();
	test_strings();
	test_bad_lengths();
	test_patch();
	return check_summary();
}
