/* nbd-tmem: the nbdkit plugin tmem.so — a RAM-backed, compressed swap
 * device on the shared tmem pool (the frontswap half of tmem).
 *
 * This file is the nbdkit face of the plugin: keys and the config file,
 * the process set-up that makes it safe to swap to a server on the same
 * machine, and one thin callback per NBD operation.  The callbacks hand
 * byte ranges to nbd-pages.c, which does the page work.
 *
 * Start-up happens in two steps because nbdkit may fork into the
 * background between them: .get_ready checks everything a user can get
 * wrong (keys, the pool's geometry, the device label, the overflow file)
 * while errors still reach the terminal and stop nbdkit; .after_fork, in
 * the process that serves, locks memory, attaches to the pool for good and
 * starts its background thread (threads do not survive fork).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "nbd-internal.h"
#include "tmem-config.h"
#include "tmem-opt.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

/* Worker stacks: nbdkit makes its threads with default attributes, and a
 * locked process pays for every stack page it touches.  Nothing on the
 * data path needs deep stacks (buffers are preallocated). */
#define NT_STACK_SIZE (512 * 1024)

/* How much of a worker's stack its first request faults in, below that
 * request's frame.  Stack pages fault in on first touch (and are then
 * locked), so a rare path that goes deeper than the requests before it
 * would fault on the swap path.  Measured: a worker's requests touch 8 KiB
 * of stack; a put that formatted a message (a dictionary probe's, now not
 * formatted at all: log_level) reached 8.8 KiB and faulted.  16 KiB below
 * the callback: each worker's stack holds 20 KiB instead of 8 (192 KiB
 * more for 16 workers). */
#define NT_STACK_READY (16 * 1024)
_Static_assert(NT_STACK_READY <= NT_STACK_SIZE / 8,
	       "the stack margin is a small part of a worker's stack");

static __thread bool stack_ready;

void __attribute__((noinline)) nt_stack_touch(void)
{
	volatile unsigned char pad[NT_STACK_READY];

	for (size_t i = 0; i < sizeof pad; i += 512)
		pad[i] = 0;
	pad[sizeof pad - 1] = 0;
}

/* The request threads' scheduling, [swap] realtime: SCHED_RR at the lowest
 * real-time priority.  Why: a reply needs fresh pages (the socket buffer of
 * a read's 4 KiB), and when free memory sits at the minimum watermark an
 * ordinary task waits in reclaim for them; reclaim waits for the swap
 * writes this server has not answered, so the machine wedges (docs/swap.md,
 * "Real-time request threads").  The kernel lets a real-time task allocate
 * below the minimum watermark (to three quarters of it in Linux 6.1:
 * mm/page_alloc.c, gfp_to_alloc_flags, ALLOC_HARDER for rt_task), a reserve
 * no ordinary process can take: the replies find their pages there.  Only
 * the request threads (nbdkit's): the pool's grower, which faults pool
 * memory in, stays an ordinary task and cannot eat the reserve.  A
 * connection's thread goes real-time when it opens the export, before
 * nbdkit makes that connection's workers, so that they start real-time
 * (workers switched one by one on their first request would be woken ahead
 * of those not yet switched, which then never served a request before
 * swap needed them, and grew their buffers under memory pressure); a
 * thread switches on its first request too (another nbdkit may make its
 * workers earlier).  A thread runs a request longer than
 * NT_RT_LONG (a client's large copy, a whole-device trim or zero, block
 * status: loops of many pages) as an ordinary task, so that no client keeps
 * the CPU from others at real-time priority; the kernel's swap requests
 * (at most max_sectors_kb, a swap cluster's discard) are shorter. */
#define NT_RT_POLICY (SCHED_RR | SCHED_RESET_ON_FORK) /* no fork into it */
#define NT_RT_LONG   (1u << 20)
static bool rt_wanted;
static __thread bool rt_on, rt_refused, rt_counted;

/* This thread's policy (SCHED_RR at priority 1, or SCHED_OTHER; with
 * SCHED_RESET_ON_FORK or not): a system call, no allocation. */
static int rt_set(int policy)
{
	struct sched_param sp = {
		.sched_priority =
			(policy & ~SCHED_RESET_ON_FORK) == SCHED_RR ? 1 : 0};

	return sched_setscheduler(0, policy, &sp);
}

/* This thread to real-time (on) or back.  A refusal to go real-time is
 * not tried again on this thread (.get_ready said whether it can work). */
static void __attribute__((noinline)) rt_switch(bool on)
{
	if (rt_set(on ? NT_RT_POLICY : SCHED_OTHER | SCHED_RESET_ON_FORK) ==
	    0) {
		rt_on = on;
		if (on && !rt_counted) {
			rt_counted = true;
			NT_COUNT(rt_threads);
		}
	} else if (on)
		rt_refused = true;
}

/* At the start of every data callback, with the bytes it covers: the
 * first on each thread makes its stack ready; with [swap] realtime, the
 * thread runs real-time for a request of at most NT_RT_LONG bytes and
 * ordinary for a longer one (switching only when that changes). */
static inline void request_begin(uint64_t count)
{
	bool want;

	if (!stack_ready) {
		nt_stack_touch();
		stack_ready = true;
		/* Started real-time by its connection's thread (nt_open). */
		rt_on = rt_wanted && (sched_getscheduler(0) &
				      ~SCHED_RESET_ON_FORK) == SCHED_RR;
		if (rt_on) {
			rt_counted = true;
			NT_COUNT(rt_threads);
		}
	}
	if (!rt_wanted)
		return;
	want = count <= NT_RT_LONG;
	if (want != rt_on && !(want && rt_refused))
		rt_switch(want);
}

/* The zstd level of a pool this plugin creates, unless tmem.conf or
 * level= says otherwise.  A swap device is written as fast as the kernel
 * evicts, so it wants a fast level (zram's default is lzo-rle): on real
 * process memory in 4 KiB pages, level 1 stores 2% more bytes than level
 * 3 for about a tenth less CPU per write, and decompresses as fast
 * (docs/nbd.md, Benchmark).  Negative levels are faster still but store a
 * fifth more. */
#define NT_DEFAULT_LEVEL 1

/* How long a put answered -ENOSPC is retried when there is no overflow
 * file and the pool is below its ceiling (its reserve is refilling). */
#define NT_NOSPACE_WAIT_MS 200

/* -D tmem.pool=1: the pool's own debug messages.
 * -D tmem.requests=1: one line per request (slow; not for real swap). */
NBDKIT_DLL_PUBLIC int tmem_debug_pool;
NBDKIT_DLL_PUBLIC int tmem_debug_requests;

/* Set while nbdkit reads keys (.load, .config), read-only once serving.
 * The keys go straight into cfg: they win over tmem.conf, read after
 * them in .config_complete. */
static char *config_path;
static char *swap_device; /* swap-device= */
static struct tmem_config cfg;
static const char *export_name;
static char lock_name[2 * TMEM_NAME_MAX + 32];
static char map_name[2 * TMEM_NAME_MAX + 32];
static int lock_fd = -1;
static uint64_t label;
static uint64_t share_min, share_max; /* the export's share of the pool */
static struct nt_device dev;

/* What .get_ready made, for start_undo: set by .get_ready, read at exit
 * in the process that ran it. */
static struct {
	bool fresh, pool, segment, lock;
} start_made;
/* Set at the first fork after .get_ready (nbdkit's parent and its
 * serving child) and by .after_fork (nbdkit -f): from then on the server
 * has, or had, clients, and what it made stays. */
static volatile bool forked;

static void nt_load(void)
{
	tmem_config_init(&cfg);
	cfg.level = NT_DEFAULT_LEVEL;
}

static void nt_unload(void)
{
	free(config_path);
	free(swap_device);
	nt_log_file_close();
}

static int nt_config(const char *key, const char *value)
{
	char err[512];
	int r;

	if (strcmp(key, "config") == 0) {
		free(config_path);
		config_path = strdup(value);
		if (config_path == NULL) {
			nbdkit_error("strdup: %m");
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "log-file") == 0)
		return nt_log_file(value);
	if (strcmp(key, "swap-device") == 0) {
		free(swap_device);
		/* Absolute: nbdkit changes to / when it forks.  NULL: nbdkit
		 * said why. */
		swap_device = nbdkit_absolute_path(value);
		return swap_device ? 0 : -1;
	}
	r = tmem_opt_set(&cfg, TMEM_OPT_PLUGIN, key, value, err, sizeof(err));
	if (r == -ENOENT)
		nbdkit_error("unknown key '%s' (nbdkit tmem --help lists "
			     "the keys)",
			     key);
	else if (r < 0)
		nbdkit_error("%s", err);
	return r < 0 ? -1 : 0;
}

static int nt_config_complete(void)
{
	const char *path = config_path ? config_path : TMEM_DEFAULT_CONFIG;
	char err[512];
	int r;

	r = tmem_config_load(&cfg, path, err, sizeof(err));
	if (r == -ENOENT && config_path == NULL) {
		/* No /etc/tmem.conf: the defaults and the keys will do. */
	} else if (r == -ENOENT) {
		nbdkit_error("config=%s: no such file", path);
		return -1;
	} else if (r < 0) {
		nbdkit_error("config=%s: %s", path, err);
		return -1;
	}
	if (tmem_config_validate(&cfg, err, sizeof(err)) < 0) {
		nbdkit_error("%s", err);
		return -1;
	}

	if (cfg.swap_size == 0) {
		nbdkit_error("size: missing or zero: give the device size, "
			     "e.g. size=4G");
		return -1;
	}
	export_name = cfg.swap_export[0] ? cfg.swap_export : "swap";
	/* [pool] min-share.EXPORT / max-share.EXPORT win over [swap]
	 * min-share, which applies to whatever the export is called; each
	 * only where it is given. */
	share_min = cfg.swap_min_share;
	share_max = 0;
	(void)tmem_config_share(&cfg, export_name, &share_min, &share_max);
	if (!cfg.swap_overflow[0] && cfg.swap_overflow_size) {
		nbdkit_error("overflow-size: given without overflow=FILE");
		return -1;
	}
	if (cfg.swap_overflow[0] && cfg.swap_overflow_size == 0)
		cfg.swap_overflow_size = cfg.swap_size;
	/* Keys given here win over the file, as everywhere: also over
	 * [pool] min-share.EXPORT and max-share.EXPORT. */
	if (cfg.origin[tmem_opt_index("swap", "min-share")] < 0)
		share_min = cfg.swap_min_share;
	if (cfg.swap_max_share)
		share_max = cfg.swap_max_share;
	if (share_max && share_min > share_max) {
		nbdkit_error("min-share: %" PRIu64 " is more than max-share "
			     "(%" PRIu64 ") for export %s",
			     share_min, share_max, export_name);
		return -1;
	}
	return 0;
}

#define nt_config_help                                                        \
	"size=SIZE[KMGT]   (required) Device size, a multiple of 4096.\n"     \
	"export=NAME       Sub-pool holding this device (default swap);\n"    \
	"                  a restart with the same pool and export finds\n"   \
	"                  the data again.\n"                                 \
	"pool=NAME         Shared segment /dev/shm/NAME (default tmem).\n"    \
	"pool-size=SIZE    Segment ceiling if this process creates it\n"      \
	"                  (K/M/G/T or N% of RAM; default 256M).\n"           \
	"overflow=FILE     Pages the pool cannot hold go to FILE, on a\n"     \
	"                  block-backed file system (not tmpfs).\n"           \
	"overflow-size=SIZE  FILE's size, allocated in full at start\n"       \
	"                  (default: the device size).\n"                     \
	"demote-after=SECS Every SECS, pages found read back at the last\n"   \
	"                  two looks move to FILE (likely stale; default\n"   \
	"                  10, 0 never).\n"                                   \
	"swap-device=DEV   The block device the kernel swaps to through\n"    \
	"                  this server (/dev/nbdN, on this machine): the\n"   \
	"                  server then hears the kernel free swap slots\n"    \
	"                  and drops their pages (needs BPF and root).\n"     \
	"watermark-gap=SIZE  Free memory between the kernel's watermarks\n"   \
	"                  below which this warns at start (default 32M).\n"  \
	"ballast=SIZE      Locked memory given back to the kernel when\n"     \
	"                  free memory sits at its minimum (default 4M,\n"    \
	"                  0 none: for a server on another machine).\n"       \
	"realtime=BOOL     Request threads run SCHED_RR, so that their\n"     \
	"                  replies may use the kernel's reserve below the\n"  \
	"                  minimum watermark (default yes).\n"                \
	"full-oom=SECS     When for SECS writes were refused (pool full),\n"  \
	"                  nothing moved and every task waited for memory\n"  \
	"                  a quarter of the time,\n"                          \
	"                  ask the kernel's OOM killer to act (default\n"     \
	"                  5, 0 never: a server for another machine).\n"      \
	"min-share=SIZE    Pool bytes reserved for this device.\n"            \
	"max-share=SIZE    Cap of the device's pool bytes (default none).\n"  \
	"level=N           zstd level of the pool (when creating it;\n"       \
	"                  default 1; negative levels are faster).\n"         \
	"dedup=BOOL        Deduplicate identical pages (when creating it).\n" \
	"dedup-scope=subpool|pool  Share pages with this export only\n"       \
	"                  (default), or with every export set to pool\n"     \
	"                  (lets each time whether a page is in another).\n"  \
	"dictionary=BOOL   Train a zstd dictionary on the first pages\n"      \
	"                  (when creating it; default yes).\n"                \
	"lock=BOOL         Lock pool pages in RAM as they are touched.\n"     \
	"prefault=BOOL     Reserve and fault in the whole segment now.\n"     \
	"contexts=N        Compression contexts (concurrent requests).\n"     \
	"reset=BOOL        Drop what the export held before starting.\n"      \
	"log-file=FILE     Where the plugin's messages go from the fork on\n" \
	"                  (appended; - for the stderr nbdkit started\n"      \
	"                  with, which a forked nbdkit otherwise loses).\n"   \
	"config=FILE       tmem.conf to read first "                          \
	"(default " TMEM_DEFAULT_CONFIG "\n"                                  \
	"                  if it exists); keys given here win."

/* The pool logs from request threads too (a damaged page found by a
 * read): through the log ring once serving. */
static void pool_log(void *opaque, enum tmem_log_level level, const char *msg)
{
	if (level <= TMEM_LOG_WARNING)
		nt_log(false, "pool: %s", msg);
	else if (tmem_debug_pool)
		nt_log(true, "pool: %s", msg);
}

/* Attach and open the export's sub-pool; *made (if not NULL) says
 * whether the sub-pool is new. */
static int pool_attach(struct tmem **out, bool *made)
{
	struct tmem_options opts;
	uint32_t id;
	bool shared;
	int r;

	tmem_options_init(&opts);
	tmem_config_to_options(&cfg, &opts);
	opts.grower = true;
	opts.log = pool_log;
	/* What pool_log would drop is not formatted, on a request either. */
	opts.log_level = tmem_debug_pool ? TMEM_LOG_DEBUG : TMEM_LOG_WARNING;
	r = tmem_open(&opts, out);
	if (r < 0) {
		if (r == -EPROTO || r == -EBADMSG)
			nt_log(false,
			       "pool=%s: %s: use another pool= or "
			       "remove /dev/shm/%s (with tmemctl destroy; "
			       "by hand if it is not a tmem segment)",
			       opts.name, tmem_strerror(r), opts.name);
		else
			nt_log(false, "pool=%s: %s", opts.name,
			       tmem_strerror(r));
		return -1;
	}
	if (made)
		*made = tmem_pool_find(*out, export_name, &id) != 0;
	r = tmem_pool_open(*out, export_name, TMEM_PERSISTENT, share_min,
			   share_max, &dev.pool_id);
	if (r < 0) {
		nt_log(false,
		       "export=%s: cannot open the sub-pool in pool "
		       "%s: %s",
		       export_name, opts.name, tmem_strerror(r));
		return -1;
	}
	/* Set at every start: the scope is the configuration's, not what
	 * an earlier life of the export left in the segment. */
	shared = cfg.swap_dedup_scope == TMEM_SCOPE_POOL;
	r = tmem_pool_set_dedup(*out, dev.pool_id,
				shared ? TMEM_DEDUP_POOL : TMEM_DEDUP_SUBPOOL);
	if (r < 0) {
		nt_log(false, "export=%s: dedup-scope=%s: %s", export_name,
		       shared ? "pool" : "subpool", tmem_strerror(r));
		return -1;
	}
	return 0;
}

/* What a sub-pool holds, stored in the sub-pool itself: a restart with
 * another size must not serve pages laid out for the old one. */
struct nt_label {
	char magic[8];
	uint64_t size;
	uint64_t id; /* random; ties the overflow map to this life */
};
#define NT_LABEL_MAGIC "TMEMNBD1"

static int label_check(struct tmem *t, bool *fresh)
{
	static unsigned char page[TMEM_PAGE_SIZE];
	struct nt_label l;
	uint64_t pages, used;
	int r;

	r = tmem_get(t, dev.pool_id, NT_LABEL_OBJECT, 0, page);
	if (r == 0) {
		memcpy(&l, page, sizeof(l));
		if (memcmp(l.magic, NT_LABEL_MAGIC, 8) != 0) {
			nbdkit_error("export=%s: the sub-pool holds something "
				     "other than an nbd-tmem device",
				     export_name);
			return -1;
		}
		if (l.size != cfg.swap_size) {
			nbdkit_error(
				"size: export %s holds a device of %" PRIu64
				" bytes, not %" PRIu64
				": use that size, another export=, or "
				"reset=true to drop its data",
				export_name, l.size, cfg.swap_size);
			return -1;
		}
		label = l.id;
		nbdkit_debug("export %s: found a device of %" PRIu64 " bytes",
			     export_name, l.size);
		return 0;
	}
	if (r != -ENOENT) {
		nbdkit_error("export=%s: reading the label: %s", export_name,
			     tmem_strerror(r));
		return -1;
	}
	/* No label, but pages: another program's data, never taken over. */
	if (tmem_pool_usage(t, dev.pool_id, &pages, &used) == 0 && pages) {
		nbdkit_error("export=%s: the sub-pool holds %" PRIu64
			     " pages but no nbd-tmem device label (another "
			     "program's data?): give another export=, or "
			     "reset=true to drop them",
			     export_name, pages);
		return -1;
	}
	memset(&l, 0, sizeof(l));
	memcpy(l.magic, NT_LABEL_MAGIC, 8);
	l.size = cfg.swap_size;
	if (getrandom(&l.id, sizeof(l.id), 0) != sizeof(l.id)) {
		nbdkit_error("getrandom: %m");
		return -1;
	}
	memset(page, 0, sizeof(page));
	memcpy(page, &l, sizeof(l));
	r = tmem_put(t, dev.pool_id, NT_LABEL_OBJECT, 0, page);
	if (r < 0) {
		nbdkit_error("export=%s: storing the label: %s%s", export_name,
			     tmem_strerror(r),
			     r == -ENOSPC && share_max && share_max < (1 << 20)
				     ? " (max-share is too small: the sub-pool "
				       "needs at least a chunk, 64K, for its "
				       "label and as much again for pages)"
				     : "");
		return -1;
	}
	label = l.id;
	*fresh = true;
	return 0;
}

/* One server per export: two would each think they own the pages. */
static const char *pool_name(void)
{
	return cfg.pool_name[0] ? cfg.pool_name : TMEM_DEFAULT_SEGMENT;
}

/* The cheap start-up verification: index chains and every entry's check
 * (no page is decompressed: tmemctl check --deep does that).  Damage is
 * reported, and the pages it touches read as I/O errors; the rest of the
 * device is served.  Entries cut off their chains are relinked by the
 * repair this asks for, before any request uses their stripe. */
static void pool_verify(struct tmem *t)
{
	struct tmem_verify_result vr;
	int r;

	r = tmem_verify(t, false, 0, &vr);
	if (vr.cut_stripes)
		nbdkit_error("pool=%s: %" PRIu64 " stripes had entries "
			     "cut off their chains or a damaged bucket count "
			     "(above): the pool rebuilds them from the "
			     "records before it serves them",
			     pool_name(), vr.cut_stripes);
	if (r == -EUCLEAN && (vr.bad_pages || vr.bad_chains > vr.cut_stripes))
		nbdkit_error("pool=%s: %" PRIu64
			     " damaged index entries, %" PRIu64
			     " broken index chains (above): the pages they "
			     "hold read as I/O errors until written or "
			     "trimmed; run 'tmemctl check --deep %s'",
			     pool_name(), vr.bad_pages,
			     vr.bad_chains - vr.cut_stripes, pool_name());
	else if (r < 0 && r != -EUCLEAN)
		nbdkit_error("pool=%s: verifying: %s", pool_name(),
			     tmem_strerror(r));
	else
		nbdkit_debug("pool=%s: %" PRIu64 " index entries verified",
			     pool_name(), vr.entries);
}

/* Whether fd is still the file at /dev/shm<name>: a lock file can be
 * removed (tmemctl destroy --subpool takes an unheld one; a start that
 * fails removes the one it made) between a server's open and its lock. */
static bool lock_file_current(int fd, const char *name)
{
	char path[sizeof "/dev/shm" + sizeof lock_name];
	struct stat a, b;

	snprintf(path, sizeof path, "/dev/shm%s", name);
	return fstat(fd, &a) == 0 && lstat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Take the export's lock file, made if missing (*made: this server made
 * it, and holds it, so a failed start removes it).  A server that locked
 * a file removed meanwhile would hold a lock no other server sees: it
 * lets go and takes the one at the path; so does one that found the file
 * held by whoever is removing it.  NT_LOCK_TRIES more times at most. */
#define NT_LOCK_TRIES 8
static int export_lock(bool *made)
{
	char why[200];
	int tries;
	bool locked;

	for (tries = 0;; tries++) {
		lock_fd = shm_open(lock_name, O_RDWR | O_CLOEXEC, 0600);
		*made = lock_fd < 0 && errno == ENOENT;
		if (*made)
			lock_fd = shm_open(
				lock_name,
				O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (lock_fd < 0 && errno == EEXIST && tries < NT_LOCK_TRIES)
			continue; /* another server made it first */
		if (lock_fd < 0) {
			*made = false;
			nbdkit_error("/dev/shm%s: %m", lock_name);
			return -1;
		}
		/* A lock another user made first could be held by them for
		 * ever. */
		if (tmem_file_private(lock_fd, why, sizeof why) < 0) {
			*made = false; /* not locked: not ours to remove */
			nbdkit_error("/dev/shm%s: refusing the export's lock "
				     "file: %s",
				     lock_name, why);
			return -1;
		}
#ifdef TMEM_TEST_HOOKS
		if (getenv("TMEM_TEST_LOCK_PAUSE_MS") && tries == 0)
			usleep(1000 * (useconds_t)atoi(getenv(
					      "TMEM_TEST_LOCK_PAUSE_MS")));
#endif
		locked = flock(lock_fd, LOCK_EX | LOCK_NB) == 0;
		if (locked && lock_file_current(lock_fd, lock_name))
			return 0;
		/* Held: by another server, for good, or for a moment by
		 * whoever is removing it (tmemctl destroy: lock, unlink,
		 * close); a few milliseconds tell the two apart. */
		if (!locked && tries == NT_LOCK_TRIES &&
		    lock_file_current(lock_fd, lock_name)) {
			*made = false; /* another server's */
			nbdkit_error("export=%s of pool %s is already being "
				     "served by another nbdkit",
				     export_name, pool_name());
			return -1;
		}
		close(lock_fd);
		lock_fd = -1;
		if (!locked)
			usleep(1000);
		if (tries == NT_LOCK_TRIES) {
			*made = false;
			nbdkit_error("/dev/shm%s: the export's lock file was "
				     "removed each time this server locked it; "
				     "not serving",
				     lock_name);
			return -1;
		}
	}
}

/* The kernel's free-memory watermarks that let the pool grow while the
 * kernel swaps to it (docs/swap.md, "Swap safety"; scripts/tmem-swap
 * raises them).  The plugin does not change them itself: they are the
 * whole machine's, and most uses of nbdkit are not swap.
 * vm.watermark_scale_factor sets the gap between the minimum and the low
 * watermark (and the low and the high) in ten-thousandths of RAM; what
 * the server needs there is room to grow the pool while kswapd catches
 * up, which does not grow with RAM: [swap] watermark-gap (default 32 MiB),
 * as a scale factor of this machine's RAM, at most NT_WATERMARK_SCALE_MAX
 * (10 %: what the guest tests measured, 33 MiB of a 329 MiB guest). */
#define NT_MIN_FREE_KBYTES     16384
#define NT_WATERMARK_SCALE_MAX 1000

static long vm_sysctl(const char *name)
{
	char path[64], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/sys/vm/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* The vm.watermark_scale_factor that puts gap_kib between the watermarks
 * on this machine (rounded up, at most NT_WATERMARK_SCALE_MAX; that when
 * RAM cannot be read). */
static long watermark_scale_needed(uint64_t gap_kib)
{
	struct sysinfo si;
	uint64_t kib, scale;

	if (sysinfo(&si) != 0)
		return NT_WATERMARK_SCALE_MAX;
	kib = (uint64_t)si.totalram * si.mem_unit / 1024;
	if (kib == 0)
		return NT_WATERMARK_SCALE_MAX;
	scale = (gap_kib * UINT64_C(10000) + kib - 1) / kib;
	return scale < NT_WATERMARK_SCALE_MAX ? (long)scale
					      : NT_WATERMARK_SCALE_MAX;
}

/* Say so when the watermarks are below what swapping to this device
 * needs: measured in a 329 MiB guest, the README's commands without them
 * wedged the guest within seconds of the first swap-out, every time. */
static void check_watermarks(void)
{
	long min_free = vm_sysctl("min_free_kbytes");
	long scale = vm_sysctl("watermark_scale_factor");
	uint64_t gap_kib = cfg.swap_watermark_gap / 1024;
	long need = watermark_scale_needed(gap_kib);

	if ((min_free >= 0 && min_free < NT_MIN_FREE_KBYTES) ||
	    (scale >= 0 && scale < need))
		fprintf(stderr,
			"nbdkit: tmem: warning: vm.min_free_kbytes=%ld and "
			"vm.watermark_scale_factor=%ld: swapping to this "
			"device can wedge the machine under memory pressure; "
			"raise them to at least %d and %ld (%" PRIu64
			" MiB between the watermarks on this machine, "
			"[swap] watermark-gap; scripts/tmem-swap start "
			"does)\n",
			min_free, scale, NT_MIN_FREE_KBYTES, need,
			(gap_kib + 1023) / 1024);
}

/* Whether the request threads can be made real-time: tried on a thread
 * of its own that ends, so that nothing else in this process changes. */
static void *rt_probe(void *arg)
{
	*(int *)arg = rt_set(NT_RT_POLICY) == 0 ? 0 : errno;
	return NULL;
}

static void rt_check(void)
{
	pthread_t th;
	int err, res = 0;

	rt_wanted = false;
	if (!cfg.swap_realtime)
		return;
	err = pthread_create(&th, NULL, rt_probe, &res);
	if (err == 0) {
		pthread_join(th, NULL);
		err = res;
	}
	if (err) {
		fprintf(stderr,
			"nbdkit: tmem: warning: realtime: SCHED_RR: %s (needs "
			"CAP_SYS_NICE or RLIMIT_RTPRIO): the request threads "
			"stay ordinary, and when free memory sits at its "
			"minimum their replies wait in reclaim with every "
			"other process (docs/swap.md)\n",
			strerror(err));
		return;
	}
	rt_wanted = true;
}

static void swap_safety(void)
{
	pthread_attr_t attr;
	int fd;

	/* Reclaim must not recurse into I/O that waits for us. */
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		fprintf(stderr,
			"nbdkit: tmem: warning: PR_SET_IO_FLUSHER: %m "
			"(needs CAP_SYS_RESOURCE): swapping to this device "
			"can deadlock under memory pressure\n");
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "-1000", 5) != 5)
		fprintf(stderr,
			"nbdkit: tmem: warning: oom_score_adj=-1000: %m: "
			"the OOM killer may kill this swap server\n");
	if (fd >= 0)
		close(fd);
	check_watermarks();
	rt_check();

	if (pthread_getattr_default_np(&attr) == 0) {
		if (pthread_attr_setstacksize(&attr, NT_STACK_SIZE) != 0 ||
		    pthread_setattr_default_np(&attr) != 0)
			nbdkit_debug("cannot bound worker stacks");
		pthread_attr_destroy(&attr);
	}
}

/* reset=true: drop the export's pages, label and overflow map. */
static int export_reset(struct tmem *t)
{
	uint64_t page, pages = cfg.swap_size / TMEM_PAGE_SIZE, survivors = 0;
	int r;

	r = tmem_pool_destroy(t, dev.pool_id);
	if (r == 0)
		r = tmem_pool_open(t, export_name, TMEM_PERSISTENT, share_min,
				   share_max, &dev.pool_id);
	if (r < 0) {
		nbdkit_error("reset: export %s: %s", export_name,
			     tmem_strerror(r));
		return -1;
	}
	/* Belt and braces: a destroyed pool must hold nothing, and a page
	 * that survived would be served as this device's data. */
	for (page = 0; page < pages; page++) {
		enum tmem_page_state st;

		if (tmem_probe(t, dev.pool_id, NT_DATA_OBJECT, page, &st) ==
			    0 &&
		    st != TMEM_PAGE_ABSENT) {
			tmem_flush_page(t, dev.pool_id, NT_DATA_OBJECT, page);
			survivors++;
		}
	}
	if (survivors)
		nbdkit_debug("reset: %" PRIu64 " pages outlived "
			     "tmem_pool_destroy; flushed one by one",
			     survivors);
	tmem_flush_page(t, dev.pool_id, NT_LABEL_OBJECT, 0);
	nt_ov_unlink_map(map_name);
	return 0;
}

/* Undo what .get_ready made (the label of a new device, the sub-pool,
 * the segment, the lock file); t is the pool attached, or NULL to attach
 * it here.  Something another process has attached to meanwhile stays. */
static void start_undo(struct tmem *t)
{
	struct tmem_options opts;
	uint32_t id;

	if (t == NULL && (start_made.fresh || start_made.pool)) {
		tmem_options_init(&opts);
		tmem_config_to_options(&cfg, &opts);
		if (tmem_open(&opts, &t) < 0)
			t = NULL;
	}
	if (t && start_made.fresh && tmem_pool_find(t, export_name, &id) == 0)
		tmem_flush_page(t, id, NT_LABEL_OBJECT, 0);
	if (t && start_made.pool && tmem_pool_find(t, export_name, &id) == 0)
		tmem_pool_destroy(t, id);
	tmem_close(t);
	/* A new device's slot map describes nothing once its label is gone
	 * (the file named by overflow= stays: the user named it). */
	if (dev.ov && start_made.fresh)
		nt_ov_unlink_map(map_name);
	/* Refused (-EBUSY) if another process attached meanwhile. */
	if (start_made.segment)
		tmem_unlink(pool_name());
	if (start_made.lock)
		shm_unlink(lock_name);
	if (lock_fd >= 0)
		close(lock_fd);
	lock_fd = -1;
	memset(&start_made, 0, sizeof(start_made));
}

static void start_forked(void)
{
	forked = true;
}

/* nbdkit may still fail after .get_ready, before it serves (a socket path
 * too long, a port in use, -i an address not here) and exits without
 * .unload: a start that never served leaves nothing behind either. */
static void start_exit(void)
{
	if (!forked)
		start_undo(NULL);
}

/* A start that fails leaves nothing behind that it made: the lock file,
 * the segment, the sub-pool (with its label); nor does one that nbdkit
 * ends before it forks or serves (start_exit). */
static int nt_get_ready(void)
{
	struct tmem *t = NULL;
	char err[512], path[TMEM_NAME_MAX + 16];
	int r;

	swap_safety();
	if (swap_device && nt_freed_check(swap_device) < 0)
		return -1;

	/* The exports' side files are POOL.nbd-EXPORT.lock and .ovmap: a
	 * segment named like one would be taken for it. */
	if (strstr(pool_name(), ".nbd-")) {
		nbdkit_error("pool=%s: a pool name with \".nbd-\" in it is "
			     "kept for the exports' lock and map files "
			     "beside a pool's segment: choose another",
			     pool_name());
		return -1;
	}
	snprintf(lock_name, sizeof(lock_name), "/%s.nbd-%s.lock", pool_name(),
		 export_name);
	snprintf(map_name, sizeof(map_name), "/%s.nbd-%s.ovmap", pool_name(),
		 export_name);
	memset(&start_made, 0, sizeof(start_made));
	if (export_lock(&start_made.lock) < 0)
		goto err_undo;

	/* Check the pool and the label now, while errors stop nbdkit; the
	 * serving process attaches again after the fork. */
	snprintf(path, sizeof(path), "/dev/shm/%s", pool_name());
	start_made.segment = access(path, F_OK) != 0;
	if (pool_attach(&t, &start_made.pool) < 0)
		goto err_undo;
	if (cfg.swap_reset && export_reset(t) < 0)
		goto err_undo;
	pool_verify(t);
	if (label_check(t, &start_made.fresh) < 0)
		goto err_undo;

	dev.size = cfg.swap_size;
	dev.pages = cfg.swap_size / TMEM_PAGE_SIZE;
	dev.nospace_wait_ms = NT_NOSPACE_WAIT_MS;
	if (!cfg.swap_overflow[0] &&
	    nt_ov_map_check(map_name, label, err, sizeof(err)) < 0) {
		nbdkit_error("%s", err);
		goto err_undo;
	}
	if (cfg.swap_overflow[0]) {
		r = nt_ov_open(cfg.swap_overflow, cfg.swap_overflow_size,
			       dev.pages, map_name, label, &dev.ov, err,
			       sizeof(err));
		if (r < 0) {
			nbdkit_error("%s", err);
			goto err_undo;
		}
		nbdkit_debug("overflow %s: %" PRIu64 " slots, %" PRIu64
			     " in use",
			     cfg.swap_overflow, nt_ov_slots(dev.ov),
			     nt_ov_slots_used(dev.ov));
		if (nt_ov_lost(dev.ov))
			nbdkit_error("overflow map /dev/shm%s: %" PRIu64
				     " slot records fail their check: the "
				     "pages they held are unknown, so every "
				     "page found neither in the pool nor in "
				     "the file reads as an I/O error (not as "
				     "zeros); reset=true starts afresh",
				     map_name, nt_ov_lost(dev.ov));
	}
	tmem_close(t);
	/* Before the fork, so that a warning reaches the terminal (the BPF
	 * objects' descriptors and the ring's mappings are inherited), and
	 * before memory is locked: loading reads the kernel's BTF
	 * (megabytes, given back afterwards). */
	if (swap_device) {
		dev.stamps = nt_freed_load(swap_device, dev.pages) == 1;
		malloc_trim(0);
	}
	if (pthread_atfork(NULL, start_forked, start_forked) != 0 ||
	    atexit(start_exit) != 0)
		nbdkit_debug("cannot register the undo of a failed start");
	return 0;

err_undo:
	start_undo(t);
	return -1;
}

static int nt_after_fork(void)
{
	struct tmem_segment_info info;
	int r;

	forked = true;
	/* nbdkit's stderr may be /dev/null from here on (log-file=). */
	nt_log_forked();
	/* Not nbdkit's --swap: that locks before the fork, so the daemon
	 * that serves ends up unlocked.  ONFAULT: lock what we touch, not
	 * every reserved stack and arena. */
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		nt_log_warn("mlockall: %m: pages of this swap server may "
			    "themselves be swapped out");
	/* nbdkit's own code, constants and data: it runs every request (the
	 * pool locks its own, zstd's, the C library's and the loader's when
	 * it attaches). */
	r = tmem_lock_code(NULL);
	if (r < 0)
		nt_log_warn("locking nbdkit's code: %s: a request that runs a "
			    "path of it for the first time may fault",
			    strerror(-r));
	if (tmem_binds_lazily())
		nt_log_warn("nbdkit or its libraries bind their calls lazily: "
			    "the first call of each on a rare path runs the "
			    "dynamic loader's lookup, which may fault; start "
			    "nbdkit with LD_BIND_NOW=1 (tmem-swap and tmem-vm "
			    "do)");

	if (pool_attach(&dev.pool, NULL) < 0)
		return -1;
	if (tmem_segment_info(dev.pool, &info) == 0)
		dev.pool_ceiling = info.pool_size;
	r = tmem_start(dev.pool);
	if (r < 0) {
		nt_log(false, "pool=%s: starting its grower thread: %s",
		       pool_name(), tmem_strerror(r));
		return -1;
	}
	if (dev.ov)
		nt_ov_touch(dev.ov);
	if (nt_pages_init(&dev) < 0) {
		nt_log(false, "scratch pages: %m");
		return -1;
	}
	/* From here on nothing logs through nbdkit on a request's thread. */
	r = nt_log_start();
	if (r < 0) {
		nt_log(false, "starting the log thread: %s", strerror(-r));
		return -1;
	}
	r = nt_demote_start(&dev, cfg.swap_demote_after);
	if (r < 0) {
		nt_log(false, "starting the demotion thread: %s", strerror(-r));
		goto logged;
	}
	if (nt_ballast_start(cfg.swap_ballast) < 0)
		goto logged;
	r = nt_oom_start(cfg.swap_full_oom);
	if (r < 0) {
		nt_log(false, "starting the full-oom thread: %s", strerror(-r));
		goto logged;
	}
	r = nt_freed_start(&dev);
	if (r < 0) {
		nt_log(false, "starting the free notice thread: %s",
		       strerror(-r));
		goto logged;
	}
	return 0;

logged:
	/* The message is in the ring, and nbdkit exits as soon as this
	 * returns: hand it over first (joins the log thread, drains). */
	nt_log_stop();
	return -1;
}

static void print_stats(void)
{
	struct tmem_pool_info pools[64];
	const struct tmem_stats *st = NULL;
	int i, n;

	n = tmem_pool_list(dev.pool, pools, 64);
	for (i = 0; i < n && i < 64; i++)
		if (pools[i].id == dev.pool_id)
			st = &pools[i].stats;
	if (st)
		nbdkit_debug("export %s: %" PRIu64 " pages stored, %" PRIu64
			     " bytes used, %" PRIu64
			     " compressed; puts %" PRIu64 ", gets %" PRIu64
			     ", flushes %" PRIu64 "; zero %" PRIu64
			     ", same-filled %" PRIu64 ", dedup %" PRIu64
			     ", raw %" PRIu64 ", read back %" PRIu64
			     " (%" PRIu64 " bytes), checksum errors %" PRIu64,
			     export_name, st->pages_stored, st->bytes_used,
			     st->bytes_compressed, st->puts, st->gets,
			     st->flushes, st->zero_pages, st->same_filled_pages,
			     st->dedup_hits, st->raw_pages, st->pages_read_back,
			     st->bytes_read_back, st->checksum_errors);
	nbdkit_debug(
		"export %s: partial pages %" PRIu64 "; overflow writes %" PRIu64
		", reads %" PRIu64 ", promoted %" PRIu64 ", demoted %" PRIu64
		", full %" PRIu64 "; no space %" PRIu64 " (retries %" PRIu64
		", refused after the whole wait with room left %" PRIu64
		", waited on for the grower's allocation %" PRIu64
		"); I/O errors %" PRIu64 "; ballast given back %" PRIu64
		" times, taken back %" PRIu64 " times, %zu KiB held; "
		"real-time request threads %" PRIu64
		"; OOM kills asked for %" PRIu64,
		export_name, nt_counters.rmw_pages, nt_counters.ov_writes,
		nt_counters.ov_reads, nt_counters.ov_promoted,
		nt_counters.ov_demoted, nt_counters.ov_full,
		nt_counters.nospace, nt_counters.nospace_retries,
		nt_counters.nospace_waited, nt_counters.fault_waits,
		nt_counters.io_errors, nt_counters.ballast_releases,
		nt_counters.ballast_refills, nt_ballast_held() / 1024,
		nt_counters.rt_threads, nt_counters.full_ooms);
	if (dev.ov)
		nbdkit_debug("overflow: %" PRIu64 " of %" PRIu64
			     " slots in use",
			     nt_ov_slots_used(dev.ov), nt_ov_slots(dev.ov));
}

static void nt_cleanup(void)
{
	nt_freed_stop();
	nt_oom_stop();
	nt_ballast_stop();
	nt_demote_stop();
	nt_log_stop();
	if (dev.pool)
		print_stats();
	nt_pages_free();
	tmem_close(dev.pool);
	dev.pool = NULL;
	nt_ov_close(dev.ov);
	dev.ov = NULL;
	if (lock_fd >= 0)
		close(lock_fd);
	lock_fd = -1;
}

static void nt_dump_plugin(void)
{
	printf("tmem_version=%s\n", tmem_version());
	printf("tmem_page_size=%d\n", TMEM_PAGE_SIZE);
	printf("tmem_default_pool=%s\n", TMEM_DEFAULT_SEGMENT);
	printf("tmem_default_level=%d\n", NT_DEFAULT_LEVEL);
	printf("tmem_overflow=yes\n");
	printf("tmem_persistent_export=yes\n");
	printf("tmem_io_flusher=yes\n");
	printf("tmem_mlock_onfault=yes\n");
#ifdef HAVE_BPF
	printf("tmem_free_notice=yes\n");
#else
	printf("tmem_free_notice=no\n");
#endif
}

/* On the connection's thread, which makes its workers after this: with
 * [swap] realtime they inherit SCHED_RR (without reset-on-fork here: the
 * connection's thread starts no process). */
static void *nt_open(int readonly)
{
	nt_freed_reconfirm();
	nt_oom_peer();
	if (rt_wanted)
		rt_set(SCHED_RR);
	return NBDKIT_HANDLE_NOT_NEEDED;
}

static void nt_close(void *handle)
{
	nt_freed_reconfirm();
}

static int64_t nt_get_size(void *handle)
{
	return (int64_t)dev.size;
}

static int nt_true(void *handle)
{
	return 1;
}

static int nt_false(void *handle)
{
	return 0;
}

static int nt_can_fua(void *handle)
{
	return NBDKIT_FUA_NATIVE;
}

static int nt_can_cache(void *handle)
{
	return NBDKIT_CACHE_NATIVE;
}

static int nt_block_size(void *handle, uint32_t *minimum, uint32_t *preferred,
			 uint32_t *maximum)
{
	*minimum = 1;
	*preferred = TMEM_PAGE_SIZE;
	*maximum = 0xffffffff;
	return 0;
}

/* Report r (-errno) the plugin way.  -ETIMEDOUT (a repair of the pool
 * that did not come within the bound: tmem_repair_wait) goes to the
 * client as EIO: NBD has no timeout error, and nbdkit would send EINVAL,
 * which says the request was malformed. */
static int nt_fail(const char *op, uint64_t offset, int r)
{
	bool held = r == -ETIMEDOUT;

	nt_log(false, "%s at %" PRIu64 ": %s", op, offset,
	       held ? "the pool's repair is held up (is another process "
		      "attached to it stopped, holding a lock the repair "
		      "needs?): refused (EIO)"
		    : tmem_strerror(r));
	errno = held ? EIO : -r;
	return -1;
}

static int sync_if_fua(uint32_t flags)
{
	int r;

	if ((flags & NBDKIT_FLAG_FUA) && (r = nt_pages_sync()) < 0)
		return r;
	return 0;
}

static int nt_pread(void *handle, void *buf, uint32_t count, uint64_t offset,
		    uint32_t flags)
{
	int r;

	request_begin(count);
	if (tmem_debug_requests)
		nt_log(true, "pread %" PRIu32 " @ %" PRIu64, count, offset);
	r = nt_pages_read(buf, count, offset);
	return r < 0 ? nt_fail("read", offset, r) : 0;
}

static int nt_pwrite(void *handle, const void *buf, uint32_t count,
		     uint64_t offset, uint32_t flags)
{
	int r;

	request_begin(count);
	if (tmem_debug_requests)
		nt_log(true, "pwrite %" PRIu32 " @ %" PRIu64 " flags %#x",
		       count, offset, flags);
	r = nt_pages_write(buf, count, offset);
	if (r == -ENOSPC) {
		/* The pool is full, or its grower was late: said by the
		 * pages layer (say_full once, say_late at most every 10 s),
		 * not for every refused write. */
		errno = ENOSPC;
		return -1;
	}
	if (r == 0)
		r = sync_if_fua(flags);
	return r < 0 ? nt_fail("write", offset, r) : 0;
}

static int nt_zero(void *handle, uint32_t count, uint64_t offset,
		   uint32_t flags)
{
	int r;

	request_begin(count);
	if (tmem_debug_requests)
		nt_log(true, "zero %" PRIu32 " @ %" PRIu64 " flags %#x", count,
		       offset, flags);
	/* Zeroing is always as fast as it gets here, so FAST_ZERO needs no
	 * special path. */
	r = nt_pages_zero(count, offset, flags & NBDKIT_FLAG_MAY_TRIM);
	if (r == 0)
		r = sync_if_fua(flags);
	return r < 0 ? nt_fail("zero", offset, r) : 0;
}

static int nt_trim(void *handle, uint32_t count, uint64_t offset,
		   uint32_t flags)
{
	int r;

	request_begin(count);
	if (tmem_debug_requests)
		nt_log(true, "trim %" PRIu32 " @ %" PRIu64, count, offset);
	r = nt_pages_trim(count, offset);
	if (r == 0)
		r = sync_if_fua(flags);
	return r < 0 ? nt_fail("trim", offset, r) : 0;
}

static int nt_flush(void *handle, uint32_t flags)
{
	int r;

	request_begin(0);
	r = nt_pages_sync();

	return r < 0 ? nt_fail("flush", 0, r) : 0;
}

static int nt_cache(void *handle, uint32_t count, uint64_t offset,
		    uint32_t flags)
{
	int r;

	request_begin(count);
	r = nt_pages_cache(count, offset);

	return r < 0 ? nt_fail("cache", offset, r) : 0;
}

/* Extents: absent pages are holes reading as zero, zero pages read as
 * zero but are allocated.  Answer at most this much per call (clients ask
 * again for the rest), so that one request cannot hog the page locks. */
#define NT_EXTENTS_MAX (1ULL << 30)

static int nt_extents(void *handle, uint32_t count, uint64_t offset,
		      uint32_t flags, struct nbdkit_extents *extents)
{
	uint64_t end = offset + count, pos = offset;
	uint32_t first_type = 0;
	enum tmem_page_state state;
	int r;

	request_begin(count);
	if (end - offset > NT_EXTENTS_MAX)
		end = offset + NT_EXTENTS_MAX;
	while (pos < end) {
		uint64_t page = pos >> TMEM_PAGE_SHIFT;
		uint64_t next = (page + 1) << TMEM_PAGE_SHIFT;
		uint32_t type;

		r = nt_pages_probe(page, &state);
		if (r < 0)
			return nt_fail("extents", pos, r);
		type = state == TMEM_PAGE_ABSENT
			       ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO
		       : state == TMEM_PAGE_ZERO ? NBDKIT_EXTENT_ZERO
						 : 0;
		if (pos == offset)
			first_type = type;
		else if ((flags & NBDKIT_FLAG_REQ_ONE) && type != first_type)
			break;
		if (next > end)
			next = end;
		if (nbdkit_add_extent(extents, pos, next - pos, type) < 0)
			return -1;
		pos = next;
	}
	return 0;
}

static struct nbdkit_plugin plugin = {
	.name = "tmem",
	.longname = "tmem compressed RAM swap device",
	.version = PACKAGE_VERSION,
	.magic_config_key = "size",
	.load = nt_load,
	.unload = nt_unload,
	.config = nt_config,
	.config_complete = nt_config_complete,
	.config_help = nt_config_help,
	.get_ready = nt_get_ready,
	.after_fork = nt_after_fork,
	.cleanup = nt_cleanup,
	.dump_plugin = nt_dump_plugin,
	.open = nt_open,
	.close = nt_close,
	.get_size = nt_get_size,
	.block_size = nt_block_size,
	.can_write = nt_true,
	.can_flush = nt_true,
	.is_rotational = nt_false,
	.can_trim = nt_true,
	.can_zero = nt_true,
	.can_fast_zero = nt_true,
	.can_fua = nt_can_fua,
	.can_multi_conn = nt_true,
	.can_extents = nt_true,
	.can_cache = nt_can_cache,
	.pread = nt_pread,
	.pwrite = nt_pwrite,
	.zero = nt_zero,
	.trim = nt_trim,
	.flush = nt_flush,
	.cache = nt_cache,
	.extents = nt_extents,
	.errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN(plugin)
