/* tmem-fuse-cache: shared declarations of the FUSE read-cache overlay.
 *
 * Lock order (outer first):
 *   fc_inode.cache_lock  →  fc.table_lock
 * The table lock protects the hash table, every inode's nlookup and fd
 * changes at lookup/forget.  An inode's cache_lock protects its cache
 * state (object id, invalidation counter, validator, cacheable): readers
 * of the pool take it shared around "check counter, put", everything that
 * invalidates takes it exclusive, so a put of bytes read before an
 * invalidation can never land after it.
 */
#ifndef FC_INTERNAL_H
#define FC_INTERNAL_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "tmem.h"

/* Default kept-inodes: one forgotten entry (272 bytes of locked memory
 * with malloc's header) per page of the share: as many files as the share
 * could hold uncompressed at one page each, for at most about 7% of the
 * share's memory; never fewer than 1024. */
#define FC_KEPT_BYTES 4096
#define FC_KEPT_MIN   1024

/* What identifies one version of a file's contents.  A change to any field
 * between two opens means the cached pages may be stale. */
struct fc_validator {
	off_t size;
	struct timespec mtime, ctime;
	ino_t ino;
	uint64_t generation; /* FS_IOC_GETVERSION where the source has it */
};

/* Names recorded per inode: hard links beyond this many, looked up
 * within an entry timeout of each other, are answered with an entry
 * timeout of 0, so the kernel keeps none of them unchecked. */
#define FC_NAMES_MAX 4

/* One name an inode was looked up by, (parent, name). */
struct fc_name {
	char *name; /* NULL: a free slot */
	dev_t parent_dev;
	ino_t parent_ino;
	/* CLOCK_MONOTONIC ns after which the kernel no longer trusts the
	 * name without a LOOKUP (entry timeout, with slack) */
	uint64_t until_ns;
	/* Found naming another file or none: until until_ns, every open of
	 * the inode answers ESTALE once per thread (fc_inode_name_check). */
	bool replaced;
};

struct fc_inode {
	/* protected by fc.table_lock */
	int fd; /* O_PATH; -1 once the kernel forgot the inode */
	dev_t dev;
	ino_t ino;
	mode_t type; /* S_IFMT bits */
	uint64_t nlookup;
	bool hashed;	       /* in the table (findable by dev, ino) */
	struct fc_inode *next; /* hash chain */
	/* Forgotten by the kernel but kept for its pooled pages: on the
	 * fc.kept list, oldest first (see fc_forget_one). */
	bool kept;
	struct fc_inode *kept_prev, *kept_next;
	/* The names the kernel may still hold for it without asking again
	 * (none once forgotten): an open checks that each still names this
	 * file (fc_inode_name_check). */
	struct fc_name names[FC_NAMES_MAX];
	/* A read-only open of the source taken before an unlink or rename
	 * over through the mount while files are open on it (-1: none):
	 * a FUSE or network source forgets a file unlinked while nobody
	 * has it open, and deferred opens (struct fc_file) hold none.
	 * Closed when the kernel forgets the inode. */
	int pin_fd;
	atomic_int nopen; /* struct fc_file open on it */

	pthread_rwlock_t cache_lock;
	/* protected by cache_lock */
	uint64_t obj;	    /* pool object id; a fresh one per version */
	uint64_t inval;	    /* bumped by every invalidation */
	bool has_validator; /* v describes what the pool holds */
	bool cacheable;	    /* reads may use the pool */
	bool stable;	    /* v was taken when the file was old enough */
	struct fc_validator v;
	atomic_bool pooled; /* puts made since the last object flush */
	/* Pages 0 .. pooled_end - 1 may be in the pool under obj: what a
	 * flush of the object covers (tmem_flush_range), so that its cost
	 * follows the file, not the pool.  Raised by puts (under cache_lock
	 * shared), reset with pooled. */
	_Atomic uint64_t pooled_end;
};

/* One open regular file or directory. */
/* One open regular file.  A read-only open of a file the pool may serve
 * does not open the source until a read misses (fd -1 until then): a hit
 * costs the source no round trip.  The caller's identity is kept for that
 * late open. */
struct fc_file {
	_Atomic int fd;
	int flags;
	struct fc_inode *in;
	bool cache;  /* opened with the pool in use */
	bool append; /* O_APPEND: the source picks write offsets */
	bool rdonly; /* nothing to flush at close */
	bool as_caller;
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t *groups;
};

struct fc_dir {
	int fd;
	void *dp; /* DIR * */
	off_t offset;
	void *entry; /* struct dirent * read but not yet returned */
};

struct fc_settings {
	char *source;
	char *mountpoint;
	uint64_t chunk_size;
	uint64_t max_share; /* bytes; 0 = no cap */
	double attr_timeout;
	double entry_timeout;
	double granularity; /* seconds: newer files are not cached */
	uint64_t kept_max;  /* forgotten entries kept for their pages */
	bool acl;	    /* ask the kernel to check the source's ACLs */
	bool cto;	    /* close-to-open: every open asks the source */
	bool no_cache;	    /* passthrough only, no pool */
	bool admit_all;	    /* put every chunk read, even under pressure */
	bool as_caller;	    /* root daemon: act as the caller */
	bool dedup;	    /* share pages across files (cache-dedup) */
	char pool_name[TMEM_NAME_MAX + 1];
	char cache_name[TMEM_NAME_MAX + 1];
};

struct fc_stats {
	atomic_uint_fast64_t source_reads; /* preads on the source */
	atomic_uint_fast64_t source_bytes;
	atomic_uint_fast64_t pool_hits;	    /* pages served by the pool */
	atomic_uint_fast64_t puts_refused;  /* a write raced the read */
	atomic_uint_fast64_t stale_opens;   /* validator changed at open */
	atomic_uint_fast64_t recent_opens;  /* too new to cache */
	atomic_uint_fast64_t puts_deferred; /* first miss under pressure */
	atomic_uint_fast64_t stale_names;   /* ESTALE at open: renamed */
	atomic_uint_fast64_t kept_dropped;  /* kept entries let go (bound) */
	uint64_t kept_peak;		    /* most kept entries at once */
};

struct fc_state {
	struct fc_settings set;
	struct fuse_session *se;
	struct tmem *tmem; /* NULL when the pool is not in use */
	uint32_t pool_id;
	struct fc_inode root;
	pthread_mutex_t table_lock;
	struct fc_inode **table;
	size_t table_size, table_count;
	struct fc_inode *orphans; /* out of the table, still known to the
				   * kernel; protected by table_lock */
	/* Entries the kernel forgot, kept for their pooled pages, least
	 * recently forgotten first; at most set.kept_max of them.
	 * Protected by table_lock. */
	struct fc_inode *kept_head, *kept_tail;
	uint64_t kept_count;
	atomic_uint_fast64_t next_obj;
	_Atomic dev_t nogen_dev; /* a device without FS_IOC_GETVERSION */
	struct fc_stats stats;
};

extern struct fc_state fc;

/* fc-inode.c */
int fc_table_init(void);
void fc_table_free(void);
struct fc_inode *fc_inode_of(fuse_ino_t ino);
int fc_lookup_name(fuse_ino_t parent, const char *name,
		   struct fuse_entry_param *e);
void fc_forget_one(fuse_ino_t ino, uint64_t n);
double fc_attr_timeout(const struct stat *st);
void fc_inval_stop(void);
/* After fc_inval_stop and the unmount: whether the drop thread ended
 * within ms (or never started). */
bool fc_inval_join(unsigned ms);
int fc_inode_name_check(struct fc_inode *in, int sync, struct stat *st,
			pid_t tid, bool open);
void fc_inode_name_move(struct fc_inode *in, const struct fc_inode *parent,
			const char *name, const struct fc_inode *newparent,
			const char *newname);
int fc_statx(int fd, int sync, struct stat *st);
int fc_statx_at(int dirfd, const char *name, int sync, struct stat *st);
int fc_open_sync(void);
struct fc_inode *fc_inode_find_ref(dev_t dev, ino_t ino);

/* fc-creds.c: become the caller around operations that create or change
 * something, when the daemon runs as root. */
struct fc_creds {
	bool switched;
};
int fc_creds_enter(fuse_req_t req, struct fc_creds *c);
int fc_creds_capture(fuse_req_t req, struct fc_file *f);
int fc_creds_enter_file(const struct fc_file *f, struct fc_creds *c);
void fc_creds_leave(struct fc_creds *c);
int fc_creds_init(void);

/* fc-cache.c */
int fc_cache_open(fuse_req_t req, fuse_ino_t ino, struct fc_inode *in, int fd,
		  const struct stat *fresh, struct fuse_file_info *fi,
		  bool *cache);
void fc_cache_read(fuse_req_t req, struct fc_inode *in, struct fc_file *f,
		   size_t size, off_t off);
void fc_cache_invalidate(struct fc_inode *in, off_t off, off_t len);
void fc_flush_pooled(struct fc_inode *in);
const char *fc_cache_bounce(const char *buf, size_t size, int *err);
int fc_admission_init(void);
void fc_admission_free(void);
uint64_t fc_new_object(void);

/* fc-ops.c */
int fc_file_fd(struct fc_file *f);
extern const struct fuse_lowlevel_ops fc_ops;

/* A path under /proc/self/fd for an O_PATH descriptor. */
#define FC_PROC_PATH_MAX 64
void fc_proc_path(int fd, char *buf);

#endif /* FC_INTERNAL_H */
