/* tmem-fuse-cache: the inode table.
 *
 * Every inode the kernel knows is an fc_inode holding an O_PATH descriptor
 * of the source file, keyed by (st_dev, st_ino) as in libfuse's
 * passthrough_hp; the FUSE node id is the entry's address.  Holding the
 * descriptor pins the source inode, so its number cannot be reused while
 * the kernel knows it.  When the kernel forgets an inode whose pages are in
 * the pool, the entry stays (without a descriptor) so that the next lookup
 * finds its object id and validator again: the pool is meant to outlive
 * the kernel's caches, including its inode cache.  Such kept entries are
 * bounded (kept-inodes): past the bound the one forgotten longest ago
 * leaves the table and its pages leave the pool, so that a scan of many
 * files cannot grow the daemon's locked memory without end.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "fc-internal.h"

static size_t fc_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ULL;
	h ^= (uint64_t)dev + (h >> 29);
	return (size_t)(h * 0xBF58476D1CE4E5B9ULL >> 17);
}

/* Forget every name recorded for in.  Caller must hold fc.table_lock, or
 * be the last user of in. */
static void fc_names_free(struct fc_inode *in)
{
	for (int i = 0; i < FC_NAMES_MAX; i++) {
		free(in->names[i].name);
		in->names[i].name = NULL;
	}
}

int fc_table_init(void)
{
	fc.table_size = 4096;
	fc.table = calloc(fc.table_size, sizeof(*fc.table));
	if (!fc.table)
		return -ENOMEM;
	pthread_mutex_init(&fc.table_lock, NULL);
	return 0;
}

void fc_table_free(void)
{
	while (fc.orphans) {
		struct fc_inode *in = fc.orphans;
		fc.orphans = in->next;
		if (in->fd >= 0)
			close(in->fd);
		if (in->pin_fd >= 0)
			close(in->pin_fd);
		pthread_rwlock_destroy(&in->cache_lock);
		fc_names_free(in);
		free(in);
	}
	for (size_t i = 0; i < fc.table_size; i++) {
		struct fc_inode *in = fc.table[i], *next;
		for (; in; in = next) {
			next = in->next;
			if (in == &fc.root)
				continue;
			if (in->fd >= 0)
				close(in->fd);
			if (in->pin_fd >= 0)
				close(in->pin_fd);
			pthread_rwlock_destroy(&in->cache_lock);
			fc_names_free(in);
			free(in);
		}
	}
	free(fc.table);
	fc.table = NULL;
}

/* Caller must hold fc.table_lock. */
static void fc_table_grow(void)
{
	size_t n = fc.table_size * 2;
	struct fc_inode **t = calloc(n, sizeof(*t));
	if (!t)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < fc.table_size; i++) {
		struct fc_inode *in = fc.table[i], *next;
		for (; in; in = next) {
			next = in->next;
			size_t b = fc_hash(in->dev, in->ino) & (n - 1);
			in->next = t[b];
			t[b] = in;
		}
	}
	free(fc.table);
	fc.table = t;
	fc.table_size = n;
}

/* Caller must hold fc.table_lock. */
static struct fc_inode *fc_table_find(dev_t dev, ino_t ino)
{
	size_t b = fc_hash(dev, ino) & (fc.table_size - 1);
	for (struct fc_inode *in = fc.table[b]; in; in = in->next)
		if (in->dev == dev && in->ino == ino)
			return in;
	return NULL;
}

/* Caller must hold fc.table_lock. */
static void fc_table_insert(struct fc_inode *in)
{
	if (fc.table_count + 1 > fc.table_size * 2)
		fc_table_grow();
	size_t b = fc_hash(in->dev, in->ino) & (fc.table_size - 1);
	in->next = fc.table[b];
	fc.table[b] = in;
	fc.table_count++;
}

/* Caller must hold fc.table_lock. */
static void fc_table_remove(struct fc_inode *in)
{
	size_t b = fc_hash(in->dev, in->ino) & (fc.table_size - 1);
	for (struct fc_inode **p = &fc.table[b]; *p; p = &(*p)->next) {
		if (*p == in) {
			*p = in->next;
			fc.table_count--;
			return;
		}
	}
}

/* Caller must hold fc.table_lock. */
static void fc_orphan_remove(struct fc_inode *in)
{
	for (struct fc_inode **p = &fc.orphans; *p; p = &(*p)->next) {
		if (*p == in) {
			*p = in->next;
			return;
		}
	}
}

/* Take in off the kept list (the kernel knows it again, or it goes).
 * Caller must hold fc.table_lock. */
static void fc_kept_remove(struct fc_inode *in)
{
	if (!in->kept)
		return;
	if (in->kept_prev)
		in->kept_prev->kept_next = in->kept_next;
	else
		fc.kept_head = in->kept_next;
	if (in->kept_next)
		in->kept_next->kept_prev = in->kept_prev;
	else
		fc.kept_tail = in->kept_prev;
	in->kept_prev = in->kept_next = NULL;
	in->kept = false;
	fc.kept_count--;
}

/* Put in (forgotten, hashed, with pooled pages) at the end of the kept
 * list.  Returns the entry that must go to respect the bound (out of the
 * table already: free it and flush its pages once the lock is dropped),
 * or NULL.  Caller must hold fc.table_lock. */
static struct fc_inode *fc_kept_add(struct fc_inode *in)
{
	struct fc_inode *victim;

	in->kept = true;
	in->kept_next = NULL;
	in->kept_prev = fc.kept_tail;
	if (fc.kept_tail)
		fc.kept_tail->kept_next = in;
	else
		fc.kept_head = in;
	fc.kept_tail = in;
	fc.kept_count++;
	victim = NULL;
	if (fc.kept_count > fc.set.kept_max) {
		victim = fc.kept_head;
		fc_kept_remove(victim);
		fc_table_remove(victim);
		victim->hashed = false;
	}
	if (fc.kept_count > fc.stats.kept_peak)
		fc.stats.kept_peak = fc.kept_count;
	return victim;
}

struct fc_inode *fc_inode_of(fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fc.root;
	return (struct fc_inode *)(uintptr_t)ino;
}

/* The entry for (dev, ino) with one more reference, or NULL; drop the
 * reference with fc_forget_one(..., 1).  The reference keeps the entry
 * alive should the kernel forget the inode meanwhile. */
struct fc_inode *fc_inode_find_ref(dev_t dev, ino_t ino)
{
	pthread_mutex_lock(&fc.table_lock);
	struct fc_inode *in = fc_table_find(dev, ino);
	if (in) {
		in->nlookup++;
		fc_kept_remove(in);
	}
	pthread_mutex_unlock(&fc.table_lock);
	return in;
}

/* The attributes of name in the directory dirfd (of dirfd itself when
 * name is ""), not following a final symlink, as struct stat, with
 * statx's sync flag: on FUSE and network sources AT_STATX_DONT_SYNC
 * takes what the kernel has, and AT_STATX_FORCE_SYNC asks the source (a
 * GETATTR), as NFS does at open; local file systems ignore both.  0 or
 * -errno. */
int fc_statx_at(int dirfd, const char *name, int sync, struct stat *st)
{
	int flags = AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH);
	const unsigned need = STATX_BASIC_STATS;
	struct statx x;

	int r = statx(dirfd, name, flags | sync, need, &x);

	if (r < 0 && (errno == ENOENT || errno == ENOTDIR || errno == EACCES))
		return -errno;
	if (r < 0 || (x.stx_mask & need) != need) {
		/* No statx, or a source that cannot give the basic fields
		 * through it: what stat says. */
		if (fstatat(dirfd, name, st, flags) < 0)
			return -errno;
		return 0;
	}
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(x.stx_dev_major, x.stx_dev_minor);
	st->st_ino = x.stx_ino;
	st->st_mode = x.stx_mode;
	st->st_nlink = x.stx_nlink;
	st->st_uid = x.stx_uid;
	st->st_gid = x.stx_gid;
	st->st_rdev = makedev(x.stx_rdev_major, x.stx_rdev_minor);
	st->st_size = (off_t)x.stx_size;
	st->st_blksize = x.stx_blksize;
	st->st_blocks = (blkcnt_t)x.stx_blocks;
	st->st_atim.tv_sec = x.stx_atime.tv_sec;
	st->st_atim.tv_nsec = x.stx_atime.tv_nsec;
	st->st_mtim.tv_sec = x.stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = x.stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = x.stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = x.stx_ctime.tv_nsec;
	return 0;
}

/* The statx sync flag an open asks a regular file's attributes with:
 * AT_STATX_FORCE_SYNC (close-to-open), or with -o cto=no what the kernel
 * has cached (AT_STATX_SYNC_AS_STAT). */
int fc_open_sync(void)
{
	return fc.set.cto ? AT_STATX_FORCE_SYNC : AT_STATX_SYNC_AS_STAT;
}

/* The attributes of the file open as fd (see fc_statx_at). */
int fc_statx(int fd, int sync, struct stat *st)
{
	return fc_statx_at(fd, "", sync, st);
}

/* Whether the descriptor old still refers to the live file described by
 * st (found by name just now).  A file the source deleted answers an
 * error (ESTALE) or has no links left. */
static bool fc_same_file(int old, const struct stat *st)
{
	struct stat o;
	if (fstatat(old, "", &o, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return o.st_ino == st->st_ino && o.st_dev == st->st_dev &&
	       (o.st_mode & S_IFMT) == (st->st_mode & S_IFMT) &&
	       (o.st_nlink > 0 || S_ISDIR(o.st_mode));
}

/* A new entry for the file open as fd, in the table.  Caller must hold
 * fc.table_lock. */
static struct fc_inode *fc_inode_new(int fd, const struct stat *st)
{
	struct fc_inode *in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->fd = fd;
	in->pin_fd = -1;
	in->dev = st->st_dev;
	in->ino = st->st_ino;
	in->type = st->st_mode & S_IFMT;
	in->nlookup = 1;
	in->obj = fc_new_object();
	pthread_rwlock_init(&in->cache_lock, NULL);
	fc_table_insert(in);
	in->hashed = true;
	return in;
}

static bool fc_inode_name_set(struct fc_inode *in,
			      const struct fc_inode *parent, const char *name);

/* How long the kernel may keep the attributes st.  A directory's are
 * asked for again at every use: the daemon opens through /proc/self/fd,
 * skipping the source's path walk, so the kernel's check of each
 * directory on the way (default_permissions) is the only one, and a mode
 * the source has just closed must hold at once. */
double fc_attr_timeout(const struct stat *st)
{
	return S_ISDIR(st->st_mode) ? 0 : fc.set.attr_timeout;
}

/* Look up name in parent and fill e; 0 or -errno.  Counts one lookup. */
int fc_lookup_name(fuse_ino_t parent, const char *name,
		   struct fuse_entry_param *e)
{
	struct fc_inode *p = fc_inode_of(parent);
	struct stat st;
	int fd, err;

	memset(e, 0, sizeof(*e));
	e->attr_timeout = fc.set.attr_timeout;
	e->entry_timeout = fc.set.entry_timeout;

	fd = openat(p->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* The open made the source look the name up, which brought fresh
	 * attributes: use them rather than ask again. */
	err = fc_statx(fd, AT_STATX_DONT_SYNC, &st);
	if (err < 0) {
		close(fd);
		return err;
	}

	struct fc_inode *in;
	for (;;) {
		pthread_mutex_lock(&fc.table_lock);
		in = fc_table_find(st.st_dev, st.st_ino);
		if (!in) {
			in = fc_inode_new(fd, &st);
			pthread_mutex_unlock(&fc.table_lock);
			if (!in) {
				close(fd);
				return -ENOMEM;
			}
			break;
		}
		in->nlookup++;
		fc_kept_remove(in);
		if (in->fd < 0) {
			in->fd = fd;
			in->type = st.st_mode & S_IFMT;
			pthread_mutex_unlock(&fc.table_lock);
			break;
		}
		pthread_mutex_unlock(&fc.table_lock);
		if (fc_same_file(in->fd, &st)) {
			close(fd);
			break;
		}
		/* Another file under the same number: the source reused it
		 * while our descriptor pinned only its own (FUSE or
		 * network) inode.  The old entry leaves the table and lives
		 * on until the kernel forgets it. */
		pthread_mutex_lock(&fc.table_lock);
		if (in->hashed) {
			fc_table_remove(in);
			in->hashed = false;
			in->next = fc.orphans;
			fc.orphans = in;
		}
		pthread_mutex_unlock(&fc.table_lock);
		fc_forget_one((fuse_ino_t)(uintptr_t)in, 1);
	}

	if (!fc_inode_name_set(in, p, name))
		e->entry_timeout = 0;
	e->attr_timeout = fc_attr_timeout(&st);
	e->ino = (fuse_ino_t)(uintptr_t)in;
	e->attr = st;
	return 0;
}

/* Close-to-open for names.  The kernel keeps a name for entry-timeout and
 * opens the inode it found then, though the source may have replaced the
 * file since (an atomic `mv new name`, unlink and create).  NFS looks the
 * name up again at open; FUSE does when an open answers ESTALE: the VFS
 * walks the path once more with LOOKUP_REVAL, which makes the kernel send
 * a LOOKUP.  An open does not say which name it came by, so every name the
 * kernel may still hold for the inode without asking is recorded (up to
 * FC_NAMES_MAX: hard links), and an open checks them all. */

/* Slack on the kernel's entry timeout: it starts counting when it takes
 * the reply, a little after the name is recorded. */
#define FC_NAME_SLACK_NS 1000000000ull

static uint64_t fc_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* When a name looked up now stops being trusted by the kernel. */
static uint64_t fc_name_until(uint64_t now)
{
	return now + (uint64_t)(fc.set.entry_timeout * 1e9) + FC_NAME_SLACK_NS;
}

/* The slot of (parent, name) in in's names, or -1.  Caller must hold
 * fc.table_lock. */
static int fc_name_find(const struct fc_inode *in, dev_t pdev, ino_t pino,
			const char *name)
{
	for (int i = 0; i < FC_NAMES_MAX; i++) {
		const struct fc_name *n = &in->names[i];
		if (n->name && n->parent_dev == pdev && n->parent_ino == pino &&
		    strcmp(n->name, name) == 0)
			return i;
	}
	return -1;
}

/* Record that in was just looked up as name in parent.  A slot whose name
 * the kernel no longer trusts is reused.  False if all FC_NAMES_MAX slots
 * hold names the kernel still trusts (or no memory): then the reply must
 * carry an entry timeout of 0, so that the kernel asks again at every use
 * of this name and no open by it goes unchecked. */
static bool fc_inode_name_set(struct fc_inode *in,
			      const struct fc_inode *parent, const char *name)
{
	char *copy = NULL, *old = NULL;
	bool done = false;

	/* Most lookups find the name already recorded: no allocation. */
	for (int pass = 0; pass < 2 && !done; pass++) {
		uint64_t now = fc_mono_ns();
		pthread_mutex_lock(&fc.table_lock);
		int i = fc_name_find(in, parent->dev, parent->ino, name);
		if (i >= 0) {
			in->names[i].until_ns = fc_name_until(now);
			in->names[i].replaced = false;
			done = true;
		} else if (copy) {
			for (i = 0; i < FC_NAMES_MAX; i++)
				if (!in->names[i].name ||
				    in->names[i].until_ns < now)
					break;
			if (i < FC_NAMES_MAX) {
				old = in->names[i].name;
				in->names[i].name = copy;
				in->names[i].parent_dev = parent->dev;
				in->names[i].parent_ino = parent->ino;
				in->names[i].until_ns = fc_name_until(now);
				in->names[i].replaced = false;
				copy = NULL;
				done = true;
			}
		}
		pthread_mutex_unlock(&fc.table_lock);
		if (!done && !copy && pass == 0 && !(copy = strdup(name)))
			break;
	}
	free(copy);
	free(old);
	return done;
}

/* After a rename through the mount: the kernel moved its entry of in from
 * (parent, name) to (newparent, newname), so that is the name to check.
 * newparent NULL: the name is gone (unlink, replaced by a rename). */
void fc_inode_name_move(struct fc_inode *in, const struct fc_inode *parent,
			const char *name, const struct fc_inode *newparent,
			const char *newname)
{
	char *copy = newparent ? strdup(newname) : NULL, *old = NULL;

	pthread_mutex_lock(&fc.table_lock);
	int i = fc_name_find(in, parent->dev, parent->ino, name);
	if (i >= 0) {
		old = in->names[i].name;
		/* Without memory for the new name it goes as with unlink,
		 * and the kernel's entry under it is trusted unchecked for
		 * what is left of its entry timeout. */
		in->names[i].name = copy;
		in->names[i].replaced = false;
		if (copy) {
			in->names[i].parent_dev = newparent->dev;
			in->names[i].parent_ino = newparent->ino;
			copy = NULL;
		}
	}
	pthread_mutex_unlock(&fc.table_lock);
	free(copy);
	free(old);
}

/* The fc_inode of the directory (dev, ino) with one more reference, or
 * NULL if the kernel does not know it.  Caller must hold fc.table_lock. */
static struct fc_inode *fc_parent_ref(dev_t dev, ino_t ino)
{
	struct fc_inode *p;

	if (dev == fc.root.dev && ino == fc.root.ino)
		return &fc.root; /* never forgotten */
	p = fc_table_find(dev, ino);
	if (!p || p->fd < 0)
		return NULL;
	/* Keeps the parent's descriptor open while the source is asked
	 * without the lock (a FUSE or network source may take a round
	 * trip); fc_forget_one drops it. */
	p->nlookup++;
	return p;
}

/* Whether (parent pfd, name) still names the live file in; 1 if so with
 * *st its attributes (statx's sync flag sync), 0 if it names another file
 * or none, -errno if the source could not say. */
static int fc_name_names(struct fc_inode *in, int pfd, const char *name,
			 int sync, struct stat *st)
{
	int r = fc_statx_at(pfd, name, sync, st);
	if (r < 0)
		return r == -ENOENT || r == -ENOTDIR ? 0 : r;
	if (st->st_dev != in->dev || st->st_ino != in->ino ||
	    (st->st_mode & S_IFMT) != in->type)
		return 0;
	/* A local source cannot give our inode's number to another file
	 * while in->fd holds it open; FUSE and network sources can (see
	 * fc_lookup_name). */
	if (in->dev == atomic_load(&fc.nogen_dev) && !fc_same_file(in->fd, st))
		return 0;
	return 1;
}

/* The kernel's entry for a name found replaced is dropped by a thread of
 * its own: fuse_lowlevel_notify_inval_entry takes the parent directory's
 * lock in the kernel, which a rename, create or lookup there holds while
 * it waits for a worker of this daemon, so workers that all made that
 * call themselves could wait on each other for ever.  A request waits for
 * its own drop at most FC_INVAL_WAIT_NS, so that the VFS's retry meets the
 * kernel without the entry; past that it answers anyway (the entry may
 * then be trusted a little longer, never past its entry timeout). */
#define FC_INVAL_WAIT_NS 1000000000ull

struct fc_inval {
	fuse_ino_t parent;
	struct fc_inval *next;
	char name[];
};

static pthread_mutex_t fc_inval_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fc_inval_cond = PTHREAD_COND_INITIALIZER;
/* protected by fc_inval_lock: the queue, oldest first; tickets handed
 * out and done (in order) */
static struct fc_inval *fc_inval_head, *fc_inval_tail;
static uint64_t fc_inval_issued, fc_inval_done;
static bool fc_inval_started, fc_inval_stopping;
static pthread_t fc_inval_tid; /* joined by fc_inval_join */

static void *fc_inval_thread(void *unused)
{
	pthread_mutex_lock(&fc_inval_lock);
	for (;;) {
		while (!fc_inval_head && !fc_inval_stopping)
			pthread_cond_wait(&fc_inval_cond, &fc_inval_lock);
		if (fc_inval_stopping)
			break;
		struct fc_inval *iv = fc_inval_head;
		fc_inval_head = iv->next;
		if (!fc_inval_head)
			fc_inval_tail = NULL;
		pthread_mutex_unlock(&fc_inval_lock);
		fuse_lowlevel_notify_inval_entry(fc.se, iv->parent, iv->name,
						 strlen(iv->name));
		free(iv);
		pthread_mutex_lock(&fc_inval_lock);
		fc_inval_done++;
		pthread_cond_broadcast(&fc_inval_cond);
	}
	pthread_mutex_unlock(&fc_inval_lock);
	return unused;
}

/* Have the kernel drop its entry of name in the directory parent (a FUSE
 * node id), waiting for it at most FC_INVAL_WAIT_NS. */
static void fc_inval_entry(fuse_ino_t parent, const char *name)
{
	struct fc_inval *iv;
	struct timespec until;

	if (!fc.se)
		return;
	iv = malloc(sizeof(*iv) + strlen(name) + 1);
	if (!iv)
		return; /* the entry lives out its entry timeout */
	iv->parent = parent;
	iv->next = NULL;
	strcpy(iv->name, name);
	deadline_after_ms(CLOCK_REALTIME, FC_INVAL_WAIT_NS / 1000000, &until);
	pthread_mutex_lock(&fc_inval_lock);
	if (!fc_inval_started && !fc_inval_stopping) {
		if (pthread_create(&fc_inval_tid, NULL, fc_inval_thread,
				   NULL) == 0)
			fc_inval_started = true;
	}
	if (!fc_inval_started || fc_inval_stopping) {
		pthread_mutex_unlock(&fc_inval_lock);
		free(iv);
		return;
	}
	if (fc_inval_tail)
		fc_inval_tail->next = iv;
	else
		fc_inval_head = iv;
	fc_inval_tail = iv;
	uint64_t ticket = ++fc_inval_issued;
	pthread_cond_broadcast(&fc_inval_cond);
	while (fc_inval_done < ticket && !fc_inval_stopping &&
	       pthread_cond_timedwait(&fc_inval_cond, &fc_inval_lock, &until) ==
		       0)
		;
	pthread_mutex_unlock(&fc_inval_lock);
}

/* The session is ending: the drop thread stops at its next look at the
 * queue (dropped entries left in it are the kernel's to forget anyway). */
void fc_inval_stop(void)
{
	pthread_mutex_lock(&fc_inval_lock);
	fc_inval_stopping = true;
	while (fc_inval_head) {
		struct fc_inval *iv = fc_inval_head;
		fc_inval_head = iv->next;
		free(iv);
	}
	fc_inval_tail = NULL;
	pthread_cond_broadcast(&fc_inval_cond);
	pthread_mutex_unlock(&fc_inval_lock);
}

bool fc_inval_join(unsigned ms)
{
	struct timespec until;
	bool started;

	pthread_mutex_lock(&fc_inval_lock);
	started = fc_inval_started;
	pthread_mutex_unlock(&fc_inval_lock);
	if (!started)
		return true;
	deadline_after_ms(CLOCK_REALTIME, ms, &until);
	return pthread_timedjoin_np(fc_inval_tid, NULL, &until) == 0;
}

/* Directories up the tree an open checks the names of, at most: deeper
 * ancestors are left to the kernel's entry timeout. */
#define FC_CHECK_MAX 64

/* Mark (parent, name) of in as found replaced (fc_name.replaced). */
static void fc_name_mark_replaced(struct fc_inode *in,
				  const struct fc_inode *parent,
				  const char *name)
{
	pthread_mutex_lock(&fc.table_lock);
	int i = fc_name_find(in, parent->dev, parent->ino, name);
	if (i >= 0)
		in->names[i].replaced = true;
	pthread_mutex_unlock(&fc.table_lock);
}

/* The last ESTALE answers, by thread: the VFS retries an open that got
 * ESTALE once, at once, from the same thread, after looking up again the
 * names it came by.  Protected by fc.table_lock. */
#define FC_ESTALE_RING 64
#define FC_RETRY_NS    1000000000ull
static struct {
	pid_t tid;
	uint64_t ns;
} fc_estale[FC_ESTALE_RING];
static unsigned fc_estale_next;

/* Whether thread tid was answered ESTALE within FC_RETRY_NS: this check is
 * part of the VFS's retry.  An open (take) uses the answer up: the retry
 * is one open, and the thread's next one is checked in full. */
static bool fc_estale_recent(pid_t tid, bool take)
{
	uint64_t now = fc_mono_ns();
	bool found = false;

	if (tid == 0)
		return false;
	pthread_mutex_lock(&fc.table_lock);
	for (int i = 0; i < FC_ESTALE_RING && !found; i++) {
		found = fc_estale[i].tid == tid &&
			now - fc_estale[i].ns < FC_RETRY_NS;
		if (found && take)
			fc_estale[i].tid = 0;
	}
	pthread_mutex_unlock(&fc.table_lock);
	return found;
}

static void fc_estale_note(pid_t tid)
{
	pthread_mutex_lock(&fc.table_lock);
	unsigned i = fc_estale_next++ % FC_ESTALE_RING;
	fc_estale[i].tid = tid;
	fc_estale[i].ns = fc_mono_ns();
	pthread_mutex_unlock(&fc.table_lock);
}

/* Check the names of in (see fc_inode_name_check), and add the parents
 * they are in, other than the root, to work[0 .. *nwork) with a reference
 * each, unless there already or work is full (FC_CHECK_MAX). */
static int fc_names_check_one(struct fc_inode *in, int sync, struct stat *st,
			      struct fc_inode **work, int *nwork, bool retry)
{
	struct {
		char name[NAME_MAX + 1];
		struct fc_inode *p;
		uint64_t until_ns;
		bool replaced;
	} chk[FC_NAMES_MAX];
	uint64_t now = fc_mono_ns();
	int n = 0, ret = 0;

	pthread_mutex_lock(&fc.table_lock);
	for (int i = 0; i < FC_NAMES_MAX; i++) {
		const struct fc_name *nm = &in->names[i];
		/* A name the kernel no longer trusts is looked up again
		 * before it is used. */
		if (!nm->name || nm->until_ns < now)
			continue;
		struct fc_inode *p =
			fc_parent_ref(nm->parent_dev, nm->parent_ino);
		if (!p)
			continue;
		snprintf(chk[n].name, sizeof chk[n].name, "%s", nm->name);
		chk[n].p = p;
		chk[n].until_ns = nm->until_ns;
		chk[n].replaced = nm->replaced;
		n++;
	}
	pthread_mutex_unlock(&fc.table_lock);
	/* The one looked up last first: its attributes are the answer. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && chk[j].until_ns > chk[j - 1].until_ns;
		     j--) {
			__typeof__(chk[0]) t = chk[j];
			chk[j] = chk[j - 1];
			chk[j - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		struct stat other;
		int r;

		/* Known replaced: ESTALE, except to the VFS's retry, whose
		 * walk looked its names up again: it reached this file by
		 * names that name it now (a hard link, or the new name of a
		 * file renamed over the one it first reached). */
		if (chk[i].replaced) {
			if (!retry)
				ret = -ESTALE;
			continue;
		}
		r = fc_name_names(in, chk[i].p->fd, chk[i].name, sync,
				  ret == 0 ? st : &other);
		if (r == 0) {
			/* Kept, marked, until the kernel's entry expires:
			 * forgotten, a second open that walked the stale
			 * entry before the drop would find nothing to check
			 * and open the old file. */
			fc_name_mark_replaced(in, chk[i].p, chk[i].name);
			fc_inval_entry(
				chk[i].p == &fc.root
					? FUSE_ROOT_ID
					: (fuse_ino_t)(uintptr_t)chk[i].p,
				chk[i].name);
			if (!retry)
				ret = -ESTALE;
		} else if (r > 0 && ret == 0) {
			ret = 1;
		}
	}
	for (int i = 0; i < n; i++) {
		struct fc_inode *p = chk[i].p;
		bool have = p == &fc.root || *nwork >= FC_CHECK_MAX;
		for (int j = 0; j < *nwork && !have; j++)
			have = work[j] == p;
		if (have)
			fc_forget_one((fuse_ino_t)(uintptr_t)p, 1);
		else
			work[(*nwork)++] = p;
	}
	return ret;
}

/* Caller (thread tid) is opening in (or reading its link).  -ESTALE if a
 * name the kernel may hold for it, or for a directory above it (up to
 * FC_CHECK_MAX of them), names another file or none now: that name is
 * dropped from the kernel (fc_inval_entry) and kept here, marked, until
 * the kernel's entry would have expired, so that every open of in that
 * walked the stale entry meanwhile is answered ESTALE too.  The VFS's
 * retry (the same thread, within FC_RETRY_NS; open: this is an open,
 * which uses the retry up) looked up again the names it came by, so it
 * reached in by names that name it now: names of in found replaced are
 * marked and dropped then, but not answered ESTALE (the VFS retries
 * once; a second ESTALE would reach the caller).  1 if every name of in still
 * names it, with *st the file's attributes from the one looked up last,
 * taken with statx's sync flag sync (an open that takes them as its
 * validator asks the source itself: fc_open_sync, one round trip for
 * both); 0 if there is nothing to check against.  The directories' names
 * are checked with the attributes the source's kernel has
 * (AT_STATX_DONT_SYNC): only which inode a name leads to matters. */
int fc_inode_name_check(struct fc_inode *in, int sync, struct stat *st,
			pid_t tid, bool open)
{
	struct fc_inode *work[FC_CHECK_MAX];
	int nwork = 0;
	bool retry = fc_estale_recent(tid, open);
	int ret = fc_names_check_one(in, sync, st, work, &nwork, retry);

	for (int i = 0; i < nwork; i++) {
		struct stat dst;
		if (fc_names_check_one(work[i], AT_STATX_DONT_SYNC, &dst, work,
				       &nwork, retry) < 0)
			ret = -ESTALE;
	}
	for (int i = 0; i < nwork; i++)
		fc_forget_one((fuse_ino_t)(uintptr_t)work[i], 1);
	if (ret == -ESTALE)
		fc_estale_note(tid);
	return ret;
}

/* Free an entry nobody can find or hold any more, and its pooled pages. */
static void fc_inode_free(struct fc_inode *in)
{
	if (fc.tmem && atomic_load(&in->pooled))
		fc_flush_pooled(in);
	pthread_rwlock_destroy(&in->cache_lock);
	free(in);
}

/* Drop n lookups.  An inode whose pages may be in the pool keeps its entry
 * (without the O_PATH descriptor) so that its object id survives, on the
 * kept list; past kept-inodes such entries the oldest goes, pages and
 * all. */
void fc_forget_one(fuse_ino_t ino, uint64_t n)
{
	struct fc_inode *in = fc_inode_of(ino), *victim = NULL;
	bool free_it = false;

	if (in == &fc.root)
		return;
	pthread_mutex_lock(&fc.table_lock);
	in->nlookup = n > in->nlookup ? 0 : in->nlookup - n;
	if (in->nlookup == 0) {
		if (in->fd >= 0)
			close(in->fd);
		in->fd = -1;
		if (in->pin_fd >= 0)
			close(in->pin_fd);
		in->pin_fd = -1;
		fc_names_free(in);
		/* No request can hold in now (the kernel forgot it), and
		 * lookups find it only under the table lock.  An entry out
		 * of the table can never be found again. */
		if (!atomic_load(&in->pooled) || !in->hashed) {
			if (in->hashed)
				fc_table_remove(in);
			else
				fc_orphan_remove(in);
			free_it = true;
		} else if (!in->kept) {
			victim = fc_kept_add(in);
		}
	}
	pthread_mutex_unlock(&fc.table_lock);
	if (free_it)
		fc_inode_free(in);
	if (victim) {
		atomic_fetch_add(&fc.stats.kept_dropped, 1);
		fc_inode_free(victim);
	}
}
