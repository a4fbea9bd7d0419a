/* fuzz_kafka_names.c - libFuzzer target for the Kafka topic name mapping
 * (fs/kafka/names.c) and the protocol's readers (fs/kafka/codec.c).
 *
 * The input is taken three ways: as a Kafka name, which must either be
 * refused or map to a path that maps back to the same name; as a path
 * (up to its first NUL), whose name, if it has one and its parts are
 * neither empty nor "." or "..", must map back to the same path; and as
 * a stream of fields read with every reader in turn, which must stay
 * inside the input.  Build and run with tools/fuzz.sh kafka_names. */
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static bool plain_parts(const char *p)
{
	while (*p) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == 0 || (l == 1 && p[0] == '.') ||
		    (l == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!e)
			return true;
		p = e + 1;
	}
	return false;
}

static void as_name(const uint8_t *d, size_t n)
{
	char path[4096], name[KAFKA_NAME_MAX + 1];
	if (kname_to_path((const char *)d, n, path, sizeof path) < 0)
		return;
	if (n && d[0] == '/')
		return;                 /* MapR's form maps one way */
	int r = kname_from_path(path, name);
	if (r < 0 || (size_t)r != n || memcmp(name, d, n))
		abort();
}

static void as_path(const uint8_t *d, size_t n)
{
	char path[4096], name[KAFKA_NAME_MAX + 1], back[4096];
	size_t l = strnlen((const char *)d, n);
	if (l >= sizeof path)
		return;
	memcpy(path, d, l);
	path[l] = 0;
	int r = kname_from_path(path, name);
	if (r < 0 || !plain_parts(path))
		return;
	if ((size_t)r != strlen(name) ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") != (size_t)r)
		abort();
	if (kname_to_path(name, (size_t)r, back, sizeof back) < 0 ||
	    strcmp(back, path))
		abort();
}

static void as_fields(const uint8_t *d, size_t n)
{
	struct kreader r;
	kr_init(&r, d, n);
	for (int i = 0; !r.bad && kr_left(&r) > 0; i++) {
		struct kstr s = { NULL, -1 };
		switch (i % 12) {
		case 0: kr_i8(&r); break;
		case 1: kr_i16(&r); break;
		case 2: kr_i32(&r); break;
		case 3: kr_i64(&r); break;
		case 4: kr_varint(&r); break;
		case 5: kr_varlong(&r); break;
		case 6: s = kr_string(&r); break;
		case 7: s = kr_bytes(&r); break;
		case 8: s = kr_cstring(&r); break;
		case 9: s = kr_cbytes(&r); break;
		case 10: kr_array(&r); kr_carray(&r); break;
		case 11: kr_tags(&r); break;
		}
		if (s.len > 0 && (s.p < d || s.p + s.len > d + n))
			abort();
		if (r.p < d || r.p > r.end)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	as_name(d, n);
	as_path(d, n);
	as_fields(d, n);
	return 0;
}
