/* nbd-tmem: what the kernel half of the slot free notice (nbd-freed.bpf.c)
 * tells the server half (nbd-freed.c).  Included by both: fixed-size types
 * only. */
#ifndef NBD_FREED_H
#define NBD_FREED_H

/* The ring buffer between them: a power of two, a multiple of the page
 * size.  An event takes 32 bytes in it (8 of header): 32,768 frees. */
#define NT_FREED_RING_BYTES (1u << 20)

/* nr swap slots from offset on (pages of the device) were freed at ns
 * (CLOCK_MONOTONIC). */
struct nt_freed_event {
	__u64 ns;
	__u64 offset;
	__u32 nr;
	__u32 pad;
};

#endif /* NBD_FREED_H */
