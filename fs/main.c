/* main.c - the streamfs daemon: parse the command line, open the store,
 * mount, serve, and unwind in reverse.
 *
 *   streamfs [-f] [-d] [-o OPTS] [DATADIR] MOUNTPOINT
 *
 * Without -f the daemon detaches only once the store is open and the mount
 * is live, so any failure (a store already mounted, a bad mount point)
 * reaches the terminal with a non-zero exit status.  Its log (log.c) is
 * DATADIR/streamfs.log from before the store opens, or syslog.  Caveat:
 * partial lines still held by files open at unmount time are lost, as
 * unflushed writes would be. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fs.h"
#include "metrics.h"
#include "kafka/kafka.h"
#include "replica/replica.h"
#include "tls.h"

struct fs fs = { .lock = PTHREAD_MUTEX_INITIALIZER };

extern const struct fuse_lowlevel_ops streamfs_ops;

#define DEFAULT_RESERVE (4ull << 20)

struct settings {
	char *pos[2];           /* positional arguments */
	int npos;
	int threads;
	char *reserve;
	char *segment_size;
	int syslog;
	int nometrics;
	char *metrics_top;
	struct tls_settings tls;
};

enum { KEY_KAFKA = 1, KEY_KAFKA_TLS, KEY_KAFKA_REMOTE_USER,
       KEY_REPLICA_LISTEN, KEY_REPLICA_RESCAN };

static const struct fuse_opt option_spec[] = {
	{ "threads", offsetof(struct settings, threads), 1 },
	{ "syslog", offsetof(struct settings, syslog), 1 },
	{ "reserve=%s", offsetof(struct settings, reserve), 0 },
	{ "segment_size=%s", offsetof(struct settings, segment_size), 0 },
	{ "nometrics", offsetof(struct settings, nometrics), 1 },
	{ "metrics_top=%s", offsetof(struct settings, metrics_top), 0 },
	FUSE_OPT_KEY("kafka=", KEY_KAFKA),
	FUSE_OPT_KEY("kafka_tls=", KEY_KAFKA_TLS),
	FUSE_OPT_KEY("kafka_remote_user=", KEY_KAFKA_REMOTE_USER),
	FUSE_OPT_KEY("replica_listen=", KEY_REPLICA_LISTEN),
	FUSE_OPT_KEY("replica_rescan=", KEY_REPLICA_RESCAN),
	{ "tls_cert=%s", offsetof(struct settings, tls.cert), 0 },
	{ "tls_key=%s", offsetof(struct settings, tls.key), 0 },
	{ "tls_ca=%s", offsetof(struct settings, tls.ca), 0 },
	{ "tls_usermap=%s", offsetof(struct settings, tls.usermap), 0 },
	FUSE_OPT_END
};

static int option_proc(void *data, const char *arg, int key,
		       struct fuse_args *outargs)
{
	struct settings *s = data;
	if (key == KEY_KAFKA)           /* repeatable: each is a listener */
		return kafka_add_listener(arg + strlen("kafka=")) < 0 ? -1 : 0;
	if (key == KEY_KAFKA_TLS)
		return kafka_add_tls_listener(arg + strlen("kafka_tls="))
		       < 0 ? -1 : 0;
	if (key == KEY_KAFKA_REMOTE_USER)
		return kafka_set_remote_user(arg +
					     strlen("kafka_remote_user="))
		       < 0 ? -1 : 0;
	if (key == KEY_REPLICA_LISTEN)
		return replica_add_listener(arg + strlen("replica_listen="))
		       < 0 ? -1 : 0;
	if (key == KEY_REPLICA_RESCAN)
		return replica_set_rescan(arg + strlen("replica_rescan="))
		       < 0 ? -1 : 0;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (s->npos == 2) {
		log_msg(SF_LOG_ERROR, "too many arguments: %s", arg);
		return -1;
	}
	s->pos[s->npos++] = strdup(arg);
	return 0;
}

/* The whole help, each option once: libfuse's own lists would repeat
 * allow_other and offer loop options (-s, clone_fd, max_threads) that
 * this daemon does not take from the command line. */
static void usage(const char *prog)
{
	printf("usage: %s [options] [DATADIR] MOUNTPOINT\n\n"
	       "Mount a streamfs store kept in DATADIR (default\n"
	       "$XDG_DATA_HOME/streamfs or ~/.local/share/streamfs; created, "
	       "with a line\nsaying so, if missing).\n\n"
	       "options:\n"
	       "    -h   --help            print this help\n"
	       "    -V   --version         print the versions of streamfs "
	       "and libfuse\n"
	       "    -f                     stay in the foreground, log to "
	       "stderr\n"
	       "    -o syslog              log to syslog (facility daemon), "
	       "not to\n"
	       "                           DATADIR/streamfs.log or stderr\n"
	       "    -d   -o debug          print every FUSE request "
	       "(implies -f)\n"
	       "    -o threads             serve requests from several "
	       "threads (default: one)\n"
	       "    -o reserve=BYTES       free space kept back in DATADIR "
	       "(default 4194304)\n"
	       "    -o segment_size=BYTES  start a new segment beyond this "
	       "(default 67108864,\n"
	       "                           1048576 to 1073741824)\n"
	       "    -o metrics_top=N       streams, consumer lags and "
	       "replication links shown\n"
	       "                           in the metrics (default 20, 1 to "
	       "1000)\n"
	       "    -o kafka=ADDR:PORT     answer Kafka clients on this "
	       "address (repeatable;\n"
	       "                           [IPV6]:PORT for IPv6)\n"
	       "    -o kafka_tls=ADDR:PORT the same with TLS; clients need a "
	       "certificate of\n"
	       "                           tls_ca, whose CN (or tls_usermap) "
	       "names their user\n"
	       "    -o kafka_remote_user=USER\n"
	       "                           clients of kafka= on other hosts "
	       "act as USER\n"
	       "                           (default: refused)\n"
	       "    -o replica_listen=ADDR:PORT\n"
	       "                           take replication pushes from "
	       "other mounts here\n"
	       "                           (repeatable; TLS with the tls_ "
	       "options below)\n"
	       "    -o replica_rescan=SECONDS\n"
	       "                           links look at all topics and "
	       "cursors this often,\n"
	       "                           should a change not have woken "
	       "them (default 30;\n"
	       "                           0: never)\n"
	       "    -o tls_cert=FILE       the daemon's TLS certificate "
	       "(PEM, with its chain)\n"
	       "    -o tls_key=FILE        its private key (PEM, "
	       "unencrypted)\n"
	       "    -o tls_ca=FILE         the CA certificates that sign "
	       "clients' certificates\n"
	       "    -o tls_usermap=FILE    lines \"SUBJECT-OR-CN USER\": the "
	       "local user of a\n"
	       "                           client certificate (default: "
	       "its CN's user)\n"
	       "    -o nometrics           count nothing for the metrics, "
	       "append no lines to\n"
	       "                           /.streamfs/metrics\n"
	       "    -o allow_other         let other users use the mount\n"
	       "    -o allow_root          let root use the mount too\n"
	       "    -o auto_unmount        unmount when the daemon dies "
	       "(default: the dead mount\n"
	       "                           stays, and the next streamfs "
	       "on it clears it)\n"
	       "    -o OPTION              other FUSE mount options, see "
	       "mount.fuse3(8)\n", prog);
}

static char *default_datadir(void)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char buf[PATH_MAX];
	if (xdg && *xdg)
		snprintf(buf, sizeof(buf), "%s/streamfs", xdg);
	else
		snprintf(buf, sizeof(buf), "%s/.local/share/streamfs",
			 home && *home ? home : "/tmp");
	return strdup(buf);
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

/* ---- detaching ---- */

/* Fork; the parent waits for the child's word and exits with it: 0 once
 * the mount serves, 1 after the child said why it failed (its errors
 * reach the terminal, log.c).  A child that dies without a word is said
 * so here. */
static int detach_start(const char *datadir, bool use_syslog)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		char c = 1;
		close(p[1]);
		ssize_t n = read(p[0], &c, 1);
		if (n != 1)
			fprintf(stderr, "streamfs: error: the daemon ended "
				"before the mount was ready (see %s%s)\n",
				use_syslog ? "syslog" : datadir,
				use_syslog ? "" : "/streamfs.log");
		_exit(n == 1 && c == 0 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	return p[1];
}

/* Tell the parent (0: serving, 1: failed) and stop writing to it. */
static void detach_word(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		log_msg(SF_LOG_WARNING, "the starting process is gone");
	close(fd);
}

static void detach_finish(int fd)
{
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		close(null);
	}
	log_serving(true);
	if (chdir("/") < 0)
		log_msg(SF_LOG_WARNING, "chdir /: %s", strerror(errno));
	detach_word(fd, 0);
}

/* The -o options as given, comma-separated, for the start line. */
static void given_options(int argc, char **argv, char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = 0;
	for (int i = 1; i < argc; i++) {
		const char *o = strcmp(argv[i], "-o") == 0 && i + 1 < argc
				? argv[++i]
				: strncmp(argv[i], "-o", 2) == 0 ? argv[i] + 2
								 : NULL;
		if (!o || !*o)
			continue;
		int w = snprintf(buf + n, cap - n, "%s%s", n ? "," : "", o);
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
}

/* ---- main ---- */

static int resolve_paths(struct settings *s, char **datadir, char **mnt)
{
	char buf[PATH_MAX];
	char *d = s->npos == 2 ? s->pos[0] : default_datadir();
	struct stat sb;
	*mnt = s->pos[s->npos - 1];
	if (check_mountpoint(*mnt) < 0) {
		if (d != s->pos[0])
			free(d);
		return -1;
	}
	int r = 0;
	if (stat(d, &sb) < 0 && errno == ENOENT) {
		/* Said aloud, so that a mistyped folder is not taken for a
		 * store that lost its data. */
		r = mkdir_p(d);
		if (r == 0)
			log_msg(SF_LOG_INFO, "created the data folder %s (it "
				"did not exist)", d);
	}
	if (r < 0 || !realpath(d, buf)) {
		log_msg(SF_LOG_ERROR, "cannot use data folder %s: %s", d,
			strerror(r < 0 ? -r : errno));
		return -1;
	}
	if (d != s->pos[0])
		free(d);
	*datadir = strdup(buf);
	char m[PATH_MAX];
	if (realpath(*mnt, m)) {
		size_t n = strlen(m);
		if (strncmp(*datadir, m, n) == 0 &&
		    ((*datadir)[n] == '/' || (*datadir)[n] == 0)) {
			log_msg(SF_LOG_ERROR, "the data folder %s lies inside "
				"the mount point %s", *datadir, m);
			return -1;
		}
	}
	return 0;
}

/* The numbers of the settings: 0, or -1 after an error line. */
static int check_settings(const struct settings *s, uint64_t *segment_size,
			  uint64_t *top)
{
	fs.reserve = DEFAULT_RESERVE;
	if (s->reserve && parse_size(s->reserve, &fs.reserve) < 0) {
		log_msg(SF_LOG_ERROR, "invalid reserve=%s", s->reserve);
		return -1;
	}
	*segment_size = 64ull << 20;
	if (s->segment_size &&
	    (parse_size(s->segment_size, segment_size) < 0 ||
	     *segment_size < (1ull << 20) || *segment_size > (1ull << 30))) {
		log_msg(SF_LOG_ERROR, "invalid segment_size=%s (bytes, "
			"1048576 to 1073741824)", s->segment_size);
		return -1;
	}
	*top = METRICS_TOP_DEFAULT;
	if (s->metrics_top &&
	    (parse_size(s->metrics_top, top) < 0 || *top < 1 ||
	     *top > METRICS_TOP_MAX)) {
		log_msg(SF_LOG_ERROR, "invalid metrics_top=%s (1 to %d)",
			s->metrics_top, METRICS_TOP_MAX);
		return -1;
	}
	if (kafka_remote_user_set() && !kafka_plain_configured()) {
		log_msg(SF_LOG_ERROR, "kafka_remote_user needs a "
			"kafka=ADDR:PORT listener (TLS clients act as the "
			"users their certificates name)");
		return -1;
	}
	fs.multithread = s->threads;
	return 0;
}

/* The TLS context, when any front end needs it: 0, or -1 after an
 * error line. */
static int check_tls(const struct settings *s)
{
	if (tls_init(&s->tls) < 0)
		return -1;
	if (kafka_tls_configured() && !tls_server_ctx()) {
		log_msg(SF_LOG_ERROR, "kafka_tls needs tls_cert=FILE, "
			"tls_key=FILE and tls_ca=FILE");
		return -1;
	}
	if (replica_configured() && !tls_server_ctx()) {
		log_msg(SF_LOG_ERROR, "replica_listen needs tls_cert=FILE, "
			"tls_key=FILE and tls_ca=FILE");
		return -1;
	}
	return 0;
}

/* Open the store; its log lines and events go to log.c and events.c
 * (those of recovery are queued until the events thread starts). */
static int open_store(const char *datadir, uint64_t segment_size)
{
	char err[512] = "";
	struct store_hooks hooks = {
		.log = log_store_hook, .event = events_store_hook, .arg = NULL,
	};
	store_set_hooks(&hooks);
	int r = store_open(datadir, fs.reserve, &fs.store, err, sizeof(err));
	if (r < 0) {
		log_msg(SF_LOG_ERROR, "%s", err);
		return r;
	}
	store_set_segment_size(fs.store, segment_size);
	return 0;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts co = { 0 };
	struct settings s = { 0 };
	char *datadir = NULL, *mnt = NULL, options[1024];
	int ret = 1, status_fd = -1;
	uint64_t segment_size, top;

	log_init();
	given_options(argc, argv, options, sizeof(options));
	if (fuse_opt_parse(&args, &s, option_spec, option_proc) < 0)
		goto out;
	if (s.npos > 0)
		fuse_opt_add_arg(&args, s.pos[s.npos - 1]);
	if (fuse_parse_cmdline(&args, &co) != 0)
		goto out;
	if (co.show_help || co.show_version) {
		if (co.show_help) {
			usage(argv[0]);
		} else {
			printf("streamfs %s\n", PACKAGE_VERSION);
			fuse_lowlevel_version();
		}
		ret = 0;
		goto out;
	}
	log_configure(co.foreground, s.syslog);
	if (s.npos == 0) {
		log_msg(SF_LOG_ERROR, "no mount point given (see --help)");
		goto out;
	}
	if (check_settings(&s, &segment_size, &top) < 0 ||
	    resolve_paths(&s, &datadir, &mnt) < 0 || log_open(datadir) < 0 ||
	    check_tls(&s) < 0)
		goto out;

	char fsname[PATH_MAX + 64];
	snprintf(fsname, sizeof(fsname), "-osubtype=streamfs,fsname=%s",
		 datadir);
	fuse_opt_add_arg(&args, fsname);

	if (!co.foreground &&
	    (status_fd = detach_start(datadir, s.syslog)) < 0) {
		log_msg(SF_LOG_ERROR, "cannot detach: %s", strerror(errno));
		goto out;
	}
	if (open_store(datadir, segment_size) < 0)
		goto out;
	fs.datadir = datadir;
	if (node_table_init() < 0)
		goto out_store;
	int r = sysstream_init();
	if (r < 0) {
		log_msg(SF_LOG_ERROR, "cannot set up /.streamfs, the system "
			"stream: %s", strerror(-r));
		goto out_nodes;
	}
	if (events_start() < 0)
		goto out_nodes;
	r = metrics_init(!s.nometrics, (unsigned)top);
	if (r < 0) {
		log_msg(SF_LOG_ERROR, "metrics: %s", strerror(-r));
		goto out_nodes;
	}
	fs.se = fuse_session_new(&args, &streamfs_ops, sizeof(streamfs_ops),
				 NULL);
	if (!fs.se)
		goto out_nodes;
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	if (fuse_session_mount(fs.se, co.mountpoint) != 0) {
		log_msg(SF_LOG_ERROR, "cannot mount %s", co.mountpoint);
		goto out_signals;
	}
	if (notify_start(fs.se) < 0)
		goto out_unmount;
	if (group_commit_start() < 0)
		goto out_notify;
	if (retention_start() < 0)
		goto out_commit;
	if (metrics_start() < 0)
		goto out_retention;
	if (kafka_start() < 0)
		goto out_metrics;
	if (replica_start() < 0)
		goto out_kafka;
	struct store_recovery rec;
	store_recovery_summary(fs.store, &rec);
	log_start_line(datadir, co.mountpoint, options, &rec);
	if (status_fd >= 0) {
		detach_finish(status_fd);
		status_fd = -1;
	} else {
		log_serving(false);
	}
	if (fs.multithread) {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(cfg, 0);
		fuse_loop_cfg_set_max_threads(cfg, 8);
		ret = fuse_session_loop_mt(fs.se, cfg);
		fuse_loop_cfg_destroy(cfg);
	} else {
		ret = fuse_session_loop(fs.se);
	}
	ret = ret != 0;
	replica_stop();
out_kafka:
	kafka_stop();
out_metrics:
	metrics_stop();
out_retention:
	retention_stop();
out_commit:
	group_commit_stop();
out_notify:
	notify_stop();
out_unmount:
	fuse_session_unmount(fs.se);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out_nodes:
	metrics_stop();
	events_stop();          /* what is queued is written first */
	pthread_mutex_lock(&fs.lock);
	node_table_free();
	pthread_mutex_unlock(&fs.lock);
out_store:
	store_close(fs.store);
out:
	if (status_fd >= 0)
		detach_word(status_fd, 1);      /* failed, and said why */
	free(co.mountpoint);
	free(datadir);
	free(s.pos[0]);
	free(s.pos[1]);
	free(s.reserve);
	free(s.segment_size);
	free(s.metrics_top);
	tls_fini();
	free((char *)s.tls.cert);
	free((char *)s.tls.key);
	free((char *)s.tls.ca);
	free((char *)s.tls.usermap);
	fuse_opt_free_args(&args);
	return ret;
}
