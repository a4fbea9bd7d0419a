/*
 * ctl_policy.c - "streamctl policy [-R] PATH [NAME[=VALUE]...]": lists a
 * stream's policies, prints some of them, or sets them, as the attributes
 * user.streamfs.NAME of the stream's directory.  Every name and value is
 * checked before anything is changed, so a typo in the third argument does
 * not leave the first two applied.
 */
#include "ctl.h"
#include "tool.h"
#include "xattr_util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* max_message is at most 64 MiB (docs/design.md, "Attributes"). */
#define MAX_MESSAGE_LIMIT (64ull << 20)

/* ------------------------------------------------------------ values */

/* Parse "N" or "N<suffix>" where SUFFIXES[i] (either case) multiplies by
 * MULS[i].  0, or -1 when malformed or above 2^64 - 1.  The rules and the
 * suffixes are those the daemon takes (store/policy.c), all of them
 * documented. */
static int parse_scaled(const char *s, const char *suffixes,
			const unsigned long long *muls, uint64_t *out)
{
	size_t digits = strspn(s, "0123456789");
	unsigned long long mul = 1, v;
	char *end;

	if (digits == 0)
		return -1;
	if (s[digits]) {
		const char *hit = strchr(suffixes, tolower((unsigned char)s[digits]));
		if (!hit || s[digits + 1])
			return -1;
		mul = muls[hit - suffixes];
	}
	errno = 0;
	v = strtoull(s, &end, 10);	/* s starts with a digit: no sign */
	if (errno || end != s + digits || (v && mul > UINT64_MAX / v))
		return -1;
	*out = v * mul;
	return 0;
}

static int parse_bytes(const char *s, uint64_t *out)
{
	static const unsigned long long muls[] = { 1ull << 10, 1ull << 20,
						   1ull << 30, 1ull << 40 };

	return parse_scaled(s, "kmgt", muls, out);
}

static int valid_framing(const char *s)
{
	return !strcmp(s, "line") || !strcmp(s, "write");
}

static int valid_durability(const char *s)
{
	return !strcmp(s, "os") || !strcmp(s, "batch") || !strcmp(s, "always");
}

static int valid_autocreate(const char *s)
{
	return !strcmp(s, "yes") || !strcmp(s, "no");
}

static int valid_max_message(const char *s)
{
	uint64_t v;

	return parse_bytes(s, &v) == 0 && v >= 1 && v <= MAX_MESSAGE_LIMIT;
}

static int valid_retention(const char *s)
{
	uint64_t v;

	return parse_bytes(s, &v) == 0;
}

static int valid_ttl(const char *s)
{
	static const unsigned long long muls[] = { 1, 60, 3600, 86400,
						   7 * 86400 };
	uint64_t v;

	return parse_scaled(s, "smhdw", muls, &v) == 0;
}

/* ------------------------------------------------------------ the table */

struct policy {
	const char *name;
	int (*valid)(const char *value);
	const char *expected;		/* for error messages */
};

static const struct policy policies[CTL_POLICY_COUNT] = {
	{ "framing", valid_framing, "line or write" },
	{ "max_message", valid_max_message,
	  "bytes from 1 to 64m, optional suffix k, m, g or t" },
	{ "ttl", valid_ttl, "seconds, optional suffix s, m, h, d or w; 0 = "
	  "forever" },
	{ "retention_bytes", valid_retention,
	  "bytes, optional suffix k, m, g or t; 0 = no cap" },
	{ "durability", valid_durability, "os, batch or always" },
	{ "autocreate", valid_autocreate, "yes or no" },
};

const char *const ctl_policy_names[CTL_POLICY_COUNT] = {
	"framing", "max_message", "ttl", "retention_bytes", "durability",
	"autocreate",
};

static const struct policy *find_policy(const char *name, size_t len)
{
	for (size_t i = 0; i < CTL_POLICY_COUNT; i++)
		if (strlen(policies[i].name) == len &&
		    !strncmp(policies[i].name, name, len))
			return &policies[i];
	return NULL;
}

/* ------------------------------------------------------------ arguments */

/* One NAME or NAME=VALUE argument: VALUE NULL means print it. */
struct spec {
	const struct policy *pol;
	const char *value;
};

/* Check ARG and fill SP; on error print one line about PATH and return
 * TOOL_USAGE. */
static int parse_spec(const char *path, const char *arg, struct spec *sp)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);

	sp->pol = find_policy(arg, len);
	sp->value = eq ? eq + 1 : NULL;
	if (!sp->pol) {
		tool_error(path, "unknown policy '%.*s' (known: framing, "
			   "max_message, ttl, retention_bytes, durability, "
			   "autocreate)",
			   (int)len, arg);
		return TOOL_USAGE;
	}
	if (sp->value && !sp->pol->valid(sp->value)) {
		tool_error(path, "invalid value for %s: '%s' (expected %s)",
			   sp->pol->name, sp->value, sp->pol->expected);
		return TOOL_USAGE;
	}
	return 0;
}

/* ------------------------------------------------------------ one stream */

struct job {
	const struct spec *specs;
	size_t nspecs;			/* 0: list every policy */
	int headers;			/* print "PATH:" before output */
	int records;			/* records printed so far */
};

static void begin_output(struct job *job, const char *path)
{
	if (!job->headers)
		return;
	printf("%s%s:\n", job->records++ ? "\n" : "", path);
}

int ctl_read_policies(const char *path, char *values[CTL_POLICY_COUNT])
{
	int rc = 0;
	size_t i;

	memset(values, 0, CTL_POLICY_COUNT * sizeof(*values));
	for (i = 0; i < CTL_POLICY_COUNT && !rc; i++)
		rc = sfs_get_word(path, policies[i].name, &values[i]);
	if (!rc)
		return 0;
	tool_error(path, "cannot read policy %s: %s", policies[i - 1].name,
		   sfs_strerror(rc));
	ctl_free_policies(values);
	return TOOL_FAIL;
}

void ctl_free_policies(char *values[CTL_POLICY_COUNT])
{
	for (size_t i = 0; i < CTL_POLICY_COUNT; i++) {
		free(values[i]);
		values[i] = NULL;
	}
}

/* Print every policy of PATH, reading them all before printing any. */
static int list_all(struct job *job, const char *path)
{
	char *values[CTL_POLICY_COUNT];

	if (ctl_read_policies(path, values))
		return TOOL_FAIL;
	begin_output(job, path);
	for (size_t i = 0; i < CTL_POLICY_COUNT; i++)
		printf("%s=%s\n", policies[i].name, values[i]);
	ctl_free_policies(values);
	return 0;
}

static int set_one(const char *path, const struct spec *sp)
{
	int rc = sfs_set(path, sp->pol->name, sp->value);

	if (rc == -EINVAL)
		tool_error(path, "invalid value for %s: '%s'", sp->pol->name,
			   sp->value);
	else if (rc)
		tool_error(path, "cannot set %s: %s", sp->pol->name,
			   sfs_strerror(rc));
	return rc ? TOOL_FAIL : 0;
}

static int print_one(struct job *job, const char *path, const struct spec *sp,
		     int *begun)
{
	char *value;
	int rc = sfs_get_word(path, sp->pol->name, &value);

	if (rc) {
		tool_error(path, "cannot read policy %s: %s", sp->pol->name,
			   sfs_strerror(rc));
		return TOOL_FAIL;
	}
	if (!(*begun)++)
		begin_output(job, path);
	printf("%s=%s\n", sp->pol->name, value);
	free(value);
	return 0;
}

/* Apply the job's arguments to one stream, in order; stop at the first
 * failure. */
static int apply(struct job *job, const char *path)
{
	int begun = 0, rc = 0;

	if (job->nspecs == 0)
		return list_all(job, path);
	for (size_t i = 0; i < job->nspecs && !rc; i++) {
		const struct spec *sp = &job->specs[i];
		rc = sp->value ? set_one(path, sp) : print_one(job, path, sp,
							       &begun);
	}
	return rc;
}

/* ------------------------------------------------------------ recursion */

/* tool_list_dir()'s filter for streams: subdirectories, not symlinks to
 * them. */
static int is_subdir(const char *dir, const struct dirent *de)
{
	struct stat st;
	char *p;
	int yes;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	p = tool_join(dir, de->d_name);
	yes = p && lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
	free(p);
	return yes;
}

/* apply() to PATH and every stream below it; go on after failures, as
 * chmod -R does, and return TOOL_FAIL if any. */
static int walk(struct job *job, const char *path)
{
	char **names;
	size_t n;
	int status = apply(job, path);
	int rc = tool_list_dir(path, is_subdir, &names, &n);

	if (rc) {
		tool_error(path, "cannot list substreams: %s", strerror(-rc));
		status = TOOL_FAIL;
	}
	for (size_t i = 0; i < n; i++) {
		char *sub = tool_join(path, names[i]);
		if (!sub || walk(job, sub))
			status = TOOL_FAIL;
		free(sub);
		free(names[i]);
	}
	free(names);
	return status;
}

/* ------------------------------------------------------------ command */

static const char usage_text[] =
	"Usage: streamctl policy [-R] PATH [NAME[=VALUE]...]\n"
	"\n"
	"List the policies of stream PATH (a directory of a streamfs mount),\n"
	"print the named ones, or set NAME to VALUE.  New streams copy their\n"
	"parent's policies.\n"
	"\n"
	"Policies:\n"
	"  framing=line|write            one message per line, or per write()\n"
	"  max_message=BYTES             largest message, 1 to 64m\n"
	"  ttl=SECONDS                   messages expire after this; 0 = never\n"
	"  retention_bytes=BYTES         per-topic size cap; 0 = none\n"
	"  durability=os|batch|always    when appends reach the disk\n"
	"  autocreate=yes|no             Kafka clients make missing topics\n"
	"BYTES may end in k, m, g or t (powers of 1024), SECONDS in s, m, h,\n"
	"d or w (seconds, minutes, hours, days, weeks); either case.\n"
	"\n"
	"Options:\n"
	"  -R, --recursive   also every stream below PATH\n"
	"  -h, --help        show this help\n";

/* Check PATH is a stream before anything is read or set. */
static int check_stream(const char *path)
{
	struct stat st;
	int rc;

	if (tool_stat(path, &st))
		return TOOL_FAIL;
	if (!S_ISDIR(st.st_mode)) {
		tool_error(path, "not a stream (policies belong to directories)");
		return TOOL_FAIL;
	}
	rc = sfs_check_stream(path);
	if (rc) {
		tool_error(path, "%s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	return 0;
}

int ctl_policy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "recursive", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct job job = { 0 };
	struct spec *specs;
	int c, recursive = 0, rc = 0;
	const char *path;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hR", longopts, NULL)) != -1) {
		if (c == 'R') {
			recursive = 1;
		} else if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		} else {
			return tool_bad_option("policy", c, argv);
		}
	}
	if (optind == argc)
		return tool_usage_error("policy", "no PATH given");
	path = argv[optind++];
	job.nspecs = (size_t)(argc - optind);
	specs = calloc(job.nspecs + 1, sizeof(*specs));
	if (!specs) {
		tool_error(path, "%s", strerror(ENOMEM));
		return TOOL_FAIL;
	}
	for (size_t i = 0; i < job.nspecs && !rc; i++)
		rc = parse_spec(path, argv[optind + i], &specs[i]);
	if (!rc)
		rc = check_stream(path);
	if (!rc) {
		job.specs = specs;
		job.headers = recursive;
		rc = recursive ? walk(&job, path) : apply(&job, path);
	}
	free(specs);
	return rc;
}
