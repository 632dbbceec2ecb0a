/* tmem-fuse-cache: the passthrough operations.
 *
 * Each FUSE request is translated into the matching system call on the
 * source, relative to the inode's O_PATH descriptor (or its /proc/self/fd
 * path where a call cannot take an empty path), and answered with exactly
 * one fuse_reply_*.  Errors are the source's own errno.  Operations that
 * open, create or change something run with the caller's credentials
 * (fc-creds.c); those that change a file's contents invalidate its pooled
 * pages (fc-cache.c).
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fc-internal.h"

void fc_proc_path(int fd, char *buf)
{
	snprintf(buf, FC_PROC_PATH_MAX, "/proc/self/fd/%d", fd);
}

static struct fc_file *fc_file_of(struct fuse_file_info *fi)
{
	return (struct fc_file *)(uintptr_t)fi->fh;
}

/* Whether the kernel checks ACLs (FUSE_CAP_POSIX_ACL granted). */
static bool fc_posix_acl;

static void fc_init(void *userdata, struct fuse_conn_info *conn)
{
	/* Writes go through to the source at once; the kernel must not
	 * hold dirty pages the source has not seen. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	/* Locks stay local to this machine, as on most overlays. */
	conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	/* The source's ACLs hold: with default_permissions the kernel checks
	 * every access, the path walk included (our opens go through
	 * /proc/self/fd and skip the source's), and with POSIX_ACL it does
	 * so against the ACLs it reads from the source (getxattr), not the
	 * mode bits alone.  The kernel then leaves the umask to us: see
	 * fc_create_mode. */
	if (fc.set.acl && (conn->capable & FUSE_CAP_POSIX_ACL)) {
		conn->want |= FUSE_CAP_POSIX_ACL;
		fc_posix_acl = true;
	}
}

/* The mode to create name with in parent.  With POSIX ACLs on, the kernel
 * passes the caller's mode unmasked and its umask aside, as a file system
 * with ACLs must apply the umask only where the directory has no default
 * ACL to inherit (the source does the inheriting; the daemon's own umask
 * is 0). */
static mode_t fc_create_mode(fuse_req_t req, fuse_ino_t parent, mode_t mode)
{
	char path[FC_PROC_PATH_MAX];

	if (!fc_posix_acl)
		return mode;
	fc_proc_path(fc_inode_of(parent)->fd, path);
	if (getxattr(path, "system.posix_acl_default", NULL, 0) > 0)
		return mode;
	return mode & ~fuse_req_ctx(req)->umask;
}

static void fc_reply_entry(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err = fc_lookup_name(parent, name, &e);
	if (err < 0)
		fuse_reply_err(req, -err);
	else if (fuse_reply_entry(req, &e) == -ENOENT)
		fc_forget_one(e.ino, 1); /* interrupted: undo the lookup */
}

static void fc_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fc_reply_entry(req, parent, name);
}

static void fc_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fc_forget_one(ino, nlookup);
	fuse_reply_none(req);
}

static void fc_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		fc_forget_one(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fc_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fc_inode *in = fc_inode_of(ino);
	struct stat st;

	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, fc_attr_timeout(&st));
}

static int fc_setattr_times(struct fc_inode *in, struct stat *attr, int valid)
{
	struct timespec tv[2];

	tv[0].tv_sec = 0;
	tv[1].tv_sec = 0;
	tv[0].tv_nsec = UTIME_OMIT;
	tv[1].tv_nsec = UTIME_OMIT;
	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	if (utimensat(in->fd, "", tv, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != EINVAL || in->type == S_IFLNK)
		return -errno;
	/* Kernels before AT_EMPTY_PATH support in utimensat. */
	char path[FC_PROC_PATH_MAX];
	fc_proc_path(in->fd, path);
	return utimensat(AT_FDCWD, path, tv, 0) == 0 ? 0 : -errno;
}

static void fc_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int valid, struct fuse_file_info *fi)
{
	struct fc_inode *in = fc_inode_of(ino);
	char path[FC_PROC_PATH_MAX];
	struct fc_creds cr;
	int err = fc_creds_enter(req, &cr);

	fc_proc_path(in->fd, path);
	if (err == 0 && (valid & FUSE_SET_ATTR_MODE)) {
		int r = chmod(path, attr->st_mode);
		if (r < 0)
			err = -errno;
	}
	if (err == 0 && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		uid_t uid =
			(valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid =
			(valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
		if (fchownat(in->fd, "", uid, gid,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			err = -errno;
	}
	if (err == 0 && (valid & FUSE_SET_ATTR_SIZE)) {
		int fd = fi ? fc_file_fd(fc_file_of(fi)) : -1;
		int r = fd >= 0 ? ftruncate(fd, attr->st_size)
				: truncate(path, attr->st_size);
		if (r < 0)
			err = -errno;
		fc_cache_invalidate(in, 0, -1);
	}
	if (err == 0 &&
	    (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		      FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)))
		err = fc_setattr_times(in, attr, valid);
	fc_creds_leave(&cr);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	fc_getattr(req, ino, fi);
}

static void fc_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fc_inode *in = fc_inode_of(ino);
	char buf[PATH_MAX + 1];
	struct stat st;

	/* The kernel follows a symlink it found by a name it keeps: a link
	 * replaced in the source since (`ln -sfn new link.tmp; mv -T
	 * link.tmp link`) must not be followed to its old target.  ESTALE
	 * makes the VFS walk again, looking the name up. */
	int err = fc_inode_name_check(in, AT_STATX_DONT_SYNC, &st,
				      fuse_req_ctx(req)->pid, false);
	if (err < 0) {
		atomic_fetch_add(&fc.stats.stale_names, 1);
		fuse_reply_err(req, -err);
		return;
	}
	ssize_t n = readlinkat(in->fd, "", buf, sizeof(buf));
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (n >= (ssize_t)sizeof(buf))
		fuse_reply_err(req, ENAMETOOLONG);
	else {
		buf[n] = '\0';
		fuse_reply_readlink(req, buf);
	}
}

/* Run a creating call as the caller, then answer with the new entry. */
static void fc_reply_made(fuse_req_t req, fuse_ino_t parent, const char *name,
			  int r, int err)
{
	if (r < 0)
		fuse_reply_err(req, err);
	else
		fc_reply_entry(req, parent, name);
}

static void fc_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct fc_creds cr;
	int err = fc_creds_enter(req, &cr);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	int r = mknodat(fc_inode_of(parent)->fd, name,
			fc_create_mode(req, parent, mode), rdev);
	err = errno;
	fc_creds_leave(&cr);
	fc_reply_made(req, parent, name, r, err);
}

static void fc_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct fc_creds cr;
	int err = fc_creds_enter(req, &cr);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	int r = mkdirat(fc_inode_of(parent)->fd, name,
			fc_create_mode(req, parent, mode));
	err = errno;
	fc_creds_leave(&cr);
	fc_reply_made(req, parent, name, r, err);
}

static void fc_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	struct fc_creds cr;
	int err = fc_creds_enter(req, &cr);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	int r = symlinkat(link, fc_inode_of(parent)->fd, name);
	err = errno;
	fc_creds_leave(&cr);
	fc_reply_made(req, parent, name, r, err);
}

static void fc_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct fc_inode *in = fc_inode_of(ino);
	char path[FC_PROC_PATH_MAX];
	struct fc_creds cr;
	int err = fc_creds_enter(req, &cr);

	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	/* linkat with AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, which the
	 * caller's fsuid does not have; the /proc link works for anyone. */
	fc_proc_path(in->fd, path);
	int r = linkat(AT_FDCWD, path, fc_inode_of(newparent)->fd, newname,
		       AT_SYMLINK_FOLLOW);
	err = errno;
	fc_creds_leave(&cr);
	fc_reply_made(req, newparent, newname, r, err);
}

/* The file a name in a directory refers to, if the table has it, with a
 * reference: drop it with fc_victim_done or fc_forget_one. */
static struct fc_inode *fc_inode_at(fuse_ino_t parent, const char *name)
{
	struct stat st;
	if (fstatat(fc_inode_of(parent)->fd, name, &st, AT_SYMLINK_NOFOLLOW) <
	    0)
		return NULL;
	return fc_inode_find_ref(st.st_dev, st.st_ino);
}

/* Before victim is unlinked or renamed over through the mount: while
 * files are open on it, hold a read-only open of the source (as the
 * daemon: the caller may remove what it cannot read), so that the source
 * keeps the file for them as for its own open files (a high-level FUSE
 * file system's hidden name, NFS's silly rename).  Without it a deferred
 * open, which has opened nothing on the source, could read nothing more.
 * Only sources without generations defer opens. */
static bool fc_victim_pin(struct fc_inode *victim)
{
	char path[FC_PROC_PATH_MAX];

	if (!victim || victim->type != S_IFREG ||
	    atomic_load(&victim->nopen) == 0 ||
	    victim->dev != atomic_load(&fc.nogen_dev))
		return false;
	pthread_mutex_lock(&fc.table_lock);
	int fd = victim->pin_fd < 0 ? victim->fd : -1;
	if (fd >= 0)
		fc_proc_path(fd, path);
	pthread_mutex_unlock(&fc.table_lock);
	if (fd < 0)
		return false;
	/* Our reference keeps victim->fd open meanwhile. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false; /* as before: the files may lose the source */
	pthread_mutex_lock(&fc.table_lock);
	bool mine = victim->pin_fd < 0;
	if (mine) {
		victim->pin_fd = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&fc.table_lock);
	if (fd >= 0)
		close(fd);
	return mine;
}

/* After unlink or rename-over of (parent, name): if the call succeeded,
 * the file's pooled pages go and the kernel no longer holds that name for
 * it (an open through a descriptor it still has must not find the name
 * gone: ESTALE); if it failed, the pin this call took (pinned) goes, or
 * it would hold the file on the source, which still has it, until the
 * kernel forgets the inode.  The reference from fc_inode_at is dropped
 * either way. */
static void fc_victim_done(struct fc_inode *victim, fuse_ino_t parent,
			   const char *name, int err, bool pinned)
{
	if (!victim)
		return;
	if (err == 0) {
		fc_cache_invalidate(victim, 0, -1);
		fc_inode_name_move(victim, fc_inode_of(parent), name, NULL,
				   NULL);
	} else if (pinned) {
		pthread_mutex_lock(&fc.table_lock);
		int fd = victim->pin_fd;
		victim->pin_fd = -1;
		pthread_mutex_unlock(&fc.table_lock);
		if (fd >= 0)
			close(fd);
	}
	fc_forget_one((fuse_ino_t)(uintptr_t)victim, 1);
}

static void fc_remove(fuse_req_t req, fuse_ino_t parent, const char *name,
		      int flags)
{
	struct fc_creds cr;
	struct fc_inode *victim = fc_inode_at(parent, name);
	int err;

	bool pinned = fc_victim_pin(victim);
	err = fc_creds_enter(req, &cr);
	if (err < 0) {
		fc_victim_done(victim, parent, name, err, pinned);
		fuse_reply_err(req, -err);
		return;
	}
	if (unlinkat(fc_inode_of(parent)->fd, name, flags) < 0)
		err = -errno;
	fc_creds_leave(&cr);
	fc_victim_done(victim, parent, name, err, pinned);
	fuse_reply_err(req, -err);
}

static void fc_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fc_remove(req, parent, name, 0);
}

static void fc_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fc_remove(req, parent, name, AT_REMOVEDIR);
}

static void fc_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct fc_creds cr;
	struct fc_inode *moved = fc_inode_at(parent, name);
	struct fc_inode *other = fc_inode_at(newparent, newname);
	int err;

	bool pinned = !(flags & RENAME_EXCHANGE) && fc_victim_pin(other);
	err = fc_creds_enter(req, &cr);
	if (err < 0) {
		if (moved)
			fc_forget_one((fuse_ino_t)(uintptr_t)moved, 1);
		fc_victim_done(other, newparent, newname, err, pinned);
		fuse_reply_err(req, -err);
		return;
	}
	if (renameat2(fc_inode_of(parent)->fd, name, fc_inode_of(newparent)->fd,
		      newname, flags) < 0)
		err = -errno;
	fc_creds_leave(&cr);
	/* The kernel moves its entries as the source did: the names to
	 * check at the next open follow. */
	if (moved && err == 0)
		fc_inode_name_move(moved, fc_inode_of(parent), name,
				   fc_inode_of(newparent), newname);
	if (flags & RENAME_EXCHANGE) {
		/* An exchange keeps both files alive under their
		 * identities. */
		if (other && err == 0)
			fc_inode_name_move(other, fc_inode_of(newparent),
					   newname, fc_inode_of(parent), name);
		if (other)
			fc_forget_one((fuse_ino_t)(uintptr_t)other, 1);
	} else {
		fc_victim_done(other, newparent, newname, err, pinned);
	}
	if (moved)
		fc_forget_one((fuse_ino_t)(uintptr_t)moved, 1);
	fuse_reply_err(req, -err);
}

static int fc_file_new(struct fc_inode *in, int fd, int flags,
		       struct fuse_file_info *fi)
{
	struct fc_file *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	atomic_init(&f->fd, fd);
	f->in = in;
	atomic_fetch_add(&in->nopen, 1);
	f->flags = flags;
	f->append = (flags & O_APPEND) != 0;
	f->rdonly = (flags & O_ACCMODE) == O_RDONLY;
	/* A read-only descriptor has nothing to report at close: the kernel
	 * sends it no FLUSH at all (FOPEN_NOFLUSH; no lock operations are
	 * implemented here, so POSIX locks stay the kernel's own). */
	fi->noflush = f->rdonly;
	fi->fh = (uint64_t)(uintptr_t)f;
	return 0;
}

static void fc_file_free(struct fc_file *f)
{
	atomic_fetch_sub(&f->in->nopen, 1);
	int fd = atomic_load(&f->fd);
	if (fd >= 0)
		close(fd);
	free(f->groups);
	free(f);
}

/* The source descriptor of f, opened now (as the opener) if the open was
 * deferred.  fd or -errno. */
int fc_file_fd(struct fc_file *f)
{
	char path[FC_PROC_PATH_MAX];
	struct fc_creds cr;
	int fd = atomic_load(&f->fd), err;

	if (fd >= 0)
		return fd;
	err = fc_creds_enter_file(f, &cr);
	if (err < 0)
		return err;
	fc_proc_path(f->in->fd, path);
	fd = open(path,
		  (f->flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) | O_CLOEXEC);
	err = fd < 0 ? -errno : 0;
	fc_creds_leave(&cr);
	if (err < 0)
		return err;
	int none = -1;
	if (!atomic_compare_exchange_strong(&f->fd, &none, fd)) {
		close(fd); /* another thread opened it first */
		return none;
	}
	return fd;
}

/* A read-only open of a regular file on a source without generations
 * (FUSE, NFS: the validator needs no descriptor) is deferred: the caller's
 * right to read is checked now, as the caller, and the source is opened
 * at the first miss. */
static bool fc_open_deferrable(struct fc_inode *in, int flags)
{
	return fc.tmem && in->type == S_IFREG &&
	       (flags & O_ACCMODE) == O_RDONLY &&
	       !(flags & (O_TRUNC | O_APPEND | O_CREAT | O_DIRECT)) &&
	       in->dev == atomic_load(&fc.nogen_dev);
}

static void fc_open_deferred(fuse_req_t req, fuse_ino_t ino,
			     struct fc_inode *in, const struct stat *fresh,
			     struct fuse_file_info *fi)
{
	char path[FC_PROC_PATH_MAX];
	struct fc_creds cr;
	bool cache;
	int err;

	err = fc_creds_enter(req, &cr);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	fc_proc_path(in->fd, path);
	if (faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) < 0)
		err = -errno;
	fc_creds_leave(&cr);
	if (err == 0)
		err = fc_cache_open(req, ino, in, -1, fresh, fi, &cache);
	if (err == 0)
		err = fc_file_new(in, -1, fi->flags, fi);
	if (err == 0) {
		err = fc_creds_capture(req, fc_file_of(fi));
		if (err < 0)
			fc_file_free(fc_file_of(fi));
	}
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	fc_file_of(fi)->cache = cache;
	if (fuse_reply_open(req, fi) == -ENOENT)
		fc_file_free(fc_file_of(fi));
}

static void fc_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fc_inode *in = fc_inode_of(ino);
	char path[FC_PROC_PATH_MAX];
	struct fc_creds cr;
	struct stat st;
	const struct stat *fresh;
	bool cache;
	int fd, err;
	/* A read-only open takes the attributes the name check asks of the
	 * source as its validator.  An open that may write (or truncate)
	 * asks again once it is open, so its name check need not. */
	bool validate =
		(fi->flags & O_ACCMODE) == O_RDONLY && !(fi->flags & O_TRUNC);

	err = fc_inode_name_check(in, validate ? fc_open_sync() : 0, &st,
				  fuse_req_ctx(req)->pid, true);
	if (err < 0) {
		atomic_fetch_add(&fc.stats.stale_names, 1);
		fuse_reply_err(req, -err);
		return;
	}
	fresh = err > 0 && validate ? &st : NULL;
	if (fc_open_deferrable(in, fi->flags)) {
		fc_open_deferred(req, ino, in, fresh, fi);
		return;
	}
	err = fc_creds_enter(req, &cr);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	/* The source decides who may open: the open runs as the caller, so
	 * a user it refuses never gets a descriptor to read pooled pages
	 * through. */
	fc_proc_path(in->fd, path);
	fd = open(path, (fi->flags & ~O_NOFOLLOW) | O_CLOEXEC);
	err = fd < 0 ? -errno : 0;
	fc_creds_leave(&cr);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	if (fi->flags & O_TRUNC)
		fc_cache_invalidate(in, 0, -1);
	err = fc_cache_open(req, ino, in, fd, fresh, fi, &cache);
	if (err == 0)
		err = fc_file_new(in, fd, fi->flags, fi);
	if (err < 0) {
		close(fd);
		fuse_reply_err(req, -err);
		return;
	}
	/* O_DIRECT asks for no cache in between: reads go to the source. */
	fc_file_of(fi)->cache = cache && !(fi->flags & O_DIRECT);
	if (fuse_reply_open(req, fi) == -ENOENT)
		fc_file_free(fc_file_of(fi));
}

static void fc_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct fc_creds cr;
	bool cache;
	int fd, err;

	err = fc_creds_enter(req, &cr);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	fd = openat(fc_inode_of(parent)->fd, name,
		    (fi->flags | O_CREAT) & ~O_NOFOLLOW,
		    fc_create_mode(req, parent, mode));
	err = fd < 0 ? -errno : 0;
	fc_creds_leave(&cr);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	err = fc_lookup_name(parent, name, &e);
	if (err == 0) {
		struct fc_inode *in = fc_inode_of(e.ino);
		/* O_CREAT may have opened an existing file with O_TRUNC. */
		if (fi->flags & O_TRUNC)
			fc_cache_invalidate(in, 0, -1);
		err = fc_cache_open(req, e.ino, in, fd, NULL, fi, &cache);
		if (err == 0)
			err = fc_file_new(in, fd, fi->flags, fi);
		if (err < 0)
			fc_forget_one(e.ino, 1);
	}
	if (err < 0) {
		close(fd);
		fuse_reply_err(req, -err);
		return;
	}
	fc_file_of(fi)->cache = cache && !(fi->flags & O_DIRECT);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		fc_file_free(fc_file_of(fi));
		fc_forget_one(e.ino, 1);
	}
}

static void fc_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	fc_cache_read(req, fc_inode_of(ino), fc_file_of(fi), size, off);
}

static void fc_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fc_file *f = fc_file_of(fi);
	struct fc_inode *in = fc_inode_of(ino);
	int fd = fc_file_fd(f);
	ssize_t n;
	int err;

	/* O_DIRECT wants an aligned buffer, and libfuse's is not: the
	 * source then takes or refuses the write as it would the caller's
	 * (offset and length stay the caller's). */
	if (fd >= 0 && (f->flags & O_DIRECT))
		buf = fc_cache_bounce(buf, size, &err);
	if (fd < 0)
		n = (errno = -fd, -1);
	else if (!buf)
		n = (errno = err, -1);
	else
		n = pwrite(fd, buf, size, off);
	err = errno;

	/* After the write, so that a read racing it either sees the new
	 * bytes or finds its put refused.  With O_APPEND the source chose
	 * the offset, so drop the whole object. */
	if (n > 0)
		fc_cache_invalidate(in, f->append ? 0 : off,
				    f->append ? -1 : n);
	if (n < 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, (size_t)n);
}

static void fc_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* Like close(2) on the source, so that network file systems report
	 * delayed write errors here; the descriptor stays open.  A read-only
	 * descriptor has nothing to report (and its open asked the kernel
	 * not to send FLUSH: kernels before FUSE 7.35 still do). */
	if (fc_file_of(fi)->rdonly) {
		fuse_reply_err(req, 0);
		return;
	}
	int fd = fc_file_fd(fc_file_of(fi));
	if (fd >= 0)
		fd = dup(fd);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	int r = close(fd);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

static void fc_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	fc_file_free(fc_file_of(fi));
	fuse_reply_err(req, 0);
}

static void fc_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	int fd = atomic_load(&fc_file_of(fi)->fd);
	if (fd < 0) {
		/* never opened on the source: nothing of ours to sync */
		fuse_reply_err(req, 0);
		return;
	}
	int r = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

static void fc_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			 off_t length, struct fuse_file_info *fi)
{
	int fd = fc_file_fd(fc_file_of(fi));
	int r = fd < 0 ? (errno = -fd, -1)
		       : fallocate(fd, mode, offset, length);
	int err = r < 0 ? errno : 0;

	if (r == 0)
		fc_cache_invalidate(fc_inode_of(ino), 0, -1);
	fuse_reply_err(req, err);
}

static void fc_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	int fd = fc_file_fd(fc_file_of(fi));
	off_t r = fd < 0 ? (errno = -fd, -1) : lseek(fd, off, whence);
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

/* ---- directories -------------------------------------------------- */

static struct fc_dir *fc_dir_of(struct fuse_file_info *fi)
{
	return (struct fc_dir *)(uintptr_t)fi->fh;
}

static void fc_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fc_inode *in = fc_inode_of(ino);
	struct fc_creds cr;
	struct fc_dir *d;
	struct stat st;
	int fd, err;

	err = fc_inode_name_check(in, 0, &st, fuse_req_ctx(req)->pid, true);
	if (err < 0) {
		atomic_fetch_add(&fc.stats.stale_names, 1);
		fuse_reply_err(req, -err);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = fc_creds_enter(req, &cr);
	if (err < 0) {
		free(d);
		fuse_reply_err(req, -err);
		return;
	}
	fd = openat(in->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	err = fd < 0 ? errno : 0;
	fc_creds_leave(&cr);
	if (fd < 0) {
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	d->dp = fdopendir(fd);
	if (!d->dp) {
		err = errno;
		close(fd);
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	d->fd = fd;
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		closedir(d->dp);
		free(d);
	}
}

static bool fc_is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static void fc_do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi, bool plus)
{
	struct fc_dir *d = fc_dir_of(fi);
	DIR *dp = d->dp;
	char *buf = malloc(size);
	size_t rem = size;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->offset) {
		seekdir(dp, off);
		d->entry = NULL;
		d->offset = off;
	}
	for (;;) {
		struct dirent *ent = d->entry;
		size_t entsize;

		if (!ent) {
			errno = 0;
			ent = readdir(dp);
			if (!ent) {
				err = errno;
				break;
			}
			d->entry = ent;
		}
		off_t next = ent->d_off;
		char *p = buf + (size - rem);

		if (plus) {
			struct fuse_entry_param e;
			if (fc_is_dot(ent->d_name)) {
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = ent->d_ino;
				e.attr.st_mode = ent->d_type << 12;
			} else {
				int r = fc_lookup_name(ino, ent->d_name, &e);
				if (r == -ENOENT) {
					/* removed since readdir saw it */
					d->entry = NULL;
					d->offset = next;
					continue;
				}
				if (r < 0) {
					err = -r;
					break;
				}
			}
			entsize = fuse_add_direntry_plus(req, p, rem,
							 ent->d_name, &e, next);
			if (entsize > rem) {
				if (e.ino)
					fc_forget_one(e.ino, 1);
				break;
			}
		} else {
			struct stat st = {
				.st_ino = ent->d_ino,
				.st_mode = ent->d_type << 12,
			};
			entsize = fuse_add_direntry(req, p, rem, ent->d_name,
						    &st, next);
			if (entsize > rem)
				break;
		}
		rem -= entsize;
		d->entry = NULL;
		d->offset = next;
	}
	/* An error after some entries: return those, the caller will ask
	 * again and get the error then. */
	if (err && rem == size)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void fc_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	fc_do_readdir(req, ino, size, off, fi, false);
}

static void fc_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	fc_do_readdir(req, ino, size, off, fi, true);
}

static void fc_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fc_dir *d = fc_dir_of(fi);
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static void fc_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	int fd = fc_dir_of(fi)->fd;
	int r = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

static void fc_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	if (fstatvfs(fc_inode_of(ino)->fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* ---- extended attributes ------------------------------------------ */

/* xattr calls cannot take an O_PATH descriptor; the /proc path follows to
 * the file itself, which for a symlink would be its target. */
static int fc_xattr_path(struct fc_inode *in, char *path)
{
	if (in->type == S_IFLNK)
		return -ENOTSUP;
	fc_proc_path(in->fd, path);
	return 0;
}

static void fc_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	char path[FC_PROC_PATH_MAX];
	struct fc_creds cr;
	int err = fc_xattr_path(fc_inode_of(ino), path);

	if (err == 0)
		err = fc_creds_enter(req, &cr);
	if (err == 0) {
		if (setxattr(path, name, value, size, flags) < 0)
			err = -errno;
		fc_creds_leave(&cr);
	}
	fuse_reply_err(req, -err);
}

static void fc_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	char path[FC_PROC_PATH_MAX];
	struct fc_creds cr;
	int err = fc_xattr_path(fc_inode_of(ino), path);

	if (err == 0)
		err = fc_creds_enter(req, &cr);
	if (err == 0) {
		if (removexattr(path, name) < 0)
			err = -errno;
		fc_creds_leave(&cr);
	}
	fuse_reply_err(req, -err);
}

/* getxattr and listxattr share their size protocol: size 0 asks how big
 * the value is. */
static void fc_reply_xattr(fuse_req_t req, ssize_t n, int err, char *buf,
			   size_t size)
{
	if (n < 0)
		fuse_reply_err(req, err);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void fc_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	char path[FC_PROC_PATH_MAX];
	struct fc_creds cr;
	int err = fc_xattr_path(fc_inode_of(ino), path);
	char *buf = NULL;
	ssize_t n = -1;

	if (err == 0 && size && !(buf = malloc(size)))
		err = -ENOMEM;
	if (err == 0)
		err = fc_creds_enter(req, &cr);
	if (err == 0) {
		n = getxattr(path, name, buf, size);
		err = n < 0 ? -errno : 0;
		fc_creds_leave(&cr);
	}
	fc_reply_xattr(req, n, -err, buf, size);
	free(buf);
}

static void fc_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char path[FC_PROC_PATH_MAX];
	struct fc_creds cr;
	int err = fc_xattr_path(fc_inode_of(ino), path);
	char *buf = NULL;
	ssize_t n = -1;

	if (err == 0 && size && !(buf = malloc(size)))
		err = -ENOMEM;
	if (err == 0)
		err = fc_creds_enter(req, &cr);
	if (err == 0) {
		n = listxattr(path, buf, size);
		err = n < 0 ? -errno : 0;
		fc_creds_leave(&cr);
	}
	fc_reply_xattr(req, n, -err, buf, size);
	free(buf);
}

const struct fuse_lowlevel_ops fc_ops = {
	.init = fc_init,
	.lookup = fc_lookup,
	.forget = fc_forget,
	.forget_multi = fc_forget_multi,
	.getattr = fc_getattr,
	.setattr = fc_setattr,
	.readlink = fc_readlink,
	.mknod = fc_mknod,
	.mkdir = fc_mkdir,
	.symlink = fc_symlink,
	.link = fc_link,
	.unlink = fc_unlink,
	.rmdir = fc_rmdir,
	.rename = fc_rename,
	.open = fc_open,
	.create = fc_create,
	.read = fc_read,
	.write = fc_write,
	.flush = fc_flush,
	.release = fc_release,
	.fsync = fc_fsync,
	.fallocate = fc_fallocate,
	.lseek = fc_lseek,
	.opendir = fc_opendir,
	.readdir = fc_readdir,
	.readdirplus = fc_readdirplus,
	.releasedir = fc_releasedir,
	.fsyncdir = fc_fsyncdir,
	.statfs = fc_statfs,
	.setxattr = fc_setxattr,
	.getxattr = fc_getxattr,
	.listxattr = fc_listxattr,
	.removexattr = fc_removexattr,
};
