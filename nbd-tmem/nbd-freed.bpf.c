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
 * which it happened.  A free the ring has no room for (the server fell
 * behind a burst, such as a big process's exit) goes to the spill table
 * instead: spill[offset / 2].stamp[offset % 2] = the free's stamp
 * (NT_FREED_STAMP_SHIFT units, never 0), which the server sweeps when
 * counts[NT_FREED_SPILLED] moves.
 * A free that fits neither (past the table, or past the first
 * NT_FREED_SPILL_NR slots of one call) is counted in counts[NT_FREED_LOST]
 * and its page stays (stale, as without this program).
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
	__uint(max_entries, NT_FREED_COUNTS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

/* One element for two device pages: the loader sets max_entries, and the
 * server maps it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct nt_freed_pair);
} spill SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, NT_FREED_RING_BYTES);
} events SEC(".maps");

/* The ring is full: the free's stamp in the spill table, slot by slot. */
static __always_inline void spill_free(unsigned long offset, unsigned int nr,
				       __u64 ns)
{
	__u32 stamp = (__u32)(ns >> NT_FREED_STAMP_SHIFT), i, key, which;
	struct nt_freed_pair *pair;
	__u64 spilled = 0, *c, p;

	/* 0 marks an empty entry: the unit before is the conservative
	 * stand-in (a page written in it is kept). */
	if (stamp == 0)
		stamp = ~0u;
	for (i = 0; i < NT_FREED_SPILL_NR && i < nr; i++) {
		p = offset + i;
		if (p / 2 > 0xffffffffUL)
			break;
		key = (__u32)(p / 2);
		pair = bpf_map_lookup_elem(&spill, &key);
		if (pair == NULL)
			break;
		if (p & 1)
			*(volatile __u32 *)&pair->stamp[1] = stamp;
		else
			*(volatile __u32 *)&pair->stamp[0] = stamp;
		spilled++;
	}
	/* After the stores: the server that sees the count move sweeps
	 * them.  The fetching form (its result used), which every JIT
	 * makes a full barrier: the stores are seen before the count. */
	which = NT_FREED_SPILLED;
	c = bpf_map_lookup_elem(&counts, &which);
	if (c && __sync_fetch_and_add(c, spilled) == ~0ULL)
		return;
	which = NT_FREED_LOST;
	c = bpf_map_lookup_elem(&counts, &which);
	if (c && spilled < nr)
		__sync_fetch_and_add(c, nr - spilled);
}

SEC("kprobe/swap_range_free")
int BPF_KPROBE(nt_swap_range_free, struct swap_info_struct *si,
	       unsigned long offset, unsigned int nr)
{
	struct nt_freed_event *e;
	struct inode *inode;
	__u32 key = 0, *dev;
	__u64 ns;

	dev = bpf_map_lookup_elem(&target, &key);
	if (dev == NULL || *dev == 0)
		return 0;
	inode = BPF_CORE_READ(si, swap_file, f_inode);
	if (inode == NULL)
		return 0;
	if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFBLK ||
	    BPF_CORE_READ(inode, i_rdev) != *dev)
		return 0;
	ns = bpf_ktime_get_ns();
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e == NULL) {
		spill_free(offset, nr, ns);
		return 0;
	}
	e->ns = ns;
	e->offset = offset;
	e->nr = nr;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
