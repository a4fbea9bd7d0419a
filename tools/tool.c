/*
 * tool.c - the version, one-line errors, the final check of standard
 * output, strict number parsing, stat with its error line, path joining and
 * sorted directory listings for the streamfs command-line tools (see
 * tool.h).
 */
#include "tool.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__has_include)
#if __has_include("config.h")
#include "config.h"
#endif
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

const char *tool_name = "streamfs-tool";
const char tool_version[] = PACKAGE_VERSION;

/* Write S with control characters replaced, so one message is one line. */
static void put_clean(const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, stderr);
}

static void vmessage(const char *what, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", tool_name);
	if (what) {
		put_clean(what);
		fputs(": ", stderr);
	}
	vfprintf(stderr, fmt, ap);
}

void tool_error(const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(what, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int tool_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(cmd, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see '%s%s%s --help')\n", tool_name,
		cmd ? " " : "", cmd ? cmd : "");
	return TOOL_USAGE;
}

int tool_bad_option(const char *cmd, int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return tool_usage_error(cmd, "option '%s' needs a value", arg);
	if (optopt && strncmp(arg, "--", 2) != 0)
		return tool_usage_error(cmd, "unknown option '-%c'", optopt);
	return tool_usage_error(cmd, "unknown option '%s'", arg);
}

int tool_finish(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		tool_error("standard output", "%s", strerror(errno));
		return TOOL_FAIL;
	}
	return status;
}

int tool_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*out = v;
	return 0;
}

int tool_parse_i64(const char *s, int64_t *out)
{
	uint64_t mag;
	int neg = *s == '-';
	int rc = tool_parse_u64(s + neg, &mag);

	if (rc)
		return rc;
	if (mag > (uint64_t)INT64_MAX + neg)
		return -ERANGE;
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	return 0;
}

int tool_stat(const char *path, struct stat *st)
{
	if (stat(path, st) < 0) {
		tool_error(path, "%s", strerror(errno));
		return TOOL_FAIL;
	}
	return 0;
}

char *tool_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	int slash = n && dir[n - 1] == '/';
	char *p = malloc(n + strlen(name) + 2);

	if (p)
		sprintf(p, "%s%s%s", dir, slash ? "" : "/", name);
	return p;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int tool_list_dir(const char *dir, tool_dir_filter *keep, char ***names,
		  size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0, cap = 0;
	char **v = NULL;
	int rc = 0;

	*names = NULL;
	*count = 0;
	if (!d)
		return -errno;
	while (!rc && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (keep && !keep(dir, de))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		if (!(v[n] = strdup(de->d_name)))
			rc = -ENOMEM;
		else
			n++;
	}
	if (!rc && errno)
		rc = -errno;
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_names);
	*names = v;
	*count = n;
	return rc;
}

/* Parse the "--help"-only option list of a command; -1 to go on, else the
 * exit status. */
int tool_only_help(const char *cmd, const char *usage, int argc,
		   char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c != 'h')
			return tool_bad_option(cmd, c, argv);
		fputs(usage, stdout);
		return 0;
	}
	return -1;
}

int tool_group_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > TOOL_GROUP_MAX || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return 0;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789._-") == n;
}
