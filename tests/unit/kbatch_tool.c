/* kbatch_tool.c - the record batch library (fs/kafka/records.h) from the
 * command line, for tests/test_kafka_records.py to check its batches
 * against a real client's decoder and the other way round.
 *
 *   kbatch_tool encode CODEC BASE_OFFSET < records > batch
 *   kbatch_tool decode < record set > records
 *
 * records: one per line, "TIMESTAMP KEY VALUE HEADERS", each of the last
 * three in hex, "-" for null (headers: the raw bytes after the count,
 * then ":" and the count; "-" for none).  decode prints the same lines
 * (the batches' base offsets and codecs first, as "batch OFFSET CODEC
 * COUNT"), or "error RC" and exits 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

static uint8_t *unhex(const char *s, int32_t *len)
{
	size_t n = strlen(s) / 2;
	uint8_t *p = malloc(n + 1);

	for (size_t i = 0; i < n; i++)
		sscanf(s + 2 * i, "%2hhx", &p[i]);
	*len = (int32_t)n;
	return p;
}

static void hex(const uint8_t *p, int32_t len)
{
	if (len < 0) {
		printf("-");
		return;
	}
	if (len == 0)
		printf("=");    /* empty, not null */
	for (int32_t i = 0; i < len; i++)
		printf("%02x", p[i]);
}

static int encode(int codec, long long base)
{
	static struct krecord r[10000];
	char *line = NULL, *ts, *k, *v, *h, *save;
	size_t n = 0, cap = 0;

	while (n < 10000 && getline(&line, &cap, stdin) > 0) {
		if (!(ts = strtok_r(line, " \n", &save)) ||
		    !(k = strtok_r(NULL, " \n", &save)) ||
		    !(v = strtok_r(NULL, " \n", &save)) ||
		    !(h = strtok_r(NULL, " \n", &save)))
			continue;
		struct krecord *x = &r[n];
		memset(x, 0, sizeof(*x));
		x->offset_delta = (int64_t)n++;
		x->timestamp = strtoll(ts, NULL, 10);
		x->key_len = -1;
		x->value_len = -1;
		if (strcmp(k, "-"))
			x->key = unhex(strcmp(k, "=") ? k : "", &x->key_len);
		if (strcmp(v, "-"))
			x->value = unhex(strcmp(v, "=") ? v : "", &x->value_len);
		char *colon = strchr(h, ':');
		if (strcmp(h, "-") && colon) {
			int32_t hl;
			*colon = '\0';
			x->headers = unhex(h, &hl);
			x->headers_len = (size_t)hl;
			x->nheaders = atoi(colon + 1);
		}
	}
	struct kbuf out;
	kb_init(&out);
	int rc = kbatch_encode(&out, base, r, n, codec);
	if (rc < 0) {
		printf("error %d\n", rc);
		return 1;
	}
	fwrite(out.p, 1, out.len, stdout);
	return 0;
}

static struct kbatch info;

static int print_record(void *arg, const struct krecord *r)
{
	int *first = arg;

	if (*first) {
		printf("batch %lld %d %d\n", (long long)info.base_offset,
		       info.codec, info.count);
		*first = 0;
	}
	printf("%lld ", (long long)r->timestamp);
	hex(r->key, r->key_len);
	printf(" ");
	hex(r->value, r->value_len);
	printf(" ");
	if (r->nheaders) {
		hex(r->headers, (int32_t)r->headers_len);
		printf(":%d", r->nheaders);
	} else {
		printf("-");
	}
	printf("\n");
	return 0;
}

static int decode(void)
{
	static uint8_t buf[1 << 24];
	size_t n = fread(buf, 1, sizeof buf, stdin);
	const uint8_t *p = buf;

	while (n > 0) {
		int first = 1;
		int rc = kbatch_decode(p, n, &info, print_record, &first);
		if (rc < 0) {
			printf("error %d\n", rc);
			return 1;
		}
		p += rc;
		n -= (size_t)rc;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "encode"))
		return encode(atoi(argv[2]), atoll(argv[3]));
	if (argc == 2 && !strcmp(argv[1], "decode"))
		return decode();
	fprintf(stderr, "usage: kbatch_tool encode CODEC BASE | decode\n");
	return 2;
}
