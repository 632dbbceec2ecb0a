# nbd tests (included from Makefile.am)
#
# Each runs tmem.so under nbdkit in captive mode (nbdkit -U - ... --run)
# against real clients, on a segment of its own.
if HAVE_NBDKIT
TESTS += \
	test-nbd-dump.sh \
	test-nbd-bad-input.sh \
	test-nbd-freed-load.sh \
	test-nbd-nbdcopy.sh \
	test-nbd-qemu.sh \
	test-nbd-nbdsh.sh \
	test-nbd-fio.sh \
	test-nbd-restart.sh \
	test-nbd-overflow.sh \
	test-nbd-demote.sh \
	test-nbd-ballast.sh \
	test-nbd-dedup-scope.sh \
	test-nbd-integrity.sh \
	test-nbd-full.sh \
	test-nbd-late.sh \
	test-nbd-late-records.sh \
	test-nbd-log-file.sh \
	test-nbd-tls.sh \
	test-nbd-gone.sh \
	test-nbd-binding.sh \
	test-nbd-nofault.sh \
	test-nbd-stall.sh \
	test-nbd-lock-race.sh \
	test-nbd-overflow-full.sh \
	test-nbd-realtime.sh \
	test-nbd-full-oom.sh \
	test-nbd-side-files.sh \
	test-nbd-shares.sh \
	test-nbd-chunk-stall.sh \
	$(NULL)
endif HAVE_NBDKIT

EXTRA_DIST += \
	nbd_fill.py \
	nbd-corpus.py \
	nbd-ops.py \
	test-nbd-dump.sh \
	test-nbd-bad-input.sh \
	test-nbd-freed-load.sh \
	test-nbd-nbdcopy.sh \
	test-nbd-qemu.sh \
	test-nbd-nbdsh.sh \
	test-nbd-fio.sh \
	test-nbd-restart.sh \
	test-nbd-overflow.sh \
	test-nbd-demote.sh \
	test-nbd-ballast.sh \
	test-nbd-dedup-scope.sh \
	test-nbd-integrity.sh \
	test-nbd-full.sh \
	test-nbd-late.sh \
	test-nbd-late-records.sh \
	test-nbd-log-file.sh \
	test-nbd-tls.sh \
	test-nbd-gone.sh \
	test-nbd-binding.sh \
	test-nbd-nofault.sh \
	test-nbd-stall.sh \
	test-nbd-lock-race.sh \
	test-nbd-overflow-full.sh \
	test-nbd-realtime.sh \
	test-nbd-full-oom.sh \
	test-nbd-side-files.sh \
	test-nbd-shares.sh \
	test-nbd-chunk-stall.sh \
	$(NULL)
