/* crc32c.c - CRC-32C (Castagnoli), the checksum of every segment record.
 *
 * Uses the SSE4.2 crc32 instruction when the processor has it, a table
 * otherwise; both give the same result. */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Filled once by the first caller; any thread may call (the FUSE
 * threads and the Kafka listener's): pthread_once orders the filling
 * before every use. */
static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		table[i] = c;
	}
}

static uint32_t crc_soft(uint32_t crc, const unsigned char *p, size_t n)
{
	pthread_once(&table_once, table_init);
	while (n--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
/* Four 8-byte steps per turn of the loop (unaligned loads cost nothing
 * here): the checksum is one pass over the bytes at about a quarter of an
 * instruction a byte. */
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const unsigned char *p, size_t n)
{
	uint64_t c = crc, a, b, d, e;
	const unsigned char *end32 = p + (n & ~(size_t)31);
	for (; p < end32; p += 32) {
		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		memcpy(&d, p + 16, 8);
		memcpy(&e, p + 24, 8);
		c = __builtin_ia32_crc32di(c, a);
		c = __builtin_ia32_crc32di(c, b);
		c = __builtin_ia32_crc32di(c, d);
		c = __builtin_ia32_crc32di(c, e);
	}
	n &= 31;
	while (n >= 8) {
		memcpy(&a, p, 8);
		c = __builtin_ia32_crc32di(c, a);
		p += 8;
		n -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	if (n >= 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		c32 = __builtin_ia32_crc32si(c32, w);
		p += 4;
		n -= 4;
	}
	while (n--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return c32;
}
#endif

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;
	crc = ~crc;
#if defined(__x86_64__)
	/* every thread computes the same answer: relaxed is enough */
	static int hw = -1;
	int have = __atomic_load_n(&hw, __ATOMIC_RELAXED);
	if (have < 0) {
		have = __builtin_cpu_supports("sse4.2");
		__atomic_store_n(&hw, have, __ATOMIC_RELAXED);
	}
	if (have)
		return ~crc_hw(crc, p, len);
#endif
	return ~crc_soft(crc, p, len);
}

uint32_t store_crc32c(uint32_t crc, const void *p, size_t n)
{
	return crc32c(crc, p, n);
}
