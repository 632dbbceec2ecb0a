/* nbd-tmem: what the kernel half of the slot free notice (nbd-freed.bpf.c)
 * tells the server half (nbd-freed.c).  Included by both: fixed-size types
 * only. */
#ifndef NBD_FREED_H
#define NBD_FREED_H

/* The ring buffer between them: a power of two, a multiple of the page
 * size.  An event takes 32 bytes in it (8 of header): 2,048 frees; a
 * burst beyond goes to the spill table.  The ring costs its size in the
 * kernel and twice that in the server's mappings (the former 1 MiB ring:
 * 2 MiB of its RSS). */
#define NT_FREED_RING_BYTES (1u << 16)

/* The stamp of a free in the spill table: CLOCK_MONOTONIC ns shifted
 * right by this (NT_STAMP_SHIFT, nbd-internal.h). */
#define NT_FREED_STAMP_SHIFT 20

/* A free of more slots than this in one call has only its first ones
 * spilled (the kernel frees at most a cluster, 512 slots, at once). */
#define NT_FREED_SPILL_NR 512

/* An element of the spill table: the stamps of two device pages, 2k and
 * 2k + 1 (a BPF array keeps its values 8 bytes apart, so that mapped it
 * reads as one uint32_t stamp a page, page p at index p).  0: no free. */
struct nt_freed_pair {
	__u32 stamp[2];
};

/* The counts map's entries: slots spilled, and slots lost (neither in
 * the ring nor in the spill table). */
enum { NT_FREED_SPILLED, NT_FREED_LOST, NT_FREED_COUNTS };

/* nr swap slots from offset on (pages of the device) were freed at ns
 * (CLOCK_MONOTONIC). */
struct nt_freed_event {
	__u64 ns;
	__u64 offset;
	__u32 nr;
	__u32 pad;
};

#endif /* NBD_FREED_H */
