# ctl scripts (included from Makefile.am)
