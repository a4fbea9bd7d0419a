/* open.c - opening a data folder (its folders, LevelDB, the root, the
 * inode counter, recovery) and closing it again: the top of the store,
 * calling every layer below. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static int open_subdir(const char *datadir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", datadir, name);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Is datadir a streamfs data folder (or the start of one)?  0 if it is
 * missing, holds nothing but the names a store makes (an empty folder
 * included; a first mount cut short leaves such a folder) and lost+found,
 * or holds db/CURRENT and segments/; else -ENOTEMPTY with the reason. */
static int check_folder(const char *datadir, char *err, size_t errlen)
{
	static const char *const own[] = {
		".", "..", "db", "segments", "blobs", "ballast",
		"streamfs.log", "lost+found", NULL,
	};
	char path[4096], first[256] = "";
	struct stat sb, ss;
	DIR *d = opendir(datadir);
	if (!d && errno == ENOENT)
		return 0;
	if (!d) {
		int e = errno;
		snprintf(err, errlen, "cannot read the data folder %s: %s",
			 datadir, strerror(e));
		return -e;
	}
	struct dirent *de;
	while ((de = readdir(d)) && !first[0]) {
		int i = 0;
		while (own[i] && strcmp(own[i], de->d_name) != 0)
			i++;
		if (!own[i])
			snprintf(first, sizeof(first), "%s", de->d_name);
	}
	closedir(d);
	if (!first[0])
		return 0;
	snprintf(path, sizeof(path), "%s/db/CURRENT", datadir);
	int have_db = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
	snprintf(path, sizeof(path), "%s/segments", datadir);
	if (have_db && stat(path, &ss) == 0 && S_ISDIR(ss.st_mode))
		return 0;
	snprintf(err, errlen, "%s is not a streamfs data folder: it holds "
		 "'%s' but no db/CURRENT and segments/ (give an empty or new "
		 "folder)", datadir, first);
	return -ENOTEMPTY;
}

static int make_root(struct store *st)
{
	struct sf_inode in;
	if (store_get_inode(st, 1, &in) == 0)
		return 0;
	memset(&in, 0, sizeof(in));
	in.ino = 1;
	in.mode = S_IFDIR | 0755;
	in.uid = getuid();
	in.gid = getgid();
	in.nlink = 2;
	clock_gettime(CLOCK_REALTIME, &in.mtime);
	in.atime = in.ctime = in.mtime;
	struct store_batch *b = store_batch_new();
	store_put_inode(b, &in);
	int r = store_commit(st, b, true);
	store_batch_free(b);
	return r;
}

int store_open(const char *datadir, uint64_t reserve, struct store **out,
	       char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->datadir = strdup(datadir);
	st->reserve = reserve;
	st->seg_max = SEG_MAX;
	st->segdirfd = st->blobdirfd = -1;
	int r = -ENOMEM;
	if (!st->datadir)
		goto fail;
	if ((r = check_folder(datadir, err, errlen)) < 0)
		goto fail;
	if (mkdir(datadir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", datadir,
			 strerror(errno));
		goto fail;
	}
	db_options_init(st);
	space_init(st);
	r = db_open(st, err, errlen);
	if (r < 0)
		goto fail;
	st->segdirfd = open_subdir(datadir, "segments");
	st->blobdirfd = open_subdir(datadir, "blobs");
	if (st->segdirfd < 0 || st->blobdirfd < 0) {
		r = st->segdirfd < 0 ? st->segdirfd : st->blobdirfd;
		snprintf(err, errlen, "cannot open folders in %s: %s",
			 datadir, strerror(-r));
		goto fail;
	}
	r = ino_load(st);
	if (r == 0)
		r = make_root(st);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the store in %s", datadir);
		goto fail;
	}
	r = store_recover(st, err, errlen);
	if (r < 0)
		goto fail;
	r = retention_init(st);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the segments of %s: %s",
			 datadir, strerror(-r));
		goto fail;
	}
	r = replica_id_load(st);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the replica id in %s: %s",
			 datadir, strerror(-r));
		goto fail;
	}
	r = ino_count(st);
	if (r < 0) {
		snprintf(err, errlen, "cannot count the inodes in %s: %s",
			 datadir, strerror(-r));
		goto fail;
	}
	*out = st;
	return 0;
fail:
	store_close(st);
	return r;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->db && st->db_bad)
		heal(st);       /* unpaced: the last chance to write st->undo */
	if (st->undo)
		report_log(SF_LOG_ERROR, "LevelDB could not be healed; a "
			   "write it refused may reappear at the next mount");
	if (st->db && store_sync(st) < 0)
		report_log(SF_LOG_ERROR, "the last sync failed; the next "
			   "mount's recovery indexes what the index lacks");
	seg_close_all(st);
	retention_free(st);
	index_batch_free(st);
	db_free(st);
	heal_free(st);
	if (st->segdirfd >= 0)
		close(st->segdirfd);
	if (st->blobdirfd >= 0)
		close(st->blobdirfd);
	free(st->wtab);
	free(st->rtab);
	free(st->icache);
	free(st->datadir);
	free(st);
}

void store_set_segment_size(struct store *st, uint64_t bytes)
{
	st->seg_max = bytes;
}

void store_get_stats(struct store *st, struct store_stats *out)
{
	*out = st->stats;
	out->db_reopens = st->gen;
}
