/* names.c - the mapping between stream paths and Kafka topic names
 * (docs/design.md, "Kafka clients" > "Topic names"): a '/' between path
 * components is a '.'; inside a component the letters, digits and '-'
 * stay, '_' stays unless two lowercase hex digits follow it, and every
 * other byte (a '.', a space, UTF-8, and a '_' before two hex digits) is
 * '_' and its two lowercase hex digits.  Each path has one name and each
 * name one path; a name that decodes but is not the one its path maps to
 * is refused.  MapR's "/stream:topic" is accepted on input. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "kafka.h"

static bool plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int kname_from_path(const char *path, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (const unsigned char *p = (const void *)path; *p; p++) {
		unsigned char c = *p;
		bool keep = c == '/' || plain(c) ||
			    (c == '_' && !(hexval(p[1]) >= 0 &&
					   hexval(p[2]) >= 0));
		size_t need = keep ? 1 : 3;
		if (n + need > KAFKA_NAME_MAX)
			return -ENAMETOOLONG;
		if (c == '/')
			out[n++] = '.';
		else if (keep)
			out[n++] = (char)c;
		else {
			out[n++] = '_';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = 0;
	return (int)n;
}

/* MapR's "/a/b:topic": the path "a/b/topic". */
static int mapr_path(const char *name, size_t len, char *out, size_t cap)
{
	const char *colon = memchr(name, ':', len);
	if (len < 4 || !colon || colon == name + 1 || colon == name + len - 1 ||
	    memchr(colon + 1, ':', len - (size_t)(colon - name) - 1) ||
	    memchr(colon + 1, '/', len - (size_t)(colon - name) - 1) ||
	    memchr(name, 0, len))
		return -EINVAL;
	if (len >= cap)
		return -ENAMETOOLONG;
	memcpy(out, name + 1, len - 1);
	out[len - 1] = 0;
	out[colon - name - 1] = '/';
	/* No empty or dot components. */
	for (char *c = out; *c;) {
		char *e = strchr(c, '/');
		size_t l = e ? (size_t)(e - c) : strlen(c);
		if (l == 0 || (l == 1 && c[0] == '.') ||
		    (l == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		c += l + (e != NULL);
	}
	return 0;
}

int kname_to_path(const char *name, size_t len, char *out, size_t cap)
{
	if (len > 0 && name[0] == '/')
		return mapr_path(name, len, out, cap);
	if (len == 0 || len > KAFKA_NAME_MAX)
		return -EINVAL;
	size_t n = 0, comp = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		int b;
		if (c == '.') {
			if (n == comp)
				return -EINVAL;         /* empty component */
			b = '/';
		} else if (c == '_' && i + 2 < len &&
			   hexval((unsigned char)name[i + 1]) >= 0 &&
			   hexval((unsigned char)name[i + 2]) >= 0) {
			b = hexval((unsigned char)name[i + 1]) << 4 |
			    hexval((unsigned char)name[i + 2]);
			if (b == 0 || b == '/')
				return -EINVAL;
			i += 2;
		} else if (plain(c) || c == '_') {
			b = c;
		} else {
			return -EINVAL;
		}
		if (n + 1 >= cap)
			return -ENAMETOOLONG;
		out[n++] = (char)b;
		if (b == '/')
			comp = n;
	}
	if (n == comp)
		return -EINVAL;                 /* ends in '.' */
	out[n] = 0;
	/* One name per path: the name must be the one the path maps to
	 * (this also refuses "." and ".." components, which map to
	 * "_2e" forms only). */
	char again[KAFKA_NAME_MAX + 1];
	int r = kname_from_path(out, again);
	if (r < 0 || (size_t)r != len || memcmp(again, name, len))
		return -EINVAL;
	for (char *c = out; *c;) {
		char *e = strchr(c, '/');
		size_t l = e ? (size_t)(e - c) : strlen(c);
		if ((l == 1 && c[0] == '.') ||
		    (l == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		c += l + (e != NULL);
	}
	return 0;
}
