/* tmem-fuse-cache: command line, pool set-up and the FUSE session.
 *
 *   tmem-fuse-cache [-o opts] SOURCE MOUNTPOINT
 *   mount -t fuse.tmem-fuse-cache SOURCE MOUNTPOINT -o opts
 *
 * Settings come from tmem.conf ([pool] and [cache]) and then from -o keys
 * of the same names.  Everything that can fail is done in the process that
 * will serve, before it tells the parent it is ready, so that a bad pool,
 * source or option is reported on the terminal with a non-zero exit.  The
 * serving process locks its memory on fault and marks itself an I/O
 * flusher: it may run while the pool is serving swap, and must never wait
 * on swap itself while holding a pool lock.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "fc-internal.h"
#include "tmem-config.h"
#include "tmem-opt.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

#define FC_PROG "tmem-fuse-cache"

struct fc_state fc;
static bool fc_pool_opened;

struct fc_cli {
	struct tmem_config *cfg;
	char *config;
	int no_pool;
	int help;
	int nargs;
	bool bad_arg;
};

enum {
	FC_KEY_HELP = 1,
};

static const struct fuse_opt fc_opt_spec[] = {
	{"config=%s", offsetof(struct fc_cli, config), 0},
	{"no-pool", offsetof(struct fc_cli, no_pool), 1},
	FUSE_OPT_KEY("help", FC_KEY_HELP),
	FUSE_OPT_END,
};

static void fc_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, FC_PROG ": ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int fc_opt_proc(void *data, const char *arg, int key,
		       struct fuse_args *outargs)
{
	struct fc_cli *cli = data;

	if (key == FC_KEY_HELP) {
		cli->help = 1;
		return 0;
	}
	if (key == FUSE_OPT_KEY_OPT) {
		const char *eq = strchr(arg, '=');
		char err[512], keyname[128];
		if (!eq || !tmem_opt_known(TMEM_OPT_CACHE, arg, eq - arg))
			return 1; /* a FUSE option, or unknown: libfuse says */
		snprintf(keyname, sizeof(keyname), "%.*s", (int)(eq - arg),
			 arg);
		if (tmem_opt_set(cli->cfg, TMEM_OPT_CACHE, keyname, eq + 1, err,
				 sizeof(err)) < 0) {
			fc_err("%s", err);
			cli->bad_arg = true;
		}
		return 0;
	}
	if (key == FUSE_OPT_KEY_NONOPT) {
		/* SOURCE is ours; MOUNTPOINT is left for fuse_parse_cmdline */
		cli->nargs++;
		if (cli->nargs == 1) {
			fc.set.source = strdup(arg);
			return 0;
		}
		if (cli->nargs == 2)
			return 1;
		fc_err("unexpected argument '%s' (usage: " FC_PROG
		       " [options] SOURCE MOUNTPOINT)",
		       arg);
		cli->bad_arg = true;
		return 0;
	}
	return 1;
}

static void fc_usage(void)
{
	printf("usage: " FC_PROG " [options] SOURCE MOUNTPOINT\n"
	       "\n"
	       "A read cache over the directory SOURCE, mounted on "
	       "MOUNTPOINT,\n"
	       "keeping file pages in the shared tmem pool.\n"
	       "\n"
	       "Cache options (also [cache] keys in tmem.conf):\n"
	       "    -o chunk-size=SIZE     source read size on a miss "
	       "(default 128K)\n"
	       "    -o max-share=SIZE      most of the pool the cache may "
	       "use (default: no cap)\n"
	       "    -o attr-timeout=SECS   attribute cache time (default "
	       "1)\n"
	       "    -o entry-timeout=SECS  name cache time (default 1)\n"
	       "    -o cache-name=NAME     sub-pool name (default: from the "
	       "mountpoint)\n"
	       "    -o cache-dedup=BOOL    share identical pages across "
	       "files (default no)\n"
	       "    -o timestamp-granularity=SECS\n"
	       "                           files changed this recently are "
	       "not cached (default 2)\n"
	       "    -o admit=repeat|all    under pressure, put a chunk at its "
	       "second miss\n"
	       "                           (repeat, default) or at every miss "
	       "(all)\n"
	       "    -o kept-inodes=N       files the kernel forgot kept for "
	       "their pooled pages\n"
	       "                           (default 0: one per 4K of the "
	       "share, at least 1024)\n"
	       "    -o acl=BOOL            the kernel checks the source's "
	       "ACLs (default yes)\n"
	       "    -o cto=BOOL            every open asks a FUSE or network "
	       "source for the file's\n"
	       "                           attributes, as NFS's close-to-open "
	       "(default yes)\n"
	       "    -o no-pool             plain passthrough, no pool\n"
	       "Pool options (also [pool] keys in tmem.conf):\n"
	       "    -o config=FILE         settings file (default "
	       "/etc/tmem.conf)\n"
	       "    -o pool=NAME           segment name (default tmem)\n"
	       "    -o pool-size=SIZE      segment ceiling when this process "
	       "creates it\n"
	       "    -o level=N -o dedup=BOOL -o dictionary=BOOL -o lock=BOOL\n"
	       "    -o prefault=BOOL\n"
	       "    -o contexts=N -o max-share.NAME=SIZE -o "
	       "min-share.NAME=SIZE\n"
	       "\n");
}

/* Settings from tmem.conf under the -o keys already set; 0 or -1 with a
 * message. */
static int fc_configure(struct fc_cli *cli, struct tmem_config *cfg)
{
	char err[512];
	const char *path = cli->config ? cli->config : TMEM_DEFAULT_CONFIG;
	int r;

	r = tmem_config_load(cfg, path, err, sizeof(err));
	if (r == -ENOENT && !cli->config)
		r = 0;
	if (r < 0) {
		fc_err("config '%s': %s", path,
		       r == -ENOENT ? strerror(ENOENT) : err);
		return -1;
	}
	if (tmem_config_validate(cfg, err, sizeof(err)) < 0) {
		fc_err("%s", err);
		return -1;
	}
	fc.set.granularity = cfg->cache_granularity;
	fc.set.admit_all = cfg->cache_admit == TMEM_ADMIT_ALL;
	fc.set.kept_max = cfg->cache_kept_inodes;
	fc.set.acl = cfg->cache_acl;
	fc.set.cto = cfg->cache_cto;
	fc.set.chunk_size = cfg->cache_chunk_size;
	fc.set.max_share = cfg->cache_max_share;
	fc.set.dedup = cfg->cache_dedup;
	fc.set.attr_timeout = cfg->cache_attr_timeout;
	fc.set.entry_timeout = cfg->cache_entry_timeout;
	fc.set.no_cache = cli->no_pool;
	snprintf(fc.set.pool_name, sizeof(fc.set.pool_name), "%s",
		 cfg->pool_name);
	snprintf(fc.set.cache_name, sizeof(fc.set.cache_name), "%s",
		 cfg->cache_name);
	return 0;
}

/* A sub-pool name from the mountpoint: "fc" + the path with '/' as '-',
 * other unusual characters as '_', shortened with a hash if too long. */
static void fc_default_name(const char *mnt, char *out, size_t outlen)
{
	char buf[PATH_MAX + 3];
	size_t n = 0;
	uint64_t h = 1469598103934665603ULL;

	buf[n++] = 'f';
	buf[n++] = 'c';
	for (const char *p = mnt; *p && n < sizeof(buf) - 1; p++) {
		char c = *p;
		h = (h ^ (unsigned char)c) * 1099511628211ULL;
		if (c == '/')
			c = '-';
		else if (!(c == '.' || c == '_' || c == '-' ||
			   (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			   (c >= 'A' && c <= 'Z')))
			c = '_';
		buf[n++] = c;
	}
	buf[n] = '\0';
	if (n < outlen) {
		snprintf(out, outlen, "%s", buf);
		return;
	}
	/* keep the tail: it is what tells mounts apart */
	snprintf(out, outlen, "fc%016llx-%.40s", (unsigned long long)h,
		 buf + n - 40);
}

/* Object ids start at a random epoch in the high half: the sub-pool is
 * emptied at mount, and even a page a flush missed could never be found
 * by a later run's ids. */
static void fc_object_ids_init(void)
{
	uint32_t epoch = 0;
	if (getrandom(&epoch, sizeof(epoch), 0) != sizeof(epoch))
		epoch = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	atomic_init(&fc.next_obj, ((uint64_t)epoch << 32) | 1);
}

static void fc_log(void *opaque, enum tmem_log_level level, const char *msg)
{
	if (level <= TMEM_LOG_WARNING)
		fc_err("pool: %s", msg);
}

/* Open the segment and (re)create this mount's sub-pool.  Object ids
 * restart with the process, so pages another run left under this name
 * must go: the sub-pool is destroyed first — unless a live process holds
 * it (another mount with this cache-name), which refuses the mount.
 * 0 or -1 with a message. */
static int fc_pool_setup(struct tmem_config *cfg)
{
	struct tmem_options opts;
	int r;

	tmem_options_init(&opts);
	tmem_config_to_options(cfg, &opts);
	/* The daemon locks its memory whatever the setting says (see the
	 * top of this file): say so rather than ignore it silently. */
	if (!opts.lock)
		fc_err("warning: lock=no ignored: the cache daemon always "
		       "locks its memory, since it may run while the pool "
		       "serves swap");
	opts.lock = true;
	opts.grower = true;
	opts.log = fc_log;
	opts.log_level = TMEM_LOG_WARNING; /* what fc_log keeps */
	r = tmem_open(&opts, &fc.tmem);
	if (r < 0) {
		fc_err("pool '%s': %s", opts.name, tmem_strerror(r));
		fc.tmem = NULL;
		return -1;
	}
	r = tmem_start(fc.tmem);
	if (r < 0) {
		fc_err("pool '%s': starting: %s", opts.name, tmem_strerror(r));
		return -1;
	}
	if (!fc.set.cache_name[0])
		fc_default_name(fc.set.mountpoint, fc.set.cache_name,
				sizeof(fc.set.cache_name));
	/* A [pool] max-share.NAME for this sub-pool wins over [cache]
	 * (a min-share.NAME alone leaves it). */
	uint64_t min_share = 0, max_share = fc.set.max_share;
	(void)tmem_config_share(cfg, fc.set.cache_name, &min_share, &max_share);
	fc.set.max_share = max_share;
	/* A sub-pool of this name that a live process holds is another
	 * mount's cache: refused, never destroyed. */
	uint32_t old;
	int holder = 0;
	if (tmem_pool_find(fc.tmem, fc.set.cache_name, &old) == 0) {
		r = tmem_pool_destroy(fc.tmem, old);
		if (r == -EBUSY) {
			tmem_pool_holders(fc.tmem, old, &holder, 1);
			goto in_use;
		}
	}
	r = tmem_pool_open(fc.tmem, fc.set.cache_name, TMEM_EPHEMERAL, 0,
			   fc.set.max_share, &fc.pool_id);
	if (r < 0) {
		fc_err("pool '%s': sub-pool '%s': %s", opts.name,
		       fc.set.cache_name, tmem_strerror(r));
		return -1;
	}
	/* Another mount that opened it between our look and our open. */
	if (tmem_pool_holders(fc.tmem, fc.pool_id, &holder, 1) > 0)
		goto in_use;
	fc_pool_opened = true;
	/* Files of different owners must not share pages unless asked:
	 * see tmem_dedup_scope. */
	r = tmem_pool_set_dedup(fc.tmem, fc.pool_id,
				fc.set.dedup ? TMEM_DEDUP_SUBPOOL
					     : TMEM_DEDUP_NONE);
	if (r < 0) {
		fc_err("pool '%s': sub-pool '%s': %s", opts.name,
		       fc.set.cache_name, tmem_strerror(r));
		return -1;
	}
	if (!fc.set.kept_max) {
		struct tmem_segment_info si;
		uint64_t bytes = fc.set.max_share;

		if (tmem_segment_info(fc.tmem, &si) == 0 &&
		    (!bytes || bytes > si.pool_size))
			bytes = si.pool_size;
		fc.set.kept_max = bytes / FC_KEPT_BYTES;
		if (fc.set.kept_max < FC_KEPT_MIN)
			fc.set.kept_max = FC_KEPT_MIN;
	}
	r = fc_admission_init();
	if (r < 0) {
		fc_err("pool '%s': admission table: %s", opts.name,
		       strerror(-r));
		return -1;
	}
	return 0;

in_use:
	fc_err("cache-name=%s: the sub-pool of that name in pool '%s' is in "
	       "use by pid %d (another mount of a cache?): give another "
	       "cache-name",
	       fc.set.cache_name, opts.name, holder);
	return -1;
}

/* Lock memory on fault and never wait on swap-out: see the file comment.
 * Failures are warnings (an unprivileged user may lack the rights). */
static void fc_swap_safety(void)
{
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		fc_err("warning: mlockall: %s (the daemon may be swapped out)",
		       strerror(errno));
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		fc_err("warning: PR_SET_IO_FLUSHER: %s", strerror(errno));
}

static int fc_check_paths(void)
{
	struct statfs sfs;
	struct stat st;
	char *real = realpath(fc.set.source, NULL);

	if (!real) {
		fc_err("source '%s': %s", fc.set.source, strerror(errno));
		return -1;
	}
	free(fc.set.source);
	fc.set.source = real;
	if (stat(real, &st) < 0) {
		fc_err("source '%s': %s", real, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fc_err("source '%s': %s", real, strerror(ENOTDIR));
		return -1;
	}
	if (access(real, R_OK | X_OK) < 0) {
		fc_err("source '%s': %s", real, strerror(errno));
		return -1;
	}
	/* A FUSE mount whose daemon died answers ENOTCONN, but a stat may
	 * still be served from the attributes the kernel cached: statfs
	 * always asks.  Mounting over it would stack on the dead one. */
	if (stat(fc.set.mountpoint, &st) < 0 ||
	    statfs(fc.set.mountpoint, &sfs) < 0) {
		if (errno == ENOTCONN)
			fc_err("mountpoint '%s': a FUSE mount whose daemon is "
			       "gone is still there (%s); unmount it first: "
			       "fusermount3 -u '%s'",
			       fc.set.mountpoint, strerror(errno),
			       fc.set.mountpoint);
		else
			fc_err("mountpoint '%s': %s", fc.set.mountpoint,
			       strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fc_err("mountpoint '%s': %s", fc.set.mountpoint,
		       strerror(ENOTDIR));
		return -1;
	}
	real = realpath(fc.set.mountpoint, NULL);
	if (real) {
		free(fc.set.mountpoint);
		fc.set.mountpoint = real;
	}
	return 0;
}

static int fc_root_open(void)
{
	struct stat st;

	fc.root.fd = open(fc.set.source, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fc.root.fd < 0 || fstat(fc.root.fd, &st) < 0) {
		fc_err("source '%s': %s", fc.set.source, strerror(errno));
		return -1;
	}
	fc.root.dev = st.st_dev;
	fc.root.ino = st.st_ino;
	fc.root.type = S_IFDIR;
	fc.root.nlookup = 2;
	pthread_rwlock_init(&fc.root.cache_lock, NULL);
	return 0;
}

/* One fd per inode the kernel knows: raise the soft limit to the hard. */
static void fc_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Fork unless foreground: the parent waits for the child's verdict on a
 * pipe and exits with it, so set-up errors reach the caller.  Returns the
 * write end in the child (or -1 in the foreground). */
static int fc_daemonize(bool foreground)
{
	int p[2];
	char status = 1;

	if (foreground)
		return -1;
	if (pipe2(p, O_CLOEXEC) < 0) {
		fc_err("pipe: %s", strerror(errno));
		exit(1);
	}
	pid_t pid = fork();
	if (pid < 0) {
		fc_err("fork: %s", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(p[0]);
	setsid();
	return p[1];
}

static void fc_ready(int fd, char status)
{
	if (fd < 0)
		return;
	if (status == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		if (chdir("/") < 0) {
			/* nothing depends on the cwd */
		}
	}
	if (write(fd, &status, 1) != 1) {
		/* the parent is gone; nothing to tell */
	}
	close(fd);
}

static void fc_print_stats(void)
{
	fprintf(stderr,
		FC_PROG
		": source reads %llu (%llu bytes), pool page hits %llu, "
		"puts refused %llu, puts deferred %llu, stale opens %llu, "
		"recent opens %llu, stale names %llu, kept inodes %llu "
		"(most %llu, bound %llu, dropped %llu)\n",
		(unsigned long long)fc.stats.source_reads,
		(unsigned long long)fc.stats.source_bytes,
		(unsigned long long)fc.stats.pool_hits,
		(unsigned long long)fc.stats.puts_refused,
		(unsigned long long)fc.stats.puts_deferred,
		(unsigned long long)fc.stats.stale_opens,
		(unsigned long long)fc.stats.recent_opens,
		(unsigned long long)fc.stats.stale_names,
		(unsigned long long)fc.kept_count,
		(unsigned long long)fc.stats.kept_peak,
		(unsigned long long)fc.set.kept_max,
		(unsigned long long)fc.stats.kept_dropped);
}

static char *fc_escape_opt(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(2 * n + 1), *o = out;
	if (!out)
		return NULL;
	for (; *s; s++) {
		if (*s == ',' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* Whether the name-drop thread is gone, so that the session may be freed. */
static bool inval_joined = true;

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts = {0};
	struct tmem_config cfg;
	struct fc_cli cli = {.cfg = &cfg};
	int ready_fd = -1, ret = 1;

	umask(0); /* the kernel already applied the caller's umask */
	fc.root.fd = -1;
	fc.root.pin_fd = -1;
	fc_object_ids_init();
	tmem_config_init(&cfg);

	if (fuse_opt_parse(&args, &cli, fc_opt_spec, fc_opt_proc) < 0 ||
	    cli.bad_arg)
		goto err_ready;
	if (fuse_parse_cmdline(&args, &opts) != 0)
		goto err_ready;
	if (opts.show_help || cli.help) {
		fc_usage();
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto err_ready;
	}
	if (opts.show_version) {
		printf(FC_PROG " %s, libfuse %s\n", tmem_version(),
		       fuse_pkgversion());
		ret = 0;
		goto err_ready;
	}
	if (!fc.set.source || !opts.mountpoint) {
		fc_err("missing %s (usage: " FC_PROG
		       " [options] SOURCE MOUNTPOINT; -o help lists options)",
		       fc.set.source ? "MOUNTPOINT" : "SOURCE and MOUNTPOINT");
		goto err_ready;
	}
	fc.set.mountpoint = strdup(opts.mountpoint);
	if (fc_check_paths() < 0 || fc_configure(&cli, &cfg) < 0)
		goto err_ready;

	/* The source decides who may do what; a root daemon serves every
	 * user and acts as each of them. */
	fuse_opt_add_arg(&args, "-odefault_permissions");
	if (geteuid() == 0) {
		fuse_opt_add_arg(&args, "-oallow_other");
		fc.set.as_caller = true;
	}
	char *esc = fc_escape_opt(fc.set.source);
	char *fsname = esc ? malloc(strlen(esc) + 16) : NULL;
	if (fsname) {
		sprintf(fsname, "-ofsname=%s", esc);
		fuse_opt_add_arg(&args, fsname);
	}
	free(esc);
	free(fsname);
	if (!opts.nodefault_subtype)
		fuse_opt_add_arg(&args, "-osubtype=" FC_PROG);

	ready_fd = fc_daemonize(opts.foreground);
	fc_swap_safety();
	fc_raise_nofile();
	if (fc_creds_init() < 0 || fc_table_init() < 0 || fc_root_open() < 0)
		goto err_ready;

	fc.se = fuse_session_new(&args, &fc_ops, sizeof(fc_ops), NULL);
	if (!fc.se)
		goto err_ready; /* libfuse said what was wrong */
	if (!fc.set.no_cache && fc_pool_setup(&cfg) < 0)
		goto err_pool;
	if (fuse_set_signal_handlers(fc.se) != 0)
		goto err_pool;
	if (fuse_session_mount(fc.se, fc.set.mountpoint) != 0)
		goto err_signals;

	fc_ready(ready_fd, 0);
	ready_fd = -1;
	if (opts.singlethread) {
		ret = fuse_session_loop(fc.se);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(lc, opts.clone_fd);
		fuse_loop_cfg_set_max_threads(lc, opts.max_threads);
		ret = fuse_session_loop_mt(fc.se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	fc_inval_stop();
	fuse_session_unmount(fc.se);
	/* The drop thread may still be in a notification (the unmount ends
	 * it); a session it still uses is left, not freed. */
	inval_joined = fc_inval_join(2000);
	if (opts.foreground)
		fc_print_stats();
err_signals:
	fuse_remove_signal_handlers(fc.se);
err_pool:
	if (fc_pool_opened)
		tmem_pool_destroy(fc.tmem, fc.pool_id);
	tmem_close(fc.tmem);
	fc_admission_free();
	if (inval_joined)
		fuse_session_destroy(fc.se);
err_ready:
	fc_ready(ready_fd, 1);
	fc_table_free();
	if (fc.root.fd >= 0)
		close(fc.root.fd);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	free(cli.config);
	free(fc.set.source);
	free(fc.set.mountpoint);
	return ret ? 1 : 0;
}
