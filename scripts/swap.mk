# swap scripts (included from Makefile.am): the set-up scripts, the systemd
# units, the swap benchmark and the demo.

# Installed: the set-up helpers (tmem-swap, tmem-cache, tmem-vm) and the
# units.
sbin_SCRIPTS = \
	tmem-swap \
	tmem-cache \
	tmem-vm \
	$(NULL)

swap_units = \
	systemd/tmem-nbd.service \
	systemd/tmem-swap.service \
	systemd/tmem-vm@.service \
	systemd/srv-cache.mount \
	$(NULL)
# The mount unit is an example: shipped, not installed (it names
# /srv/slow and /srv/cache).
systemdsystemunit_DATA = \
	systemd/tmem-nbd.service \
	systemd/tmem-swap.service \
	systemd/tmem-vm@.service \
	$(NULL)
noinst_DATA = systemd/srv-cache.mount
CLEANFILES = $(swap_units)

swap_subst = sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g'
systemd/tmem-nbd.service: $(srcdir)/systemd/tmem-nbd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	$(swap_subst) $(srcdir)/systemd/tmem-nbd.service.in > $@.tmp && mv $@.tmp $@
systemd/tmem-swap.service: $(srcdir)/systemd/tmem-swap.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	$(swap_subst) $(srcdir)/systemd/tmem-swap.service.in > $@.tmp && mv $@.tmp $@
systemd/tmem-vm@.service: $(srcdir)/systemd/tmem-vm@.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	$(swap_subst) $(srcdir)/systemd/tmem-vm@.service.in > $@.tmp && mv $@.tmp $@
systemd/srv-cache.mount: $(srcdir)/systemd/srv-cache.mount.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	$(swap_subst) $(srcdir)/systemd/srv-cache.mount.in > $@.tmp && mv $@.tmp $@

EXTRA_DIST += \
	tmem-swap \
	tmem-cache \
	tmem-vm \
	bench-swap \
	bench-vm \
	demo \
	packages-vm.txt \
	$(swap_units:=.in) \
	$(NULL)
