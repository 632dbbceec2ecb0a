/* tmem-fuse-cache: acting as the caller.
 *
 * A daemon running as root serves every user of an allow_other mount.  So
 * that files get the caller's ownership and the source applies its own
 * permission rules (ACLs, root squash on a network file system, ...), the
 * worker thread takes the caller's file-system uid and gid and supplementary
 * groups around each operation that opens, creates or changes something.
 *
 * setfsuid/setfsgid are per thread.  glibc's setgroups() is not: it changes
 * every thread of the process (the setxid broadcast), so the raw system
 * call is used, which changes only the calling thread.
 */
#include <config.h>

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fc-internal.h"

#define FC_MAX_GROUPS 256

static gid_t fc_own_groups[FC_MAX_GROUPS];
static int fc_own_ngroups;

int fc_creds_init(void)
{
	int n = getgroups(FC_MAX_GROUPS, fc_own_groups);
	if (n < 0)
		return -errno;
	fc_own_ngroups = n;
	return 0;
}

/* Take uid, gid and groups (n of them); 0 or -errno, nothing changed on
 * error. */
static int fc_creds_set(uid_t uid, gid_t gid, int n, const gid_t *groups,
			struct fc_creds *c)
{
	if (syscall(SYS_setgroups, (size_t)n, groups) < 0)
		return -errno;
	setfsgid(gid);
	setfsuid(uid);
	c->switched = true;
	if ((uid_t)setfsuid((uid_t)-1) != uid ||
	    (gid_t)setfsgid((gid_t)-1) != gid) {
		fc_creds_leave(c);
		return -EPERM;
	}
	return 0;
}

/* The caller of req, when this daemon acts as callers and the caller is
 * not root: its context, and its groups in groups[] (*n of them).  NULL
 * when nothing is to be switched. */
static const struct fuse_ctx *caller_of(fuse_req_t req,
					gid_t groups[FC_MAX_GROUPS], int *n)
{
	const struct fuse_ctx *ctx;

	if (!fc.set.as_caller)
		return NULL;
	ctx = fuse_req_ctx(req);
	if (ctx->uid == 0 && ctx->gid == 0)
		return NULL;
	*n = fuse_req_getgroups(req, FC_MAX_GROUPS, groups);
	if (*n < 0)
		*n = 0; /* no /proc: primary group only */
	if (*n > FC_MAX_GROUPS)
		*n = FC_MAX_GROUPS;
	return ctx;
}

/* Become the caller of req, if acting as callers at all.  0 or -errno; on
 * error nothing is changed. */
int fc_creds_enter(fuse_req_t req, struct fc_creds *c)
{
	gid_t groups[FC_MAX_GROUPS];
	const struct fuse_ctx *ctx;
	int n;

	c->switched = false;
	ctx = caller_of(req, groups, &n);
	if (!ctx)
		return 0;
	return fc_creds_set(ctx->uid, ctx->gid, n, groups, c);
}

/* Keep the caller of req in f for a later fc_creds_enter_file.  0 or
 * -errno. */
int fc_creds_capture(fuse_req_t req, struct fc_file *f)
{
	gid_t groups[FC_MAX_GROUPS];
	const struct fuse_ctx *ctx;
	int n;

	f->as_caller = false;
	ctx = caller_of(req, groups, &n);
	if (!ctx)
		return 0;
	f->groups = malloc(sizeof(gid_t) * (n ? n : 1));
	if (!f->groups)
		return -ENOMEM;
	memcpy(f->groups, groups, sizeof(gid_t) * n);
	f->ngroups = n;
	f->uid = ctx->uid;
	f->gid = ctx->gid;
	f->as_caller = true;
	return 0;
}

/* Become the caller kept in f.  0 or -errno. */
int fc_creds_enter_file(const struct fc_file *f, struct fc_creds *c)
{
	c->switched = false;
	if (!f->as_caller)
		return 0;
	return fc_creds_set(f->uid, f->gid, f->ngroups, f->groups, c);
}

void fc_creds_leave(struct fc_creds *c)
{
	if (!c->switched)
		return;
	setfsuid(0);
	setfsgid(0);
	syscall(SYS_setgroups, (size_t)fc_own_ngroups, fc_own_groups);
	c->switched = false;
}
