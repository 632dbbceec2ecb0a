/* tmemctl: look at and manage a tmem segment from the command line.
 *
 *   tmemctl [OPTIONS] stats | pools | create | destroy | check | config
 *
 * The segment comes from --segment (or --pool, the plugin's key), else
 * [pool] name in the config file, else "tmem".  stats and pools attach
 * read-only, so that looking never changes anything; create, destroy and
 * check attach read-write without ever creating a segment by accident.
 * Messages say what to do, not only what failed: a missing segment, one
 * made by another version, a permission problem, a segment still in use.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmemctl.h"

static const char *prog = "tmemctl";

void ctl_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* While attaching, the pool's own error is kept, not printed: the
 * explanation below says the same in the user's terms, and adds the
 * pool's words only where they tell more (which version, what is
 * corrupt). */
static bool log_capture;
static char log_last[512];

static void ctl_log(void *opaque, enum tmem_log_level level, const char *msg)
{
	static const char *const names[] = {"error", "warning", "info",
					    "debug"};

	(void)opaque;
	if (log_capture && level == TMEM_LOG_ERROR) {
		snprintf(log_last, sizeof log_last, "%s", msg);
		return;
	}
	if (level <= TMEM_LOG_WARNING)
		fprintf(stderr, "%s: %s: %s\n", prog,
			names[level <= TMEM_LOG_DEBUG ? level : 0], msg);
}

/* Explain why the segment cannot be opened, in the user's terms. */
static void attach_explain(struct ctl *c, int err)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof path, "/dev/shm/%s", c->segment);
	switch (err) {
	case -ENOENT:
		ctl_error("segment '%s' does not exist (no %s): start the swap "
			  "device or the cache that uses it, or make it with "
			  "'tmemctl create'",
			  c->segment, path);
		break;
	case -EPROTO:
		ctl_error("segment '%s' was made by another version of tmem "
			  "(its layout or geometry differs from what tmemctl "
			  "%s understands: %s): use the matching tmemctl, or "
			  "destroy it when nothing uses it",
			  c->segment, tmem_version(),
			  log_last[0] ? log_last : "no detail");
		break;
	case -ETIMEDOUT:
		ctl_error("segment '%s': %s", c->segment,
			  log_last[0] ? log_last : tmem_strerror(err));
		break;
	case -EBADMSG:
		ctl_error("segment '%s' is not a tmem segment or its header is "
			  "corrupt (%s)",
			  c->segment, log_last[0] ? log_last : path);
		break;
	case -EPERM:
		if (log_last[0]) {
			ctl_error("segment '%s': %s", c->segment, log_last);
			break;
		}
		/* fall through */
	case -EACCES:
		if (stat(path, &st) == 0)
			ctl_error("no permission to open segment '%s' (%s is "
				  "owned by uid %u, mode %04o): run tmemctl as "
				  "that user or as root",
				  c->segment, path, (unsigned)st.st_uid,
				  (unsigned)(st.st_mode & 07777));
		else
			ctl_error("no permission to open segment '%s' (%s)",
				  c->segment, path);
		break;
	default:
		ctl_error("cannot open segment '%s': %s%s%s", c->segment,
			  tmem_strerror(err), log_last[0] ? ": " : "",
			  log_last);
	}
}

int ctl_attach(struct ctl *c, bool readonly, struct tmem **out)
{
	struct tmem_options opts;
	int r;

	tmem_options_init(&opts);
	opts.name = c->segment;
	opts.create = false;
	opts.readonly = readonly;
	opts.lock = false;
	opts.grower = false;
	opts.prefault = false;
	opts.log = ctl_log;
	log_capture = true;
	log_last[0] = '\0';
	r = tmem_open(&opts, out);
	log_capture = false;
	if (r < 0)
		attach_explain(c, r);
	return r;
}

/* ---- create -------------------------------------------------------- */

/* A parsed --subpool NAME:KIND[:MIN[:MAX]]. */
struct subpool_spec {
	char buf[256];
	const char *name;
	enum tmem_kind kind;
	uint64_t min, max;
};

/* Parse and check one spec: 0, or -EINVAL with a message.  Every spec is
 * checked before anything is created. */
static int subpool_parse(struct ctl *c, const char *spec,
			 struct subpool_spec *sp)
{
	char key[128], err[1024], *rest, *name, *kind, *min, *max;
	const char *v;
	int i;

	if (strlen(spec) >= sizeof sp->buf) {
		ctl_error("--subpool %s: too long", spec);
		return -EINVAL;
	}
	snprintf(sp->buf, sizeof sp->buf, "%s", spec);
	/* strsep, not strtok: an empty field stays in its place ("::8M" is
	 * MIN 0 and MAX 8M, not MIN 8M). */
	rest = sp->buf;
	name = strsep(&rest, ":");
	kind = strsep(&rest, ":");
	min = strsep(&rest, ":");
	max = strsep(&rest, ":");
	if (name == NULL || kind == NULL || rest != NULL) {
		ctl_error("--subpool %s: expected NAME:persistent|ephemeral"
			  "[:MIN[:MAX]]",
			  spec);
		return -EINVAL;
	}
	if (!tmem_config_name_ok(name)) {
		ctl_error("--subpool %s: '%s' is not a valid sub-pool name",
			  spec, name);
		return -EINVAL;
	}
	sp->name = name;
	if (strcmp(kind, "persistent") == 0)
		sp->kind = TMEM_PERSISTENT;
	else if (strcmp(kind, "ephemeral") == 0)
		sp->kind = TMEM_EPHEMERAL;
	else {
		ctl_error("--subpool %s: kind '%s' is neither persistent nor "
			  "ephemeral",
			  spec, kind);
		return -EINVAL;
	}
	/* MIN and MAX are min-share.NAME and max-share.NAME given on the
	 * command line: they win over the config's. */
	for (i = 0; i < 2; i++) {
		v = i ? max : min;
		if (v == NULL)
			continue;
		snprintf(key, sizeof key, "%s-share.%s", i ? "max" : "min",
			 name);
		if (tmem_opt_set(&c->cfg, TMEM_OPT_CTL, key, v[0] ? v : "0",
				 err, sizeof err) < 0) {
			ctl_error("--subpool %s: %s", spec, err);
			return -EINVAL;
		}
	}
	sp->min = sp->max = 0;
	(void)tmem_config_share(&c->cfg, name, &sp->min, &sp->max);
	if (sp->max && sp->min > sp->max) {
		ctl_error("--subpool %s: MIN is more than MAX", spec);
		return -EINVAL;
	}
	return 0;
}

/* Make one sub-pool; *made says whether it is new. */
static int subpool_create(struct tmem *t, const struct subpool_spec *sp,
			  bool *made)
{
	uint32_t id;
	int r;

	*made = tmem_pool_find(t, sp->name, &id) != 0;
	r = tmem_pool_open(t, sp->name, sp->kind, sp->min, sp->max, &id);
	if (r == -EEXIST) {
		ctl_error("sub-pool '%s' exists with the other kind", sp->name);
		*made = false;
		return r;
	}
	if (r < 0) {
		ctl_error("sub-pool '%s': %s", sp->name, tmem_strerror(r));
		*made = false;
		return r;
	}
	printf("sub-pool %s: id %u, %s\n", sp->name, id,
	       sp->kind == TMEM_PERSISTENT ? "persistent" : "ephemeral");
	return 0;
}

/* The specs' shares against the segment as it is: each cap within its
 * ceiling, and the reserved minimums of its sub-pools and the new ones
 * together too (a spec naming an existing sub-pool changes nothing of
 * it).  0, or -EINVAL with a message. */
static int subpool_check_room(struct ctl *c, struct tmem *t,
			      const struct subpool_spec *specs)
{
	struct tmem_segment_info info;
	struct tmem_pool_info *pools = NULL;
	char a[32], b[32];
	uint64_t reserved = 0;
	int i, j, n;

	if (tmem_segment_info(t, &info) < 0 ||
	    (pools = calloc(info.max_pools, sizeof *pools)) == NULL ||
	    (n = tmem_pool_list(t, pools, (int)info.max_pools)) < 0) {
		free(pools);
		ctl_error("segment '%s': cannot read its sub-pools",
			  c->segment);
		return -EIO;
	}
	if (n > (int)info.max_pools)
		n = (int)info.max_pools;
	for (j = 0; j < n; j++)
		reserved += pools[j].min_bytes;
	for (i = 0; i < c->nr_adds; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(pools[j].name, specs[i].name) == 0)
				break;
		if (j < n)
			continue;
		if (specs[i].min > info.pool_size ||
		    specs[i].max > info.pool_size) {
			bool min = specs[i].min > info.pool_size;

			ctl_error(
				"--subpool %s: %s-share.%s: %s is more than "
				"segment '%s''s ceiling (%s)",
				c->adds[i], min ? "min" : "max", specs[i].name,
				tmem_opt_fmt_size(min ? specs[i].min
						      : specs[i].max,
						  a, sizeof a),
				c->segment,
				tmem_opt_fmt_size(info.pool_size, b, sizeof b));
			free(pools);
			return -EINVAL;
		}
		reserved += specs[i].min;
	}
	free(pools);
	if (reserved > TMEM_RESERVABLE(info.pool_size)) {
		ctl_error("--subpool: the sub-pools' reserved minimums would "
			  "add up to %s, more than segment '%s' can reserve "
			  "(its ceiling, %s, less one 64K chunk)",
			  tmem_opt_fmt_size(reserved, a, sizeof a), c->segment,
			  tmem_opt_fmt_size(info.pool_size, b, sizeof b));
		return -EINVAL;
	}
	return 0;
}

/* A create that fails leaves nothing behind: no segment it made, no
 * sub-pool it added. */
static int cmd_create(struct ctl *c)
{
	struct tmem_options opts;
	struct tmem *t;
	char path[128], a[32], err[4200];
	struct subpool_spec *specs;
	bool *made;
	struct stat st;
	bool existed;
	uint32_t id;
	int i, r = 0;

	snprintf(path, sizeof path, "/dev/shm/%s", c->segment);
	existed = stat(path, &st) == 0;
	if (existed && c->nr_adds == 0) {
		ctl_error("segment '%s' already exists (%s); give --subpool to "
			  "add sub-pools to it",
			  c->segment, path);
		return EXIT_FAILURE;
	}
	specs = calloc((size_t)c->nr_adds + 1, sizeof *specs);
	made = calloc((size_t)c->nr_adds + 1, sizeof *made);
	if (specs == NULL || made == NULL) {
		ctl_error("out of memory");
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < c->nr_adds && r == 0; i++)
		r = subpool_parse(c, c->adds[i], &specs[i]);
	if (r < 0)
		goto out;
	/* The specs' shares are [pool] keys now: checked as the file's are
	 * (each within the pool, the minimums together too), for a segment
	 * this makes; an existing one's ceiling is not the config's, and
	 * subpool_check_room checks against it. */
	if (c->nr_adds && !existed &&
	    tmem_config_validate(&c->cfg, err, sizeof err) < 0) {
		ctl_error("--subpool: %s", err);
		r = -EINVAL;
		goto out;
	}
	tmem_options_init(&opts);
	tmem_config_to_options(&c->cfg, &opts);
	opts.name = c->segment;
	opts.create = true;
	opts.readonly = false;
	/* tmemctl serves nothing: no grower thread, and locking pages in
	 * a process about to exit would only cost time. */
	opts.grower = false;
	opts.lock = false;
	opts.log = ctl_log;
	log_capture = true;
	log_last[0] = '\0';
	r = tmem_open(&opts, &t);
	log_capture = false;
	if (r < 0) {
		if (r == -ENOSPC && opts.prefault)
			ctl_error(
				"cannot reserve %s for segment '%s': /dev/shm "
				"is too small (see df /dev/shm; it is half "
				"of RAM by default)",
				ctl_fmt_bytes(opts.pool_size, a, sizeof a),
				c->segment);
		else
			attach_explain(c, r);
		goto out;
	}
	if (!existed)
		printf("segment %s: created, ceiling %s, level %d, dedup %s\n",
		       c->segment, ctl_fmt_bytes(opts.pool_size, a, sizeof a),
		       opts.level, opts.dedup ? "on" : "off");
	if (c->nr_adds)
		r = subpool_check_room(c, t, specs);
	for (i = 0; i < c->nr_adds && r == 0; i++)
		r = subpool_create(t, &specs[i], &made[i]);
	if (r < 0 && existed) {
		for (i = 0; i < c->nr_adds; i++)
			if (made[i] &&
			    tmem_pool_find(t, specs[i].name, &id) == 0 &&
			    tmem_pool_destroy(t, id) == 0)
				printf("sub-pool %s: removed again\n",
				       specs[i].name);
	}
	tmem_close(t);
	if (r < 0 && !existed && tmem_unlink(c->segment) == 0)
		printf("segment %s: removed again\n", c->segment);
out:
	free(specs);
	free(made);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- destroy ------------------------------------------------------- */

/* "pid 123 (nbdkit)": the process named by its command, if it can be. */
static const char *ctl_fmt_pid(int pid, char *buf, size_t len)
{
	char path[64], comm[64] = "";
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof comm, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	if (comm[0])
		snprintf(buf, len, "pid %d (%s)", pid, comm);
	else
		snprintf(buf, len, "pid %d", pid);
	return buf;
}

/* The files the nbd plugin keeps beside a segment, /dev/shm/SEG.nbd-*:
 * an export's lock file (.lock) and overflow slot map (.ovmap); those of
 * every export, or of EXPORT's alone when it is not NULL.  Once the
 * segment, or the export's sub-pool, is gone they describe nothing.  Only
 * regular files of the segment's owner go: a lock file that a process
 * holds stays, and a map only if it starts with the map's magic. */
static void destroy_side_files(struct ctl *c, uid_t owner, const char *export)
{
	char prefix[TMEM_NAME_MAX + 8], path[512], magic[8];
	struct dirent *d;
	struct stat st;
	size_t n, len;
	bool lock, map;
	DIR *dir;
	int fd;

	snprintf(prefix, sizeof prefix, "%s.nbd-", c->segment);
	n = strlen(prefix);
	dir = opendir("/dev/shm");
	if (dir == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		len = strlen(d->d_name);
		if (strncmp(d->d_name, prefix, n) != 0)
			continue;
		lock = len > n + 5 && strcmp(d->d_name + len - 5, ".lock") == 0;
		map = len > n + 6 && strcmp(d->d_name + len - 6, ".ovmap") == 0;
		if (!lock && !map)
			continue;
		if (export != NULL &&
		    (len - n - (lock ? 5 : 6) != strlen(export) ||
		     strncmp(d->d_name + n, export, strlen(export)) != 0))
			continue;
		snprintf(path, sizeof path, "/dev/shm/%s", d->d_name);
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_uid == owner &&
		    (lock ? flock(fd, LOCK_EX | LOCK_NB) == 0
			  : pread(fd, magic, 7, 0) == 7 &&
				     memcmp(magic, "TMEMOVM", 7) == 0) &&
		    unlink(path) == 0)
			printf("segment %s: removed %s\n", c->segment, path);
		close(fd);
	}
	closedir(dir);
}

/* destroy --subpool.  A destroy of the name left pending (one that timed
 * out waiting for a swap server, killed since) is finished by the
 * read-write attach's repair or by the lookup: then the name is found
 * absent, and only a read-only look first, which repairs nothing, says
 * that it was there, so that this destroy reports it destroyed and takes
 * its side files as any other. */
static int destroy_subpool(struct ctl *c)
{
	struct tmem *t;
	char who[128];
	uint32_t id;
	int pids[4], n, r;
	bool pending, finished;

	r = ctl_attach(c, true, &t);
	if (r < 0)
		return EXIT_FAILURE;
	pending = tmem_pool_destroying(t, c->subpool) == 1;
	tmem_close(t);
	r = ctl_attach(c, false, &t);
	if (r < 0)
		return EXIT_FAILURE;
	r = tmem_pool_find(t, c->subpool, &id);
	finished = r == -ENOENT && pending;
	if (finished) {
		r = 0;
	} else if (r == 0) {
		log_capture = true;
		r = tmem_pool_destroy(t, id);
		log_capture = false;
	}
	if (r == -EBUSY) {
		n = tmem_pool_holders(t, id, pids, 4);
		if (n > 0)
			ctl_error("sub-pool '%s' of segment '%s' is in use by "
				  "%s%s: stop it first (swapoff, then the "
				  "nbdkit server; unmount the cache); nothing "
				  "destroyed",
				  c->subpool, c->segment,
				  ctl_fmt_pid(pids[0], who, sizeof who),
				  n > 1 ? " and others" : "");
		else
			ctl_error("sub-pool '%s' of segment '%s' is in use: "
				  "stop the process that serves or mounts it "
				  "first; nothing destroyed",
				  c->subpool, c->segment);
	} else if (r == -EINPROGRESS) {
		ctl_error("sub-pool '%s' of segment '%s' is being destroyed: "
			  "the swap server drops its pages (a destroy that "
			  "timed out waiting for it); nothing more to do",
			  c->subpool, c->segment);
	} else if (r == -ENOTEMPTY) {
		ctl_error(
			"sub-pool '%s' of segment '%s' holds the pages of the "
			"sub-pools whose dedup scope is, or was, the pool "
			"(dedup-scope = pool): destroy those first; nothing "
			"destroyed",
			c->subpool, c->segment);
	} else if (r < 0) {
		ctl_error("sub-pool '%s' of segment '%s': %s", c->subpool,
			  c->segment,
			  r == -ENOENT ? "no such sub-pool" : tmem_strerror(r));
	} else {
		char path[128];
		struct stat st;

		printf("sub-pool %s: destroyed%s\n", c->subpool,
		       finished ? " (finished the destroy that a swap server, "
				  "gone since, left pending)"
				: "");
		snprintf(path, sizeof path, "/dev/shm/%s", c->segment);
		if (stat(path, &st) == 0)
			destroy_side_files(c, st.st_uid, c->subpool);
	}
	tmem_close(t);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int cmd_destroy(struct ctl *c)
{
	struct tmem_segment_info info;
	struct tmem *t;
	char path[128];
	struct stat st;
	int r;

	if (c->subpool)
		return destroy_subpool(c);

	snprintf(path, sizeof path, "/dev/shm/%s", c->segment);
	if (lstat(path, &st) != 0)
		st.st_uid = geteuid();
	r = tmem_unlink(c->segment);
	if (r == -EBADMSG) {
		ctl_error("'%s' is not a tmem segment (%s has no tmem header): "
			  "not removed; remove it by hand if you know what it "
			  "is",
			  c->segment, path);
		return EXIT_FAILURE;
	}
	if (r == -EBUSY) {
		unsigned n = 0;

		/* How many: best effort (a read-only attach, as ours, is
		 * not counted). */
		if (ctl_attach(c, true, &t) == 0) {
			if (tmem_segment_info(t, &info) == 0)
				n = info.attached;
			tmem_close(t);
		}
		if (n)
			ctl_error("segment '%s' is in use by %u process%s: "
				  "stop them first (swapoff, then the nbdkit "
				  "server; unmount the caches)",
				  c->segment, n, n == 1 ? "" : "es");
		else
			ctl_error("segment '%s' is in use: stop the processes "
				  "attached to it first (swapoff, then the "
				  "nbdkit server; unmount the caches)",
				  c->segment);
		return EXIT_FAILURE;
	}
	if (r < 0) {
		attach_explain(c, r);
		return EXIT_FAILURE;
	}
	printf("segment %s: destroyed\n", c->segment);
	destroy_side_files(c, st.st_uid, NULL);
	return EXIT_SUCCESS;
}

/* ---- check --------------------------------------------------------- */

/* check: the stop-the-world consistency walk (structure, reference
 * counts, accounting) and the quick verification (index chains, every
 * entry's check).  On a served pool the walk, and the verification of the
 * persistent sub-pools, run in the server, on its grower thread
 * (tmem_check_report): tmemctl never holds the locks swap needs, and says
 * where the details were logged.  check --deep: instead, verification of
 * every stored page's checksum too, that stops nobody, at --rate pages a
 * second (on a served pool, of the ephemeral sub-pools only), and of the
 * nbd plugin's overflow files beside the segment. */
static int cmd_check(struct ctl *c)
{
	struct tmem_check_result cr = {0};
	struct tmem_verify_result vr;
	struct tmem *t;
	int r = 0, v;
	unsigned ov_bad = 0;

	r = ctl_attach(c, false, &t);
	if (r < 0)
		return EXIT_FAILURE;
	if (!c->deep)
		r = tmem_check_report(t, &cr);
	/* A served pool the server did not repair: nothing to verify. */
	v = r == -ETIMEDOUT ? 0 : tmem_verify(t, c->deep, c->rate, &vr);
	tmem_close(t);
	if (c->deep)
		ov_bad = ctl_check_overflow(c);
	if (r < 0 && r != -EUCLEAN) {
		ctl_error("segment '%s': cannot check: %s", c->segment,
			  tmem_strerror(r));
		return EXIT_FAILURE;
	}
	if (cr.checked_by)
		printf("segment %s: checked by the grower of pid %d, which "
		       "serves it: %u problems (details in that process's "
		       "log)\n",
		       c->segment, cr.checked_by, cr.problems);
	if (v < 0 && v != -EUCLEAN) {
		ctl_error("segment '%s': cannot verify: %s", c->segment,
			  tmem_strerror(v));
		return EXIT_FAILURE;
	}
	if (c->deep)
		printf("segment %s: %llu entries, %llu stored pages verified; "
		       "%llu damaged, %llu broken index chains; %u damaged "
		       "overflow pages\n",
		       c->segment, (unsigned long long)vr.entries,
		       (unsigned long long)vr.pages,
		       (unsigned long long)vr.bad_pages,
		       (unsigned long long)vr.bad_chains, ov_bad);
	if (c->deep && vr.served_by)
		printf("segment %s: persistent (swap) pages not verified: pid "
		       "%d serves them, and tmemctl never holds their locks; "
		       "that server verifies the index at start and at "
		       "'tmemctl check'\n",
		       c->segment, vr.served_by);
	if (r == -EUCLEAN || v == -EUCLEAN || ov_bad) {
		printf("segment %s: NOT consistent (problems above)\n",
		       c->segment);
		return EXIT_FAILURE;
	}
	printf("segment %s: consistent\n", c->segment);
	return EXIT_SUCCESS;
}

/* ---- config -------------------------------------------------------- */

static int cmd_config(struct ctl *c)
{
	char val[4200], sect[16], *dot;
	int i;

	/* --get SECTION.KEY: the bare value, for scripts. */
	for (i = 0; i < c->nr_gets; i++) {
		dot = strchr(c->gets[i], '.');
		if (dot == NULL || (size_t)(dot - c->gets[i]) >= sizeof sect) {
			ctl_error("--get %s: expected SECTION.KEY, e.g. "
				  "swap.socket",
				  c->gets[i]);
			return EXIT_USAGE;
		}
		snprintf(sect, sizeof sect, "%.*s", (int)(dot - c->gets[i]),
			 c->gets[i]);
		if (tmem_config_get(&c->cfg, sect, dot + 1, val, sizeof val) <
		    0) {
			ctl_error("--get %s: no such key", c->gets[i]);
			return EXIT_USAGE;
		}
		printf("%s\n", val);
	}
	if (c->nr_gets)
		return EXIT_SUCCESS;
	if (tmem_config_print(&c->cfg, stdout) < 0) {
		ctl_error("cannot write the configuration");
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

/* ---- options ------------------------------------------------------- */

static void usage(FILE *fp)
{
	fprintf(fp,
		"Usage: %s [OPTIONS] COMMAND [SEGMENT] [KEY=VALUE...]\n"
		"\n"
		"Look at and manage a tmem segment (the shared compressed "
		"page pool).\n"
		"\n"
		"Commands:\n"
		"  stats      the statistics of the segment and its sub-pools\n"
		"  pools      list the sub-pools\n"
		"  create     make the segment (and sub-pools with "
		"--subpool)\n"
		"  destroy    remove the segment (refused while in use), or\n"
		"             one sub-pool with --subpool NAME (refused while\n"
		"             a process holds it)\n"
		"  check      check the segment is consistent (exit status 0 "
		"if so);\n"
		"             --deep: verify every stored page too, without "
		"stopping\n"
		"             anyone, at --rate pages a second\n"
		"  config     print the effective configuration\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE      read FILE instead of %s\n"
		"  -s, --segment NAME     the segment (default: [pool] name, "
		"else %s)\n"
		"  -p, --pool NAME        the same as --segment (the plugin's "
		"pool= key)\n"
		"  -S, --subpool NAME     stats: only this sub-pool; destroy: "
		"this sub-pool\n"
		"      --subpool NAME:KIND[:MIN[:MAX]]\n"
		"                         create: add a sub-pool, KIND "
		"persistent or ephemeral\n"
		"  -j, --json             stats, pools: JSON\n"
		"  -P, --prometheus       stats: Prometheus text format\n"
		"  -w, --watch SECONDS    stats: repeat every SECONDS\n"
		"  -o, --output FILE      stats: write FILE atomically (for "
		"node_exporter's\n"
		"                         textfile collector)\n"
		"  -g, --get SECTION.KEY  config: print one value (sizes in "
		"bytes), for scripts\n"
		"  -d, --deep             check: every page's checksum, and "
		"the "
		"overflow files\n"
		"  -r, --rate PAGES       check --deep: at most PAGES a second "
		"(default 20000;\n"
		"                         0: no bound)\n"
		"  -h, --help             this help\n"
		"  -V, --version          print the version\n"
		"\n"
		"SEGMENT, a word after the command, is the same as --segment.\n"
		"KEY=VALUE sets a configuration key as on the plugin's command "
		"line\n"
		"(pool-size=1G, level=1, dedup=no, ...; see tmem.conf(5)); it "
		"wins over\n"
		"the file.  create uses them; config shows them.\n",
		prog, TMEM_DEFAULT_CONFIG, TMEM_DEFAULT_SEGMENT);
}

static const struct option long_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"segment", required_argument, NULL, 's'},
	{"pool", required_argument, NULL, 'p'},
	{"subpool", required_argument, NULL, 'S'},
	{"json", no_argument, NULL, 'j'},
	{"prometheus", no_argument, NULL, 'P'},
	{"watch", required_argument, NULL, 'w'},
	{"output", required_argument, NULL, 'o'},
	{"get", required_argument, NULL, 'g'},
	{"deep", no_argument, NULL, 'd'},
	{"rate", required_argument, NULL, 'r'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

struct command {
	const char *name;
	int (*fn)(struct ctl *);
	const char *allowed; /* option letters that make sense */
};

static const struct command commands[] = {
	{"stats", ctl_cmd_stats, "cspSjPwo"}, {"pools", ctl_cmd_pools, "cspj"},
	{"create", cmd_create, "cspS"},	      {"destroy", cmd_destroy, "cspS"},
	{"check", cmd_check, "cspdr"},	      {"config", cmd_config, "cspg"},
};

static void free_ptr(void *p)
{
	free(*(void **)p);
}

int main(int argc, char **argv)
{
	static struct ctl ctl;
	struct ctl *c = &ctl;
	const struct command *cmd = NULL;
	char used[64] = "", err[1024], *end, *eq;
	char **adds __attribute__((cleanup(free_ptr))) = NULL;
	char **gets __attribute__((cleanup(free_ptr))) = NULL;
	int opt, i, r;
	size_t k;

	c->prog = prog;
	tmem_config_init(&c->cfg);
	adds = calloc((size_t)argc, sizeof *adds);
	gets = calloc((size_t)argc, sizeof *gets);
	if (adds == NULL || gets == NULL) {
		ctl_error("out of memory");
		return EXIT_FAILURE;
	}
	c->adds = adds;
	c->gets = gets;

	c->rate = 20000;
	while ((opt = getopt_long(argc, argv, "c:s:p:S:jPw:o:g:dr:hV",
				  long_opts, NULL)) != -1) {
		if (opt != '?' && strchr(used, opt) == NULL &&
		    strlen(used) < sizeof used - 1) {
			size_t n = strlen(used);

			used[n] = (char)opt;
			used[n + 1] = '\0';
		}
		switch (opt) {
		case 'c':
			c->config_path = optarg;
			break;
		case 's':
		case 'p':
			c->segment = optarg;
			break;
		case 'S':
			if (strchr(optarg, ':'))
				c->adds[c->nr_adds++] = optarg;
			else
				c->subpool = optarg;
			break;
		case 'j':
		case 'P':
			if (c->format != FORMAT_TEXT &&
			    c->format != (opt == 'j' ? FORMAT_JSON
						     : FORMAT_PROMETHEUS)) {
				ctl_error(
					"--json and --prometheus exclude each "
					"other");
				return EXIT_USAGE;
			}
			c->format =
				opt == 'j' ? FORMAT_JSON : FORMAT_PROMETHEUS;
			break;
		case 'w':
			errno = 0;
			c->watch = strtod(optarg, &end);
			if (end == optarg || *end || errno ||
			    !isfinite(c->watch) || c->watch < 0.1 ||
			    c->watch > 86400) {
				ctl_error("--watch %s: expected a number of "
					  "seconds from 0.1 to 86400",
					  optarg);
				return EXIT_USAGE;
			}
			break;
		case 'o':
			c->output = optarg;
			break;
		case 'g':
			c->gets[c->nr_gets++] = optarg;
			break;
		case 'd':
			c->deep = true;
			break;
		case 'r':
			errno = 0;
			c->rate = strtoull(optarg, &end, 10);
			if (end == optarg || *end || errno ||
			    optarg[0] == '-') {
				ctl_error("--rate %s: expected a number of "
					  "pages a second (0: no bound)",
					  optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("tmemctl %s\n", tmem_version());
			return EXIT_SUCCESS;
		default:
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return EXIT_USAGE;
		}
	}

	if (optind >= argc) {
		ctl_error("no command given (stats, pools, create, destroy, "
			  "check or config)");
		fprintf(stderr, "Try '%s --help'.\n", prog);
		return EXIT_USAGE;
	}
	for (k = 0; k < sizeof commands / sizeof commands[0]; k++)
		if (strcmp(argv[optind], commands[k].name) == 0)
			cmd = &commands[k];
	if (cmd == NULL) {
		ctl_error("unknown command '%s' (stats, pools, create, "
			  "destroy, check or config)",
			  argv[optind]);
		return EXIT_USAGE;
	}
	for (i = 0; used[i]; i++) {
		if (strchr(cmd->allowed, used[i]) == NULL) {
			for (k = 0; long_opts[k].name; k++)
				if (long_opts[k].val == used[i])
					break;
			ctl_error("%s: --%s does not apply", cmd->name,
				  long_opts[k].name);
			return EXIT_USAGE;
		}
	}
	if (c->nr_adds && strcmp(cmd->name, "create") != 0) {
		ctl_error("%s: --subpool NAME:KIND is for create", cmd->name);
		return EXIT_USAGE;
	}
	if (c->subpool && strcmp(cmd->name, "create") == 0) {
		ctl_error("create: --subpool wants NAME:KIND[:MIN[:MAX]]");
		return EXIT_USAGE;
	}
	for (i = optind + 1; i < argc; i++) {
		eq = strchr(argv[i], '=');
		/* One bare word names the segment: "tmemctl stats tmem". */
		if (eq == NULL && c->segment == NULL && i == optind + 1 &&
		    strcmp(cmd->name, "config") != 0) {
			c->segment = argv[i];
			argv[i] = NULL;
			continue;
		}
		if (eq == NULL || eq == argv[i]) {
			ctl_error("%s: unexpected argument '%s' (expected "
				  "KEY=VALUE)",
				  cmd->name, argv[i]);
			return EXIT_USAGE;
		}
	}

	/* The command line first (it wins over the file whatever the
	 * order), --segment last among it (it wins over pool=). */
	if (c->segment) {
		if (tmem_opt_set(&c->cfg, TMEM_OPT_CTL, "pool", c->segment, err,
				 sizeof err) < 0) {
			ctl_error("--segment%s", strchr(err, ':'));
			return EXIT_USAGE;
		}
	}
	for (i = optind + 1; i < argc; i++) {
		if (argv[i] == NULL)
			continue; /* the segment, taken above */
		eq = strchr(argv[i], '=');
		*eq = '\0';
		if (c->segment && strcmp(argv[i], "pool") == 0)
			continue;
		r = tmem_opt_set(&c->cfg, TMEM_OPT_CTL, argv[i], eq + 1, err,
				 sizeof err);
		if (r < 0) {
			ctl_error("%s", err);
			return EXIT_USAGE;
		}
	}
	r = tmem_config_load(
		&c->cfg, c->config_path ? c->config_path : TMEM_DEFAULT_CONFIG,
		err, sizeof err);
	if (r < 0 && !(r == -ENOENT && c->config_path == NULL)) {
		ctl_error("%s", err);
		return EXIT_FAILURE;
	}
	r = tmem_config_validate(&c->cfg, err, sizeof err);
	if (r < 0) {
		ctl_error("%s", err);
		return EXIT_FAILURE;
	}
	c->segment = c->cfg.pool_name;

	return cmd->fn(c);
}
