# ctl tests (included from Makefile.am): man pages, make install, tmemctl.
TESTS += \
	test-ctl-man.sh \
	test-ctl-install.sh \
	$(NULL)
EXTRA_DIST += \
	test-ctl-man.sh \
	test-ctl-install.sh \
	$(NULL)
