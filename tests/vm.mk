# vm: real swap in a guest, the swap workload, the set-up scripts (included
# from Makefile.am).
#
#   make check            the workload's self-test, the scripts' argument
#                         checks, systemd-analyze verify of the units
#   make check-vm         boots a guest once per case (tests/vm/): zram (the
#                         harness baseline), then swap over NBD on tmem.so:
#                         the workload (also at 1.5 x MemTotal, no
#                         overflow file) and stress-ng; and a guest whose
#                         virtio disk this machine serves (tmem-vm)
#   make check-vm-all     those, a small pool with an overflow file, two
#                         host-served guests at once on one pool, and a
#                         guest that swaps to this machine over TCP with
#                         the kernel's NBD client
#   make check-vm-full    a clean full (tmem.so, then zram): the workload at
#                         MemTotal on a 32M pool
#   make check-vm-soak-sizes  the workload at 1.2 x and at 1.5 x MemTotal
#                         (the latter may be OOM-killed), five rounds, then
#                         once set up by the README's bare quick start;
#                         each boot's log kept in vm-soak/
#   make check-vm-soak    all four cases, five boots in a row

# The workload: verifiable pages (tests/swap-workload.c).
noinst_PROGRAMS += swap-workload
swap_workload_SOURCES = swap-workload.c
swap_workload_CFLAGS = $(WARNINGS_CFLAGS)

# An LD_PRELOAD shim for stock nbdkit in the baseline run only: built as a
# "program" linked -shared, which spares a libtool library.
noinst_PROGRAMS += vm-lock-on-fault.so
vm_lock_on_fault_so_SOURCES = vm/lock-on-fault.c
vm_lock_on_fault_so_CFLAGS = $(WARNINGS_CFLAGS) -fPIC
vm_lock_on_fault_so_LINK = $(CCLD) $(vm_lock_on_fault_so_CFLAGS) $(CFLAGS) -shared $(LDFLAGS) -o $@

TESTS += \
	test-swap-workload.sh \
	test-tmem-swap-args.sh \
	test-tmem-vm-args.sh \
	test-tmem-vm-systemd.sh \
	test-tmem-vm-lock.sh \
	test-tmem-cache-args.sh \
	test-swap-units.sh \
	$(NULL)

EXTRA_DIST += \
	test-swap-workload.sh \
	test-tmem-swap-args.sh \
	test-tmem-vm-args.sh \
	test-tmem-vm-systemd.sh \
	test-tmem-vm-lock.sh \
	vm-functions.sh \
	test-tmem-cache-args.sh \
	test-swap-units.sh \
	vm/fetch-kernel \
	vm/mkinitramfs \
	vm/init \
	vm/run-guest \
	vm/guest-swap \
	vm/guest-latency \
	vm/guest-freed \
	vm/monitor \
	vm/check-vm-case \
	vm/check-vm-host-case \
	$(VM_TESTS_ALL) \
	vm/check-vm-full-zram.test \
	vm/check-vm-full-large.test \
	vm/check-vm-bare.test \
	$(NULL)

# One boot per case; they run one after another (-j1): two TCG guests on
# a small machine would only slow each other down.
# check-vm (and CI) runs the cases that pass every time, the workload at
# 1.5 x MemTotal with no overflow file among them (about 400 s), and the
# clean full on tmem.so (about 90 s: the OOM kill comes within 30 s); the
# workload at 1.2 x MemTotal (it wedged the guest once in four runs) and the overflow
# case at 1.5 x (7.5 minutes under TCG) run only in check-vm-all, as does
# the guest that swaps over TCP: 235 s a boot on a quiet 2-core machine,
# too near 4 minutes for CI, and check-vm-host.test already covers the
# host's pool.
VM_TESTS = \
	vm/check-vm-zram.test \
	vm/check-vm-workload.test \
	vm/check-vm-workload-150.test \
	vm/check-vm-stress.test \
	vm/check-vm-overflow.test \
	vm/check-vm-host.test \
	vm/check-vm-freed.test \
	vm/check-vm-full.test \
	$(NULL)
VM_TESTS_ALL = \
	$(VM_TESTS) \
	vm/check-vm-workload-large.test \
	vm/check-vm-overflow-large.test \
	vm/check-vm-host-two.test \
	vm/check-vm-host-tcp.test \
	$(NULL)
# A clean full (guest-swap --case full): tmem.so and zram side by side
# (tmem.so's alone is in check-vm too).
VM_TESTS_FULL = \
	vm/check-vm-full.test \
	vm/check-vm-full-zram.test \
	$(NULL)
# The two sizes of the workload soak: 1.2 x MemTotal (it must finish) and
# 1.5 x (it may be OOM-killed, never hang).
VM_TESTS_SIZES = \
	vm/check-vm-workload-large.test \
	vm/check-vm-full-large.test \
	$(NULL)

check-vm: swap-workload$(EXEEXT) vm-lock-on-fault.so$(EXEEXT)
	$(MAKE) $(AM_MAKEFLAGS) -j1 check TESTS="$(VM_TESTS)"

check-vm-all: swap-workload$(EXEEXT) vm-lock-on-fault.so$(EXEEXT)
	$(MAKE) $(AM_MAKEFLAGS) -j1 check TESTS="$(VM_TESTS_ALL)"

check-vm-full: swap-workload$(EXEEXT) vm-lock-on-fault.so$(EXEEXT)
	$(MAKE) $(AM_MAKEFLAGS) -j1 check TESTS="$(VM_TESTS_FULL)"

# The harness deletes a test's log when it runs again: each boot's log is
# copied to vm-soak/ROUND-NAME.log, and its result lines printed.
check-vm-soak-sizes: swap-workload$(EXEEXT) vm-lock-on-fault.so$(EXEEXT)
	rm -rf vm-soak && mkdir vm-soak
	for i in 1 2 3 4 5 6; do \
	  tests="$(VM_TESTS_SIZES)"; \
	  [ $$i = 6 ] && tests=vm/check-vm-bare.test; \
	  echo "check-vm-soak-sizes: round $$i of 6: $$tests"; \
	  $(MAKE) $(AM_MAKEFLAGS) -j1 check TESTS="$$tests"; st=$$?; \
	  for t in $$tests; do \
	    b=$${t%.test}; cp "$$b.log" "vm-soak/$$i-$${b#vm/}.log" || continue; \
	    grep -h -E '^guest-swap: (RESULT|full:|FAIL)' "$$b.log"; \
	  done; \
	  [ $$st = 0 ] || exit 1; \
	done

check-vm-soak: swap-workload$(EXEEXT) vm-lock-on-fault.so$(EXEEXT)
	for i in 1 2 3 4 5; do \
	  echo "check-vm-soak: round $$i of 5"; \
	  $(MAKE) $(AM_MAKEFLAGS) -j1 check TESTS="$(VM_TESTS_ALL)" || exit 1; \
	done

.PHONY: check-vm check-vm-all check-vm-full check-vm-soak-sizes check-vm-soak
