# ctl tests (included from Makefile.am): man pages, make install, tmemctl.
CTL_TESTS = \
	test-ctl-man.sh \
	test-ctl-install.sh \
	test-ctl-stats.sh \
	test-ctl-admin.sh \
	test-segment-owner.sh \
	test-ctl-live.sh \
	test-ctl-verify.sh \
	test-ctl-ovmap.sh \
	test-ctl-served.sh \
	test-ctl-destroy-pending.sh \
	$(NULL)
TESTS += $(CTL_TESTS)
EXTRA_DIST += $(CTL_TESTS)

# A known workload for the tmemctl tests.
check_PROGRAMS += ctl-put
ctl_put_SOURCES = ctl-put.c
ctl_put_LDADD = $(top_builddir)/common/libtmem.la
