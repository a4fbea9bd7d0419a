/* json.c - the two pieces of JSON the daemon writes by hand: a string,
 * quoted and escaped, and a time, as RFC 3339 text in UTC with
 * milliseconds.  Both write into a caller's buffer and return the length
 * the whole text needs (as snprintf does), so a caller can tell when it
 * was cut short. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json.h"

/* Append one byte, or count it when there is no room. */
static void put(char *buf, size_t cap, size_t *n, char c)
{
	if (*n + 1 < cap)
		buf[*n] = c;
	(*n)++;
}

size_t json_str(char *buf, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	put(buf, cap, &n, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			put(buf, cap, &n, '\\');
			put(buf, cap, &n, (char)*p);
		} else if (*p < 0x20) {
			put(buf, cap, &n, '\\');
			put(buf, cap, &n, 'u');
			put(buf, cap, &n, '0');
			put(buf, cap, &n, '0');
			put(buf, cap, &n, hex[*p >> 4]);
			put(buf, cap, &n, hex[*p & 15]);
		} else {
			put(buf, cap, &n, (char)*p);
		}
	}
	put(buf, cap, &n, '"');
	if (cap)
		buf[n < cap ? n : cap - 1] = 0;
	return n;
}

size_t json_time(char *buf, size_t cap, const struct timespec *ts)
{
	struct tm tm;
	char day[32];
	gmtime_r(&ts->tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	int n = snprintf(buf, cap, "\"%s.%03ldZ\"", day, ts->tv_nsec / 1000000);
	return n < 0 ? 0 : (size_t)n;
}
