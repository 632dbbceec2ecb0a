/* lock-on-fault: an LD_PRELOAD shim that makes stock nbdkit survive serving
 * swap on its own machine, for the guest test's baseline runs only.
 *
 * tmem.so does all of this itself; stock nbdkit does not, and the guest
 * test uses stock `nbdkit memory` to show that the harness works before it
 * tests ours.  What it takes (DESIGN.md, measured in the guest): every page
 * the server touches stays resident, locked as it is touched (MCL_ONFAULT,
 * so nbdkit's large zero BSS is not faulted in), the server's own
 * allocations never wait on swap I/O (PR_SET_IO_FLUSHER), and the OOM
 * killer never picks the server.  Run nbdkit with -f: memory locks are not
 * inherited across the fork that daemonizes.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

__attribute__((constructor)) static void lock_on_fault_init(void)
{
	FILE *f;

	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == -1)
		perror("lock-on-fault: mlockall");
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) == -1)
		perror("lock-on-fault: PR_SET_IO_FLUSHER");
	f = fopen("/proc/self/oom_score_adj", "w");
	if (f == NULL || fputs("-1000\n", f) == EOF || fclose(f) == EOF)
		perror("lock-on-fault: oom_score_adj");
}
