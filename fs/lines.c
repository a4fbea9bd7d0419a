/* lines.c - counting the newlines of a write, the one pass over its bytes
 * that line framing needs when no line in it can be too long (the whole
 * write is shorter than max_message): 32 bytes at a time with AVX2 where
 * the processor has it, memchr otherwise. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fs.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,popcnt")))
static size_t count_avx2(const char *p, size_t n)
{
	const __m256i nl = _mm256_set1_epi8('\n');
	size_t count = 0, i = 0;
	for (; i + 64 <= n; i += 64) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(p + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(p + i + 32));
		uint32_t ma = (uint32_t)_mm256_movemask_epi8(
			_mm256_cmpeq_epi8(a, nl));
		uint32_t mb = (uint32_t)_mm256_movemask_epi8(
			_mm256_cmpeq_epi8(b, nl));
		count += (size_t)__builtin_popcount(ma) +
			 (size_t)__builtin_popcount(mb);
	}
	for (; i + 32 <= n; i += 32) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(p + i));
		count += (size_t)__builtin_popcount((uint32_t)
			_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, nl)));
	}
	if (i < n) {
		/* The last bytes, through a copy padded with zeros. */
		char tail[32] = { 0 };
		memcpy(tail, p + i, n - i);
		__m256i a = _mm256_loadu_si256((const __m256i *)tail);
		count += (size_t)__builtin_popcount((uint32_t)
			_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, nl)));
	}
	return count;
}
#endif

static size_t count_memchr(const char *p, size_t n)
{
	size_t count = 0;
	const char *end = p + n;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		count++;
		p++;
	}
	return count;
}

size_t count_newlines(const char *p, size_t n)
{
#if defined(__x86_64__)
	static int avx2 = -1;
	if (avx2 < 0)
		avx2 = __builtin_cpu_supports("avx2") &&
		       __builtin_cpu_supports("popcnt");
	if (avx2)
		return count_avx2(p, n);
#endif
	return count_memchr(p, n);
}
