/* report.c - what the store tells its caller: log lines and exceptional
 * events (a failed checksum, an error underneath, a full disk, LevelDB's
 * faults and healing, what recovery did), handed to the hooks the caller
 * set (store.h), at the bottom of the store so that every layer can
 * report. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

/* Set once before the store opens and before any thread runs; only read
 * afterwards. */
static struct store_hooks hooks;

void store_set_hooks(const struct store_hooks *h)
{
	hooks = *h;
}

static void log_line(int level, const char *line)
{
	static const char *const prefix[] = { "error: ", "warning: ", "" };
	if (hooks.log)
		hooks.log(hooks.arg, level, line);
	else
		fprintf(stderr, "streamfs: %s%s\n",
			prefix[level < 0 || level > SF_LOG_INFO ? 0 : level],
			line);
}

void report_log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_line(level, line);
}

void report_event(struct store_event *ev, const char *fmt, ...)
{
	char line[1024];
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		ev->text = line;
		log_line(ev->level, line);
	}
	if (hooks.event)
		hooks.event(hooks.arg, ev);
	ev->text = NULL;
}

enum store_event_kind report_kind_of(int err)
{
	if (err < 0)
		err = -err;
	return err == ENOSPC || err == EDQUOT ? STORE_EV_NOSPACE : STORE_EV_IO;
}
