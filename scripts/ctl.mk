# ctl scripts (included from Makefile.am)
EXTRA_DIST += \
	packages-ctl.txt \
	$(NULL)
