/* nbd-tmem: the kernel half of the swap slot free notice (nbd-freed.c).
 *
 * The kernel frees a swap slot in swap_range_free(si, offset, nr), under
 * the swap device's lock, before any allocation can hand the slot out
 * again; zram hears of it there (swap_slot_free_notify), a device over NBD
 * does not.  This kprobe hears of it for one device: a swap area that is a
 * whole block device (its file's inode is that device node, not a swap
 * file on a file system on it, whose offsets are not the device's) with
 * the device number the loader put in target[0].  Each free goes to the
 * ring buffer with the time (CLOCK_MONOTONIC, as the server's clock) at
 * which it happened; a free the ring has no room for is counted in
 * lost[0] and the page stays (stale, as without this program).
 *
 * Compiled with clang -target bpf; the struct layouts below are only the
 * fields read, relocated against the running kernel's BTF by libbpf.
 */
#include <linux/bpf.h>
#include <linux/types.h>

#include <asm/ptrace.h> /* struct pt_regs: the probed call's registers */

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "nbd-freed.h"

#define S_IFMT	0170000
#define S_IFBLK 0060000

struct inode {
	unsigned short i_mode;
	__u32 i_rdev;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct swap_info_struct {
	struct file *swap_file;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} target SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, NT_FREED_RING_BYTES);
} events SEC(".maps");

SEC("kprobe/swap_range_free")
int BPF_KPROBE(nt_swap_range_free, struct swap_info_struct *si,
	       unsigned long offset, unsigned int nr)
{
	struct nt_freed_event *e;
	struct inode *inode;
	__u32 key = 0, *dev;
	__u64 *n;

	dev = bpf_map_lookup_elem(&target, &key);
	if (dev == NULL || *dev == 0)
		return 0;
	inode = BPF_CORE_READ(si, swap_file, f_inode);
	if (inode == NULL)
		return 0;
	if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFBLK ||
	    BPF_CORE_READ(inode, i_rdev) != *dev)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e == NULL) {
		n = bpf_map_lookup_elem(&lost, &key);
		if (n)
			__sync_fetch_and_add(n, nr);
		return 0;
	}
	e->ns = bpf_ktime_get_ns();
	e->offset = offset;
	e->nr = nr;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
