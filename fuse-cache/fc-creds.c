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

/* Become the caller of req, if acting as callers at all.  0 or -errno; on
 * error nothing is changed. */
int fc_creds_enter(fuse_req_t req, struct fc_creds *c)
{
	gid_t groups[FC_MAX_GROUPS];
	int n;

	c->switched = false;
	if (!fc.set.as_caller)
		return 0;
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	if (ctx->uid == 0 && ctx->gid == 0)
		return 0;

	n = fuse_req_getgroups(req, FC_MAX_GROUPS, groups);
	if (n < 0)
		n = 0; /* no /proc: primary group only */
	if (n > FC_MAX_GROUPS)
		n = FC_MAX_GROUPS;
	if (syscall(SYS_setgroups, (size_t)n, groups) < 0)
		return -errno;
	setfsgid(ctx->gid);
	setfsuid(ctx->uid);
	if ((uid_t)setfsuid((uid_t)-1) != ctx->uid ||
	    (gid_t)setfsgid((gid_t)-1) != ctx->gid) {
		c->switched = true;
		fc_creds_leave(c);
		return -EPERM;
	}
	c->switched = true;
	return 0;
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
