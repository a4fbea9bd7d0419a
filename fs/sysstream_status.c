/* sysstream_status.c - /.streamfs/status, one JSON object about the
 * running daemon: its version, data folder, mount time, uptime, pid, the
 * mount owner, the streams that hold messages and the inodes in use.
 * Made when the file is opened, under fs.lock (it reads the store). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fs.h"

static long long seconds_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(now.tv_sec - t0->tv_sec) -
	       (now.tv_nsec < t0->tv_nsec ? 1 : 0);
}

int sysstream_status(char **buf, size_t *len)
{
	char when[64], dir[2 * PATH_MAX];
	struct statvfs sv;
	long long inodes = store_statfs(fs.store, &sv) == 0
			   ? (long long)(sv.f_files - sv.f_ffree) : -1;
	int streams = store_streams(fs.store, NULL, 0);
	json_time(when, sizeof(when), &sys.mounted);
	json_str(dir, sizeof(dir), fs.datadir ? fs.datadir : "");
	int n = asprintf(buf, "{\"version\":\"%s\",\"datadir\":%s,"
			 "\"mounted\":%s,\"uptime_s\":%lld,\"pid\":%d,"
			 "\"mount_owner\":%u,\"streams_with_data\":%d,"
			 "\"inodes\":%lld}\n", PACKAGE_VERSION, dir, when,
			 seconds_since(&sys.started), (int)getpid(),
			 (unsigned)sys.uid, streams < 0 ? -1 : streams,
			 inodes);
	if (n < 0) {
		*buf = NULL;
		return -ENOMEM;
	}
	*len = (size_t)n;
	return 0;
}
