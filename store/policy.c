/* policy.c - stream policies (docs/design.md, "Attributes"): parsing and printing their values,
 * and reading the policies a directory holds.  Policies are stored as the
 * directory's attributes user.streamfs.NAME in canonical form. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *const sf_policy_names[] = {
	"framing", "max_message", "ttl", "retention_bytes", "durability",
	"autocreate", NULL,
};

static const char *const framing_names[] = { "line", "write" };
static const char *const durability_names[] = { "os", "batch", "always" };
static const char *const yes_no[] = { "no", "yes" };

void policy_defaults(struct sf_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->framing = SF_FRAMING_LINE;
	p->durability = SF_DUR_OS;
	p->max_message = SF_MAX_MESSAGE_DEFAULT;
	p->autocreate = 1;
}

/* A decimal number (any number of digits, leading zeros included) with an
 * optional unit suffix from units (each with its multiplier, either case);
 * the whole text must be used.  -EINVAL if malformed or above 2^64 - 1.
 * tools/ctl_policy.c checks values by the same rules. */
struct unit {
	char c;
	uint64_t mul;
};

static int parse_number(const char *s, size_t len, const struct unit *units,
			uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (i == 0)
		return -EINVAL;
	if (i < len) {
		const struct unit *u = units;
		while (u && u->c && u->c != s[i] && u->c != (s[i] | 0x20))
			u++;
		if (!u || !u->c || i + 1 != len)
			return -EINVAL;
		if (v > UINT64_MAX / u->mul)
			return -EINVAL;
		v *= u->mul;
	}
	*out = v;
	return 0;
}

static const struct unit size_units[] = {
	{ 'k', 1ull << 10 }, { 'm', 1ull << 20 }, { 'g', 1ull << 30 },
	{ 't', 1ull << 40 }, { 0, 0 },
};
static const struct unit time_units[] = {
	{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	{ 'w', 7 * 86400 }, { 0, 0 },
};

static int parse_word(const char *s, size_t len, const char *const *words,
		      int n, uint32_t *out)
{
	for (int i = 0; i < n; i++) {
		if (strlen(words[i]) == len && memcmp(s, words[i], len) == 0) {
			*out = (uint32_t)i;
			return 0;
		}
	}
	return -EINVAL;
}

int policy_parse(const char *name, const char *val, size_t len,
		 struct sf_policy *p)
{
	uint64_t n;
	uint32_t w;
	/* Allow one trailing newline, as `echo` into a tool would add. */
	if (len > 0 && val[len - 1] == '\n')
		len--;
	if (strcmp(name, "framing") == 0) {
		if (parse_word(val, len, framing_names, 2, &w) < 0)
			return -EINVAL;
		p->framing = w;
	} else if (strcmp(name, "durability") == 0) {
		if (parse_word(val, len, durability_names, 3, &w) < 0)
			return -EINVAL;
		p->durability = w;
	} else if (strcmp(name, "autocreate") == 0) {
		if (parse_word(val, len, yes_no, 2, &w) < 0)
			return -EINVAL;
		p->autocreate = w;
	} else if (strcmp(name, "max_message") == 0) {
		if (parse_number(val, len, size_units, &n) < 0 || n < 1 ||
		    n > SF_MAX_MESSAGE_LIMIT)
			return -EINVAL;
		p->max_message = n;
	} else if (strcmp(name, "retention_bytes") == 0) {
		if (parse_number(val, len, size_units, &n) < 0)
			return -EINVAL;
		p->retention_bytes = n;
	} else if (strcmp(name, "ttl") == 0) {
		if (parse_number(val, len, time_units, &n) < 0)
			return -EINVAL;
		p->ttl_s = n;
	} else {
		return -ENOENT;
	}
	return 0;
}

int policy_format(const char *name, const struct sf_policy *p, char *buf,
		  size_t cap)
{
	if (strcmp(name, "framing") == 0)
		return snprintf(buf, cap, "%s", framing_names[p->framing & 1]);
	if (strcmp(name, "durability") == 0)
		return snprintf(buf, cap, "%s",
				durability_names[p->durability % 3]);
	if (strcmp(name, "autocreate") == 0)
		return snprintf(buf, cap, "%s", yes_no[p->autocreate & 1]);
	if (strcmp(name, "max_message") == 0)
		return snprintf(buf, cap, "%" PRIu64, p->max_message);
	if (strcmp(name, "retention_bytes") == 0)
		return snprintf(buf, cap, "%" PRIu64, p->retention_bytes);
	if (strcmp(name, "ttl") == 0)
		return snprintf(buf, cap, "%" PRIu64, p->ttl_s);
	return -ENOENT;
}

int store_get_policy(struct store *st, uint64_t dir, struct sf_policy *p)
{
	char name[64];
	policy_defaults(p);
	for (int i = 0; sf_policy_names[i]; i++) {
		char *v;
		size_t len;
		snprintf(name, sizeof(name), SF_POLICY_PREFIX "%s",
			 sf_policy_names[i]);
		int r = store_get_xattr(st, dir, name, &v, &len);
		if (r == -ENODATA)
			continue;
		if (r < 0)
			return r;
		r = policy_parse(sf_policy_names[i], v, len, p);
		free(v);
		if (r < 0)
			return -EIO;
	}
	return 0;
}
