/* slowfs: a deliberately slow file system for the tmem-fuse-cache tests.
 *
 *   slowfs [-o latency=MS,bandwidth=MBPS,meta-cache=SECS,exact-times,
 *          bad-page=N] BACKING MOUNTPOINT
 *
 * A path-based passthrough of the directory BACKING that behaves like a
 * remote file system seen through sshfs: every read waits a set latency
 * (default 1 ms) and all reads share a bandwidth cap (default 50 MB/s);
 * files are served with direct_io so the kernel's page cache of this
 * file system never hides a read; timestamps have whole-second
 * resolution (exact-times keeps the backing file system's).  Names and
 * attributes are not cached by the kernel unless meta-cache says for how long
 * (sshfs caches them for 20 s by default).  It counts reads: the hidden file
 * .slowfs-stats at its root (absent from directory listings) reads "reads
 * N\nbytes N\n".  With bad-page=N a read that covers page N (4096 bytes)
 * of a file whose name starts with "bad" fails with EIO, as a disk's bad
 * sector does.  Changing a file "from outside" means changing it through this
 * mount or in BACKING.
 */
#define FUSE_USE_VERSION 312

#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define SLOWFS_STATS "/.slowfs-stats"

struct slowfs_opts {
	char *latency;	 /* milliseconds */
	char *bandwidth; /* MB/s, 0 = no cap */
	char *meta;	 /* seconds the kernel may cache names and attributes */
	int exact_times; /* keep nanoseconds */
	char *bad_page;	 /* page of "bad*" files whose reads fail */
};

static int backing = -1;
static double latency_s = 0.001;
static double bandwidth_bps = 50e6;
static double meta_timeout;
static int exact_times;
static double bad_page = -1;
static atomic_uint_fast64_t nreads, nbytes;
static pthread_mutex_t bw_lock = PTHREAD_MUTEX_INITIALIZER;
static double bw_next; /* protected by bw_lock: when the link is free */

static double slowfs_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void slowfs_sleep_until(double t)
{
	struct timespec ts = {.tv_sec = (time_t)t};
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/* Latency overlaps between concurrent reads; transfer time does not. */
static void slowfs_delay(size_t bytes)
{
	double now = slowfs_now(), done = now;
	if (bandwidth_bps > 0) {
		pthread_mutex_lock(&bw_lock);
		double start = bw_next > now ? bw_next : now;
		bw_next = start + (double)bytes / bandwidth_bps;
		done = bw_next;
		pthread_mutex_unlock(&bw_lock);
	}
	slowfs_sleep_until(done + latency_s);
}

/* Paths arrive as "/a/b"; the backing directory is the root. */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

static void *slowfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->direct_io = 1;
	cfg->use_ino = 1;
	cfg->attr_timeout = meta_timeout;
	cfg->entry_timeout = meta_timeout;
	cfg->negative_timeout = 0;
	cfg->kernel_cache = 0;
	return NULL;
}

static void slowfs_whole_seconds(struct stat *st)
{
	if (exact_times)
		return;
	st->st_atim.tv_nsec = 0;
	st->st_mtim.tv_nsec = 0;
	st->st_ctim.tv_nsec = 0;
}

static int slowfs_getattr(const char *path, struct stat *st,
			  struct fuse_file_info *fi)
{
	if (strcmp(path, SLOWFS_STATS) == 0) {
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = 4096;
		/* always new: never cached by an overlay */
		st->st_mtime = st->st_ctime = time(NULL);
		return 0;
	}
	int r = fi ? fstat((int)fi->fh, st)
		   : fstatat(backing, rel(path), st, AT_SYMLINK_NOFOLLOW);
	if (r < 0)
		return -errno;
	slowfs_whole_seconds(st);
	return 0;
}

static int slowfs_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
			  off_t off, struct fuse_file_info *fi,
			  enum fuse_readdir_flags flags)
{
	int fd = openat(backing, rel(path), O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -errno;
	DIR *dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(dp)) != NULL) {
		struct stat st = {.st_ino = de->d_ino,
				  .st_mode = de->d_type << 12};
		if (fill(buf, de->d_name, &st, 0, 0))
			break;
	}
	closedir(dp);
	return 0;
}

static int slowfs_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, SLOWFS_STATS) == 0) {
		fi->fh = (uint64_t)-1;
		fi->direct_io = 1;
		return 0;
	}
	int fd = openat(backing, rel(path), fi->flags & ~O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int slowfs_create(const char *path, mode_t mode,
			 struct fuse_file_info *fi)
{
	int fd = openat(backing, rel(path), fi->flags | O_CREAT, mode);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int slowfs_read(const char *path, char *buf, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	if (fi->fh == (uint64_t)-1) {
		char text[128];
		int n = snprintf(text, sizeof(text), "reads %llu\nbytes %llu\n",
				 (unsigned long long)nreads,
				 (unsigned long long)nbytes);
		if (off >= n)
			return 0;
		if (size > (size_t)(n - off))
			size = n - off;
		memcpy(buf, text + off, size);
		return (int)size;
	}
	const char *base = strrchr(path, '/');
	if (bad_page >= 0 && strncmp(base ? base + 1 : path, "bad", 3) == 0 &&
	    off < (off_t)(bad_page + 1) * 4096 &&
	    off + (off_t)size > (off_t)bad_page * 4096)
		return -EIO;
	ssize_t n = pread((int)fi->fh, buf, size, off);
	if (n < 0)
		return -errno;
	atomic_fetch_add(&nreads, 1);
	atomic_fetch_add(&nbytes, (uint64_t)n);
	slowfs_delay((size_t)n);
	return (int)n;
}

static int slowfs_write(const char *path, const char *buf, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	ssize_t n = pwrite((int)fi->fh, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int slowfs_release(const char *path, struct fuse_file_info *fi)
{
	if (fi->fh != (uint64_t)-1)
		close((int)fi->fh);
	return 0;
}

static int slowfs_fsync(const char *path, int datasync,
			struct fuse_file_info *fi)
{
	if (fi->fh == (uint64_t)-1)
		return 0;
	return (datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh)) < 0
		       ? -errno
		       : 0;
}

static int slowfs_truncate(const char *path, off_t size,
			   struct fuse_file_info *fi)
{
	int r;
	if (fi) {
		r = ftruncate((int)fi->fh, size);
	} else {
		int fd = openat(backing, rel(path), O_WRONLY);
		if (fd < 0)
			return -errno;
		r = ftruncate(fd, size);
		close(fd);
	}
	return r < 0 ? -errno : 0;
}

static int slowfs_mkdir(const char *path, mode_t mode)
{
	return mkdirat(backing, rel(path), mode) < 0 ? -errno : 0;
}

static int slowfs_unlink(const char *path)
{
	return unlinkat(backing, rel(path), 0) < 0 ? -errno : 0;
}

static int slowfs_rmdir(const char *path)
{
	return unlinkat(backing, rel(path), AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int slowfs_rename(const char *from, const char *to, unsigned int flags)
{
	return renameat2(backing, rel(from), backing, rel(to), flags) < 0
		       ? -errno
		       : 0;
}

static int slowfs_symlink(const char *target, const char *path)
{
	return symlinkat(target, backing, rel(path)) < 0 ? -errno : 0;
}

static int slowfs_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n = readlinkat(backing, rel(path), buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int slowfs_link(const char *from, const char *to)
{
	return linkat(backing, rel(from), backing, rel(to), 0) < 0 ? -errno : 0;
}

static int slowfs_chmod(const char *path, mode_t mode,
			struct fuse_file_info *fi)
{
	return fchmodat(backing, rel(path), mode, 0) < 0 ? -errno : 0;
}

static int slowfs_chown(const char *path, uid_t uid, gid_t gid,
			struct fuse_file_info *fi)
{
	return fchownat(backing, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW) < 0
		       ? -errno
		       : 0;
}

static int slowfs_utimens(const char *path, const struct timespec tv[2],
			  struct fuse_file_info *fi)
{
	return utimensat(backing, rel(path), tv, AT_SYMLINK_NOFOLLOW) < 0
		       ? -errno
		       : 0;
}

static int slowfs_statfs(const char *path, struct statvfs *sv)
{
	return fstatvfs(backing, sv) < 0 ? -errno : 0;
}

static const struct fuse_operations slowfs_ops = {
	.init = slowfs_init,
	.getattr = slowfs_getattr,
	.readdir = slowfs_readdir,
	.open = slowfs_open,
	.create = slowfs_create,
	.read = slowfs_read,
	.write = slowfs_write,
	.release = slowfs_release,
	.fsync = slowfs_fsync,
	.truncate = slowfs_truncate,
	.mkdir = slowfs_mkdir,
	.unlink = slowfs_unlink,
	.rmdir = slowfs_rmdir,
	.rename = slowfs_rename,
	.symlink = slowfs_symlink,
	.readlink = slowfs_readlink,
	.link = slowfs_link,
	.chmod = slowfs_chmod,
	.chown = slowfs_chown,
	.utimens = slowfs_utimens,
	.statfs = slowfs_statfs,
};

static const struct fuse_opt slowfs_opt_spec[] = {
	{"latency=%s", offsetof(struct slowfs_opts, latency), 0},
	{"bandwidth=%s", offsetof(struct slowfs_opts, bandwidth), 0},
	{"meta-cache=%s", offsetof(struct slowfs_opts, meta), 0},
	{"exact-times", offsetof(struct slowfs_opts, exact_times), 1},
	{"bad-page=%s", offsetof(struct slowfs_opts, bad_page), 0},
	FUSE_OPT_END,
};

static char *backing_path;

static int slowfs_opt_proc(void *data, const char *arg, int key,
			   struct fuse_args *outargs)
{
	if (key == FUSE_OPT_KEY_NONOPT && !backing_path) {
		backing_path = strdup(arg);
		return 0;
	}
	return 1;
}

static int parse_number(const char *what, const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || v < 0) {
		fprintf(stderr, "slowfs: %s=%s: not a non-negative number\n",
			what, s);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct slowfs_opts o = {0};
	double v;

	if (fuse_opt_parse(&args, &o, slowfs_opt_spec, slowfs_opt_proc) < 0)
		return 1;
	if (o.latency) {
		if (parse_number("latency", o.latency, &v) < 0)
			return 1;
		latency_s = v / 1000;
	}
	if (o.bandwidth) {
		if (parse_number("bandwidth", o.bandwidth, &v) < 0)
			return 1;
		bandwidth_bps = v * 1e6;
	}
	if (o.meta && parse_number("meta-cache", o.meta, &meta_timeout) < 0)
		return 1;
	exact_times = o.exact_times;
	if (o.bad_page && parse_number("bad-page", o.bad_page, &bad_page) < 0)
		return 1;
	if (!backing_path) {
		fprintf(stderr,
			"usage: slowfs [-o latency=MS,bandwidth=MBPS,"
			"meta-cache=SECS,exact-times,bad-page=N] BACKING "
			"MOUNTPOINT\n");
		return 1;
	}
	backing = open(backing_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (backing < 0) {
		fprintf(stderr, "slowfs: %s: %s\n", backing_path,
			strerror(errno));
		return 1;
	}
	umask(0);
	fuse_opt_add_arg(&args, "-odefault_permissions");
	if (geteuid() == 0)
		fuse_opt_add_arg(&args, "-oallow_other");
	return fuse_main(args.argc, args.argv, &slowfs_ops, NULL);
}
