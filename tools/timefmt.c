/*
 * timefmt.c - nanoseconds since the epoch to ISO-8601 UTC and back (see
 * timefmt.h).  Dates use the proleptic Gregorian calendar of timegm().
 */
#include "timefmt.h"
#include "tool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define NS_PER_SEC 1000000000ull
#define NS_PER_MS 1000000ull
#define FRACTION_DIGITS 9

void timefmt_iso(uint64_t ns, char buf[TIMEFMT_ISO_SIZE])
{
	time_t sec = (time_t)(ns / NS_PER_SEC);
	unsigned ms = (unsigned)(ns % NS_PER_SEC / NS_PER_MS);
	struct tm tm;

	if (!gmtime_r(&sec, &tm)) {
		snprintf(buf, TIMEFMT_ISO_SIZE, "%llu ns",
			 (unsigned long long)ns);
		return;
	}
	snprintf(buf, TIMEFMT_ISO_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ms);
}

/* Take exactly N digits at *P into *OUT; 0 or -1. */
static int take_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* Take CH at *P if it is there; 1 if taken. */
static int take_char(const char **p, char ch)
{
	if (**p != ch)
		return 0;
	(*p)++;
	return 1;
}

/* Take ".F" (1 to 9 digits) as nanoseconds; 0 or -1. */
static int take_fraction(const char **p, uint64_t *frac)
{
	uint64_t scale = NS_PER_SEC;
	int n = 0;

	*frac = 0;
	if (!take_char(p, '.') && !take_char(p, ','))
		return 0;
	while (**p >= '0' && **p <= '9') {
		if (++n > FRACTION_DIGITS)
			return -1;
		scale /= 10;
		*frac += (uint64_t)(**p - '0') * scale;
		(*p)++;
	}
	return n ? 0 : -1;
}

/* Take the zone: nothing or 'Z' (UTC), or +HH:MM / -HH:MM / +HHMM, as
 * seconds east of UTC; 0 or -1. */
static int take_zone(const char **p, long *east)
{
	int sign, hh, mm;

	*east = 0;
	if (!**p || take_char(p, 'Z') || take_char(p, 'z'))
		return 0;
	if (**p != '+' && **p != '-')
		return -1;
	sign = *(*p)++ == '-' ? -1 : 1;
	if (take_digits(p, 2, &hh))
		return -1;
	take_char(p, ':');
	if (take_digits(p, 2, &mm) || hh > 23 || mm > 59)
		return -1;
	*east = sign * (hh * 3600L + mm * 60L);
	return 0;
}

/* Take "YYYY-MM-DD[THH:MM[:SS[.F]]]" into TM and FRAC; 0 or -1. */
static int take_datetime(const char **p, struct tm *tm, uint64_t *frac)
{
	memset(tm, 0, sizeof(*tm));
	*frac = 0;
	if (take_digits(p, 4, &tm->tm_year) || !take_char(p, '-') ||
	    take_digits(p, 2, &tm->tm_mon) || !take_char(p, '-') ||
	    take_digits(p, 2, &tm->tm_mday))
		return -1;
	if (take_char(p, 'T') || take_char(p, 't') || take_char(p, ' ')) {
		if (take_digits(p, 2, &tm->tm_hour) || !take_char(p, ':') ||
		    take_digits(p, 2, &tm->tm_min))
			return -1;
		if (take_char(p, ':') &&
		    (take_digits(p, 2, &tm->tm_sec) || take_fraction(p, frac)))
			return -1;
	}
	return 0;
}

/* Whether TM names a real date and time (timegm() would quietly move
 * 2024-02-30 to March). */
static int valid_fields(const struct tm *tm)
{
	struct tm norm = *tm;

	timegm(&norm);
	return norm.tm_mday == tm->tm_mday &&
	       norm.tm_mon == tm->tm_mon && norm.tm_hour == tm->tm_hour &&
	       norm.tm_min == tm->tm_min && norm.tm_sec == tm->tm_sec;
}

static int parse_iso(const char *s, uint64_t *ns)
{
	const char *p = s;
	struct tm tm;
	uint64_t frac;
	long east;
	time_t t;

	if (take_datetime(&p, &tm, &frac) || take_zone(&p, &east) || *p)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (!valid_fields(&tm))
		return -EINVAL;
	t = timegm(&tm) - east;
	if (t < 0 || (uint64_t)t > (uint64_t)INT64_MAX / NS_PER_SEC ||
	    (uint64_t)t * NS_PER_SEC > (uint64_t)INT64_MAX - frac)
		return -ERANGE;
	*ns = (uint64_t)t * NS_PER_SEC + frac;
	return 0;
}

int timefmt_parse(const char *s, uint64_t *ns)
{
	int rc;

	if (!strchr(s, '-')) {
		rc = tool_parse_u64(s, ns);
		if (rc == 0 && *ns > (uint64_t)INT64_MAX)
			rc = -ERANGE;
		return rc;
	}
	return parse_iso(s, ns);
}
